"""Geodesic interpolation across the charts of an Atlas Generative Model (the paper's Algorithm 1).

    graph = agm.geodesic.build_graph(model, data, k=20, eps=0.05, n_steps=15)   # a GeodesicGraph
    path = graph.shortest_path(x0, x1)                  # the object's door
    path = agm.geodesic.shortest_path(model, x0, x1)    # the verbs' door: the graph just built for model
    path.length, path.charts, path.interpolate(10).x

With one chart this is Chen et al.'s graph geodesic algorithm.

Floors, each importing only the floors below it (checked by ``tests/test_layout.py``):

1. ``_support`` - argument checks in one message style, the thread-safe evaluation context, sharding.
2. ``graph`` - the record of one graph and everything it is made of: eq. 10 (``curves``), the decode policy,
   nodes and node modes, the model fingerprint, lazy weights, the file, the build, exports.
3. ``refinement`` - curves through the atlas as padded batches, their Gauss-Newton descent and re-charting.
4. ``paths`` - the path result (``GeodesicPath``), refining paths, strips.
5. ``query`` - query points attached, LazySP rounds, route choice with fewest switches, searches, distances.
6. ``statistics`` - medoid, k-medoids, the Fréchet mean.
7. ``geodesic_graph`` - :class:`GeodesicGraph`, the object users hold (graph record + model).
8. ``verbs`` - ``build_graph``, ``load_graph``, ``shortest_path(model, x0, x1)`` and kin, the default graph of a model.
"""

from agm._core import UnreachableError
from agm.geodesic.geodesic_graph import GeodesicGraph
from agm.geodesic.graph.modes import DecoderNodes
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.paths.curve import AtlasCurve, Interpolation
from agm.geodesic.paths.path import GeodesicPath
from agm.geodesic.paths.refine import refine_paths
from agm.geodesic.paths.strips import plot_strip
from agm.geodesic.statistics import Clustering, FrechetMean, k_medoids, medoid
from agm.geodesic.verbs import (
    build_graph,
    distances,
    frechet_mean,
    interpolate,
    latest_graph,
    load_graph,
    register_graph,
    shortest_path,
    shortest_paths,
)

__all__ = [
    "AtlasCurve",
    "DecodePolicy",
    "DecoderNodes",
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
