"""Geodesic interpolation across the charts of an Atlas Generative Model (the paper's Algorithm 1).

    graph = agm.geodesic.build_graph(model, data, k=20, eps=0.05, n_steps=15)
    path = agm.geodesic.shortest_path(model, x0, x1)       # uses the graph just built
    path.length, path.charts, path.interpolate(10).x

With one chart this is Chen et al.'s graph geodesic algorithm.

Modules: ``build`` (graph construction), ``graph`` (the graph record), ``graph_file`` (its file format),
``registry`` (the default graph of each model), ``modes`` (encoder / decoder nodes), ``nodes`` and ``semi``
(making nodes), ``curves`` (eq. 10), ``attach`` and ``direct`` (query points in the graph), ``search``
(queries), ``interpolation`` (the strip in one call), ``routes`` and ``switches`` (which route, fewest chart
switches), ``path`` (results), ``inputs`` (argument checks), ``advice`` and ``far`` (what an unreachable pair needs,
queries far from the graph), ``differentiable`` (what refinement needs).
"""

from agm._core import UnreachableError
from agm.geodesic.build import build_graph, load_graph
from agm.geodesic.distances import distances
from agm.geodesic.graph import GeodesicGraph
from agm.geodesic.interpolation import interpolate
from agm.geodesic.path import GeodesicPath, Interpolation
from agm.geodesic.policy import DecodePolicy
from agm.geodesic.refine import refine_paths
from agm.geodesic.registry import latest_graph, register_graph
from agm.geodesic.search import shortest_path, shortest_paths
from agm.geodesic.statistics import Clustering, FrechetMean, frechet_mean, k_medoids, medoid
from agm.geodesic.strips import plot_strip

__all__ = [
    "DecodePolicy",
    "GeodesicGraph",
    "GeodesicPath",
    "Interpolation",
    "UnreachableError",
    "build_graph",
    "latest_graph",
    "load_graph",
    "register_graph",
    "shortest_path",
    "shortest_paths",
    "distances",
    "interpolate",
    "refine_paths",
    "Clustering",
    "FrechetMean",
    "frechet_mean",
    "k_medoids",
    "medoid",
    "plot_strip",
]
