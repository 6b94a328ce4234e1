"""LazySP: exact geodesics that decode only the edges their paths use (issue 12, sections 2 and 2b).

Every edge a query can use - graph edges of a lazy graph, attachment edges of the query points, their direct
edges - weighs at least its decoded chord, known without decoding. The queries of one call proceed in rounds:

1. search all pending pairs with the current weights (exact where evaluated, chords elsewhere);
2. for each pair take its shortest route (the search's path or the cheapest direct edge); if it has unevaluated
   edges, they are collected; otherwise the fewest-switch route (:func:`agm.geodesic.query.routes.best_route`) is
   chosen, and its unevaluated edges, if any, are collected;
3. decode the union of the collected edges of all pairs in packed calls (one per kind: graph, attachment,
   direct), store them (graph edges stay evaluated in the graph), and repeat with the pairs that collected any.
   A route's graph and attachment edges go up in bound levels first (:mod:`agm.geodesic.query.bound_levels`): the
   route gives its unevaluated edges of the lowest level among them, raised from the chord to the polyline
   through the middle step (1 decoding), then through the middles of both halves (2 more), and only a route that
   still wins on its top bounds has them decoded in full, reusing the kept decodings
   (:mod:`agm.geodesic.graph.bounds`; :data:`BOUND_FIRST`).
   On a graph whose nodes are decoded on demand (:mod:`agm.geodesic.graph.node_positions`) a round first decodes
   the nodes a route within the pairs' budgets could pass (:mod:`agm.geodesic.query.on_demand`), and a route over a
   blocked edge decodes that edge's ends, before any edge is decoded.

When the queries have evaluated :data:`EAGER_SWITCH` of the graph's intra-chart edges, the rest are decoded at
once (the graph becomes the eager graph): every edge is decoded at most once, so a lazy graph never decodes more
than an eager one, and the rounds stop growing where lower bounds are weak (measured on a briefly trained 4-chart
demo model, weight/chord median 1.0001 but max 3.6: 100 MNIST pairs needed 103 rounds and 50% of the edges
without the switch).

A pair is done when its shortest route and its chosen route are fully evaluated. Exactness: the route found is
the shortest under lower bounds, and its own cost is exact, so no other route can be shorter (its true cost is at
least its bound): the result equals the eager search's to float32 rounding of the bounds (~1e-7 relative). The
fewest-switch choice is exact by the same argument (every route within the budget under exact weights is within
it under the bounds, and the one chosen is exact). Each round evaluates at least one edge per pending pair, so
the loop ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from agm.geodesic._support.sharding import is_sharded
from agm.geodesic.graph.bounds import top_level
from agm.geodesic.graph.completion import node_table
from agm.geodesic.graph.curves import PointTable
from agm.geodesic.graph.edge_kinds import DecodeContext, GraphEdgeKind, evaluate, evaluate_kept
from agm.geodesic.graph.node_positions import decode_blocked_ends, ensure_positions
from agm.geodesic.graph.pending_nodes import BLOCKED
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.graph.record import GraphRecord
from agm.geodesic.query.attach import AttachmentEdgeKind, Attachments
from agm.geodesic.query.bound_levels import BoundLevels, raise_edges
from agm.geodesic.query.direct import DirectEdgeKind, DirectEdges, PairEnds
from agm.geodesic.query.layered import SWITCH_TOLERANCE
from agm.geodesic.query.on_demand import frontier_nodes
from agm.geodesic.query.routes import Route, SearchHit, best_route, direct_costs
from agm.models.protocol import SemiAtlasModel

#: Fraction of the intra-chart edges evaluated by queries beyond which the remaining ones are decoded in one pass.
#: Measured on the demo model below (100 pairs, 737 nodes): 0.5 took 39 rounds, 1.19x eager's CPU time; 0.3 took
#: 27 rounds, 0.98x CPU (0.87x wall); with tight bounds (0.4-7.5% of the edges for 100 pairs) it never triggers.
EAGER_SWITCH = 0.3

#: Whether an edge that a route uses goes up in bound levels (1, then 2 more decodings,
#: :mod:`agm.geodesic.graph.bounds`) before it is decoded in full (the rest of its n_steps - 1 decodings) if a
#: route still needs it.
BOUND_FIRST = True


@dataclass
class LazyStats:
    """What a lazy query call decoded: rounds of search, and edges evaluated by kind."""

    rounds: int = 0
    graph_edges: int = 0
    attachment_edges: int = 0
    direct_edges: int = 0
    per_round: list[int] = field(default_factory=list)
    #: graph and attachment edges raised one bound level (:mod:`agm.geodesic.graph.bounds`), once per level
    bounded_edges: int = 0


@dataclass(frozen=True)
class Pending:
    """Unevaluated edges of one route: graph edge ids, attachment edges (of the unique set), direct edges."""

    graph: np.ndarray
    attachments: np.ndarray
    direct: np.ndarray

    @property
    def empty(self) -> bool:
        """Whether the route is fully evaluated."""
        return self.graph.size + self.attachments.size + self.direct.size == 0


@dataclass(frozen=True)
class QuerySet:
    """The query pairs of one call: unique query points' attachments and, per side, which point each pair uses.

    Attributes:
        unique: attachments of the unique query points (evaluated in place).
        rows: (source rows (B,), target rows (B,)) into ``unique``.
        edge_maps: for each side, (A_side,) int64 index into ``unique``'s attachment edges of each edge of
            ``unique.select(rows)``.
    """

    unique: Attachments
    rows: tuple[np.ndarray, np.ndarray]
    edge_maps: tuple[np.ndarray, np.ndarray]

    @classmethod
    def of(cls, unique: Attachments, src_rows: np.ndarray, dst_rows: np.ndarray) -> QuerySet:
        """The query set of pairs (unique point src_rows[b], unique point dst_rows[b])."""
        return cls(unique, (src_rows, dst_rows), (unique.edge_index(src_rows), unique.edge_index(dst_rows)))

    def sides(self) -> tuple[Attachments, Attachments]:
        """The current source and target attachments of every pair (copies of the unique set's arrays)."""
        return self.unique.select(self.rows[0]), self.unique.select(self.rows[1])


def _attachment_edge(att: Attachments, k: int, b: int, chart: int, node: int) -> int:
    """Index (in ``att``) of query b's attachment edge from its copy in ``chart`` to ``node``."""
    j = att.copy_of(b, chart)
    hit = np.flatnonzero(att.nodes[j * k : (j + 1) * k] == node)
    if hit.size == 0:
        raise AssertionError(f"query {b} has no attachment edge to node {node} in chart {chart}")
    return int(j * k + hit[0])


def route_pending(ends: PairEnds, qs: QuerySet, b: int, route: Route, as_of: int) -> Pending:
    """The unevaluated edges of pair b's ``route``; graph edges are judged as of store ``as_of``, the graph
    weights' version read before the search that found the route (see :func:`lazy_routes`)."""
    graph, src, dst, direct = ends.graph, ends.src, ends.dst, ends.direct
    none = np.zeros(0, dtype=np.int64)
    if route.nodes.size == 0:  # a direct route: the pair's direct edge in the route's chart
        edges = np.asarray([e for e in direct.of(b) if int(direct.chart[e]) == route.leave_chart], dtype=np.int64)
        return Pending(none, none, edges[~direct.evaluated[edges]])
    nodes = route.nodes
    ids = np.unique(graph.edge_weights.edge_ids(nodes[:-1], nodes[1:]))
    ids = ids[ids >= 0]
    ids = ids[~graph.edge_weights.exact_as_of(ids, as_of)]
    first = _attachment_edge(src, graph.k, b, route.leave_chart, int(nodes[0]))
    last = _attachment_edge(dst, graph.k, b, route.arrive_chart, int(nodes[-1]))
    at_ends = [qs.edge_maps[0][first]] if not src.evaluated[first] else []
    at_ends += [qs.edge_maps[1][last]] if not dst.evaluated[last] else []
    return Pending(ids, np.asarray(at_ends, dtype=np.int64), none)


def shortest_route(ends: PairEnds, b: int, hit: SearchHit) -> Route | None:
    """Pair b's shortest route under the current weights: the search's path or the cheapest direct edge."""
    best: Route | None = None
    if np.isfinite(hit.cost) and hit.nodes.size > 0:
        charts = ends.graph.node_chart[hit.nodes]
        best = Route(hit.nodes.astype(np.int64), int(charts[0]), int(charts[-1]), hit.cost, 0)
    edges, total = direct_costs(ends, b)
    if edges.size:
        e = int(edges[np.argmin(total)])
        if best is None or float(total.min()) < best.cost:
            chart = int(ends.direct.chart[e])
            best = Route(np.zeros(0, dtype=np.int64), chart, chart, float(total.min()), 0)
    return best


def _next_step(
    ends: PairEnds, qs: QuerySet, b: int, hit: SearchHit, as_of: int, tolerance: float
) -> tuple[Route | None, Pending | None]:
    """(the final route, None) when pair b is done, else (None, the edges to evaluate)."""
    shortest = shortest_route(ends, b, hit)
    if shortest is None:
        return None, None
    todo = route_pending(ends, qs, b, shortest, as_of)
    if not todo.empty:
        return None, todo
    route = best_route(ends, b, hit, tolerance)
    if route is None:
        raise AssertionError(f"pair {b} has a shortest route but no best route")
    todo = route_pending(ends, qs, b, route, as_of)
    return (route, None) if todo.empty else (None, todo)


def lazy_routes(
    graph: GraphRecord,
    model: SemiAtlasModel,
    device: torch.device,
    policy: DecodePolicy,
    qs: QuerySet,
    direct: DirectEdges,
    method: str,
    n_threads: int,
    stats: LazyStats | None = None,
    switch_tolerance: float = SWITCH_TOLERANCE,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Route | None], Attachments, Attachments, DirectEdges]:
    """The exact routes of all pairs of ``qs`` by LazySP rounds (see the module docstring; under ``evaluating``).

    ``switch_tolerance``: tau of :func:`agm.geodesic.query.routes.best_route` (routes up to 1 + tau times the shortest
    compete on chart switches).

    ``direct`` holds the pairs' direct edges (:func:`agm.geodesic.query.direct.direct_edges`); it is evaluated in place.

    ``progress`` is called after each round with (pairs done this round, edges decoded this round).

    Returns:
        One route per pair (None where the ends cannot be joined), and the final source and target attachments
        and direct edges (exact on every returned route).
    """
    stats = stats if stats is not None else LazyStats()
    src, dst = qs.sides()
    n_pairs = src.n_queries
    routes: list[Route | None] = [None] * n_pairs
    pending = np.arange(n_pairs)
    table: PointTable | None = None
    context = DecodeContext(model, device, policy, graph.n_steps)
    # a bound saves decodings only with more than 2 interior points (top_level); in a process group each rank's share
    # of pairs would raise other edges' bounds, and the ranks share evaluated weights only (they hold one graph)
    top = top_level(graph.n_steps) if BOUND_FIRST and not is_sharded() else 1
    levels = BoundLevels(graph, int(qs.unique.evaluated.shape[0]), top)
    while pending.size:
        stats.rounds += 1
        # Judge the routes as of the weights' version of *before* the search: GraphWeights.store hands weights to
        # the native graph before it publishes its version, so what was exact then is exact in the weights the
        # search reads; an edge another thread evaluates meanwhile only costs this pair another round.
        as_of = graph.edge_weights.version
        ps, pd = src.select(pending), dst.select(pending)
        paths, costs = graph.native.search_many(
            ps.offsets,
            ps.nodes,
            ps.costs,
            pd.offsets,
            pd.nodes,
            pd.costs,
            np.arange(pending.size + 1, dtype=np.int64),
            pd.main_position(),
            method=method,  # type: ignore[arg-type]
            n_threads=n_threads,
            raise_unreachable=False,
        )
        if graph.pending_nodes is not None and _decode_frontier(
            graph, model, device, policy, PairEnds(graph, src, dst, direct), pending, paths, costs, switch_tolerance
        ):
            continue  # nodes decoded: search again before any edge is decoded (the routes may change)
        todo: list[Pending] = []
        still: list[int] = []
        for i, b in enumerate(pending.tolist()):
            hit = SearchHit(paths[i], float(costs[i]))
            route, need = _next_step(PairEnds(graph, src, dst, direct), qs, b, hit, as_of, switch_tolerance)
            if need is None:
                routes[b] = route
            else:
                todo.append(need)
                still.append(b)
        if not still:
            if progress is not None:
                progress(pending.size, 0)
            break
        before = stats.graph_edges + stats.attachment_edges + stats.direct_edges
        # what this round may decode, judged before a route over a blocked edge decodes its ends (nodes decoded on
        # demand; on any graph: another thread may have decoded the last pending node since this round's search)
        known = [_decodable_edges(graph, t.graph) for t in todo]
        decode_blocked_ends(graph, model, np.concatenate([t.graph for t in todo]), device, policy)
        todo = [replace(t, graph=t.graph[ok]) for t, ok in zip(todo, known)]
        work = _round_work(todo, levels)
        table = table or (node_table(graph, device) if work.graph.size + work.raise_graph.size else None)
        graph_kind = None if table is None else GraphEdgeKind(table, graph.native, graph.edge_weights)
        att_kind = AttachmentEdgeKind(graph, qs.unique)
        if work.raise_graph.size + work.raise_attachments.size:
            stats.bounded_edges += raise_edges(
                levels, graph_kind, att_kind, work.raise_graph, work.raise_attachments, context
            )
        if work.graph.size and graph_kind is not None:
            stats.graph_edges += evaluate_kept(graph_kind, work.graph, context, levels.graph)
        stats.attachment_edges += evaluate_kept(att_kind, work.attachments, context, levels.att)
        stats.direct_edges += evaluate(DirectEdgeKind(src, dst, direct), work.direct, context)
        stats.per_round.append(int(work.graph.size + work.attachments.size + work.direct.size))
        if not graph.edge_weights.complete and graph.weights_evaluated >= EAGER_SWITCH:
            rest = np.flatnonzero(~graph.edge_weights.evaluated)
            table = table or node_table(graph, device)
            stats.graph_edges += evaluate(GraphEdgeKind(table, graph.native, graph.edge_weights), rest, context)
        if progress is not None:
            after = stats.graph_edges + stats.attachment_edges + stats.direct_edges
            progress(pending.size - len(still), after - before)
        src, dst = qs.sides()
        pending = np.asarray(still, dtype=np.int64)
    return routes, src, dst, direct


def _decodable_edges(graph: GraphRecord, ids: np.ndarray) -> np.ndarray:
    """(n,) bool: which of a route's pending graph edges ``ids`` (n,) int64 this round may decode: the intra-chart
    edges not blocked now. A blocked edge (a graph whose nodes are decoded on demand) has no known weight until its
    ends are decoded (then a chord bound, and the route is searched again); a cross-chart edge has no decodings of its
    own (its weight is its ends' gap, exact once they are decoded), so it is never one, even when another thread
    decoded its ends, or the graph's last pending nodes, since the search judged it pending."""
    out: np.ndarray = (ids < graph.native.n_intra_edges) & (graph.edge_weights.values[ids] < BLOCKED)
    return out


@dataclass(frozen=True)
class RoundWork:
    """What one LazySP round decodes: edges to raise one bound level and edges to evaluate in full."""

    raise_graph: np.ndarray
    raise_attachments: np.ndarray
    graph: np.ndarray
    attachments: np.ndarray
    direct: np.ndarray


def _round_work(todo: list[Pending], levels: BoundLevels) -> RoundWork:
    """Split the pending routes' edges: each route gives its graph and attachment edges of the lowest bound level
    among them (:class:`agm.geodesic.query.bound_levels.BoundLevels`), to be raised a level or, at the top bound, to
    be evaluated (so a route is refuted on its cheapest bounds first); direct edges are always evaluated (a direct
    route is that one edge). An edge's level decides which, whichever route gave it."""
    none = np.zeros(0, dtype=np.int64)
    graph_ids, att_ids = [none], [none]
    for t in todo:
        g_level, a_level = levels.graph_levels(t.graph), levels.att_levels(t.attachments)
        lowest = min(int(g_level.min(initial=127)), int(a_level.min(initial=127)))
        graph_ids.append(t.graph[g_level == lowest])
        att_ids.append(t.attachments[a_level == lowest])
    (raise_g, raise_a), (full_g, full_a) = levels.split(
        np.unique(np.concatenate(graph_ids)), np.unique(np.concatenate(att_ids))
    )
    direct = np.unique(np.concatenate([none] + [t.direct for t in todo]))
    return RoundWork(raise_g, raise_a, full_g, full_a, direct)


def _decode_frontier(
    graph: GraphRecord,
    model: SemiAtlasModel,
    device: torch.device,
    policy: DecodePolicy,
    ends: PairEnds,
    pending: np.ndarray,
    paths: list[np.ndarray],
    costs: np.ndarray,
    tolerance: float,
) -> bool:
    """On a graph whose nodes are decoded on demand: decode the nodes a route within the pending pairs' budgets
    (from this round's lower bounds) could pass (:mod:`agm.geodesic.query.on_demand`); whether any were."""
    shortest = np.full(pending.size, np.inf)
    for i, b in enumerate(pending.tolist()):
        route = shortest_route(ends, b, SearchHit(paths[i], float(costs[i])))
        shortest[i] = np.inf if route is None or route.cost >= BLOCKED else route.cost
    more = frontier_nodes(graph, ends.src, ends.dst, pending, shortest, tolerance)
    return ensure_positions(graph, model, more, device, policy) > 0
