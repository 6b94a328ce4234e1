"""Sphinx configuration of agm's documentation site (built by ``.ci/docs``; see docs/README.md)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import agm

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "agm"
author = "agm contributors"
copyright = "2026, agm contributors"
release = agm.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "agm_api",  # docs/_ext/agm_api.py: one page per public module from __all__, and the completeness check
    "gallery_check",  # docs/_ext/gallery_check.py: every gallery example produced a figure
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md", "**/table1.md", "Thumbs.db", ".DS_Store"]
suppress_warnings: list[str] = []

myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # "Attributes:" as fields of the class, not a second description of each attribute

# The docstrings write shapes as plain text, "(N, *S)": a star after "(", "[" or ", " is a literal star, not emphasis.
SHAPE_STAR = re.compile(r"(?:(?<=[(\[])|(?<=, ))(\*{1,2})(?=[A-Za-z_(])")


# ... and a bar is a bar ("|z|^2", "||x - y||"), not a substitution reference: escaped outside inline literals.
CODE_SPAN = re.compile(r"(``.+?``|`[^`]+`)")


def _literal_bars(line: str) -> str:
    parts = CODE_SPAN.split(line)
    return "".join(part if i % 2 else part.replace("|", "\\|") for i, part in enumerate(parts))


def _plain_text_marks(app: object, what: str, name: str, obj: object, options: object, lines: list[str]) -> None:
    literal_indent = None  # inside a literal block ("::" then an indented block): nothing is escaped
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        if literal_indent is not None and line.strip() and indent <= literal_indent:
            literal_indent = None
        if literal_indent is None and not line.lstrip().startswith(("|", "+")):
            lines[i] = _literal_bars(SHAPE_STAR.sub(lambda m: "\\*" * len(m.group(1)), line))
        if line.rstrip().endswith("::"):
            literal_indent = indent


# Some records describe their fields as running text ("tag: ...  model: ...  label, name: ...") under "Attributes:";
# napoleon would read every "word:" as a field of its own. Such a section is shown as the paragraph it is.
RUNNING_FIELDS = re.compile(r"\.\s{2}[\w ,/]+: ")


def _running_text_attributes(app: object, what: str, name: str, obj: object, options: object, lines: list[str]) -> None:
    for i, line in enumerate(lines):
        if line.strip() != "Attributes:":
            continue
        indent = len(line) - len(line.lstrip())
        end = i + 1
        while end < len(lines) and lines[end].strip() and len(lines[end]) - len(lines[end].lstrip()) > indent:
            end += 1
        block = lines[i + 1 : end]
        if any(RUNNING_FIELDS.search(b) for b in block):
            lines[i:end] = [" " * indent + ".. rubric:: Attributes", ""] + [" " * indent + b.strip() for b in block]
        return


def _module_code_blocks(app: object, what: str, name: str, obj: object, options: object, lines: list[str]) -> None:
    """A module docstring's indented example after a blank line is code: shown as a literal block."""
    if what != "module":
        return
    i = 1
    while i < len(lines):
        starts_block = lines[i].startswith("    ") and not lines[i - 1].strip()
        after_literal = i >= 2 and lines[i - 2].rstrip().endswith("::")
        if starts_block and not after_literal:
            lines[i:i] = ["::", ""]
            i += 2
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                i += 1
        i += 1


def setup(app: object) -> None:
    app.connect("autodoc-process-docstring", _running_text_attributes, priority=400)  # type: ignore[attr-defined]
    app.connect("autodoc-process-docstring", _plain_text_marks)  # type: ignore[attr-defined]
    app.connect("autodoc-process-docstring", _module_code_blocks, priority=300)  # type: ignore[attr-defined]


# The gallery: every script in examples/ whose name starts with "plot_" is executed during the build (its figures
# become part of the page); the others (the torchrun example) are shown, not run.
sphinx_gallery_conf = {
    "examples_dirs": str(DOCS.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"/_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    "min_reported_time": 1,
    "reset_modules": ("matplotlib",),
    "run_stale_examples": bool(os.environ.get("AGM_DOCS_RERUN")),
}

html_theme = "furo"
html_title = f"agm {release}"
html_static_path: list[str] = []
html_show_sourcelink = False

nitpicky = False
