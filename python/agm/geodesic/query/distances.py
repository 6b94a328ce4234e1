"""Geodesic distance matrices (cdist-like) through the graph of Algorithm 1: one search per row, not per pair.

``distances(model, X, Y)[i, j]`` is the length of ``shortest_path(model, X[i], Y[j])``: the shorter of the route
through the graph (X[i] and Y[j] added as virtual nodes, :mod:`agm.geodesic.query.attach`) and the direct edge between
the two query points (:mod:`agm.geodesic.query.direct`). Every query point is encoded and attached once (one batched
pass for X and Y together). Then, for each row, one multi-source Dijkstra runs over the graph augmented with
virtual nodes: every source query is a node with out-edges only (to its attachments, at their costs) and every
target query a sink with in-edges only (from its attachments), so no route passes through another query point,
exactly as in the pairwise query. The query points' attachment edges start at their chord bounds and a lazy
graph's edges at theirs; one-to-many LazySP (:mod:`agm.geodesic.query.lazy_distances`: ``AtlasGraph.distance_routes``,
one Dijkstra per row with its virtual source and all T virtual sinks, stopped when every pending target is
settled, rows in parallel with the GIL released) decodes only the edges on the rows' current routes, round after
round, until every route is exact: the matrix is the eager graph's. The direct edge of a candidate pair is decoded
only where its route can still beat the pair's route through the graph (its chord, then its bound levels, below
that route's exact length), and each unordered pair's once. Inside a torch.distributed process group the graph is
completed instead, its pending edges split across the ranks (``AtlasGraph.distances_many`` then searches);
:func:`augmented_csr` is the same graph for scipy (the tests' oracle).

Lengths agree with :func:`agm.geodesic.shortest_paths` up to float32 rounding of the model's encodings (~1e-6
relative; the pairwise query may return a route up to its switch tolerance (default 2e-2,
:data:`agm.geodesic.query.layered.SWITCH_TOLERANCE`) longer than the shortest to save chart switches: its
``shortest_length`` is this distance). Pairs in different connected components (and no direct edge) are ``inf``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

import numpy as np
import torch

from agm.geodesic._support.checks import as_batch, check_non_negative_int
from agm.geodesic._support.evaluating import evaluating
from agm.geodesic._support.sharding import gather_rows, is_sharded, on_every_rank, share
from agm.geodesic.graph.bounds import KeptBytes, KeptPoints, top_level
from agm.geodesic.graph.build import evaluate_edges_sharded
from agm.geodesic.graph.completion import node_table
from agm.geodesic.graph.edge_kinds import DecodeContext, evaluate, evaluate_kept, raise_level
from agm.geodesic.graph.node_positions import complete_positions
from agm.geodesic.graph.policy import DecodePolicy, applied
from agm.geodesic.graph.record import GraphRecord
from agm.geodesic.query.attach import AttachmentEdgeKind, Attachments, attach
from agm.geodesic.query.direct import DirectEdgeKind, direct_edges
from agm.geodesic.query.far import warn_far_queries
from agm.geodesic.query.lazy_distances import lazy_graph_distances
from agm.geodesic.query.lazy_progress import lazy_progress
from agm.geodesic.query.lazysp import LazyStats
from agm.geodesic.query.search import prepare_query
from agm.models.protocol import SemiAtlasModel

if TYPE_CHECKING:
    from scipy.sparse import csr_array


class DistanceOptions(TypedDict, total=False):
    """The options of a distance matrix, passed through by :func:`agm.geodesic.distances` and
    :meth:`agm.geodesic.GeodesicGraph.distances` (documented there)."""

    n_threads: int
    device: torch.device | str | None
    progress: bool | None
    lazy_stats: LazyStats | None


def distances(
    model: SemiAtlasModel,
    X: torch.Tensor | np.ndarray,
    Y: torch.Tensor | np.ndarray | None,
    graph: GraphRecord,
    *,
    n_threads: int = 0,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    lazy_stats: LazyStats | None = None,
) -> np.ndarray:
    """(n, m) float64 geodesic distances of X against Y on ``graph``: :func:`agm.geodesic.distances`."""
    graph, dev, policy = prepare_query(model, graph, "dijkstra", device, None)
    check_non_negative_int("n_threads", n_threads)
    a = as_batch("X", X, graph.data_shape, single=False)
    b = a if Y is None else as_batch("Y", Y, graph.data_shape, single=False)
    if complete_positions(graph, model, dev, policy, progress):  # nodes decoded on demand: the rest first
        policy = graph.decode_policy or policy  # the graph's policy, as those decodes chose it
    if is_sharded():
        out = _sharded_distances(model, graph, dev, policy, a, None if Y is None else b, n_threads)
    else:
        att, inv = _attach_unique(model, graph, dev, policy, a, None if Y is None else b)
        n = a.shape[0]
        rows = (inv[:n], inv[:n] if Y is None else inv[n:])
        want = np.ones((rows[0].size, rows[1].size), dtype=bool)
        if Y is None:
            want = np.triu(want, 1)  # d(i, j) = d(j, i): one route per unordered pair
        out = _lazy_rows(model, graph, dev, policy, att, rows, want, n_threads, progress, lazy_stats)
        policy = graph.decode_policy or policy  # the graph's, as the rows' edge decodes may have chosen it
        if Y is None:
            out = np.minimum(out, out.T)
        _apply_direct(model, graph, dev, policy, att.select(rows[0]), att.select(rows[1]), out, Y is None)
    if Y is None:
        out = np.minimum(out, out.T)  # both directions are one undirected query; float rounding may differ
        np.fill_diagonal(out, 0.0)
    return out


def _lazy_rows(
    model: SemiAtlasModel,
    graph: GraphRecord,
    dev: torch.device,
    policy: DecodePolicy,
    att: Attachments,
    rows: tuple[np.ndarray, np.ndarray],
    want: np.ndarray,
    n_threads: int,
    progress: bool | None,
    stats: LazyStats | None,
) -> np.ndarray:
    """The exact route lengths of the wanted pairs by one-to-many LazySP, with progress by the convention of
    :mod:`agm._progress` (the estimate: every pending graph and attachment edge decoded)."""
    n_pairs = int(want.sum())
    what = f"{want.shape[0]} x {want.shape[1]} geodesic distances"
    pending_att = int((~att.evaluated).sum())
    with lazy_progress(graph, policy, pending_att, n_pairs, "distances", what, progress) as advance, evaluating(model):
        return lazy_graph_distances(graph, model, dev, policy, att, rows, want, n_threads, advance, stats)


def _sharded_distances(
    model: SemiAtlasModel,
    graph: GraphRecord,
    dev: torch.device,
    policy: DecodePolicy,
    a: torch.Tensor,
    b: torch.Tensor | None,
    n_threads: int,
) -> np.ndarray:
    """Inside a process group: the pending edges split across ranks (the graph completed), the rows of X split,
    every rank returning the whole matrix."""
    with evaluating(model):
        table = node_table(graph, dev)
        pending = np.flatnonzero(~graph.edge_weights.evaluated)
        evaluate_edges_sharded(model, table, graph.edge_weights, pending, graph.n_steps, graph.decode_policy or policy)
    rows = share(a.shape[0])

    def rows_of_x() -> np.ndarray:
        src, dst = _attach_all(model, graph, dev, policy, a, b)
        src = src.select(np.arange(a.shape[0])[rows])
        if src.n_queries == 0:
            return np.zeros((0, dst.n_queries), dtype=np.float64)
        out = _graph_distances(graph, src, dst, n_threads)
        _apply_direct(model, graph, dev, policy, src, dst, out)
        return out

    return gather_rows(on_every_rank(rows_of_x))


def _attach_unique(
    model: SemiAtlasModel,
    graph: GraphRecord,
    dev: torch.device,
    policy: DecodePolicy,
    a: torch.Tensor,
    b: torch.Tensor | None,
) -> tuple[Attachments, np.ndarray]:
    """Lazy attachments (chord bounds) of the unique points of X and Y (bitwise-equal points are encoded once, so
    identically), and the row of each point of X, then Y, among them."""
    both = a if b is None else torch.cat([a, b.to(a.device)])
    unique, inverse = torch.unique(both.reshape(both.shape[0], -1), dim=0, return_inverse=True)
    inv = inverse.cpu().numpy().astype(np.int64)
    n = a.shape[0]

    def label(u: int) -> str:
        q = int(np.flatnonzero(inv == u)[0])
        return f"X[{q}]" if q < n else f"Y[{q - n}]"

    with evaluating(model), applied(policy):
        att = attach(graph, model, unique.reshape(-1, *both.shape[1:]), policy.batch_size, dev, label)
    warn_far_queries(graph, unique, att, label)
    return att, inv


def _attach_all(
    model: SemiAtlasModel,
    graph: GraphRecord,
    dev: torch.device,
    policy: DecodePolicy,
    a: torch.Tensor,
    b: torch.Tensor | None,
) -> tuple[Attachments, Attachments]:
    """Exact attachments of X and Y from one batched pass (:func:`_attach_unique`, every edge decoded)."""
    att, inv = _attach_unique(model, graph, dev, policy, a, b)
    with evaluating(model):
        evaluate(
            AttachmentEdgeKind(graph, att), np.arange(att.nodes.size), DecodeContext(model, dev, policy, graph.n_steps)
        )
    n = a.shape[0]
    src = att.select(inv[:n])
    return src, (src if b is None else att.select(inv[n:]))


def augmented_csr(graph: GraphRecord, src: Attachments, dst: Attachments) -> csr_array:
    """The graph's directed adjacency plus B source nodes (out-edges to their attachments) and T sink nodes (in-edges
    from theirs): node ids 0..N-1 graph, N..N+B-1 sources, N+B..N+B+T-1 sinks. (N+B+T, N+B+T) float64.

    Parallel entries keep their minimum; zero weights stay explicit edges (scipy's csgraph reads a sparse matrix's
    stored zeros as edges of weight 0).
    """
    from scipy.sparse import csr_array  # here: ``import agm.geodesic`` stays free of scipy.sparse

    n, n_src, n_dst = graph.n_nodes, src.n_queries, dst.n_queries
    indptr, indices, data = graph.native.csr()
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    src_rows = n + np.repeat(np.arange(n_src, dtype=np.int64), np.diff(src.offsets))
    dst_cols = n + n_src + np.repeat(np.arange(n_dst, dtype=np.int64), np.diff(dst.offsets))
    r = np.concatenate([rows, src_rows, dst.nodes])
    c = np.concatenate([indices, src.nodes, dst_cols])
    w = np.concatenate([data, src.costs, dst.costs])
    size = n + n_src + n_dst
    order = np.lexsort((w, c, r))  # by row, column, then weight: the first of each (row, column) is the cheapest
    r, c, w = r[order], c[order], w[order]
    first = np.concatenate([[True], (r[1:] != r[:-1]) | (c[1:] != c[:-1])])
    r, c, w = r[first], c[first], w[first]
    ptr = np.zeros(size + 1, dtype=np.int64)
    np.add.at(ptr, r + 1, 1)
    return csr_array((w, c, np.cumsum(ptr)), shape=(size, size))


def _graph_distances(graph: GraphRecord, src: Attachments, dst: Attachments, n_threads: int = 0) -> np.ndarray:
    """Route lengths through the graph: one native Dijkstra per source row (``AtlasGraph.distances_many``).

    Every source query is a virtual node with out-edges to its attachments and every target query a sink with
    in-edges from its own, so no route passes through another query point (the graph of :func:`augmented_csr`,
    searched without building it). Rows run in parallel over ``n_threads`` (0 = all cores) with the GIL released.

    Args:
        graph: a graph with all its weights evaluated.
        src: attachments of the B source queries (exact costs).
        dst: attachments of the T target queries (exact costs).
        n_threads: search threads, >= 0.

    Returns:
        (B, T) float64 numpy array on the CPU; inf where unreachable.
    """
    return graph.native.distances_many(
        np.ascontiguousarray(src.offsets, dtype=np.int64),
        np.ascontiguousarray(src.nodes, dtype=np.int64),
        np.ascontiguousarray(src.costs, dtype=np.float64),
        np.ascontiguousarray(dst.offsets, dtype=np.int64),
        np.ascontiguousarray(dst.nodes, dtype=np.int64),
        np.ascontiguousarray(dst.costs, dtype=np.float64),
        n_threads,
    )


def _candidate_pairs(src: Attachments, dst: Attachments) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j) that may have a direct edge: copies in one chart within the larger of the copies' k-th-node
    distances (a superset of :mod:`agm.geodesic.query.direct`'s rule, which decides exactly; float64 with a margin)."""
    pairs: set[tuple[int, int]] = set()
    src_owner = np.repeat(np.arange(src.n_queries), np.diff(src.copy_offsets))
    dst_owner = np.repeat(np.arange(dst.n_queries), np.diff(dst.copy_offsets))
    for chart in np.intersect1d(src.copy_chart, dst.copy_chart):
        i = np.flatnonzero(src.copy_chart == chart)
        j = np.flatnonzero(dst.copy_chart == chart)
        za, zb = src.copy_latent[i].astype(np.float64), dst.copy_latent[j].astype(np.float64)
        gap = np.sqrt(np.maximum(0.0, (za**2).sum(1)[:, None] + (zb**2).sum(1)[None, :] - 2.0 * za @ zb.T))
        reach = np.maximum(src.copy_reach[i][:, None], dst.copy_reach[j][None, :])
        hit_i, hit_j = np.nonzero(gap <= reach * (1.0 + 1e-6) + 1e-6)
        pairs.update(zip(src_owner[i[hit_i]].tolist(), dst_owner[j[hit_j]].tolist()))
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    both = np.array(sorted(pairs), dtype=np.int64)
    return both[:, 0], both[:, 1]


def _apply_direct(
    model: SemiAtlasModel,
    graph: GraphRecord,
    dev: torch.device,
    policy: DecodePolicy,
    src: Attachments,
    dst: Attachments,
    out: np.ndarray,
    symmetric: bool = False,
) -> None:
    """Lower ``out[i, j]`` to the cheapest direct route where X[i] and Y[j] have direct edges (in place).

    A direct edge is decoded only while its route can still beat ``out[i, j]`` (the pair's exact route through the
    graph): a route whose chord bound is not below it is dropped, the others go up the bound levels of
    :mod:`agm.geodesic.graph.bounds` (1 decoding, then 2 more; each level dropping the routes no longer below), and
    only the routes still below are decoded in full, reusing the levels' decodings; a dropped route's exact cost is
    at least its bound, so the result is the same. ``symmetric`` (Y is X, ``out`` symmetrised afterwards):
    the pairs i < j only, each segment decoded once."""
    rows, cols = _candidate_pairs(src, dst)
    if symmetric:
        rows, cols = rows[rows < cols], cols[rows < cols]
    if rows.size == 0:
        return
    pair_src, pair_dst = src.select(rows), dst.select(cols)
    direct = direct_edges(graph, pair_src, pair_dst)
    owner = np.repeat(np.arange(rows.size), np.diff(direct.offsets))
    to_beat = out[rows, cols][owner]  # (E,) the exact graph route of each edge's pair (inf where none)
    kind, every = DirectEdgeKind(pair_src, pair_dst, direct), np.arange(owner.size)
    kept, top = KeptPoints(owner.size, KeptBytes()), top_level(graph.n_steps)
    with evaluating(model):
        context = DecodeContext(model, dev, policy, graph.n_steps)
        for level in range(1, top + 1):  # the bound levels, then the weights, of the routes still below
            live = np.flatnonzero(~direct.evaluated & (direct.route_costs(pair_src, pair_dst, every) < to_beat))
            if live.size and level < top:
                raise_level(kind, live, level, context, kept)
            elif live.size:
                evaluate_kept(kind, live, context, kept)
    exact = np.where(direct.evaluated, direct.route_costs(pair_src, pair_dst, every), np.inf)
    np.minimum.at(out, (rows[owner], cols[owner]), exact)
