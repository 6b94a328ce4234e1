"""agm._core.hop_diameter (iFUB with a 4-sweep start, and the bounding-eccentricities reference) and
AtlasGraph.diameter_hops, against scipy's all-pairs BFS on graph families where a heuristic start could go wrong
(disconnected, paths, cycles, grids, stars, trees, k-NN geometric graphs, single nodes)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.sparse.csgraph import shortest_path as scipy_shortest_path
from scipy.spatial import cKDTree

from agm import _core as core

Csr = tuple[NDArray[np.int64], NDArray[np.int64]]


def csr_of(n: int, edges: NDArray[np.int64]) -> Csr:
    """Symmetric CSR (indptr, indices) int64 of an undirected edge list (E, 2); duplicates and loops kept."""
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    rows = np.concatenate([e[:, 0], e[:, 1]])
    cols = np.concatenate([e[:, 1], e[:, 0]])
    m = sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(n, n))
    m.sum_duplicates()
    m.sort_indices()
    return m.indptr.astype(np.int64), m.indices.astype(np.int64)


def scipy_diameter(n: int, indptr: NDArray[np.int64], indices: NDArray[np.int64]) -> int:
    """All-pairs BFS (scipy, unweighted): the largest finite hop distance."""
    m = sp.csr_array((np.ones(indices.size), indices, indptr), shape=(n, n))
    hops = scipy_shortest_path(m, directed=False, unweighted=True)
    return int(hops[np.isfinite(hops)].max())


def path_edges(n: int, start: int = 0) -> NDArray[np.int64]:
    return np.stack([np.arange(start, start + n - 1), np.arange(start + 1, start + n)], 1)


def cycle_edges(n: int, start: int = 0) -> NDArray[np.int64]:
    return np.concatenate([path_edges(n, start), [[start + n - 1, start]]])


def grid_edges(rows: int, cols: int, start: int = 0) -> NDArray[np.int64]:
    ids = np.arange(rows * cols).reshape(rows, cols) + start
    right = np.stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()], 1)
    down = np.stack([ids[:-1, :].ravel(), ids[1:, :].ravel()], 1)
    return np.concatenate([right, down])


def star_edges(n: int, start: int = 0) -> NDArray[np.int64]:
    return np.stack([np.full(n - 1, start), np.arange(start + 1, start + n)], 1)


def tree_edges(n: int, rng: np.random.Generator, start: int = 0) -> NDArray[np.int64]:
    """A random recursive tree: node i joins a uniformly chosen earlier node."""
    parents = [int(rng.integers(0, i)) for i in range(1, n)]
    return np.stack([np.array(parents, dtype=np.int64) + start, np.arange(start + 1, start + n)], 1)


def knn_edges(points: NDArray[np.float64], k: int, start: int = 0) -> NDArray[np.int64]:
    """Undirected k-NN graph of points (each point to its k nearest others)."""
    _, idx = cKDTree(points).query(points, k=k + 1)
    src = np.repeat(np.arange(points.shape[0]), k)
    return np.stack([src, idx[:, 1:].ravel()], 1) + start


def family_edges(kind: str, n: int, rng: np.random.Generator, start: int) -> NDArray[np.int64]:
    if kind == "path":
        return path_edges(n, start)
    if kind == "cycle":
        return cycle_edges(n, start)
    if kind == "grid":
        return grid_edges(max(1, n // 5), 5, start)[: 10 * n]
    if kind == "star":
        return star_edges(n, start)
    if kind == "tree":
        return tree_edges(n, rng, start)
    if kind == "knn2":
        return knn_edges(rng.random((n, 2)), min(3, n - 1), start)
    if kind == "knn3":
        return knn_edges(rng.random((n, 3)), min(4, n - 1), start)
    return np.stack([rng.integers(start, start + n, 2 * n), rng.integers(start, start + n, 2 * n)], 1)  # random


def family_size(kind: str, n: int) -> int:
    return max(1, n // 5) * 5 if kind == "grid" else n


KINDS = ["path", "cycle", "grid", "star", "tree", "knn2", "knn3", "random"]


@st.composite
def random_graphs(draw: st.DrawFn) -> tuple[int, NDArray[np.int64], NDArray[np.int64]]:
    """A disjoint union of 1-4 components of mixed families (sizes 1-60), plus isolated nodes, shuffled ids."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    parts = draw(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(1, 60)), min_size=1, max_size=4))
    edges, n = [], 0
    for kind, size in parts:
        size = family_size(kind, size)
        if size >= 2:
            edges.append(family_edges(kind, size, rng, n))
        n += size
    n += draw(st.integers(0, 3))  # isolated nodes
    perm = rng.permutation(n)
    e = perm[np.concatenate(edges)] if edges else np.zeros((0, 2), dtype=np.int64)
    indptr, indices = csr_of(n, e)
    return n, indptr, indices


@given(random_graphs(), st.sampled_from([1, 2]))
def test_all_methods_equal_scipy_all_pairs_bfs(
    graph: tuple[int, NDArray[np.int64], NDArray[np.int64]], n_threads: int
) -> None:
    n, indptr, indices = graph
    expected = scipy_diameter(n, indptr, indices)
    for method in ("auto", "ifub", "bounds"):
        diameter, n_bfs = core.hop_diameter(indptr, indices, method, n_threads)
        assert diameter == expected, method
        assert 1 <= n_bfs


@pytest.mark.parametrize(
    ("n", "edges", "expected"),
    [
        (1, np.zeros((0, 2), dtype=np.int64), 0),
        (5, np.zeros((0, 2), dtype=np.int64), 0),
        (2, [[0, 1]], 1),
        (3, [[0, 0], [1, 2]], 1),  # a loop and an edge
        (40, path_edges(40), 39),
        (41, cycle_edges(41), 20),
        (40, cycle_edges(40), 20),
        (35, grid_edges(5, 7), 10),
        (30, star_edges(30), 2),
        (60, np.concatenate([path_edges(10), path_edges(50, 10)]), 49),  # the largest diameter in the 2nd part
        (60, np.concatenate([star_edges(40), path_edges(20, 40)]), 19),  # a smaller component, larger diameter
    ],
)
def test_closed_forms(n: int, edges: NDArray[np.int64], expected: int) -> None:
    indptr, indices = csr_of(n, np.asarray(edges, dtype=np.int64))
    for method in ("auto", "ifub", "bounds"):
        assert core.hop_diameter(indptr, indices, method)[0] == expected, method


def test_geometric_graph_needs_few_bfs() -> None:
    """On a k-NN graph of points in the unit square the eccentricity bounds need a few dozen BFS, not one per node
    (measured 16 + 1; the counts at 64k and 256k nodes are in benchmarks/bench_stats.py)."""
    rng = np.random.default_rng(3)
    points = rng.random((4000, 2))
    indptr, indices = csr_of(4000, knn_edges(points, 6))
    expected = scipy_diameter(4000, indptr, indices)
    diameter, n_bfs = core.hop_diameter(indptr, indices, "auto", 1)
    assert diameter == expected
    assert n_bfs <= 80, n_bfs


def test_atlas_graph_diameter_is_hop_diameter_of_its_csr() -> None:
    rng = np.random.default_rng(0)
    latents: list[NDArray[np.float32] | NDArray[np.float64]] = [rng.random((300, 2)), rng.random((200, 2))]
    ids = [np.arange(300, dtype=np.int64), np.arange(150, 350, dtype=np.int64)]
    graph = core.AtlasGraph(latents, ids, 5, n_threads=2)
    graph.set_weights(np.ones(graph.n_edges))
    indptr, indices, _ = graph.csr()
    expected = scipy_diameter(graph.n_nodes, indptr, indices)
    assert graph.diameter_hops(n_threads=2) == core.hop_diameter(indptr, indices)[0] == expected
    assert graph.stats(n_threads=1)["diameter_hops"] == expected


def test_bad_inputs_raise() -> None:
    indptr, indices = csr_of(3, np.array([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match="method must be 'auto', 'ifub' or 'bounds'; got 'bfs'"):
        core.hop_diameter(indptr, indices, "bfs")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_threads must be >= 0"):
        core.hop_diameter(indptr, indices, "ifub", -1)
    with pytest.raises(TypeError, match="indptr must have dtype int64; got int32"):
        core.hop_diameter(indptr.astype(np.int32), indices)
    with pytest.raises(TypeError, match="indices must have dtype int64"):
        core.hop_diameter(indptr, indices.astype(np.float64))
    with pytest.raises(ValueError, match="indptr must have N \\+ 1 >= 1 entries; got 0"):
        core.hop_diameter(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    with pytest.raises(ValueError, match="indptr must start at 0; got 1"):
        core.hop_diameter(indptr + 1, indices)
    with pytest.raises(ValueError, match="indptr must be non-decreasing; got 3 then 1 at index 2"):
        core.hop_diameter(np.array([0, 3, 1, 4]), indices)
    with pytest.raises(ValueError, match="indptr must end at len\\(indices\\) = 4; got 3"):
        core.hop_diameter(np.array([0, 1, 2, 3]), indices)
    with pytest.raises(ValueError, match=r"indptr must hold offsets in \[0, len\(indices\) = 4\]; got 4294967298"):
        core.hop_diameter(np.array([0, 2**32 + 2, 2, 4]), indices)  # the core's 32-bit offsets: refused, not wrapped
    with pytest.raises(ValueError, match="indices must hold node ids in \\[0, 3\\); got 3 at index 1"):
        core.hop_diameter(indptr, np.array([1, 3, 2, 1]))
    with pytest.raises(ValueError, match="indices must hold node ids in \\[0, 3\\); got -1 at index 0"):
        core.hop_diameter(indptr, np.array([-1, 0, 2, 1]))
    with pytest.raises(ValueError, match="symmetric \\(undirected\\): edge \\(1, 0\\) has no reverse \\(0, 1\\)"):
        core.hop_diameter(np.array([0, 1, 2, 3]), np.array([2, 0, 1]))
    with pytest.raises(ValueError, match="must be 1-D"):
        core.hop_diameter(indptr[None, :], indices)


@given(random_graphs(), st.integers(0, 12), st.sampled_from([1, 2]))
def test_budgeted_bounds_hold_the_diameter(
    graph: tuple[int, NDArray[np.int64], NDArray[np.int64]], max_bfs: int, n_threads: int
) -> None:
    """Whatever the budget, lower <= diameter <= upper (scipy's all-pairs BFS), the budget is kept (the renumbering
    counted as one BFS, a round as max(2, threads)), and a met pair is the exact diameter."""
    n, indptr, indices = graph
    expected = scipy_diameter(n, indptr, indices)
    lower, upper, n_bfs = core.hop_diameter_bounds(indptr, indices, max_bfs, n_threads)
    assert lower <= expected <= upper
    if max_bfs == 0:
        assert lower == upper == expected
        assert (expected, n_bfs) == core.hop_diameter(indptr, indices, "auto", n_threads)
    else:
        assert n_bfs <= 1 + max_bfs + max(2, n_threads) - 1
    if lower == upper:
        assert lower == expected


def test_budget_tightens_the_bounds_on_a_hard_graph() -> None:
    """A k-NN graph on a long cylinder (nearly every eccentricity close to the diameter): a bigger budget never
    loosens the interval, and no budget gives the exact diameter until the bounds meet."""
    rng = np.random.default_rng(5)
    theta, height = rng.random(3000) * 2 * np.pi, rng.random(3000) * 3
    points = np.stack([np.cos(theta), np.sin(theta), height], 1)
    indptr, indices = csr_of(3000, knn_edges(points, 6))
    expected = scipy_diameter(3000, indptr, indices)
    widths = []
    for budget in (2, 8, 32, 0):
        lower, upper, _ = core.hop_diameter_bounds(indptr, indices, budget)
        assert lower <= expected <= upper
        widths.append(upper - lower)
    assert widths[0] > 0, "two BFS met the bounds: the case is not hard"
    assert widths == sorted(widths, reverse=True)
    assert widths[-1] == 0


def test_atlas_graph_stats_auto_and_exact() -> None:
    """stats(): "auto" within its budget gives the exact diameter on a small graph; with a budget too small
    (diameter_bounds) the bounds hold it; "exact" always has diameter_hops, and caches it for every later call."""
    rng = np.random.default_rng(1)
    theta, height = rng.random(2000) * 2 * np.pi, rng.random(2000) * 3
    points = np.stack([np.cos(theta), np.sin(theta), height], 1)
    graph = core.AtlasGraph([points], [np.arange(2000, dtype=np.int64)], 6, n_threads=1)
    graph.set_weights(np.ones(graph.n_edges))
    indptr, indices, _ = graph.csr()
    expected = scipy_diameter(graph.n_nodes, indptr, indices)
    assert graph.default_diameter_budget == max(8, int(3e7 / indices.size))
    lower, upper, n_bfs = graph.diameter_bounds(2)
    assert lower <= expected <= upper and lower < upper and n_bfs <= 1 + 2 + 1
    auto = graph.stats()
    assert auto["diameter_hops"] == auto["diameter_lower"] == auto["diameter_upper"] == expected
    assert graph.diameter_bounds(2) == (expected, expected, 0)  # cached: exact whatever the budget
    with pytest.raises(ValueError, match="diameter must be 'auto' or 'exact'; got 'fast'"):
        graph.stats(diameter="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_bfs must be >= 0 \\(0: no limit\\); got -1"):
        graph.diameter_bounds(-1)
    with pytest.raises(ValueError, match="max_bfs must be >= 0 \\(0: no limit\\); got -3"):
        core.hop_diameter_bounds(indptr, indices, -3)


def test_atlas_graph_stats_without_the_exact_diameter() -> None:
    """A graph whose auto budget is too small for its exact diameter: stats() leaves diameter_hops out and
    returns bounds that hold it; stats(diameter="exact") adds it."""
    rng = np.random.default_rng(2)
    n = 40000  # 3e7 / CSR entries allows ~106 BFS here; this cylinder needs ~215 (measured)
    theta, height = rng.random(n) * 2 * np.pi, rng.random(n) * 3
    points = np.stack([np.cos(theta), np.sin(theta), height], 1)
    graph = core.AtlasGraph([points], [np.arange(n, dtype=np.int64)], 6, n_threads=0)
    auto = graph.stats()
    assert "diameter_hops" not in auto
    assert auto["diameter_lower"] < auto["diameter_upper"]
    exact = graph.stats(diameter="exact")
    assert auto["diameter_lower"] <= exact["diameter_hops"] <= auto["diameter_upper"]
    assert exact["diameter_lower"] == exact["diameter_upper"] == exact["diameter_hops"]
    graph.set_weights(np.ones(graph.n_edges))
    indptr, indices, _ = graph.csr()
    assert exact["diameter_hops"] == core.hop_diameter(indptr, indices)[0]
    assert graph.stats() == exact  # cached


def test_bounds_bad_inputs_raise() -> None:
    """hop_diameter_bounds checks its CSR like hop_diameter (one shared check) and names a bad budget."""
    indptr, indices = csr_of(3, np.array([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match="symmetric \\(undirected\\): edge \\(1, 0\\) has no reverse \\(0, 1\\)"):
        core.hop_diameter_bounds(np.array([0, 1, 2, 3]), np.array([2, 0, 1]), 4)
    with pytest.raises(ValueError, match="indices must hold node ids in \\[0, 3\\); got 3 at index 1"):
        core.hop_diameter_bounds(indptr, np.array([1, 3, 2, 1]), 4)
    with pytest.raises(TypeError, match="indptr must have dtype int64; got int32"):
        core.hop_diameter_bounds(indptr.astype(np.int32), indices, 4)
    with pytest.raises(ValueError, match="n_threads must be >= 0"):
        core.hop_diameter_bounds(indptr, indices, 4, -1)
