"""Fewest chart switches within a length tolerance: a layered shortest-path search over (node, switches used).

The layered graph has one copy of the atlas graph per switch count s = 0..S. An intra-chart edge joins the copies
of its two nodes within a layer; a cross-chart edge (two encodings of one data point) goes from layer s to layer
s + 1, in both directions. A query pair adds a virtual source (x0's main copy) and one virtual sink per layer
(x1's main copy reached with s switches): x0 leaving through its copy in a chart other than its main one is a
switch, and so is x1 reached through a copy other than its main one, exactly as ``GeodesicPath.chart_changes``
counts them. One Dijkstra (``scipy.sparse.csgraph.dijkstra``) from the source gives, for every s, the shortest
route with exactly s switches; the route returned is the one with the fewest switches whose length is within the
budget, and among those the shortest. The search is exact over every route of the graph (not only re-chartings
of one found path), for the weights it is given.

Lazy weights (:mod:`agm.geodesic.query.lazysp`): with lower bounds the route found with s switches is the shortest
s-switch route under the bounds; when its edges are all exact and it fits the budget, no route with fewer
switches fits (each one's exact length is at least its bound, which exceeds the budget), and no s-switch route is
shorter. LazySP decodes the found route's unevaluated edges and searches again until that holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra

if TYPE_CHECKING:  # types only: the layered search needs no module of the query layer at run time
    from agm.geodesic.graph.record import GraphRecord
    from agm.geodesic.query.attach import Attachments

#: The default switch tolerance tau: a geodesic may be up to (1 + tau) times the shortest route's length to save
#: chart switches. Measured (benchmarks/bench_switches.py: cylinder, sphere with two stereographic charts, 4-chart
#: flat torus; 2,000 points, k = 20, eps = 0.05, n_steps = 15, 120 pairs each): the graph's own median length error
#: against the true geodesic is 0.92-1.05%, and pairs whose graph path switches more often than a curve along the
#: true geodesic needs are, for tau = 0 / 1e-3 / 1e-2 / 2e-2: cylinder 14 / 6 / 1 / 0, sphere 59 / 18 / 2 / 1,
#: torus 59 / 45 / 9 / 4 of 120. 2e-2 (twice the graph's median error) is the smallest tau tried that leaves at most
#: 5% on all three; the median length cost is 0 at every tau, the largest 1.0-1.9% at 2e-2.
SWITCH_TOLERANCE = 2e-2


@dataclass(frozen=True)
class LayeredRoute:
    """A route found by the layered search.

    Attributes:
        nodes: (N,) int64 graph nodes visited (N >= 1), x0 and x1 excluded.
        cost: the route's length under the weights searched (float, x0's and x1's attachment costs included).
        switches: chart switches along x0's main copy, the nodes and x1's main copy.
    """

    nodes: np.ndarray
    cost: float
    switches: int


@dataclass(frozen=True)
class QueryEnds:
    """The virtual ends of one query pair in a node graph.

    Attributes:
        start_nodes, start_costs, start_switch: (A,) the source's arcs: node, cost, and 1 where taking it is a
            chart switch (x0 leaves through a copy outside its main chart), else 0.
        end_nodes, end_costs, end_switch: (A',) the target's arcs (node -> x1), likewise.
    """

    start_nodes: np.ndarray
    start_costs: np.ndarray
    start_switch: np.ndarray
    end_nodes: np.ndarray
    end_costs: np.ndarray
    end_switch: np.ndarray


@dataclass(frozen=True)
class LayeredStructure:
    """The arcs of the layered graph (``layers`` copies of an n-node graph), as CSR structure without weights.

    Node ``s * n + v`` is node v with s switches used. Intra-chart edges join copies within a layer, cross-chart
    edges go from layer s to s + 1. ``indptr``/``indices`` hold rows 0..layers * n - 1; ``order`` and ``starts``
    turn the weights of :func:`_arc_weights` into the CSR data (``np.minimum.reduceat(w[order], starts)``: the
    cheapest of parallel arcs).
    """

    n: int
    layers: int
    indptr: np.ndarray
    indices: np.ndarray
    order: np.ndarray
    starts: np.ndarray


def layered_structure(n: int, intra: np.ndarray, cross: np.ndarray, layers: int) -> LayeredStructure:
    """The :class:`LayeredStructure` of an n-node graph with (I, 2) intra and (X, 2) cross edges, int64."""
    tails, heads = [], []
    for s in range(layers):
        base = s * n
        tails += [intra[:, 0] + base, intra[:, 1] + base]
        heads += [intra[:, 1] + base, intra[:, 0] + base]
        if s + 1 < layers:
            tails += [cross[:, 0] + base, cross[:, 1] + base]
            heads += [cross[:, 1] + base + n, cross[:, 0] + base + n]
    tail = np.concatenate(tails).astype(np.int64)
    head = np.concatenate(heads).astype(np.int64)
    order = np.lexsort((head, tail))
    tail, head = tail[order], head[order]
    first = np.concatenate([[True], (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])])[: tail.size]
    starts = np.flatnonzero(first)
    indptr = np.zeros(layers * n + 1, dtype=np.int64)
    np.add.at(indptr, tail[starts] + 1, 1)
    return LayeredStructure(n, layers, np.cumsum(indptr), head[starts], order, starts)


def _arc_weights(structure: LayeredStructure, w_intra: np.ndarray, w_cross: np.ndarray) -> np.ndarray:
    """The CSR data of ``structure`` for these edge weights (float64)."""
    per_layer = [w_intra, w_intra, w_cross, w_cross]
    w = np.concatenate(per_layer * (structure.layers - 1) + [w_intra, w_intra]).astype(np.float64)
    if structure.starts.size == 0:
        return np.zeros(0, dtype=np.float64)
    return np.minimum.reduceat(w[structure.order], structure.starts)


def layered_route(
    n_nodes: int,
    intra: np.ndarray,
    w_intra: np.ndarray,
    cross: np.ndarray,
    w_cross: np.ndarray,
    ends: QueryEnds,
    budget: float,
    max_switches: int,
    structure: LayeredStructure | None = None,
) -> LayeredRoute | None:
    """The route source -> nodes -> target with the fewest chart switches (at most ``max_switches``) among those of
    cost <= ``budget``, and the cheapest such; None when none fits.

    Args:
        n_nodes: nodes of the graph.  intra: (I, 2) int64 undirected edges within a chart, ``w_intra`` (I,) float64
            their weights (>= 0).  cross: (X, 2) int64 undirected cross-chart edges (each is a switch), ``w_cross``
            (X,) float64.  ends: the query's virtual ends.  budget: the largest acceptable cost.
        max_switches: >= 0.
        structure: :func:`layered_structure` of these edges with max_switches + 1 layers (built when None).

    Returns:
        A :class:`LayeredRoute` (its nodes, cost and switches), or None.
    """
    layers = int(max_switches) + 1
    n = int(n_nodes)
    if structure is None:
        structure = layered_structure(n, intra, cross, layers)
    if (structure.n, structure.layers) != (n, layers):
        raise ValueError(f"structure: built for {structure.layers} layers of {structure.n} nodes, not {layers} of {n}")
    weights = _arc_weights(structure, w_intra, w_cross)
    return _search_layers(n, layers, structure.indptr, structure.indices, weights, ends, budget)


def layered_arcs(
    n: int, tails: np.ndarray, heads: np.ndarray, w: np.ndarray, cross: np.ndarray, layers: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The layered CSR (indptr, indices, data) of ``layers`` copies of an n-node graph given as directed arcs sorted
    by tail without parallel arcs (``AtlasGraph.ellipse``'s): O(layers x arcs), no sort. ``cross``: (A,) bool, the
    arcs that switch charts (layer s to s + 1); the others stay in their layer."""
    last = ~cross
    counts_all = np.bincount(tails, minlength=n)
    counts_intra = np.bincount(tails[last], minlength=n)
    indptr = np.concatenate([[0], np.cumsum(np.concatenate([counts_all] * (layers - 1) + [counts_intra]))])
    step = cross.astype(np.int64) * n
    indices = np.concatenate([heads + s * n + step for s in range(layers - 1)] + [heads[last] + (layers - 1) * n])
    data = np.concatenate([w] * (layers - 1) + [w[last]]).astype(np.float64)
    return indptr.astype(np.int64), indices.astype(np.int64), data


def _search_layers(
    n: int,
    layers: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    ends: QueryEnds,
    budget: float,
) -> LayeredRoute | None:
    """:func:`layered_route`'s search on the layered CSR (rows 0 .. layers n - 1) plus the query's virtual ends."""
    # the source is row layers * n, appended after the layered rows: its arcs enter the layer of their switch
    keep = ends.start_switch < layers
    heads = (ends.start_switch[keep] * n + ends.start_nodes[keep]).astype(np.int64)
    source = layers * n
    indptr = np.concatenate([indptr, [indptr[-1] + heads.size]])
    indices = np.concatenate([indices, heads])
    data = np.concatenate([data, ends.start_costs[keep].astype(np.float64)])
    adjacency = csr_array((data, indices, indptr), shape=(source + 1, source + 1))
    dist, pred = dijkstra(adjacency, directed=True, indices=source, return_predecessors=True, limit=budget)
    # x1 is reached from node v of layer s at dist + its arc's cost, with s + the arc's switch switches
    s_arc = np.arange(layers)[:, None]
    at = s_arc * n + ends.end_nodes[None, :]
    total = dist[at] + ends.end_costs[None, :]
    switches = s_arc + ends.end_switch[None, :]
    fits = (total <= budget) & (switches < layers)
    if not bool(fits.any()):
        return None
    best_s = int(switches[fits].min())
    pick = fits & (switches == best_s)
    flat = int(np.flatnonzero(pick.ravel())[np.argmin(total[pick])])
    last = int(at.ravel()[flat])
    visited: list[int] = []
    while last != source:
        visited.append(last % n)
        last = int(pred[last])
    visited.reverse()
    return LayeredRoute(np.asarray(visited, dtype=np.int64), float(total.ravel()[flat]), best_s)


#: Relative slack on the budget of the ellipse (:func:`fewest_switch_route`): a node on a route of cost exactly
#: the budget may have ds + dt summed in another order, a few ulps above it; extra nodes never change the result.
ELLIPSE_SLACK = 1e-9


def fewest_switch_route(
    graph: GraphRecord, src: Attachments, dst: Attachments, b: int, budget: float, max_switches: int
) -> LayeredRoute | None:
    """Pair b's route through graph nodes with the fewest chart switches (at most ``max_switches``) among those
    of length <= ``budget``, the shortest such; None when none fits (:func:`layered_route`).

    Only the nodes v with ds(v) + dt(v) <= budget can be on such a route (ds, dt: distances from x0 and to x1
    under the same weights), so the layered search runs on the subgraph they induce (``AtlasGraph.ellipse``:
    two bounded Dijkstras on one weights snapshot, the first pruned by the A* heuristic toward x1's main copy),
    in O(that subgraph) and not O(the graph): the same route as on the whole graph, without a layered copy of
    every edge on a query's first call.

    Args:
        graph: the graph (its current weights: exact, or lower bounds where a lazy graph has not decoded them).
        src, dst: the pairs' source and target attachments (pair b's costs include the jumps from the main copy).
        b: the pair.  budget: the largest acceptable length (float).  max_switches: >= 0.
    """
    e0 = np.arange(src.offsets[b], src.offsets[b + 1])
    e1 = np.arange(dst.offsets[b], dst.offsets[b + 1])
    limit = float(budget) * (1.0 + ELLIPSE_SLACK)
    nodes, tails, heads, w = graph.native.ellipse(
        np.ascontiguousarray(src.nodes[e0], dtype=np.int64),
        np.ascontiguousarray(src.costs[e0], dtype=np.float64),
        np.ascontiguousarray(dst.nodes[e1], dtype=np.int64),
        np.ascontiguousarray(dst.costs[e1], dtype=np.float64),
        limit,
        np.ascontiguousarray(dst.copy_position[dst.copy_offsets[b]], dtype=np.float64).reshape(-1),
    )
    if nodes.size == 0:
        return None
    chart = graph.node_chart[nodes]
    cross = chart[tails] != chart[heads]
    layers = int(max_switches) + 1
    indptr, indices, data = layered_arcs(nodes.size, tails, heads, w, cross, layers)
    start, start_at = _local(nodes, src.nodes[e0])
    end, end_at = _local(nodes, dst.nodes[e1])
    ends = QueryEnds(
        start_nodes=start,
        start_costs=src.costs[e0][start_at],
        start_switch=(src.copy_chart[e0[start_at] // graph.k] != src.main_chart(b)).astype(np.int64),
        end_nodes=end,
        end_costs=dst.costs[e1][end_at],
        end_switch=(dst.copy_chart[e1[end_at] // graph.k] != dst.main_chart(b)).astype(np.int64),
    )
    found = _search_layers(nodes.size, layers, indptr, indices, data, ends, budget)
    if found is None:
        return None
    return LayeredRoute(nodes[found.nodes], found.cost, found.switches)


def _local(nodes: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(local indices into the sorted ``nodes`` of the ``ends`` among them, and which of ``ends`` those are)."""
    pos = np.clip(np.searchsorted(nodes, ends), 0, nodes.size - 1)
    hit = np.flatnonzero(nodes[pos] == ends)
    return pos[hit].astype(np.int64), hit
