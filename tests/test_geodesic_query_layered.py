"""Fewest chart switches within a tolerance (the layered search) and the paper's query attachment rule."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agm import geodesic
from agm.geodesic.query.attach import attach
from agm.geodesic.query.layered import SWITCH_TOLERANCE, QueryEnds, layered_route
from agm.models.analytic import CylinderAtlas
from agm.models.flat_torus import FlatTorusAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# -- the layered search against brute force -------------------------------------------------------------------


def _simple_routes(
    adjacency: dict[int, list[tuple[int, float]]], ends: QueryEnds, chart: np.ndarray
) -> list[tuple[int, float, list[int]]]:
    """(switches, cost, nodes) of every simple route source -> nodes -> target (depth-first, costs summed in
    route order as Dijkstra does; one start and one end arc per node)."""
    found: list[tuple[int, float, list[int]]] = []
    end_of = dict(zip(ends.end_nodes.tolist(), zip(ends.end_switch.tolist(), ends.end_costs.tolist())))

    def walk(route: list[int], cost: float, switches: int) -> None:
        v = route[-1]
        for s_end, c_end in [end_of[v]] if v in end_of else []:
            found.append((switches + s_end, cost + c_end, list(route)))
        for u, w in adjacency[v]:
            if u not in route:
                walk([*route, u], cost + w, switches + int(chart[u] != chart[v]))

    for v, c, s in zip(ends.start_nodes.tolist(), ends.start_costs.tolist(), ends.start_switch.tolist()):
        walk([v], c, s)
    return found


@st.composite
def _graphs(draw: st.DrawFn) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, QueryEnds, int, int]:
    n = draw(st.integers(2, 7))
    m = draw(st.integers(2, 3))
    chart = np.array(draw(st.lists(st.integers(0, m - 1), min_size=n, max_size=n)), dtype=np.int64)
    pairs = [(u, v) for u in range(n) for v in range(u + 1, n)]
    present = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    weights = st.sampled_from([0.0, 0.25, 0.5, 1.0]) | st.floats(0.0, 2.0, allow_nan=False)
    edges = np.array([p for p, keep in zip(pairs, present) if keep], dtype=np.int64).reshape(-1, 2)
    w = np.array(draw(st.lists(weights, min_size=len(edges), max_size=len(edges))), dtype=np.float64)
    main0, main1 = draw(st.integers(0, m - 1)), draw(st.integers(0, m - 1))
    starts = np.array(sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n))), dtype=np.int64)
    stops = np.array(sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n))), dtype=np.int64)
    ends = QueryEnds(
        start_nodes=starts,
        start_costs=np.array(draw(st.lists(weights, min_size=starts.size, max_size=starts.size))),
        start_switch=(chart[starts] != main0).astype(np.int64),
        end_nodes=stops,
        end_costs=np.array(draw(st.lists(weights, min_size=stops.size, max_size=stops.size))),
        end_switch=(chart[stops] != main1).astype(np.int64),
    )
    max_switches = draw(st.integers(0, 2 * n + 2))
    return n, chart, edges, w, ends, max_switches, draw(st.sampled_from([0, 1, 2]))


@settings(max_examples=150, deadline=None)
@given(_graphs())
def test_layered_search_agrees_with_brute_force(
    case: tuple[int, np.ndarray, np.ndarray, np.ndarray, QueryEnds, int, int],
) -> None:
    n, chart, edges, w, ends, max_switches, tau_choice = case
    cross = chart[edges[:, 0]] != chart[edges[:, 1]] if len(edges) else np.zeros(0, dtype=bool)
    adjacency: dict[int, list[tuple[int, float]]] = {v: [] for v in range(n)}
    for (u, v), wt in zip(edges.tolist(), w.tolist()):
        adjacency[u].append((v, wt))
        adjacency[v].append((u, wt))
    routes = _simple_routes(adjacency, ends, chart)
    shortest = min((c for _, c, _ in routes), default=math.inf)
    budget = shortest * (1.0, 1.05, 1.5)[tau_choice] if math.isfinite(shortest) else 1e300
    fits = [(s, c) for s, c, _ in routes if c <= budget and s <= max_switches]
    got = layered_route(n, edges[~cross], w[~cross], edges[cross], w[cross], ends, budget, max_switches)
    if not fits:
        assert got is None
        return
    want = min(fits)
    assert got is not None
    assert got.switches == want[0]
    assert got.cost == pytest.approx(want[1], rel=1e-12, abs=1e-12)
    # the nodes returned make a route of that cost and switch count
    weight = {(min(u, v), max(u, v)): wt for (u, v), wt in zip(edges.tolist(), w.tolist())}
    nodes = got.nodes.tolist()
    start = int(np.flatnonzero(ends.start_nodes == nodes[0])[0])
    stop = int(np.flatnonzero(ends.end_nodes == nodes[-1])[0])
    cost = float(ends.start_costs[start])
    cost += sum(weight[(min(u, v), max(u, v))] for u, v in zip(nodes[:-1], nodes[1:])) + float(ends.end_costs[stop])
    switches = int(ends.start_switch[start]) + int(ends.end_switch[stop])
    switches += sum(int(chart[u] != chart[v]) for u, v in zip(nodes[:-1], nodes[1:]))
    assert (switches, cost) == (got.switches, pytest.approx(got.cost, rel=1e-12, abs=1e-12))


# -- queries on exact atlases ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cylinder() -> tuple[CylinderAtlas, torch.Tensor]:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(2)
    theta, h = torch.rand(1500, generator=g) * 6.28 - 3.14, torch.rand(1500, generator=g)
    return model, model.points(theta, h)


def _pairs(model: CylinderAtlas, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    th = torch.rand(2, n, generator=g) * 6.28 - 3.14
    h = torch.rand(2, n, generator=g)
    return model.points(th[0], h[0]), model.points(th[1], h[1])


def test_length_labels_and_tolerance_are_consistent(cylinder: tuple[CylinderAtlas, torch.Tensor]) -> None:
    model, data = cylinder
    graph = geodesic.build_graph(model, data, k=12, eps=0.05, n_steps=8, progress=False)
    x0, x1 = _pairs(model, 24, 3)
    by_tau = {tau: geodesic.shortest_paths(model, x0, x1, graph, switch_tolerance=tau) for tau in (0.0, 1e-3, 1e-2)}
    for b in range(24):
        exact, default, loose = (by_tau[t][b] for t in (0.0, 1e-3, 1e-2))
        assert exact.length == pytest.approx(exact.shortest_length, rel=1e-6)
        for tau, p in ((1e-3, default), (1e-2, loose)):
            assert p.shortest_length == pytest.approx(exact.shortest_length, rel=1e-6)
            assert -1e-6 <= p.length_excess <= tau + 1e-6
        # a larger tolerance never needs more switches
        assert exact.chart_changes.size >= default.chart_changes.size >= loose.chart_changes.size
        for p in (exact, default, loose):
            # the length is the route's own: its decoded polyline has that length
            interp = p.interpolate(300)
            assert interp.arc_length[-1] == pytest.approx(p.length, rel=1e-5)
            # labels follow the route: the chart runs of the interpolation are those of the path, in order
            runs = [p.charts[0]] + [int(p.charts[i + 1]) for i in p.chart_changes]
            seen = [int(lab) for lab in interp.labels if "/" not in lab]
            seen = [c for i, c in enumerate(seen) if i == 0 or c != seen[i - 1]]
            it = iter(runs)
            assert all(any(c == r for r in it) for c in seen), (runs, seen)
            assert all(lab.split("/")[0] != lab.split("/")[1] for lab in interp.labels if "/" in lab)


def test_default_tolerance_removes_surplus_switches_on_the_cylinder(
    cylinder: tuple[CylinderAtlas, torch.Tensor],
) -> None:
    # cylinder pairs whose angles lie in one chart's core (psi > 0.95 at both ends, and the short arc between them
    # stays there) need no switch: the shortest route's free flips must be gone at the default tolerance
    model, data = cylinder
    graph = geodesic.build_graph(model, data, k=12, eps=0.05, n_steps=8, progress=False)
    th0 = torch.tensor([-0.6, -0.5, 0.1, 2.7, -2.8, 3.0])
    th1 = torch.tensor([0.6, 0.4, -0.5, -2.9, 2.6, 2.5])
    h0, h1 = torch.full((6,), 0.1), torch.full((6,), 0.9)
    raw = geodesic.shortest_paths(model, model.points(th0, h0), model.points(th1, h1), graph, switch_tolerance=0.0)
    paths = geodesic.shortest_paths(model, model.points(th0, h0), model.points(th1, h1), graph)
    assert SWITCH_TOLERANCE == 2e-2
    assert [p.chart_changes.size for p in paths] == [0] * 6, [p.chart_changes.size for p in raw]
    assert max(p.length_excess for p in paths) <= SWITCH_TOLERANCE + 1e-7


def test_lazy_and_eager_graphs_choose_equally(cylinder: tuple[CylinderAtlas, torch.Tensor]) -> None:
    model, data = cylinder
    lazy = geodesic.build_graph(model, data[:600], k=10, eps=0.05, n_steps=6, progress=False, weights="lazy")
    eager = geodesic.build_graph(model, data[:600], k=10, eps=0.05, n_steps=6, progress=False, weights="eager")
    x0, x1 = _pairs(model, 16, 5)
    for tau in (1e-3, 5e-2):
        a = geodesic.shortest_paths(model, x0, x1, lazy, switch_tolerance=tau)
        b = geodesic.shortest_paths(model, x0, x1, eager, switch_tolerance=tau)
        assert [p.chart_changes.size for p in a] == [p.chart_changes.size for p in b]
        np.testing.assert_allclose([p.length for p in a], [p.length for p in b], rtol=1e-6)
    assert lazy.weights_evaluated < 1.0


def test_a_bad_switch_tolerance_is_refused(cylinder: tuple[CylinderAtlas, torch.Tensor]) -> None:
    model, data = cylinder
    graph = geodesic.build_graph(model, data[:300], k=6, n_steps=2, progress=False)
    x0, x1 = _pairs(model, 1, 7)
    for bad in (-1e-3, math.inf, math.nan):
        with pytest.raises(ValueError, match="switch_tolerance"):
            geodesic.shortest_path(model, x0[0], x1[0], graph, switch_tolerance=bad)
    with pytest.raises(TypeError, match="switch_tolerance"):
        geodesic.shortest_path(model, x0[0], x1[0], graph, switch_tolerance="0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attach"):
        geodesic.shortest_path(model, x0[0], x1[0], graph, attach="first")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attach"):
        geodesic.build_graph(model, data[:300], k=6, n_steps=2, progress=False, attach="most")  # type: ignore[arg-type]


# -- the paper's attachment rule ------------------------------------------------------------------------------


def test_paper_rule_attaches_like_an_independent_attachment(tmp_path: Path) -> None:
    model = FlatTorusAtlas()
    g = torch.Generator().manual_seed(4)
    a, b = torch.rand(2, 800, generator=g) * 6.28 - 3.14
    k = 8
    graph = geodesic.build_graph(model, model.points(a, b), k=k, eps=0.05, n_steps=4, progress=False, attach="paper")
    qa, qb = torch.rand(2, 30, generator=g) * 6.28 - 3.14
    x = model.points(qa, qb)
    att = attach(graph.record, model, x, 1024, torch.device("cpu"))
    # independently: the most likely chart by psi, the encoding there, its k nearest nodes of that chart by brute force
    psi = model.partition(x)[:, list(graph.charts)]
    main = np.asarray(graph.charts)[psi.argmax(1).numpy()]
    z = model.encode(x).numpy()
    np.testing.assert_array_equal(att.copy_offsets, np.arange(31))
    np.testing.assert_array_equal(att.copy_chart, main)
    for q in range(30):
        in_chart = np.flatnonzero(graph.node_chart == main[q])
        dist = np.linalg.norm(graph.latents[in_chart] - z[q, main[q]], axis=1)
        nearest = in_chart[np.argsort(dist, kind="stable")[:k]]
        assert set(att.nodes[q * k : (q + 1) * k].tolist()) == set(nearest.tolist())
        np.testing.assert_allclose(att.copy_latent[q], z[q, main[q]], atol=1e-6)
    assert att.copy_jump.tolist() == [0.0] * 30
    # the rule is the graph's default for its queries, is kept by a saved graph, and a query may override it
    x0, x1 = x[:10], x[10:20]
    paper = geodesic.shortest_paths(model, x0, x1, graph)
    every = geodesic.shortest_paths(model, x0, x1, graph, attach="all")
    for p, q, i in zip(paper, every, range(10)):
        assert int(p.charts[0]) == main[i] and int(p.charts[-1]) == main[10 + i]
        assert q.shortest_length <= p.shortest_length * (1 + 1e-6)  # attaching everywhere can only shorten
    graph.save(tmp_path / "g.agmg")
    assert geodesic.load_graph(tmp_path / "g.agmg", model).attach == "paper"
    assert geodesic.build_graph(model, model.points(a, b), k=k, n_steps=2, progress=False).attach == "all"


# -- the layered search restricted to the ellipse ds + dt <= budget ----------------------------------------------


def _torus_graph_and_ends(seed: int) -> tuple[geodesic.GeodesicGraph, object, object]:
    model = FlatTorusAtlas()
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(2, 700, generator=g) * 2 * math.pi
    data = model.points(u[0], u[1])
    graph = geodesic.build_graph(model, data, k=8, eps=0.05, n_steps=4, progress=False)
    v = torch.rand(2, 12, generator=g) * 2 * math.pi
    ends = model.points(v[0], v[1])
    with torch.no_grad():
        src = attach(graph.record, model, ends[:6], 256, torch.device("cpu"))
        dst = attach(graph.record, model, ends[6:], 256, torch.device("cpu"))
    return graph, src, dst


@pytest.mark.parametrize("seed", [0, 1])
def test_ellipse_holds_exactly_the_nodes_with_ds_plus_dt_within_the_limit(seed: int) -> None:
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import dijkstra

    graph, src, dst = _torus_graph_and_ends(seed)
    native = graph.native
    indptr, indices, data = native.csr()
    n = native.n_nodes
    for b in range(6):
        s0, s1 = src.offsets[b], src.offsets[b + 1]
        t0, t1 = dst.offsets[b], dst.offsets[b + 1]
        # oracle: a virtual source (row n) and a virtual target (row n + 1) on scipy's Dijkstra
        rows = np.concatenate([np.repeat(np.arange(n), np.diff(indptr)), np.full(s1 - s0, n), np.full(t1 - t0, n + 1)])
        cols = np.concatenate([indices, src.nodes[s0:s1], dst.nodes[t0:t1]])
        w = np.concatenate([data, src.costs[s0:s1], dst.costs[t0:t1]])
        adj = coo_array((w, (rows, cols)), shape=(n + 2, n + 2)).tocsr()
        ds = dijkstra(adj, directed=True, indices=n)[:n]
        dt = dijkstra(adj, directed=True, indices=n + 1)[:n]  # the graph is symmetric
        shortest = float(np.min(ds + dt))
        for limit in (shortest, shortest * 1.02, shortest * 1.3):
            nodes, tails, heads, weights = native.ellipse(
                src.nodes[s0:s1], src.costs[s0:s1], dst.nodes[t0:t1], dst.costs[t0:t1], limit
            )
            want = np.flatnonzero(ds + dt <= limit * (1 + 1e-12))
            close = np.abs(ds + dt - limit) <= 1e-9 * limit  # rounding of sums at the boundary may go either way
            assert set(want[~close[want]]) <= set(nodes.tolist()) <= set(want.tolist()) | set(np.flatnonzero(close))
            assert nodes.size >= 1 and np.all(np.diff(nodes) > 0)
            # pruned by the A* heuristic toward the target's goal: the same ellipse
            goal = dst.copy_position[dst.copy_offsets[b]].astype(np.float64)
            pruned = native.ellipse(src.nodes[s0:s1], src.costs[s0:s1], dst.nodes[t0:t1], dst.costs[t0:t1], limit, goal)
            np.testing.assert_array_equal(pruned[0], nodes)
            np.testing.assert_array_equal(pruned[3], weights)
            # the arcs are every CSR arc between kept nodes, with its weight
            keep = np.zeros(n, dtype=bool)
            keep[nodes] = True
            r = np.repeat(np.arange(n), np.diff(indptr))
            inside = keep[r] & keep[indices]
            got = sorted(zip(nodes[tails].tolist(), nodes[heads].tolist(), weights.tolist()))
            assert got == sorted(zip(r[inside].tolist(), indices[inside].tolist(), data[inside].tolist()))
    with pytest.raises(ValueError, match="limit"):
        native.ellipse(src.nodes[:1], src.costs[:1], dst.nodes[:1], dst.costs[:1], float("nan"))
    with pytest.raises(IndexError):
        native.ellipse(np.array([n], dtype=np.int64), src.costs[:1], dst.nodes[:1], dst.costs[:1], 1.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_fewest_switch_route_on_the_ellipse_equals_the_search_on_the_whole_graph(seed: int) -> None:
    from agm.geodesic.query.layered import fewest_switch_route

    graph, src, dst = _torus_graph_and_ends(seed)
    rec = graph.record
    edges, w = rec.native.edges.astype(np.int64), rec.edge_weights.values
    chart = rec.node_chart
    cross = chart[edges[:, 0]] != chart[edges[:, 1]]
    checked = 0
    for b in range(6):
        e0 = np.arange(src.offsets[b], src.offsets[b + 1])
        e1 = np.arange(dst.offsets[b], dst.offsets[b + 1])
        ends = QueryEnds(
            start_nodes=src.nodes[e0],
            start_costs=src.costs[e0],
            start_switch=(src.copy_chart[e0 // rec.k] != src.main_chart(b)).astype(np.int64),
            end_nodes=dst.nodes[e1],
            end_costs=dst.costs[e1],
            end_switch=(dst.copy_chart[e1 // rec.k] != dst.main_chart(b)).astype(np.int64),
        )
        whole = layered_route(rec.n_nodes, edges[~cross], w[~cross], edges[cross], w[cross], ends, 1e300, 8)
        assert whole is not None
        for tau in (0.0, 0.02, 0.3):
            for max_switches in (0, 1, 2, 6):
                budget = whole.cost * (1 + tau)
                want = layered_route(
                    rec.n_nodes, edges[~cross], w[~cross], edges[cross], w[cross], ends, budget, max_switches
                )
                got = fewest_switch_route(rec, src, dst, b, budget, max_switches)
                assert (got is None) == (want is None)
                if got is not None and want is not None:
                    checked += 1
                    assert got.switches == want.switches
                    assert got.cost == pytest.approx(want.cost, rel=1e-12)
    assert checked >= 12
