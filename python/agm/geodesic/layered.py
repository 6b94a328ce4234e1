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

Lazy weights (:mod:`agm.geodesic.lazysp`): with lower bounds the route found with s switches is the shortest
s-switch route under the bounds; when its edges are all exact and it fits the budget, no route with fewer
switches fits (each one's exact length is at least its bound, which exceeds the budget), and no s-switch route is
shorter. LazySP decodes the found route's unevaluated edges and searches again until that holds.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra

if TYPE_CHECKING:  # types only: the layered search needs no module of the query layer at run time
    from agm.geodesic.attach import Attachments
    from agm.geodesic.graph import GeodesicGraph

#: The default switch tolerance tau: a geodesic may be up to (1 + tau) times the shortest route's length to save
#: chart switches. Measured (benchmarks/bench_switches.py, exact atlases, 2,000 points, k = 20, eps = 0.05): the
#: graph's own length error against the true geodesic is 0.3-1% median, so 1e-3 is well inside the
#: discretisation's noise.
SWITCH_TOLERANCE = 1e-3

#: Edge endpoints of each graph, read once (the native property returns a copy): (intra (I, 2), cross (X, 2)).
_EDGES: weakref.WeakKeyDictionary[GeodesicGraph, tuple[np.ndarray, np.ndarray]] = weakref.WeakKeyDictionary()


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


def _graph_edges(graph: GeodesicGraph) -> tuple[np.ndarray, np.ndarray]:
    cached = _EDGES.get(graph)
    if cached is None:
        edges = np.asarray(graph.native.edges, dtype=np.int64)
        n_intra = int(graph.native.n_intra_edges)
        cached = (edges[:n_intra], edges[n_intra:])
        _EDGES[graph] = cached
    return cached


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


def _layered_arcs(
    n: int, intra: np.ndarray, w_intra: np.ndarray, cross: np.ndarray, w_cross: np.ndarray, layers: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tail, head, weight) of the layered graph's arcs over nodes ``s * n + v`` (no query ends)."""
    tails, heads, ws = [], [], []
    for s in range(layers):
        base = s * n
        tails += [intra[:, 0] + base, intra[:, 1] + base]
        heads += [intra[:, 1] + base, intra[:, 0] + base]
        ws += [w_intra, w_intra]
        if s + 1 < layers:
            tails += [cross[:, 0] + base, cross[:, 1] + base]
            heads += [cross[:, 1] + base + n, cross[:, 0] + base + n]
            ws += [w_cross, w_cross]
    return np.concatenate(tails), np.concatenate(heads), np.concatenate(ws)


def _csr(tail: np.ndarray, head: np.ndarray, weight: np.ndarray, size: int) -> csr_array:
    """A csr_array of the arcs (the cheapest of parallel arcs kept; zero weights kept as explicit arcs)."""
    order = np.lexsort((weight, head, tail))
    tail, head, weight = tail[order], head[order], weight[order]
    first = np.concatenate([[True], (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])])[: tail.size]
    tail, head, weight = tail[first], head[first], weight[first]
    indptr = np.zeros(size + 1, dtype=np.int64)
    np.add.at(indptr, tail + 1, 1)
    return csr_array((weight, head, np.cumsum(indptr)), shape=(size, size))


def layered_route(
    n_nodes: int,
    intra: np.ndarray,
    w_intra: np.ndarray,
    cross: np.ndarray,
    w_cross: np.ndarray,
    ends: QueryEnds,
    budget: float,
    max_switches: int,
) -> LayeredRoute | None:
    """The route source -> nodes -> target with the fewest chart switches (at most ``max_switches``) among those of
    cost <= ``budget``, and the cheapest such; None when none fits.

    Args:
        n_nodes: nodes of the graph.  intra: (I, 2) int64 undirected edges within a chart, ``w_intra`` (I,) float64
            their weights (>= 0).  cross: (X, 2) int64 undirected cross-chart edges (each is a switch), ``w_cross``
            (X,) float64.  ends: the query's virtual ends.  budget: the largest acceptable cost.
        max_switches: >= 0.

    Returns:
        A :class:`LayeredRoute` (its nodes, cost and switches), or None.
    """
    layers = int(max_switches) + 1
    n = int(n_nodes)
    source, sinks = layers * n, layers * n + 1 + np.arange(layers)
    tail, head, weight = _layered_arcs(n, intra, w_intra, cross, w_cross, layers)
    keep0 = ends.start_switch < layers
    tails = [tail, np.full(int(keep0.sum()), source)]
    heads = [head, ends.start_switch[keep0] * n + ends.start_nodes[keep0]]
    ws = [weight, ends.start_costs[keep0]]
    for s in range(layers):
        into = s + ends.end_switch < layers
        tails.append(s * n + ends.end_nodes[into])
        heads.append(sinks[s + ends.end_switch[into]])
        ws.append(ends.end_costs[into])
    size = layers * n + 1 + layers
    adjacency = _csr(
        np.concatenate(tails).astype(np.int64), np.concatenate(heads).astype(np.int64), np.concatenate(ws), size
    )
    dist, pred = dijkstra(adjacency, directed=True, indices=source, return_predecessors=True, limit=budget)
    fits = np.flatnonzero(dist[sinks] <= budget)
    if fits.size == 0:
        return None
    s = int(fits[0])
    visited: list[int] = []
    at = int(pred[sinks[s]])
    while at != source:
        visited.append(at % n)
        at = int(pred[at])
    visited.reverse()
    return LayeredRoute(np.asarray(visited, dtype=np.int64), float(dist[sinks[s]]), s)


def fewest_switch_route(
    graph: GeodesicGraph, src: Attachments, dst: Attachments, b: int, budget: float, max_switches: int
) -> LayeredRoute | None:
    """Pair b's route through graph nodes with the fewest chart switches (at most ``max_switches``) among those
    of length <= ``budget``, the shortest such; None when none fits (:func:`layered_route` on the graph).

    Args:
        graph: the graph (its current weights: exact, or lower bounds where a lazy graph has not decoded them).
        src, dst: the pairs' source and target attachments (pair b's costs include the jumps from the main copy).
        b: the pair.  budget: the largest acceptable length (float).  max_switches: >= 0.
    """
    intra, cross = _graph_edges(graph)
    weights = graph.edge_weights.values
    n_intra = intra.shape[0]
    e0 = np.arange(src.offsets[b], src.offsets[b + 1])
    e1 = np.arange(dst.offsets[b], dst.offsets[b + 1])
    ends = QueryEnds(
        start_nodes=src.nodes[e0],
        start_costs=src.costs[e0],
        start_switch=(src.copy_chart[e0 // graph.k] != src.main_chart(b)).astype(np.int64),
        end_nodes=dst.nodes[e1],
        end_costs=dst.costs[e1],
        end_switch=(dst.copy_chart[e1 // graph.k] != dst.main_chart(b)).astype(np.int64),
    )
    w_intra, w_cross = weights[:n_intra], weights[n_intra : n_intra + cross.shape[0]]
    return layered_route(graph.n_nodes, intra, w_intra, cross, w_cross, ends, budget, max_switches)
