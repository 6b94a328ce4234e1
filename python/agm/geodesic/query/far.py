"""A warning for query points far from the graph: the geodesic is computed, but mostly measures the way in.

A query point x is attached to its k nearest nodes in each of its charts (:mod:`agm.geodesic.query.attach`). When x
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
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from agm._warning import AgmWarning
from agm.geodesic.graph.scales import far_scale

if TYPE_CHECKING:
    from agm.geodesic.graph.record import GraphRecord
    from agm.geodesic.query.attach import Attachments

#: A query is far when its distance to the nearest decoding of the nodes it attaches to exceeds this many times the
#: graph's scale (:func:`far_scale`).
FAR_FACTOR = 10.0


def query_gaps(graph: GraphRecord, x: torch.Tensor, att: Attachments) -> np.ndarray:
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


def warn_far_queries(graph: GraphRecord, x: torch.Tensor, att: Attachments, label: Callable[[int], str]) -> None:
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
