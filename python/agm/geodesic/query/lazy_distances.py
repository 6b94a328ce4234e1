"""One-to-many LazySP: exact distance matrices that decode only the edges their shortest routes use (issue 19).

Every edge weighs at least its decoded chord (:mod:`agm.geodesic.graph.weights`), and so does every attachment edge of a
query point (:mod:`agm.geodesic.query.attach`). A (B, T) matrix is found in rounds:

1. from each source row with a pending target, one native Dijkstra over the graph plus the T target sinks with the
   current weights (exact where evaluated, chords elsewhere), stopped once every pending target of the row is
   settled, and the route to each pending target read back (``AtlasGraph.distance_routes``, rows threaded, the GIL
   released);
2. a pair whose route is fully evaluated is exact (its cost is exact and every other route costs at least its
   bound: the LazySP argument of :mod:`agm.geodesic.query.lazysp`); the others collect the unevaluated graph and
   attachment edges of their routes;
3. the union over all rows of the call is decoded in one batched pass per kind, and the pending pairs go again.

Each round evaluates at least one edge of every pending pair, so the loop ends; past
:data:`agm.geodesic.query.lazysp.EAGER_SWITCH` of the intra-chart edges the rest are decoded at once, so no call decodes
more than the eager graph plus the attachments.

Thread safety: the graph's weights may grow while a round runs (other threads' queries evaluate edges). Which
edges are pending is decided as of the weights' ``version`` read *before* the search: ``GraphWeights.store`` hands
new weights to the native graph before it publishes its version, so every edge exact as of that version is exact in
the weights snapshot the search then takes. An edge evaluated between the two reads is merely decoded again
(the evaluator skips it) and its pair settled next round.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from agm.geodesic.graph.completion import node_table
from agm.geodesic.graph.edge_kinds import DecodeContext, GraphEdgeKind, evaluate
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.graph.record import GraphRecord
from agm.geodesic.query.attach import AttachmentEdgeKind, Attachments
from agm.geodesic.query.lazysp import EAGER_SWITCH, LazyStats
from agm.models.protocol import SemiAtlasModel

#: Pairs (rows x targets) searched per native call: bounds the routes held at once (~30 nodes each, 8 bytes).
PAIRS_PER_CALL = 1 << 20


class AttachmentEdges:
    """Find the attachment edge of a query point to a graph node (a query's copies are in distinct charts and a
    copy's k nearest nodes are distinct, so (query, node) names at most one edge)."""

    def __init__(self, att: Attachments, n_nodes: int) -> None:
        edge_owner = np.repeat(np.arange(att.n_queries, dtype=np.int64), np.diff(att.offsets))
        keys = edge_owner * n_nodes + att.nodes
        self._order = np.argsort(keys, kind="stable")
        self._keys = keys[self._order]
        self._n_nodes = n_nodes

    def of(self, queries: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """(n,) int64 attachment edge ids (into the unique set) of query ``queries[i]`` to node ``nodes[i]``."""
        want = queries.astype(np.int64) * self._n_nodes + nodes.astype(np.int64)
        pos = np.clip(np.searchsorted(self._keys, want), 0, max(self._keys.size - 1, 0))
        if self._keys.size == 0 or not np.array_equal(self._keys[pos], want):
            raise AssertionError("a route starts or ends at a node its query point is not attached to")
        return self._order[pos].astype(np.int64)


def lazy_graph_distances(
    graph: GraphRecord,
    model: SemiAtlasModel,
    device: torch.device,
    policy: DecodePolicy,
    att: Attachments,
    rows: tuple[np.ndarray, np.ndarray],
    want: np.ndarray,
    n_threads: int,
    progress: Callable[[int, int], None] | None = None,
    stats: LazyStats | None = None,
) -> np.ndarray:
    """Exact route lengths through the graph between query points, by one-to-many LazySP (under ``evaluating``).

    Args:
        graph: a lazy or eager graph (its evaluated weights grow).
        model: the AGM of the graph.
        device: where the model runs.
        policy: the decode policy of the graph's decodes.
        att: attachments of the unique query points (lazy or exact; evaluated in place).
        rows: (source rows (B,), target rows (T,)) int64 into ``att``.
        want: (B, T) bool, the pairs to make exact; the other entries are returned as inf.
        n_threads: native search threads, >= 0 (0 = all cores).
        progress: called with (pairs made exact this round, graph and attachment edges decoded this round).
        stats: receives rounds and edges evaluated.

    Returns:
        (B, T) float64 numpy array: the exact route length of each wanted pair (inf where unreachable, and where
        not wanted).
    """
    stats = stats if stats is not None else LazyStats()
    src_rows, dst_rows = (np.asarray(r, dtype=np.int64) for r in rows)
    n_src, n_tgt = src_rows.size, dst_rows.size
    out = np.full((n_src, n_tgt), np.inf)
    want = np.array(want, dtype=bool, copy=True)
    lookup = AttachmentEdges(att, graph.n_nodes)
    while want.any():
        stats.rounds += 1
        as_of = graph.edge_weights.version  # before the search: see the module docstring
        dst = att.select(dst_rows)
        graph_ids: list[np.ndarray] = []
        att_ids: list[np.ndarray] = []
        done = 0
        active = np.flatnonzero(want.any(axis=1))
        step = max(1, PAIRS_PER_CALL // max(n_tgt, 1))
        for start in range(0, active.size, step):
            chunk = active[start : start + step]
            src = att.select(src_rows[chunk])
            lengths, offsets, nodes = graph.native.distance_routes(
                src.offsets, src.nodes, src.costs, dst.offsets, dst.nodes, dst.costs, want[chunk], n_threads
            )
            exact, g_ids, a_ids = _pending(graph, lookup, as_of, att, src_rows[chunk], dst_rows, offsets, nodes)
            exact &= want[chunk].ravel()
            unreachable = want[chunk].ravel() & (np.diff(offsets) == 0)
            settle = (exact | unreachable).reshape(chunk.size, n_tgt)
            out[chunk] = np.where(settle, lengths, out[chunk])
            want[chunk] &= ~settle
            done += int(settle.sum())
            graph_ids.append(g_ids)
            att_ids.append(a_ids)
        decoded = _evaluate(
            graph, model, device, policy, att, np.concatenate(graph_ids), np.concatenate(att_ids), stats
        )
        if progress is not None:
            progress(done, decoded)
    return out


def _pending(
    graph: GraphRecord,
    lookup: AttachmentEdges,
    as_of: int,
    att: Attachments,
    src_queries: np.ndarray,
    dst_queries: np.ndarray,
    offsets: np.ndarray,
    nodes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which routes of one native call are exact, and the unevaluated edges of the others.

    Returns:
        exact: (B T,) bool, the route exists and every edge of it is evaluated (graph edges as of store ``as_of``);
        graph edge ids and attachment edge ids (into ``att``) on the routes that are not, unique.
    """
    n_pairs = offsets.size - 1
    counts = np.diff(offsets)
    pair = np.repeat(np.arange(n_pairs, dtype=np.int64), counts)
    inner = pair[1:] == pair[:-1]
    ids = graph.edge_weights.edge_ids(nodes[:-1][inner], nodes[1:][inner])
    if ids.size and int(ids.min()) < 0:
        raise AssertionError("a route steps between nodes that share no edge")
    lazy = ~graph.edge_weights.exact_as_of(ids, as_of)
    routed = np.flatnonzero(counts > 0)
    n_tgt = dst_queries.size
    first = lookup.of(src_queries[routed // n_tgt], nodes[offsets[routed]])
    last = lookup.of(dst_queries[routed % n_tgt], nodes[offsets[routed + 1] - 1])
    ends_lazy = ~att.evaluated[first] | ~att.evaluated[last]
    exact = counts > 0
    exact[pair[:-1][inner][lazy]] = False
    exact[routed[ends_lazy]] = False
    ends = np.concatenate([first[~att.evaluated[first]], last[~att.evaluated[last]]])
    return exact, np.unique(ids[lazy]), np.unique(ends)


def _evaluate(
    graph: GraphRecord,
    model: SemiAtlasModel,
    device: torch.device,
    policy: DecodePolicy,
    att: Attachments,
    graph_ids: np.ndarray,
    att_ids: np.ndarray,
    stats: LazyStats,
) -> int:
    """Decode the collected edges of one round (and the rest of the graph past the eager switch); the count."""
    n = 0
    context = DecodeContext(model, device, policy, graph.n_steps)
    if graph_ids.size:
        edges = GraphEdgeKind(node_table(graph, device), graph.native, graph.edge_weights)
        n += evaluate(edges, graph_ids, context)
        if not graph.edge_weights.complete and graph.weights_evaluated >= EAGER_SWITCH:
            n += evaluate(edges, np.flatnonzero(~graph.edge_weights.evaluated), context)
    stats.graph_edges += n
    n_att = evaluate(AttachmentEdgeKind(graph, att), att_ids, context) if att_ids.size else 0
    stats.attachment_edges += n_att
    stats.per_round.append(n + n_att)
    return n + n_att
