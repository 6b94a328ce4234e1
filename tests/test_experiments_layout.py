"""``agm.experiments`` is laid out in floors: the shared modules at the bottom, the demo and reproduction pipelines
above them. Imports point down only: a shared module imports no pipeline, and neither pipeline imports the other.
Every import counts, deferred (in-function) ones and those under ``if TYPE_CHECKING:`` included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import agm.experiments

ROOT = Path(agm.experiments.__file__).resolve().parent
PIPELINES = ("demo", "reproduction")


def _module(path: Path) -> str:
    parts = ["agm", "experiments", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module name an import statement of ``path`` names (``from a import b`` names a and a.b)."""
    names: set[str] = set()
    package = _module(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _floor(module: str) -> str:
    """ "shared", or the pipeline a module of agm.experiments belongs to."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[2] in PIPELINES else "shared"


MODULES = sorted(ROOT.rglob("*.py"))


def test_both_pipelines_are_subpackages() -> None:
    for pipeline in PIPELINES:
        assert (ROOT / pipeline / "__init__.py").is_file()
    assert {_floor(_module(p)) for p in MODULES} == {"shared", *PIPELINES}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module(p))
def test_imports_point_down(path: Path) -> None:
    here = _floor(_module(path))
    for name in _imports(path):
        if not name.startswith("agm.experiments."):
            continue
        there = _floor(name)
        if here == "shared":
            assert there == "shared", f"{_module(path)} (shared floor) imports the {there} pipeline: {name}"
        else:
            assert there in ("shared", here), f"{_module(path)} ({here} pipeline) imports the {there} pipeline: {name}"
