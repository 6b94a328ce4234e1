"""The package's layout as a contract: floors whose imports only point down, no import circles, short call chains.

Every import counts, at module level or inside a function (a deferred import is still a dependency), except those
under ``if TYPE_CHECKING:``. A module belongs to the floor of the longest prefix listed in :data:`FLOORS`; it may
import its own floor and the floors below, never one above.
"""

from __future__ import annotations

import ast
import math
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import networkx as nx
import pytest
import torch

import agm
from agm import geodesic
from agm.models.analytic import CylinderAtlas

PACKAGE_ROOT = Path(agm.__file__).parent

#: Bottom to top. The root ``agm`` is a facade on the lowest floor: it imports only ``_core`` and ``_warning``; its
#: public names from higher floors are imported on first access, by name (PEP 562), not by an import statement. The
#: layout reads like the algorithm: data -> models -> atlas graph -> geodesics -> experiments ->
#: commands; inside agm.geodesic: support -> graph -> refinement -> paths -> query -> statistics -> the object ->
#: the verbs.
FLOORS: tuple[tuple[str, ...], ...] = (
    (
        "agm",
        "agm._core",
        "agm._files",
        "agm._threads",
        "agm._progress",
        "agm._optional",
        "agm._warning",
        "agm.distributed",
    ),
    ("agm.data",),
    ("agm.models",),
    ("agm.training", "agm.evaluation"),
    ("agm.geodesic._support",),
    ("agm.geodesic.graph",),
    ("agm.geodesic.refinement",),
    ("agm.geodesic.paths",),
    ("agm.geodesic.query",),
    ("agm.geodesic.statistics",),
    ("agm.geodesic.geodesic_graph",),
    ("agm.geodesic.verbs", "agm.geodesic"),
    ("agm.estimators",),
    ("agm.experiments",),
    ("agm.commands", "agm.cli", "agm.__main__"),
)

#: The most package files one geodesic query passes through on one call chain (the issue's target).
MAX_FILES_ON_A_CALL_CHAIN = 6


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for statement in node.body for n in ast.walk(statement))
    return skip


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules that the file at ``path`` imports (submodules named in ``from X import Y`` included)."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    this = _module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & modules
            out.update(submodules)
            if len(submodules) < len(node.names):  # a name defined in the module itself
                out.add(base)
    return {name for name in out if name in modules and name != this}


def _import_graph() -> nx.DiGraph:
    files = sorted(PACKAGE_ROOT.rglob("*.py"))
    modules = {_module_name(f) for f in files}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for f in files:
        graph.add_edges_from((_module_name(f), target) for target in _imports(f, modules))
    return graph


def floor_of(module: str) -> int:
    """The floor of a module: that of the longest prefix in FLOORS that it equals or lies under."""
    best, best_length = -1, -1
    for level, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = level, len(prefix)
    if best < 0:
        raise AssertionError(f"{module} is on no floor: add it to FLOORS")
    return best


def test_the_import_graph_sees_deferred_imports_and_skips_type_checking_ones() -> None:
    modules = {_module_name(p) for p in PACKAGE_ROOT.rglob("*.py")}
    found = _imports(PACKAGE_ROOT / "geodesic" / "verbs.py", modules)
    assert "agm.geodesic.geodesic_graph" in found and "agm.geodesic.query.search" in found
    # the root's imports under TYPE_CHECKING (its lazily imported public names) are not dependencies
    assert not any(m.startswith("agm.geodesic") for m in _imports(PACKAGE_ROOT / "__init__.py", modules))


def test_every_module_is_on_a_floor() -> None:
    for module in _import_graph().nodes:
        floor_of(module)


def test_there_are_no_import_circles() -> None:
    graph = _import_graph()
    circles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert circles == []


def test_imports_only_point_down_the_floors() -> None:
    upward = [
        f"{a} (floor {floor_of(a)}) imports {b} (floor {floor_of(b)})"
        for a, b in _import_graph().edges
        if floor_of(b) > floor_of(a)
    ]
    assert upward == []


def _files_on_call_chains(call: Any) -> list[str]:
    """The longest chain of distinct package files (the model's own code left out) on the call stack of ``call``."""
    stack: list[str | None] = []
    longest: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        nonlocal longest
        if event == "call":
            name = frame.f_code.co_filename
            inside = name.startswith(str(PACKAGE_ROOT)) and "/models/" not in name
            stack.append(name.removeprefix(str(PACKAGE_ROOT) + "/") if inside else None)
            chain: list[str] = []
            for entry in stack:
                if entry is not None and entry not in chain:
                    chain.append(entry)
            if len(chain) > len(longest):
                longest = chain
        elif event == "return" and stack:
            stack.pop()

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return longest


def test_one_shortest_path_call_crosses_at_most_six_package_files() -> None:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(0)
    data = model.points(torch.rand(300, generator=g) * 2 * math.pi - math.pi, torch.rand(300, generator=g))
    graph = geodesic.build_graph(model, data, k=8, n_steps=3, progress=False)
    geodesic.shortest_path(model, data[0], data[1])  # first calls (imports, caches) are not the query's path
    for call in (
        lambda: geodesic.shortest_path(model, data[2], data[3]),
        lambda: graph.shortest_path(data[4], data[5]),
    ):
        chain = _files_on_call_chains(call)
        assert chain[0].startswith("geodesic/")
        assert len(chain) <= MAX_FILES_ON_A_CALL_CHAIN, chain


@pytest.mark.parametrize("name", ["AtlasGraph", "ChartIndex"])
def test_native_classes_are_reachable_but_not_in_the_public_names(name: str) -> None:
    assert name not in agm.__all__
    assert getattr(agm._core, name).__name__ == name
