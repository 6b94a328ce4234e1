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
3. each pending route gives its unevaluated edges of the lowest bound level among them, and each of those goes one
   level up (:mod:`agm.geodesic.graph.bounds`): from the chord to the polyline through the middle step (1
   decoding), then through the middles of both halves (2 more; with 6 or more interior steps), then to the weight
   (the rest of the steps: the decodings of the levels below are kept and reused, so an edge that reaches its
   weight costs n - 1 decodings in all). A route is thus refuted on its cheapest bounds first. The union over all
   rows of the call goes up in one batched pass per kind and level, and the pending pairs go again.

Where the chords mislead (a trained decoder: weight/chord up to 3.6), the bounds refute most misleading routes for
1 or 3 decodings per edge instead of n - 1. Measured (benchmarks/README.md, "Issue 19, bounds in levels": the
8-chart AWAE cpu preset, 2,000 MNIST points, 200 x 200, decodings counted): at eps = 0.05 (3,240 nodes, 44,032
intra-chart edges) 0.311 of ``evaluate_all``'s decodings (midpoint bounds decoded again in full: 0.352); at
eps = 1e-9 (15,973 nodes, 218k intra-chart edges, the issue's size) 0.122 (0.136). The floor of any exact method
is the union of the exact routes (every edge of one shortest route must be decoded to know its length): 0.216 and
0.085 there.

Each round raises or evaluates at least one edge of every pending pair (an edge goes up each level once), so the
loop ends; past :data:`agm.geodesic.query.lazysp.EAGER_SWITCH` of the intra-chart edges the rest are decoded at
once, so no call decodes more than the eager graph plus the attachments and their bounds.

Thread safety: the graph's weights may grow while a round runs (other threads' queries evaluate edges). Which
edges are pending is decided as of the weights' ``version`` read *before* the search: ``GraphWeights.store`` hands
new weights to the native graph before it publishes its version, so every edge exact as of that version is exact in
the weights snapshot the search then takes. An edge evaluated between the two reads is merely decoded again
(the evaluator skips it) and its pair settled next round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agm.geodesic.graph.bounds import top_level
from agm.geodesic.graph.completion import edge_feed, graph_watch, node_table
from agm.geodesic.graph.edge_kinds import DecodeContext, GraphEdgeKind, evaluate, evaluate_kept
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.graph.record import GraphRecord
from agm.geodesic.query.attach import AttachmentEdgeKind, Attachments
from agm.geodesic.query.bound_levels import BoundLevels, raise_edges
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
    kinds = _Kinds.of(graph, att, model, device, policy)
    levels = BoundLevels(graph, int(att.nodes.size), top_level(graph.n_steps))
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
            exact, g_ids, a_ids = _pending(graph, lookup, as_of, att, levels, src_rows[chunk], dst_rows, offsets, nodes)
            exact &= want[chunk].ravel()
            unreachable = want[chunk].ravel() & (np.diff(offsets) == 0)
            settle = (exact | unreachable).reshape(chunk.size, n_tgt)
            out[chunk] = np.where(settle, lengths, out[chunk])
            want[chunk] &= ~settle
            done += int(settle.sum())
            graph_ids.append(g_ids)
            att_ids.append(a_ids)
        g_ids, a_ids = np.unique(np.concatenate(graph_ids)), np.unique(np.concatenate(att_ids))
        # each edge goes up one level: to a bound level (its decodings kept) or, from the top bound, to its weight
        (raise_g, raise_a), (full_g, full_a) = levels.split(g_ids, a_ids)
        stats.bounded_edges += raise_edges(levels, kinds.graph, kinds.attachments, raise_g, raise_a, kinds.context)
        decoded = _evaluate(kinds, levels, full_g, full_a, stats)
        if progress is not None:
            progress(done, decoded)
    return out


def _pending(
    graph: GraphRecord,
    lookup: AttachmentEdges,
    as_of: int,
    att: Attachments,
    levels: BoundLevels,
    src_queries: np.ndarray,
    dst_queries: np.ndarray,
    offsets: np.ndarray,
    nodes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which routes of one native call are exact, and the edges to take one level up on the others: each route
    gives its unevaluated edges of the lowest bound level among them (``levels``), so a route is refuted on its
    cheapest bounds first and its edges are decoded in full only once all of them hold the top bound.

    Returns:
        exact: (B T,) bool, the route exists and every edge of it is evaluated (graph edges as of store ``as_of``);
        graph edge ids and attachment edge ids (into ``att``) collected from the routes that are not, unique.
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
    first_lazy, last_lazy = ~att.evaluated[first], ~att.evaluated[last]
    exact = counts > 0
    g_pair = pair[:-1][inner][lazy]
    exact[g_pair] = False
    exact[routed[first_lazy | last_lazy]] = False
    g_ids = ids[lazy]
    a_ids = np.concatenate([first[first_lazy], last[last_lazy]])
    a_pair = np.concatenate([routed[first_lazy], routed[last_lazy]])
    g_level, a_level = levels.graph_levels(g_ids), levels.att_levels(a_ids)
    lowest = np.full(n_pairs, np.iinfo(np.int8).max, dtype=np.int8)
    np.minimum.at(lowest, g_pair, g_level)
    np.minimum.at(lowest, a_pair, a_level)
    g_keep, a_keep = g_level == lowest[g_pair], a_level == lowest[a_pair]
    return exact, np.unique(g_ids[g_keep]), np.unique(a_ids[a_keep])


@dataclass(frozen=True)
class _Kinds:
    """The two kinds of edges one distance call decodes (the graph's and its query points' attachments) and how."""

    graph: GraphEdgeKind
    attachments: AttachmentEdgeKind
    context: DecodeContext

    @classmethod
    def of(
        cls, graph: GraphRecord, att: Attachments, model: SemiAtlasModel, device: torch.device, policy: DecodePolicy
    ) -> _Kinds:
        edges = GraphEdgeKind(node_table(graph, device), graph.native, graph.edge_weights)
        feed, watch = edge_feed(graph, policy), graph_watch(graph, device)  # bulk: feeds the trial, the watch
        context = DecodeContext(model, device, policy, graph.n_steps, feed, watch)
        return cls(edges, AttachmentEdgeKind(graph, att), context)


def _evaluate(kinds: _Kinds, levels: BoundLevels, graph_ids: np.ndarray, att_ids: np.ndarray, stats: LazyStats) -> int:
    """Decode the collected edges of one round, reusing their bounds' decodings (and the rest of the graph past
    the eager switch); the count."""
    n = 0
    weights = kinds.graph.weights
    if graph_ids.size:
        n += evaluate_kept(kinds.graph, graph_ids, kinds.context, levels.graph)
        if not weights.complete and weights.fraction_evaluated >= EAGER_SWITCH:
            n += evaluate(kinds.graph, np.flatnonzero(~weights.evaluated), kinds.context)
    stats.graph_edges += n
    n_att = evaluate_kept(kinds.attachments, att_ids, kinds.context, levels.att) if att_ids.size else 0
    stats.attachment_edges += n_att
    stats.per_round.append(n + n_att)
    return n + n_att
