"""agm: Atlas Generative Models and geodesic interpolation across their charts.

    import agm
    graph = agm.build_graph(model, data, k=20, eps=0.05, n_steps=15)   # Algorithm 1's graph
    path = agm.shortest_path(model, x0, x1)                           # a geodesic across charts
    D = agm.distances(model, X)                                        # (n, n) geodesic distances

The layout reads like the algorithm: ``agm.data`` (data sets) -> ``agm.models`` (AGMs and the atlas interface)
-> ``agm._core`` (native per-chart k-d trees, multi-chart graph, A*) -> ``agm.geodesic`` (Algorithm 1) ->
``agm.experiments`` (demo and the paper's reproduction) -> ``agm.commands`` (the ``agm`` command line).

Everything that needs torch is imported on first use (PEP 562), so ``import agm`` and ``agm --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agm._core import UnreachableError
from agm._warning import AgmWarning

if TYPE_CHECKING:
    from agm.geodesic import (
        GeodesicGraph,
        GeodesicPath,
        build_graph,
        distances,
        interpolate,
        load_graph,
        shortest_path,
        shortest_paths,
    )
    from agm.models.protocol import AtlasModel, SemiAtlasModel

__version__ = "0.1.0"

#: Public names imported on first access, and the module that holds each.
_LAZY: dict[str, str] = {
    "AtlasModel": "agm.models.protocol",
    "SemiAtlasModel": "agm.models.protocol",
    "GeodesicGraph": "agm.geodesic",
    "GeodesicPath": "agm.geodesic",
    "build_graph": "agm.geodesic",
    "distances": "agm.geodesic",
    "interpolate": "agm.geodesic",
    "load_graph": "agm.geodesic",
    "shortest_path": "agm.geodesic",
    "shortest_paths": "agm.geodesic",
}

__all__ = [
    "AgmWarning",
    "AtlasModel",
    "GeodesicGraph",
    "GeodesicPath",
    "SemiAtlasModel",
    "UnreachableError",
    "__version__",
    "build_graph",
    "distances",
    "interpolate",
    "load_graph",
    "shortest_path",
    "shortest_paths",
]


def __getattr__(name: str) -> Any:
    """Import a public name of ``agm`` on first access (``agm.shortest_path``, ``agm.AtlasModel``, ...)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
