"""A warning for query points far from the graph: the geodesic is computed, but mostly measures the way in.

A query point x is attached to its k nearest nodes in each of its charts (:mod:`agm.geodesic.attach`). When x
lies far from the decodings of all of them, compared with the lengths of the graph's own edges, x is off the data
the graph was built on (off the manifold, or outside its sampled part), and its geodesic lengths are dominated by
the way in: an :class:`agm.AgmWarning` says so, naming the point and both lengths.
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
#: graph's median intra-chart edge weight.
FAR_FACTOR = 10.0

_SCALES: weakref.WeakKeyDictionary[GeodesicGraph, float] = weakref.WeakKeyDictionary()


def edge_scale(graph: GeodesicGraph) -> float:
    """The median intra-chart edge weight (float; 0.0 for a graph without intra-chart edges), computed once per
    graph (a lazy graph's unevaluated edges count with their decoded chords, a lower bound)."""
    scale = _SCALES.get(graph)
    if scale is None:
        intra = graph.edge_weights.values[: graph.native.n_intra_edges]
        scale = float(np.median(intra)) if intra.size else 0.0
        _SCALES[graph] = scale
    return scale


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
    :data:`FAR_FACTOR` times the graph's median edge weight from every node it attaches to."""
    scale = edge_scale(graph)
    if not scale > 0 or x.shape[0] == 0:
        return
    gaps = query_gaps(graph, x, att)
    far = np.flatnonzero(gaps > FAR_FACTOR * scale)
    if far.size == 0:
        return
    worst = int(far[np.argmax(gaps[far])])
    warnings.warn(
        AgmWarning(
            f"{label(worst)} lies {gaps[worst]:.4g} from the nearest decoding of the graph nodes it attaches to, "
            f"{gaps[worst] / scale:.0f}x the graph's median edge length {scale:.4g} ({far.size} query point(s) "
            f"beyond {FAR_FACTOR:g}x): it is far from the data the graph was built on, so its geodesic lengths "
            "measure mostly the way into the graph"
        ),
        stacklevel=4,
    )
