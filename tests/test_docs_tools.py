"""The documentation site's own checks (docs/_ext, docs/check_links.py) and the release metadata they rely on.

The site itself is built by .ci/docs; these tests make sure its checks can fail: a public name without a page, a
broken internal link, and the version being defined in one place.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

import agm

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def test_check_links_reports_missing_files_and_fragments(tmp_path: Path) -> None:
    check_links = _load(ROOT / "docs" / "check_links.py")
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="sub/page.html#here">ok</a> <a href="sub/page.html#gone">bad id</a> <img src="missing.png">'
        '<a href="https://example.org/x">external</a> <a href="#top">self</a> <p id="top"></p>'
        '<a href="sub/">dir</a>'
    )
    (tmp_path / "sub" / "page.html").write_text('<h1 id="here">x</h1><a href="../index.html">up</a>')
    assert sorted(check_links.broken_links(tmp_path)) == [
        "index.html: missing.png (no file)",
        "index.html: sub/ (no file)",
        "index.html: sub/page.html#gone (no id 'gone')",
    ]
    (tmp_path / "sub" / "index.html").write_text("<p>dir index</p>")
    assert sorted(check_links.broken_links(tmp_path)) == [
        "index.html: missing.png (no file)",
        "index.html: sub/page.html#gone (no id 'gone')",
    ]


def test_api_pages_cover_every_name_of_every_public_all() -> None:
    pytest.importorskip("sphinx")
    api = _load(ROOT / "docs" / "_ext" / "agm_api.py")
    modules = api.public_modules()
    names = {m.__name__ for m in modules}
    assert {"agm", "agm.geodesic", "agm.models", "agm.data", "agm.training", "agm.models.analytic"} <= names
    assert not any(part.startswith("_") for m in names if m != "agm" for part in m.split("."))
    entries = api.public_names(modules)
    assert len(entries) == sum(len(m.__all__) for m in modules)
    for entry in entries:  # the home exports the very same object, under the same name
        home = importlib.import_module(entry.home)
        assert entry.name in home.__all__
        assert getattr(home, entry.name) is getattr(importlib.import_module(entry.module), entry.name)
    by_name = {(e.module, e.name): e.home for e in entries}
    assert by_name[("agm.geodesic", "build_graph")] == "agm"  # the shortest path that exports it
    assert by_name[("agm.data.registry", "DATASETS")] == "agm.data.registry"  # a constant: where its #: comment is
    page = api._module_page(importlib.import_module("agm.geodesic"), [e for e in entries if e.module == "agm.geodesic"])
    assert ".. autofunction:: agm.geodesic.refine_paths" in page
    assert ":py:obj:`build_graph <agm.build_graph>`" in page  # documented elsewhere: a link


def test_api_check_fails_on_a_public_name_without_a_page() -> None:
    pytest.importorskip("sphinx")
    from sphinx.errors import ExtensionError

    api = _load(ROOT / "docs" / "_ext" / "agm_api.py")
    entries = api.public_names(api.public_modules())

    class Domain:
        objects = {e.target: None for e in entries if e.target != "agm.geodesic.refine_paths"}

    class Env:
        agm_public_names = entries

        def get_domain(self, name: str) -> Domain:
            return Domain()

    class Builder:
        name = "html"

    class App:
        env = Env()
        builder = Builder()

    with pytest.raises(ExtensionError, match=r"agm\.geodesic\.refine_paths"):
        api.check_public_names(App(), None)
    Domain.objects["agm.geodesic.refine_paths"] = None
    api.check_public_names(App(), None)  # complete: no error


def test_version_is_defined_once() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    regex = project["tool"]["scikit-build"]["metadata"]["version"]
    assert regex["input"] == "python/agm/__init__.py"
    source = (ROOT / regex["input"]).read_text()
    assert re.findall(r'^__version__ = "([^"]+)"$', source, flags=re.M) == [agm.__version__]
    assert agm._core.__version__ == agm.__version__  # CMake passes the same value to the native core
    assert importlib.metadata.version("agm") == agm.__version__  # and the build the distribution's metadata
    assert "\nversion:" not in (ROOT / "CITATION.cff").read_text()  # the software's version lives in one place
    assert "## [" + agm.__version__ + "]" in (ROOT / "CHANGELOG.md").read_text()


def test_readme_quick_start_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "the README has no python quick start"
    code = blocks[0]
    assert len([line for line in code.splitlines() if line.strip()]) <= 12  # a quick start, not a program
    torch.manual_seed(2)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    path, strip = namespace["path"], namespace["strip"]
    assert path.length > 0 and len(path.chart_changes) >= 1  # type: ignore[attr-defined]
    assert tuple(strip.x.shape) == (10, 3)  # type: ignore[attr-defined]
    assert capsys.readouterr().out.strip()  # it prints the length, charts and switches
