"""The bound levels of one lazy call's unevaluated graph and attachment edges, and raising them a level.

A LazySP round (:mod:`agm.geodesic.query.lazysp`, :mod:`agm.geodesic.query.lazy_distances`) takes each pending route's
unevaluated edges of the lowest bound level among them one level up: from the chord to the bounds of
:mod:`agm.geodesic.graph.bounds`, from the top bound to the weight. This module holds the levels of one call and
the decodings it keeps; the rounds choose the edges.

Floor: :mod:`agm.geodesic.query` (imports the graph floor only).
"""

from __future__ import annotations

import numpy as np

from agm.geodesic.graph.bounds import KeptBytes, KeptPoints
from agm.geodesic.graph.curves import interior_decodings
from agm.geodesic.graph.edge_kinds import BoundedEdgeKind, DecodeContext, raise_level
from agm.geodesic.graph.record import GraphRecord

#: A round whose edges all decode in full within this long at the graph's measured decode rate skips the bound
#: levels (:meth:`BoundLevels.split`): a bound saves decodings but costs another round (a search and its
#: bookkeeping), which with a cheap decoder costs more than the decodings it saves. Measured on the sphere
#: (``SphereAtlas``, 2,000 points, k = 20, 15 steps, 4.5M points/s; the 20 pairs of ``bench_refine.py``, each on a
#: fresh lazy graph, CPU ms a pair): one by one 9.7 with the two bound levels, 7.9 with the midpoint alone, 5.4 with
#: none; 20 in one call 4.7 / 3.5 / 2.1.
FULL_ROUND_S = 2e-3


class BoundLevels:
    """The bound level of the graph's and the query points' unevaluated edges in one call (0: the chord; up to
    ``top`` - 1: bound levels; an edge at ``top`` - 1 goes to its weight next; ``top`` 1: no bounds) and the
    decodings kept of each kind, in one byte budget. A graph edge bounded by an earlier call is at level 1, with
    nothing kept.

    Args:
        graph: the graph (its intra-chart edges are the graph kind's ids).
        n_attachments: the call's attachment edges (ids 0..n - 1 of the unique query points' attachments).
        top: :func:`agm.geodesic.graph.bounds.top_level` of the graph's n_steps, or 1 for no bounds.
    """

    def __init__(self, graph: GraphRecord, n_attachments: int, top: int) -> None:
        self.top = top
        policy = graph.decode_policy
        #: the interior points that :data:`FULL_ROUND_S` decodes at the graph's measured rate (0: unknown)
        self.full_round_points = FULL_ROUND_S * (policy.measured if policy is not None else 0.0)
        self._interior = interior_decodings(graph.n_steps)
        budget = KeptBytes()
        self.graph = KeptPoints(int(graph.native.n_intra_edges), budget)
        self.att = KeptPoints(int(n_attachments), budget)
        self._bounded = graph.edge_weights.bounded

    def graph_levels(self, ids: np.ndarray) -> np.ndarray:
        """(n,) int8 levels of unevaluated graph edges ``ids``."""
        own: np.ndarray = self.graph.level[ids]
        if self.top < 2:
            return own
        out: np.ndarray = np.maximum(own, self._bounded[ids].astype(np.int8))
        return out

    def att_levels(self, ids: np.ndarray) -> np.ndarray:
        """(n,) int8 levels of unevaluated attachment edges ``ids``."""
        out: np.ndarray = self.att.level[ids]
        return out

    def split(
        self, graph_ids: np.ndarray, att_ids: np.ndarray
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """((graph, attachment) edges below the top bound: to be raised a level, (graph, attachment) edges at the
        top bound: to be decoded in full) of the unevaluated ``graph_ids`` and ``att_ids``; all in full where that
        takes at most :data:`FULL_ROUND_S` at the graph's measured decode rate."""
        if (graph_ids.size + att_ids.size) * self._interior <= self.full_round_points:
            none = np.zeros(0, dtype=np.int64)
            return (none, none), (graph_ids, att_ids)
        g_full = self.graph_levels(graph_ids) >= self.top - 1
        a_full = self.att_levels(att_ids) >= self.top - 1
        return (graph_ids[~g_full], att_ids[~a_full]), (graph_ids[g_full], att_ids[a_full])


def raise_edges(
    levels: BoundLevels,
    graph_kind: BoundedEdgeKind | None,
    att_kind: BoundedEdgeKind,
    graph_ids: np.ndarray,
    att_ids: np.ndarray,
    context: DecodeContext,
) -> int:
    """Raise these graph and attachment edges (below the top bound) one bound level (call under ``evaluating``);
    the edges raised. ``graph_kind`` may be None when ``graph_ids`` is empty."""
    n = 0
    for ids, own, kind, kept in (
        (graph_ids, levels.graph_levels(graph_ids), graph_kind, levels.graph),
        (att_ids, levels.att_levels(att_ids), att_kind, levels.att),
    ):
        for level in range(levels.top - 1):
            at = ids[own == level]
            if at.size and kind is not None:
                n += raise_level(kind, at, level + 1, context, kept)
    return n
