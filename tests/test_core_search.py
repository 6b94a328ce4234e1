"""agm._core.AtlasGraph searches (A*, Dijkstra, batched, virtual endpoints, single source) against
scipy.sparse.csgraph.dijkstra on random weighted graphs (contract: python/agm/_core.pyi).

Weights are ||P[u] - P[v]|| times a random factor >= 1 (the decoded positions P), so the A* heuristic
h(v) = ||P[v] - goal|| is admissible and consistent and A* must return optimal costs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from _core_oracles import edge_weight_map, make_atlas, path_cost, symmetric_csr
from agm import _core as core

METHODS = ["astar", "dijkstra"]
I64 = np.int64


@dataclass
class Case:
    """A weighted AtlasGraph with positions and everything an oracle needs."""

    graph: core.AtlasGraph
    positions: NDArray[np.floating]
    wmap: dict[tuple[int, int], float]
    matrix: sp.csr_array
    rng: np.random.Generator

    @property
    def n(self) -> int:
        return self.graph.n_nodes

    @property
    def rtol(self) -> float:
        return 1e-5 if self.positions.dtype == np.float32 else 1e-9

    def random_nodes(self, size: int) -> NDArray[np.int64]:
        return self.rng.integers(0, self.n, size=size).astype(I64)

    def attachments(self, size: int, at: NDArray[np.floating]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Nodes (repeats allowed) with costs >= their Euclidean distance to the point ``at``."""
        nodes = self.random_nodes(size)
        dist = np.linalg.norm(self.positions[nodes].astype(np.float64) - at.astype(np.float64), axis=1)
        return nodes, dist * self.rng.choice([1.0, 1.0, 1.5, 3.0], size=size)


def make_case(
    seed: int, dtype: type, sizes: list[int], k: int, shared: bool, blobs: int, dim: int, duplicates: bool
) -> Case:
    rng = np.random.default_rng(seed)
    latents, point_ids = make_atlas(rng, sizes, 2, np.float64, shared=shared, clusters=blobs)
    graph = core.AtlasGraph(latents, point_ids, k)
    positions = rng.normal(size=(graph.n_nodes, dim)).astype(dtype)
    if duplicates:  # coincident positions give zero-weight edges
        positions[rng.random(graph.n_nodes) < 0.2] = positions[0]
    graph.set_positions(positions)
    e = graph.edges
    p64 = positions.astype(np.float64)
    weights = np.linalg.norm(p64[e[:, 0]] - p64[e[:, 1]], axis=1)
    weights *= np.where(rng.random(len(weights)) < 0.3, 1.0, rng.uniform(1.0, 3.0, size=len(weights)))
    graph.set_weights(weights)
    return Case(graph, positions, edge_weight_map(e, weights), symmetric_csr(graph.n_nodes, e, weights), rng)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n_charts = draw(st.integers(1, 3))
    sizes = [draw(st.integers(6, 40)) for _ in range(n_charts)]
    blobs = draw(st.sampled_from([1, 1, 2]))
    k = draw(st.integers(1, max(1, min(sizes) // blobs - 1)))
    return make_case(
        seed=draw(st.integers(0, 2**32 - 1)),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        sizes=sizes,
        k=k,
        shared=draw(st.booleans()),
        blobs=blobs,
        dim=draw(st.integers(1, 5)),
        duplicates=draw(st.booleans()),
    )


def check_path(case: Case, path: NDArray[np.int64], cost: float, source: int, target: int) -> None:
    assert path.dtype == I64 and path[0] == source and path[-1] == target
    assert cost == pytest.approx(path_cost(path, case.wmap), rel=1e-12, abs=1e-12)


# --- point to point ----------------------------------------------------------------------------------------


@given(case=cases(), method=st.sampled_from(METHODS))
def test_shortest_path_equals_scipy(case: Case, method: str) -> None:
    sources = np.concatenate([[0], case.random_nodes(5)])
    targets = np.concatenate([[0], case.random_nodes(5)])
    dist = dijkstra(case.matrix, directed=True, indices=sources)
    comp = case.graph.component
    for i, (s, t) in enumerate(zip(sources.tolist(), targets.tolist())):
        if comp[s] != comp[t]:
            assert np.isinf(dist[i, t])
            with pytest.raises(core.UnreachableError):
                case.graph.shortest_path(s, t, method=method)
            continue
        path, cost = case.graph.shortest_path(s, t, method=method)
        assert isinstance(cost, float)
        assert cost == pytest.approx(dist[i, t], rel=case.rtol, abs=1e-12)
        check_path(case, path, cost, s, t)
        if s == t:
            assert path.tolist() == [s] and cost == 0.0


@given(case=cases(), method=st.sampled_from(METHODS))
def test_shortest_paths_batched_equals_one_by_one(case: Case, method: str) -> None:
    sources, targets = case.random_nodes(12), case.random_nodes(12)
    comp = case.graph.component
    reachable = comp[sources] == comp[targets]
    ref_paths, ref_costs = [], []
    for s, t, ok in zip(sources.tolist(), targets.tolist(), reachable):
        path, cost = case.graph.shortest_path(s, t, method=method) if ok else (np.empty(0, I64), np.inf)
        ref_paths.append(path)
        ref_costs.append(cost)
    for n_threads in (1, 2):
        paths, costs = case.graph.shortest_paths(
            sources, targets, method=method, n_threads=n_threads, raise_unreachable=False
        )
        assert costs.dtype == np.float64 and costs.shape == (12,) and len(paths) == 12
        np.testing.assert_array_equal(costs, ref_costs)
        for got, ref in zip(paths, ref_paths):
            assert got.dtype == I64 and np.array_equal(got, ref)
        if not reachable.all():
            with pytest.raises(core.UnreachableError):
                case.graph.shortest_paths(sources, targets, method=method, n_threads=n_threads)


@given(case=cases(), method=st.sampled_from(METHODS), share=st.floats(0.0, 1.0), searched=st.booleans())
def test_update_weights_searches_equal_set_weights_with_the_entries_replaced(
    case: Case, method: str, share: float, searched: bool
) -> None:
    """update_weights(ids, w) == set_weights(full array with those entries replaced), A*'s verdict included."""
    graph, m = case.graph, case.graph.n_edges
    sources, targets = case.random_nodes(8), case.random_nodes(8)
    if searched:  # the verdict of the previous block is computed: update_weights carries it over
        graph.shortest_paths(sources, targets, method="astar", raise_unreachable=False)
    ids = case.rng.choice(m, size=int(share * m), replace=False).astype(I64)
    e = graph.edges[ids]
    p64 = case.positions.astype(np.float64)
    new = np.linalg.norm(p64[e[:, 0]] - p64[e[:, 1]], axis=1) * case.rng.uniform(1.0, 3.0, size=ids.size)
    graph.update_weights(ids, new)
    full = case.graph.weights.copy()
    paths, costs = graph.shortest_paths(sources, targets, method=method, raise_unreachable=False)
    graph.set_weights(full)
    ref_paths, ref_costs = graph.shortest_paths(sources, targets, method=method, raise_unreachable=False)
    np.testing.assert_array_equal(costs, ref_costs)
    assert all(np.array_equal(a, b) for a, b in zip(paths, ref_paths))
    oracle = dijkstra(symmetric_csr(graph.n_nodes, graph.edges, full), indices=sources)[np.arange(8), targets]
    np.testing.assert_allclose(costs, oracle, rtol=case.rtol, atol=1e-12)
    previous = np.ones(m, dtype=bool)
    previous[ids] = False
    assert np.array_equal(full[previous], np.asarray(list(case.wmap.values()))[previous])  # others unchanged


@pytest.mark.parametrize("method", METHODS)
def test_unreachable_error_names_components_and_sizes(method: str) -> None:
    case = make_case(3, np.float64, [20, 30], 3, shared=False, blobs=1, dim=2, duplicates=False)
    comp, sizes = case.graph.component, case.graph.component_sizes
    s, t = 0, case.n - 1
    assert comp[s] != comp[t]
    assert issubclass(core.UnreachableError, ValueError)
    with pytest.raises(core.UnreachableError) as info:
        case.graph.shortest_path(s, t, method=method)
    numbers = set(re.findall(r"\d+", str(info.value)))
    for needed in (comp[s], comp[t], sizes[comp[s]], sizes[comp[t]]):
        assert str(needed) in numbers, f"{needed} missing from: {info.value}"
    paths, costs = case.graph.shortest_paths(np.array([s, s]), np.array([t, s]), method=method, raise_unreachable=False)
    assert np.isinf(costs[0]) and paths[0].shape == (0,) and paths[0].dtype == I64
    assert costs[1] == 0.0 and paths[1].tolist() == [s]


# --- virtual endpoints -------------------------------------------------------------------------------------


def virtual_oracle(
    case: Case, sn: NDArray[np.int64], sc: NDArray[np.float64], tn: NDArray[np.int64], tc: NDArray[np.float64]
) -> float:
    """Cost from a virtual source S (edges S->sn[i]) to a virtual target T (edges tn[j]->T) by scipy on the
    graph augmented with S = n and T = n + 1 (repeated attachments: the cheapest one)."""
    n = case.n
    best_s: dict[int, float] = {}
    best_t: dict[int, float] = {}
    for v, c in zip(sn.tolist(), sc.tolist()):
        best_s[v] = min(c, best_s.get(v, np.inf))
    for v, c in zip(tn.tolist(), tc.tolist()):
        best_t[v] = min(c, best_t.get(v, np.inf))
    coo = case.matrix.tocoo()
    rows = np.concatenate([coo.row, np.full(len(best_s), n), list(best_t)])
    cols = np.concatenate([coo.col, list(best_s), np.full(len(best_t), n + 1)])
    data = np.concatenate([coo.data, list(best_s.values()), list(best_t.values())])
    aug = sp.csr_array((data, (rows.astype(I64), cols.astype(I64))), shape=(n + 2, n + 2))
    return float(dijkstra(aug, directed=True, indices=n)[n + 1])


def random_query(
    case: Case,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64], NDArray[np.floating]]:
    """(source_nodes, source_costs, target_nodes, target_costs, goals) for two random query points."""
    d = case.positions.shape[1]
    q_s, q_t = case.rng.normal(size=d), case.rng.normal(size=d)
    sn, sc = case.attachments(int(case.rng.integers(1, 6)), q_s)
    tn, tc = case.attachments(int(case.rng.integers(1, 6)), q_t)
    extra = case.rng.normal(size=(int(case.rng.integers(0, 3)), d))
    goals = np.ascontiguousarray(np.vstack([q_t[None], extra]).astype(case.positions.dtype))
    return sn, sc, tn, tc, goals


def check_virtual_path(
    case: Case,
    path: NDArray[np.int64],
    cost: float,
    sn: NDArray[np.int64],
    sc: NDArray[np.float64],
    tn: NDArray[np.int64],
    tc: NDArray[np.float64],
) -> None:
    assert path.dtype == I64 and path.size >= 1
    assert path[0] in sn and path[-1] in tn
    total = sc[sn == path[0]].min() + path_cost(path, case.wmap) + tc[tn == path[-1]].min()
    assert cost == pytest.approx(total, rel=1e-12, abs=1e-12)


@given(case=cases(), method=st.sampled_from(METHODS))
def test_search_virtual_endpoints_equals_scipy(case: Case, method: str) -> None:
    csr_before = case.graph.csr()
    for _ in range(4):
        sn, sc, tn, tc, goals = random_query(case)
        expected = virtual_oracle(case, sn, sc, tn, tc)
        kwargs = {"goals": goals} if method == "astar" else {}
        if np.isinf(expected):
            with pytest.raises(core.UnreachableError):
                case.graph.search(sn, sc, tn, tc, method=method, **kwargs)
            continue
        path, cost = case.graph.search(sn, sc, tn, tc, method=method, **kwargs)
        assert cost == pytest.approx(expected, rel=case.rtol, abs=1e-12)
        check_virtual_path(case, path, cost, sn, sc, tn, tc)
    for before, after in zip(csr_before, case.graph.csr()):  # the graph is not mutated
        assert np.array_equal(before, after)
    assert case.graph.n_nodes == case.n


def test_search_node_both_source_and_target() -> None:
    case = make_case(5, np.float64, [15], 3, shared=True, blobs=1, dim=2, duplicates=False)
    node = np.array([4], dtype=I64)
    path, cost = case.graph.search(node, np.array([0.25]), node, np.array([0.5]), method="dijkstra")
    assert path.tolist() == [4] and cost == 0.75


@given(case=cases(), method=st.sampled_from(METHODS))
def test_search_many_equals_search(case: Case, method: str) -> None:
    queries = [random_query(case) for _ in range(int(case.rng.integers(1, 7)))]

    def ragged(i: int) -> tuple[NDArray[np.int64], NDArray]:
        parts = [q[i] for q in queries]
        return np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(I64), np.concatenate(parts)

    (so, sn), (_, sc), (to, tn), (_, tc), (go, goals) = (ragged(i) for i in range(5))
    goals = np.ascontiguousarray(goals.astype(case.positions.dtype))
    ref = []
    for q in queries:
        kwargs = {"goals": q[4]} if method == "astar" else {}
        try:
            ref.append(case.graph.search(*q[:4], method=method, **kwargs))
        except core.UnreachableError:
            ref.append((np.empty(0, I64), np.inf))
    kwargs = {"goal_offsets": go, "goals": goals} if method == "astar" else {}
    for n_threads in (1, 2):
        paths, costs = case.graph.search_many(
            so, sn, sc, to, tn, tc, method=method, n_threads=n_threads, raise_unreachable=False, **kwargs
        )
        assert costs.dtype == np.float64 and costs.shape == (len(queries),)
        np.testing.assert_array_equal(costs, [c for _, c in ref])
        for got, (path, _) in zip(paths, ref):
            assert got.dtype == I64 and np.array_equal(got, path)
        if np.isinf(costs).any():
            with pytest.raises(core.UnreachableError):
                case.graph.search_many(so, sn, sc, to, tn, tc, method=method, n_threads=n_threads, **kwargs)


# --- single source -----------------------------------------------------------------------------------------


@given(case=cases())
def test_single_source_equals_scipy(case: Case) -> None:
    source = int(case.random_nodes(1)[0])
    dist, pred = case.graph.single_source(source)
    assert dist.dtype == np.float64 and pred.dtype == I64 and dist.shape == pred.shape == (case.n,)
    expected = dijkstra(case.matrix, directed=True, indices=source)
    np.testing.assert_allclose(dist, expected, rtol=1e-12, atol=1e-12)
    reachable = np.isfinite(dist)
    assert np.array_equal(reachable, case.graph.component == case.graph.component[source])
    assert pred[source] == -1 and np.all(pred[~reachable] == -1)
    for v in np.flatnonzero(reachable).tolist():
        if v == source:
            continue
        u = int(pred[v])
        assert (min(u, v), max(u, v)) in case.wmap
        assert dist[v] == pytest.approx(dist[u] + case.wmap[(min(u, v), max(u, v))], rel=1e-12, abs=1e-12)
    # Following the predecessors from any reachable node ends at the source.
    for v in np.flatnonzero(reachable).tolist():
        for _ in range(case.n):
            if v == source:
                break
            v = int(pred[v])
        assert v == source


# --- errors ------------------------------------------------------------------------------------------------


@pytest.fixture
def case() -> Case:
    return make_case(11, np.float64, [12, 15], 3, shared=True, blobs=1, dim=3, duplicates=False)


def test_out_of_range_nodes(case: Case) -> None:
    n, g = case.n, case.graph
    with pytest.raises(IndexError, match="source"):
        g.shortest_path(n, 0)
    with pytest.raises(IndexError, match="target"):
        g.shortest_path(0, n)
    with pytest.raises((IndexError, TypeError), match="source"):
        g.shortest_path(-1, 0)
    with pytest.raises(IndexError, match="source"):
        g.single_source(n)
    ok = np.array([0, 1], dtype=I64)
    with pytest.raises(IndexError, match="sources"):
        g.shortest_paths(np.array([0, n], dtype=I64), ok)
    with pytest.raises(IndexError, match="targets"):
        g.shortest_paths(ok, np.array([-1, 0], dtype=I64))
    cost = np.ones(2)
    with pytest.raises(IndexError, match="source_nodes"):
        g.search(np.array([0, n], dtype=I64), cost, ok, cost, method="dijkstra")
    with pytest.raises(IndexError, match="target_nodes"):
        g.search(ok, cost, np.array([-3, 0], dtype=I64), cost, method="dijkstra")
    off = np.array([0, 2], dtype=I64)
    with pytest.raises(IndexError, match="target_nodes"):
        g.search_many(off, ok, cost, off, np.array([0, n], dtype=I64), cost, method="dijkstra")


def test_bad_method(case: Case) -> None:
    ok, cost, off = np.array([0, 1], dtype=I64), np.ones(2), np.array([0, 2], dtype=I64)
    calls = [
        lambda m: case.graph.shortest_path(0, 1, method=m),
        lambda m: case.graph.shortest_paths(ok, ok, method=m),
        lambda m: case.graph.search(ok, cost, ok, cost, method=m),
        lambda m: case.graph.search_many(off, ok, cost, off, ok, cost, method=m),
    ]
    for call in calls:
        for bad in ("bfs", "ASTAR", ""):
            with pytest.raises(ValueError, match="method"):
                call(bad)


def test_bad_batched_arrays(case: Case) -> None:
    g, ok = case.graph, np.array([0, 1], dtype=I64)
    with pytest.raises(ValueError, match="targets"):
        g.shortest_paths(ok, np.array([0, 1, 2], dtype=I64))
    with pytest.raises(TypeError, match="sources"):
        g.shortest_paths(ok.astype(np.int32), ok)
    with pytest.raises(ValueError, match="sources"):
        g.shortest_paths(np.array([0, 0, 1, 1], dtype=I64)[::2], ok)


def test_bad_search_arrays(case: Case) -> None:
    g, ok, cost = case.graph, np.array([0, 1], dtype=I64), np.ones(2)
    with pytest.raises(ValueError, match="source_costs"):
        g.search(ok, np.ones(3), ok, cost, method="dijkstra")
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="target_costs"):
            g.search(ok, cost, ok, np.array([1.0, bad]), method="dijkstra")
    with pytest.raises(ValueError, match="source_nodes"):
        g.search(np.empty(0, I64), np.empty(0), ok, cost, method="dijkstra")
    with pytest.raises(TypeError, match="source_costs"):
        g.search(ok, cost.astype(np.float32), ok, cost, method="dijkstra")
    with pytest.raises(ValueError, match="goals"):
        g.search(ok, cost, ok, cost, goals=np.zeros((1, 4)), method="astar")  # positions have D = 3
    with pytest.raises(TypeError, match="goals"):
        g.search(ok, cost, ok, cost, goals=np.zeros((1, 3), dtype=np.float32), method="astar")


@pytest.mark.parametrize("offsets", [[1, 2], [0, 3], [0, 1], [0, 2, 1], [0]])
def test_bad_search_many_offsets(offsets: list[int], case: Case) -> None:
    ok, cost, good = np.array([0, 1], dtype=I64), np.ones(2), np.array([0, 2], dtype=I64)
    bad = np.array(offsets, dtype=I64)  # not from 0, not ending at len(source_nodes), decreasing, or B != 1
    with pytest.raises(ValueError, match="offsets"):
        case.graph.search_many(bad, ok, cost, good, ok, cost, method="dijkstra")
