"""Which route a geodesic takes: the graph search's path or the direct edge, with the fewest chart switches.

The geodesic of a query pair is the shorter of the native search's path and the cheapest direct route
(:mod:`agm.geodesic.direct`). Among routes within :data:`agm.geodesic.switches.REL_TOLERANCE` of that length the
one with the fewest chart switches is chosen: the search's own path re-charted along its points
(:func:`agm.geodesic.switches.fewest_switches`), a direct route, or the search's path as found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agm.geodesic.attach import Attachments
from agm.geodesic.direct import DirectEdges
from agm.geodesic.graph import GeodesicGraph
from agm.geodesic.switches import REL_TOLERANCE, fewest_switches


@dataclass(frozen=True)
class Route:
    """A chosen route: graph nodes (maybe none), the chart x0 leaves in, the chart x1 is reached in, its cost."""

    nodes: np.ndarray
    leave_chart: int
    arrive_chart: int
    cost: float
    switches: int


def best_route(
    graph: GeodesicGraph,
    src: Attachments,
    dst: Attachments,
    direct: DirectEdges,
    b: int,
    nodes: np.ndarray,
    cost: float,
) -> Route | None:
    """The geodesic of pair b: the shorter of the search's path and the direct routes, with the fewest chart
    switches among routes within :data:`REL_TOLERANCE` of the shortest (None when neither exists)."""
    main0, main1 = src.main_chart(b), dst.main_chart(b)
    via_graph = None
    if np.isfinite(cost) and nodes.size > 0:
        charts = graph.node_chart[nodes]
        switches = int(charts[0] != main0) + int(np.sum(charts[1:] != charts[:-1])) + int(charts[-1] != main1)
        via_graph = Route(nodes.astype(np.int64), int(charts[0]), int(charts[-1]), cost, switches)
    edges = direct.of(b)
    best = via_graph.cost if via_graph is not None else np.inf
    if len(edges) > 0:
        best = min(best, cheapest_direct(graph, src, dst, direct, b))
    if not np.isfinite(best):
        return None
    budget = best * (1.0 + REL_TOLERANCE)
    candidates = []
    if len(edges) > 0:
        candidates.append(_direct_route(graph, src, dst, direct, b, budget))
    if via_graph is not None and via_graph.cost <= budget:
        minimal = int(main0 != main1)
        if via_graph.switches > minimal:
            candidates.append(_merge_flips(graph, src, dst, b, via_graph, budget))
        candidates.append(via_graph)
    found = [r for r in candidates if r is not None and r.cost <= budget]
    return min(found, key=lambda r: (r.switches, r.cost))


def _native(graph: GeodesicGraph, chart: int) -> int:
    c = graph.native_chart(chart)
    if c is None:
        raise AssertionError(f"chart {chart} is not in the graph")
    return c


def _end_switches(graph: GeodesicGraph, src: Attachments, dst: Attachments, b: int, n_stations: int) -> np.ndarray:
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


def direct_costs(src: Attachments, dst: Attachments, direct: DirectEdges, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair b's direct routes: their edge ids (E,) int64 and costs (E,) float64 (jump to x0's copy in the shared
    chart + the direct edge's curve length there + jump from x1's copy to its main copy); empty when none."""
    edges = np.arange(direct.offsets[b], direct.offsets[b + 1], dtype=np.int64)
    total = src.copy_jump[direct.source_copy[edges]] + direct.length[edges] + dst.copy_jump[direct.target_copy[edges]]
    return edges, total


def cheapest_direct(graph: GeodesicGraph, src: Attachments, dst: Attachments, direct: DirectEdges, b: int) -> float:
    """The cost of pair b's cheapest direct route (call only for pairs with a direct edge)."""
    return float(direct_costs(src, dst, direct, b)[1].min())


def _direct_route(
    graph: GeodesicGraph, src: Attachments, dst: Attachments, direct: DirectEdges, b: int, budget: float
) -> Route | None:
    """The direct route x0 -> x1 (no graph node) with the fewest switches within the budget."""
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


def _attachment_steps(graph: GeodesicGraph, att: Attachments, b: int, first_nodes: np.ndarray) -> np.ndarray:
    """(m,) cost of the attachment edge of query b's copy in each chart to the node ``first_nodes[c]``."""
    k = graph.k
    out = np.full(len(graph.charts), np.inf)
    for j in att.copies(b):
        c = _native(graph, int(att.copy_chart[j]))
        hit = att.nodes[j * k : (j + 1) * k] == first_nodes[c]
        if first_nodes[c] >= 0 and bool(hit.any()):
            out[c] = float(att.segments[j * k : (j + 1) * k][hit].min())
    return out


#: Steps of a re-charted path join stations at most this far apart. 1: skipping a visited point never pays, since
#: on a shortest path an edge that skips a point is longer than the two steps it replaces (or the search would
#: have taken it); measured: larger windows changed none of 400 quick-start paths.
SKIP_WINDOW = 1


def _merge_flips(
    graph: GeodesicGraph, src: Attachments, dst: Attachments, b: int, route: Route, budget: float
) -> Route | None:
    """Re-choose the charts along the route's points for the fewest switches within the budget."""
    points = graph.node_point[route.nodes]
    q = points[np.concatenate([[True], points[1:] != points[:-1]])]  # stations 1..G: the data points visited
    g, m, w = q.size, len(graph.charts), SKIP_WINDOW
    node = graph.node_at(np.repeat(q[:, None], m, axis=1), np.tile(np.asarray(graph.charts), (g, 1)))  # (G, m)
    steps = np.full((g + 1, w, m), np.inf)  # steps[i, d - 1]: station i -> i + d
    for d in range(1, min(w, g) + 1):
        steps[0, d - 1] = _attachment_steps(graph, src, b, node[d - 1])
        steps[g + 1 - d, d - 1] = _attachment_steps(graph, dst, b, node[g - d])
        if d < g:
            steps[1 : g - d + 1, d - 1] = graph.edge_weight(node[: g - d], node[d:])
    switch = _end_switches(graph, src, dst, b, g + 2)
    switch[1 : g + 1] = graph.edge_weight(node[:, :, None], node[:, None, :])
    choice = fewest_switches(
        steps,
        switch,
        _native(graph, src.main_chart(b)),
        _native(graph, dst.main_chart(b)),
        budget,
        max_switches=route.switches - 1,
    )
    if choice is None:
        return None
    visited: list[int] = []
    for st, arrive, leave in zip(choice.stations[1:-1], choice.arrive[1:-1], choice.leave[1:-1]):
        visited.append(int(node[st - 1, arrive]))
        if leave != arrive:
            visited.append(int(node[st - 1, leave]))
    if not visited:  # x0 -> x1 with no node: only a direct edge does that, and steps has none
        raise AssertionError("a re-charted graph route visits no node")
    leave0, arrive1 = graph.charts[int(choice.leave[0])], graph.charts[int(choice.arrive[-1])]
    return Route(np.asarray(visited, dtype=np.int64), leave0, arrive1, choice.cost, choice.switches)
