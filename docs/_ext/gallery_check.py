"""Fail the build when an executed gallery example produced no figure in the built site.

sphinx-gallery runs every ``examples/plot_*.py`` and saves its matplotlib figures as
``auto_examples/images/sphx_glr_<example>_NNN.png``; this check runs after the HTML is written and requires, for every
executed example, at least one such image in the output folder and a reference to it in the example's page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError


def check_gallery_figures(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.name not in {"html", "dirhtml"}:
        return
    conf = app.config.sphinx_gallery_conf
    examples = sorted(Path(conf["examples_dirs"]).glob("plot_*.py"))
    if not examples:
        raise ExtensionError("gallery: no examples/plot_*.py found")
    out = Path(app.outdir)
    problems = []
    for example in examples:
        images = sorted((out / "_images").glob(f"sphx_glr_{example.stem}_*.png"))
        page = out / "auto_examples" / f"{example.stem}.html"
        if not images:
            problems.append(f"{example.name}: no figure in {out / '_images'}")
        elif not page.exists() or not any(image.name in page.read_text() for image in images):
            problems.append(f"{example.name}: its page does not show its figure")
    if problems:
        raise ExtensionError("gallery figures missing:\n  " + "\n  ".join(problems))


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("build-finished", check_gallery_figures)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
