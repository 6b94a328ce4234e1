"""agm: Atlas Generative Models and geodesic interpolation across their charts.

The layout reads like the algorithm: ``agm.data`` (data sets) -> ``agm.models`` (AGMs and the atlas interface)
-> ``agm._core`` (native per-chart k-d trees, multi-chart graph, A*) -> ``agm.geodesic`` (Algorithm 1) ->
``agm.experiments`` (demo and the paper's reproduction).
"""

from __future__ import annotations

from agm._core import AtlasGraph, ChartIndex, UnreachableError
from agm.models.protocol import AtlasModel, SemiAtlasModel

__version__ = "0.1.0"

__all__ = ["AtlasGraph", "AtlasModel", "ChartIndex", "SemiAtlasModel", "UnreachableError", "__version__"]
