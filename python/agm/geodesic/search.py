"""Algorithm 1, queries: geodesics between data points through the atlas graph (native A* search)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from agm._core import UnreachableError
from agm.geodesic._context import evaluating
from agm.geodesic.attach import Attachments, attach
from agm.geodesic.curves import default_batch_size
from agm.geodesic.direct import DirectEdges, direct_edges
from agm.geodesic.graph import GeodesicGraph
from agm.geodesic.inputs import (
    as_batch,
    check_choice,
    check_device,
    check_model,
    check_non_negative_int,
    check_positive_int,
)
from agm.geodesic.path import GeodesicPath
from agm.geodesic.registry import latest_graph
from agm.geodesic.switches import REL_TOLERANCE, fewest_switches
from agm.models.protocol import model_device

Method = Literal["astar", "dijkstra"]
METHODS = ("astar", "dijkstra")
#: how the sources and the targets are called in error messages: index -> name
Names = tuple[Callable[[int], str], Callable[[int], str]]


def _prepare(
    model: Any, graph: GeodesicGraph | None, method: str, batch_size: int | None, device: Any
) -> tuple[GeodesicGraph, torch.device, int]:
    check_model(model, need_encoder=False)
    check_choice("method", method, METHODS)
    if graph is None:
        graph = latest_graph(model)
    elif not isinstance(graph, GeodesicGraph):
        raise TypeError(f"graph must be a GeodesicGraph; got {type(graph).__name__}")
    check_model(model, need_encoder=graph.node_mode.needs_encoder)
    dev = check_device(device) if device is not None else model_device(model)
    graph.check_model(model, dev)
    if batch_size is not None:
        batch = check_positive_int("batch_size", batch_size)
    else:
        batch = graph.batch_size or default_batch_size(dev)
    return graph, dev, batch


def shortest_path(
    model: Any,
    x0: torch.Tensor | np.ndarray,
    x1: torch.Tensor | np.ndarray,
    graph: GeodesicGraph | None = None,
    *,
    method: Method = "astar",
    batch_size: int | None = None,
    device: torch.device | str | None = None,
) -> GeodesicPath:
    """Geodesic between two data points through the charts of an AGM (Algorithm 1's query).

    As in Chen et al., x0 and x1 are added to the graph: each is encoded and joined to its k nearest nodes in
    every chart where psi > eps (curve-length weights), and x0 and x1 are joined to each other in every chart
    where one is among the other's k nearest neighbours (:mod:`agm.geodesic.direct`); so d(x, x) = 0 and
    d(x, y) tends to the true distance as y -> x. Attaching in every chart with psi > eps (not only the encoding's
    chart) is an extension of the paper's rule that can only shorten paths. The native A* finds the shortest
    path through the graph with the heuristic h(v) = ||G(v) - G(x1)||, consistent because every weight is at least
    the distance of its decoded endpoints; the geodesic is the shorter of that path and the direct edge.

    Among paths of equal length (within :data:`agm.geodesic.switches.REL_TOLERANCE`, float32 rounding) the one
    with the fewest chart switches is returned, so ``charts`` and ``chart_changes`` show the transitions the
    geometry needs, not free flips where two charts agree.

    Args:
        model: the AGM the graph was built for.
        x0, x1: data points of shape S (the graph's ``data_shape``), float, finite.
        graph: a :class:`GeodesicGraph`; default the graph most recently built for ``model``.
        method: "astar" (default) or "dijkstra" (same result, no heuristic).
        batch_size: decoded points per forward call (default as in ``build_graph``).
        device: where the model runs; default the device of its parameters.

    Returns:
        A :class:`GeodesicPath` (length, charts, latents, chart_changes, decode(), interpolate(n)).

    Raises:
        ValueError: no graph for the model, a graph of another model, bad shapes or NaN/inf, bad method, a device
            this machine does not have, or a model call that fails or gives NaN/inf (naming the method and the
            query point).
        agm.UnreachableError: x0 and x1 attach to different connected components (a ValueError).
    """
    graph, dev, batch = _prepare(model, graph, method, batch_size, device)
    a = as_batch("x0", x0, graph.data_shape, single=True)
    b = as_batch("x1", x1, graph.data_shape, single=True)
    path = _solve(model, graph, dev, batch, a, b, method, n_threads=1)[0]
    if path is None:  # _check_reachable raised for every unreachable pair
        raise AssertionError("an unreachable pair was not reported")
    return path


def shortest_paths(
    model: Any,
    X0: torch.Tensor | np.ndarray,
    X1: torch.Tensor | np.ndarray,
    graph: GeodesicGraph | None = None,
    *,
    method: Method = "astar",
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    n_threads: int = 0,
    raise_unreachable: bool = True,
) -> list[GeodesicPath | None]:
    """Geodesics for many pairs (X0[b], X1[b]) in one call: batched encoding and weights, one threaded native
    search.

    Args:
        X0, X1: (B, *S) float tensors or arrays.
        n_threads: native search threads; 0 means all cores.
        raise_unreachable: if False, a pair in different components gets None instead of raising.
        (other arguments as in :func:`shortest_path`)

    Returns:
        B :class:`GeodesicPath` objects (None for unreachable pairs when ``raise_unreachable`` is False), the same
        as B calls of :func:`shortest_path` up to float32 rounding: the native search is bitwise batch-invariant,
        but the model's float32 encodings and decodings depend on the batch they are computed in (by ~1 ulp), so
        lengths agree to about 1e-6 relative, and where two routes are that close in length either may be chosen.
    """
    graph, dev, batch = _prepare(model, graph, method, batch_size, device)
    n_threads = check_non_negative_int("n_threads", n_threads)
    a = as_batch("X0", X0, graph.data_shape, single=False)
    b = as_batch("X1", X1, graph.data_shape, single=False)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"X0 and X1 must hold the same number of points; got {a.shape[0]} and {b.shape[0]}")
    names: Names = ("X0[{}]".format, "X1[{}]".format)
    return _solve(model, graph, dev, batch, a, b, method, n_threads, raise_unreachable, names)


def _check_reachable(graph: GeodesicGraph, src: Attachments, dst: Attachments, direct: DirectEdges) -> None:
    """Raise UnreachableError naming the charts and components of the first pair that cannot be joined."""
    comp, sizes = graph.native.component, graph.native.component_sizes
    for b in range(src.n_queries):
        if len(direct.of(b)) > 0:
            continue
        cs = set(comp[src.nodes[src.offsets[b] : src.offsets[b + 1]]].tolist())
        ct = set(comp[dst.nodes[dst.offsets[b] : dst.offsets[b + 1]]].tolist())
        if cs.isdisjoint(ct):
            name = "x0 and x1" if src.n_queries == 1 else f"pair {b}: X0[{b}] and X1[{b}]"
            raise UnreachableError(
                f"{name} attach to different connected components of the graph: x0 in "
                f"{_describe(b, cs, src, sizes)}; x1 in {_describe(b, ct, dst, sizes)}. The graph has {len(sizes)} "
                "components; a larger k or more data joins them"
            )


def _describe(b: int, components: set[int], att: Attachments, sizes: np.ndarray) -> str:
    charts = att.copy_chart[att.copy_offsets[b] : att.copy_offsets[b + 1]].tolist()
    return f"charts {charts}, components " + ", ".join(f"{i} (size {sizes[i]})" for i in sorted(components))


def _attach_unique(
    model: Any, graph: GeodesicGraph, dev: torch.device, batch: int, a: torch.Tensor, b: torch.Tensor, names: Names
) -> tuple[Attachments, Attachments]:
    """Attachments of the sources and targets; bitwise-equal query points are encoded once (so identically)."""
    both = torch.cat([a, b.to(a.device)])
    unique, inverse = torch.unique(both.reshape(both.shape[0], -1), dim=0, return_inverse=True)
    first = np.full(unique.shape[0], -1, dtype=np.int64)
    inv = inverse.cpu().numpy()
    first[inv[::-1]] = np.arange(inv.size)[::-1]  # the first query that is each unique point

    def label(u: int) -> str:
        q = int(first[u])
        return names[0](q) if q < a.shape[0] else names[1](q - a.shape[0])

    with evaluating(model):  # all ends in one pass: fewer, fuller decoder batches
        att = attach(graph, model, unique.reshape(-1, *both.shape[1:]), batch, dev, label)
    return att.select(inv[: a.shape[0]]), att.select(inv[a.shape[0] :])


def _solve(
    model: Any,
    graph: GeodesicGraph,
    dev: torch.device,
    batch: int,
    a: torch.Tensor,
    b: torch.Tensor,
    method: Method,
    n_threads: int,
    raise_unreachable: bool = True,
    names: Names = ("x0".format, "x1".format),
) -> list[GeodesicPath | None]:
    src, dst = _attach_unique(model, graph, dev, batch, a, b, names)
    with evaluating(model):
        direct = direct_edges(graph, model, src, dst, batch, dev)
    if raise_unreachable:
        _check_reachable(graph, src, dst, direct)
    paths, costs = graph.native.search_many(
        src.offsets,
        src.nodes,
        src.costs,
        dst.offsets,
        dst.nodes,
        dst.costs,
        np.arange(a.shape[0] + 1, dtype=np.int64),
        dst.main_position(),
        method=method,
        n_threads=n_threads,
        raise_unreachable=False,
    )
    out: list[GeodesicPath | None] = []
    for i, (p, c) in enumerate(zip(paths, costs)):
        route = _best_route(graph, src, dst, direct, i, p, float(c))
        out.append(None if route is None else _make_path(graph, model, dev, src, dst, i, route))
    return out


@dataclass(frozen=True)
class _Route:
    """A chosen route: graph nodes (maybe none), the chart x0 leaves in, the chart x1 is reached in, its cost."""

    nodes: np.ndarray
    leave_chart: int
    arrive_chart: int
    cost: float
    switches: int


def _best_route(
    graph: GeodesicGraph,
    src: Attachments,
    dst: Attachments,
    direct: DirectEdges,
    b: int,
    nodes: np.ndarray,
    cost: float,
) -> _Route | None:
    """The geodesic of pair b: the shorter of the search's path and the direct routes, with the fewest chart
    switches among routes within :data:`REL_TOLERANCE` of the shortest (None when neither exists)."""
    main0, main1 = src.main_chart(b), dst.main_chart(b)
    via_graph = None
    if np.isfinite(cost) and nodes.size > 0:
        charts = graph.node_chart[nodes]
        switches = int(charts[0] != main0) + int(np.sum(charts[1:] != charts[:-1])) + int(charts[-1] != main1)
        via_graph = _Route(nodes.astype(np.int64), int(charts[0]), int(charts[-1]), cost, switches)
    edges = direct.of(b)
    best = via_graph.cost if via_graph is not None else np.inf
    if len(edges) > 0:
        best = min(best, _cheapest_direct(graph, src, dst, direct, b))
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


def _cheapest_direct(graph: GeodesicGraph, src: Attachments, dst: Attachments, direct: DirectEdges, b: int) -> float:
    e = np.arange(direct.offsets[b], direct.offsets[b + 1])
    total = src.copy_jump[direct.source_copy[e]] + direct.length[e] + dst.copy_jump[direct.target_copy[e]]
    return float(total.min())


def _direct_route(
    graph: GeodesicGraph, src: Attachments, dst: Attachments, direct: DirectEdges, b: int, budget: float
) -> _Route | None:
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
    return _Route(np.zeros(0, dtype=np.int64), chart, chart, choice.cost, choice.switches)


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
    graph: GeodesicGraph, src: Attachments, dst: Attachments, b: int, route: _Route, budget: float
) -> _Route | None:
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
    return _Route(np.asarray(visited, dtype=np.int64), leave0, arrive1, choice.cost, choice.switches)


def _make_path(
    graph: GeodesicGraph, model: Any, device: torch.device, src: Attachments, dst: Attachments, b: int, route: _Route
) -> GeodesicPath:
    # main copy of x0 [, its copy in the chart it leaves in], nodes, [x1's copy in the chart it is reached in,]
    # main copy of x1
    first = sorted({int(src.copy_offsets[b]), src.copy_of(b, route.leave_chart)})
    last = sorted({int(dst.copy_offsets[b]), dst.copy_of(b, route.arrive_chart)}, reverse=True)
    nodes = route.nodes
    latents = np.concatenate([src.copy_latent[first], graph.latents[nodes], dst.copy_latent[last]])
    charts = np.concatenate([src.copy_chart[first], graph.node_chart[nodes], dst.copy_chart[last]]).astype(np.int64)
    return GeodesicPath(
        length=float(route.cost),
        charts=charts,
        latents=latents,
        nodes=nodes,
        data_indices=graph.node_point[nodes].astype(np.int64),
        chart_changes=np.flatnonzero(charts[1:] != charts[:-1]).astype(np.int64),
        _model=model,
        _n_steps=graph.n_steps,
        _data_shape=graph.data_shape,
        _device=device,
        _check=graph.model_check,
    )
