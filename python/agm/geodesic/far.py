"""A warning for query points far from the graph: the geodesic is computed, but mostly measures the way in.

A query point x is attached to its k nearest nodes in each of its charts (:mod:`agm.geodesic.attach`). When x
lies far from the decodings of all of them, compared with the graph's own scales, x is off the data the graph was
built on (off the manifold, or outside its sampled part), and its geodesic lengths are dominated by the way in: an
:class:`agm.AgmWarning` says so, naming the point and the lengths.

The scale is the larger of the graph's median intra-chart edge weight and the median distance of the graph's own
data points to the nearest decoding of their nodes (recorded when the graph is built from data, in this process):
a model that reconstructs its data poorly (briefly trained) decodes every point far from itself, and then a query
is far only when it is much farther than the data are. Graphs loaded from a file or built from prior samples
(``nodes="decoder"``) have no recorded data distance and never warn.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from agm._warning import AgmWarning

if TYPE_CHECKING:
    from agm.geodesic.attach import Attachments
    from agm.geodesic.graph import GeodesicGraph

#: A query is far when its distance to the nearest decoding of the nodes it attaches to exceeds this many times the
#: graph's scale (:func:`far_scale`).
FAR_FACTOR = 10.0
#: Nodes whose data distance is measured at once by :func:`record_data_gap` (bounds its temporary memory).
GAP_CHUNK = 16384

_EDGE_SCALES: weakref.WeakKeyDictionary[GeodesicGraph, float] = weakref.WeakKeyDictionary()
_DATA_GAPS: weakref.WeakKeyDictionary[GeodesicGraph, float] = weakref.WeakKeyDictionary()


def edge_scale(graph: GeodesicGraph) -> float:
    """The median intra-chart edge weight (float; 0.0 for a graph without intra-chart edges), computed once per
    graph (a lazy graph's unevaluated edges count with their decoded chords, a lower bound)."""
    scale = _EDGE_SCALES.get(graph)
    if scale is None:
        intra = graph.edge_weights.values[: graph.native.n_intra_edges]
        scale = float(np.median(intra)) if intra.size else 0.0
        _EDGE_SCALES[graph] = scale
    return scale


def record_data_gap(graph: GeodesicGraph, data: torch.Tensor) -> None:
    """Remember the median distance from the graph's data points to the nearest decoding of their own nodes.

    Args:
        graph: a graph built from ``data`` with encoder nodes (others are left alone).
        data: (N, *S) float, the points the graph was built on (any device).
    """
    if graph.nodes != "encoder" or graph.n_nodes == 0:
        return
    flat = data.reshape(data.shape[0], -1)
    gaps = np.full(data.shape[0], np.inf)
    for start in range(0, graph.n_nodes, GAP_CHUNK):
        nodes = np.arange(start, min(start + GAP_CHUNK, graph.n_nodes))
        points = graph.node_point[nodes]
        rows = flat[torch.from_numpy(points).to(flat.device)].detach().to("cpu", torch.float64).numpy()
        np.minimum.at(gaps, points, np.linalg.norm(rows - graph.positions[nodes], axis=1))
    finite = gaps[np.isfinite(gaps)]
    _DATA_GAPS[graph] = float(np.median(finite)) if finite.size else 0.0


def far_scale(graph: GeodesicGraph) -> float | None:
    """max(median edge weight, median data distance), or None where no data distance was recorded."""
    gap = _DATA_GAPS.get(graph)
    return None if gap is None else max(edge_scale(graph), gap)


def query_gaps(graph: GeodesicGraph, x: torch.Tensor, att: Attachments) -> np.ndarray:
    """(B,) float64: for each query point, the Euclidean distance from x[b] (data space) to the nearest decoding
    of the graph nodes it attaches to (inf for a point without attachments).

    Args:
        x: (B, *S) float query points, the ones ``att`` was computed for (any device).
    """
    flat = x.reshape(x.shape[0], -1).detach().to("cpu", torch.float64).numpy()
    counts = np.diff(att.offsets)
    owners = np.repeat(np.arange(x.shape[0]), counts)
    gaps = np.linalg.norm(flat[owners] - graph.positions[att.nodes].astype(np.float64), axis=1)
    out = np.full(x.shape[0], np.inf)
    np.minimum.at(out, owners, gaps)
    return out


def warn_far_queries(graph: GeodesicGraph, x: torch.Tensor, att: Attachments, label: Callable[[int], str]) -> None:
    """Warn (:class:`agm.AgmWarning`, once per call, naming the farthest point) when a query point lies more than
    :data:`FAR_FACTOR` times the graph's scale (:func:`far_scale`) from every node it attaches to."""
    scale = far_scale(graph)
    if scale is None or not scale > 0 or x.shape[0] == 0:
        return
    gaps = query_gaps(graph, x, att)
    far = np.flatnonzero(gaps > FAR_FACTOR * scale)
    if far.size == 0:
        return
    worst = int(far[np.argmax(gaps[far])])
    warnings.warn(
        AgmWarning(
            f"{label(worst)} lies {gaps[worst]:.4g} from the nearest decoding of the graph nodes it attaches to, "
            f"{gaps[worst] / scale:.0f}x the graph's scale {scale:.4g} (the larger of its median edge length and "
            f"its data points' median distance to their decodings; {far.size} query point(s) "
            f"beyond {FAR_FACTOR:g}x): it is far from the data the graph was built on, so its geodesic lengths "
            "measure mostly the way into the graph"
        ),
        stacklevel=4,
    )
