"""Which route a geodesic takes: the graph search's path or the direct edge, with the fewest chart switches.

The shortest route of a query pair is the shorter of the native search's path and the cheapest direct route
(:mod:`agm.geodesic.query.direct`). Among routes no longer than (1 + tau) times that length (tau: the switch
tolerance, default :data:`agm.geodesic.query.layered.SWITCH_TOLERANCE`) the one with the fewest chart switches is
chosen, then the shortest: any route through the graph (:func:`agm.geodesic.query.layered.fewest_switch_route`, a
layered search over (node, switches used)), a direct route, or the search's path as found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agm.geodesic.graph.record import GraphRecord
from agm.geodesic.query.attach import Attachments
from agm.geodesic.query.direct import PairEnds
from agm.geodesic.query.layered import fewest_switch_route
from agm.geodesic.query.switches import REL_TOLERANCE, fewest_switches


@dataclass(frozen=True)
class Route:
    """A chosen route: graph nodes (maybe none), the chart x0 leaves in, the chart x1 is reached in, its cost,
    its chart switches and the length of the pair's shortest route (``cost`` exceeds it by at most tau)."""

    nodes: np.ndarray
    leave_chart: int
    arrive_chart: int
    cost: float
    switches: int
    shortest: float = float("nan")


@dataclass(frozen=True)
class SearchHit:
    """A pair's path found by the native search under the current weights: its nodes (may be empty) and its cost
    (inf: the search found none)."""

    nodes: np.ndarray
    cost: float


def best_route(ends: PairEnds, b: int, hit: SearchHit, tolerance: float) -> Route | None:
    """The geodesic of pair b: among routes no longer than (1 + ``tolerance``) times the shorter of the search's
    path and the direct routes, the one with the fewest chart switches, then the shortest (None when neither
    exists). A tolerance below :data:`REL_TOLERANCE` (float32 rounding) acts as that."""
    graph, src, dst, direct = ends.graph, ends.src, ends.dst, ends.direct
    nodes, cost = hit.nodes, hit.cost
    main0, main1 = src.main_chart(b), dst.main_chart(b)
    via_graph = None
    if np.isfinite(cost) and nodes.size > 0:
        charts = graph.node_chart[nodes]
        switches = int(charts[0] != main0) + int(np.sum(charts[1:] != charts[:-1])) + int(charts[-1] != main1)
        via_graph = Route(nodes.astype(np.int64), int(charts[0]), int(charts[-1]), cost, switches)
    edges = direct.of(b)
    best = via_graph.cost if via_graph is not None else np.inf
    if len(edges) > 0:
        best = min(best, cheapest_direct(ends, b))
    if not np.isfinite(best):
        return None
    budget = best * (1.0 + max(tolerance, REL_TOLERANCE))
    candidates = []
    if len(edges) > 0:
        candidates.append(_direct_route(ends, b, budget))
    if via_graph is not None and via_graph.cost <= budget:
        minimal = int(main0 != main1)
        if via_graph.switches > minimal:
            candidates.append(_layered(ends, b, budget, via_graph.switches - 1))
        candidates.append(via_graph)
    found = [r for r in candidates if r is not None and r.cost <= budget]
    chosen = min(found, key=lambda r: (r.switches, r.cost))
    return Route(chosen.nodes, chosen.leave_chart, chosen.arrive_chart, chosen.cost, chosen.switches, best)


def _layered(ends: PairEnds, b: int, budget: float, max_switches: int) -> Route | None:
    """The graph route with the fewest switches (at most ``max_switches``) within the budget, as a Route."""
    found = fewest_switch_route(ends.graph, ends.src, ends.dst, b, budget, max_switches)
    if found is None:
        return None
    charts = ends.graph.node_chart[found.nodes]
    return Route(found.nodes, int(charts[0]), int(charts[-1]), found.cost, found.switches)


def _native(graph: GraphRecord, chart: int) -> int:
    c = graph.native_chart(chart)
    if c is None:
        raise AssertionError(f"chart {chart} is not in the graph")
    return c


def _end_switches(graph: GraphRecord, src: Attachments, dst: Attachments, b: int, n_stations: int) -> np.ndarray:
    """(n_stations, m, m) switch costs with the query ends filled: x0 leaves its main copy for a copy at the
    jump's cost, x1 is reached from a copy by its jump; interior stations are left at inf (no switch)."""
    m = len(graph.charts)
    switch = np.full((n_stations, m, m), np.inf)
    main0, main1 = _native(graph, src.main_chart(b)), _native(graph, dst.main_chart(b))
    for i in src.copies(b):
        switch[0, main0, _native(graph, int(src.copy_chart[i]))] = src.copy_jump[i]
    for j in dst.copies(b):
        switch[-1, _native(graph, int(dst.copy_chart[j])), main1] = dst.copy_jump[j]
    return switch


def direct_costs(ends: PairEnds, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair b's direct routes: their edge ids (E,) int64 and costs (E,) float64 (jump to x0's copy in the shared
    chart + the direct edge's curve length there + jump from x1's copy to its main copy); empty when none."""
    direct = ends.direct
    edges = np.arange(direct.offsets[b], direct.offsets[b + 1], dtype=np.int64)
    return edges, direct.route_costs(ends.src, ends.dst, edges)


def cheapest_direct(ends: PairEnds, b: int) -> float:
    """The cost of pair b's cheapest direct route (call only for pairs with a direct edge)."""
    return float(direct_costs(ends, b)[1].min())


def _direct_route(ends: PairEnds, b: int, budget: float) -> Route | None:
    """The direct route x0 -> x1 (no graph node) with the fewest switches within the budget."""
    graph, src, dst, direct = ends.graph, ends.src, ends.dst, ends.direct
    m = len(graph.charts)
    steps = np.full((1, 1, m), np.inf)
    for e in direct.of(b):
        c = _native(graph, int(direct.chart[e]))
        steps[0, 0, c] = min(steps[0, 0, c], direct.length[e])
    choice = fewest_switches(
        steps,
        _end_switches(graph, src, dst, b, 2),
        _native(graph, src.main_chart(b)),
        _native(graph, dst.main_chart(b)),
        budget,
        max_switches=2,
    )
    if choice is None:
        return None
    chart = graph.charts[int(choice.leave[0])]
    return Route(np.zeros(0, dtype=np.int64), chart, chart, choice.cost, choice.switches)
