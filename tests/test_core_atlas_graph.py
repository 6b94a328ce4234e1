"""agm._core.AtlasGraph: candidate edges, node arrays, CSR, components, statistics, persistence and errors,
against brute-force / python-loop / scipy oracles (contract: python/agm/_core.pyi)."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components
from scipy.sparse.csgraph import shortest_path as scipy_shortest_path

from _core_oracles import (
    assert_knn_matches_brute_force,
    canonical_labels,
    make_atlas,
    oracle_candidate_edges,
    symmetric_csr,
)
from agm import _core as core

DTYPES = [np.float32, np.float64]
STATS_KEYS = {
    "n_nodes",
    "n_edges",
    "n_intra_edges",
    "n_cross_edges",
    "n_components",
    "largest_component",
    "diameter_hops",
    "diameter_lower",
    "diameter_upper",
}

# (sizes, d, k, shared point ids, blobs per chart)
LAYOUTS = [
    ([12], 1, 1, True, 1),
    ([30, 25, 40], 3, 4, True, 1),
    ([50, 50], 2, 3, False, 2),  # 4 components: 2 blobs in each of 2 charts without shared points
    ([20, 35, 15, 28], 7, 6, True, 1),
    ([60], 16, 8, True, 3),
]


def csr_triples(
    n_nodes: int, indptr: NDArray[np.int64], indices: NDArray[np.int64], data: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(nnz, 3) rows (row, col, value) sorted lexicographically."""
    rows = np.repeat(np.arange(n_nodes), np.diff(indptr))
    t = np.stack([rows.astype(np.float64), indices.astype(np.float64), data], axis=1)
    return t[np.lexsort((t[:, 1], t[:, 0]))]


def weighted_graph(
    rng: np.random.Generator, layout: tuple, dtype: type = np.float64, n_threads: int = 0
) -> tuple[core.AtlasGraph, list, list]:
    sizes, d, k, shared, blobs = layout
    latents, point_ids = make_atlas(rng, sizes, d, dtype, shared=shared, clusters=blobs)
    graph = core.AtlasGraph(latents, point_ids, k, n_threads=n_threads)
    weights = rng.uniform(0.0, 2.0, size=graph.n_edges)
    weights[rng.random(graph.n_edges) < 0.1] = 0.0
    graph.set_weights(weights)
    return graph, latents, point_ids


# --- structure ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_candidate_edges_equal_oracle(dtype: type, layout: tuple, rng: np.random.Generator) -> None:
    sizes, d, k, shared, blobs = layout
    latents, point_ids = make_atlas(rng, sizes, d, dtype, shared=shared, clusters=blobs)
    graph = core.AtlasGraph(latents, point_ids, k)
    intra, cross = oracle_candidate_edges(latents, point_ids, k)
    edges = graph.edges
    assert edges.dtype == np.int64 and edges.ndim == 2 and edges.shape[1] == 2 and edges.flags.c_contiguous
    assert graph.n_edges == edges.shape[0] == sum(map(len, intra)) + len(cross)
    assert np.all(edges[:, 0] < edges[:, 1])
    as_set = set(map(tuple, edges.tolist()))
    assert len(as_set) == edges.shape[0], "duplicate candidate edges"
    n_intra = graph.n_intra_edges
    assert n_intra == sum(map(len, intra))
    chart = graph.node_chart
    intra_rows = edges[:n_intra]
    assert np.array_equal(chart[intra_rows[:, 0]], chart[intra_rows[:, 1]])
    assert np.all(np.diff(chart[intra_rows[:, 0]]) >= 0), "intra-chart edges are not grouped chart by chart"
    for c in range(len(sizes)):
        got = set(map(tuple, intra_rows[chart[intra_rows[:, 0]] == c].tolist()))
        assert got == intra[c], f"chart {c}: missing {intra[c] - got}, extra {got - intra[c]}"
    cross_rows = edges[n_intra:]
    assert set(map(tuple, cross_rows.tolist())) == cross
    assert np.all(chart[cross_rows[:, 0]] != chart[cross_rows[:, 1]])
    if not shared:
        assert cross_rows.shape[0] == 0
    # Building with one or several threads gives the very same arrays.
    for n_threads in (1, 2):
        other = core.AtlasGraph(latents, point_ids, k, n_threads=n_threads)
        assert np.array_equal(other.edges, edges) and other.n_intra_edges == n_intra


@pytest.mark.parametrize("dtype", DTYPES)
def test_node_arrays_consistent(dtype: type, rng: np.random.Generator) -> None:
    sizes = [9, 14, 11]
    latents, point_ids = make_atlas(rng, sizes, 4, dtype)
    graph = core.AtlasGraph(latents, point_ids, 3)
    assert (graph.n_charts, graph.n_nodes, graph.k, graph.latent_dim) == (3, 34, 3, 4)
    offsets = graph.chart_offsets
    assert offsets.dtype == np.int64 and np.array_equal(offsets, [0, 9, 23, 34])
    assert graph.node_chart.dtype == np.int64
    assert np.array_equal(graph.node_chart, np.repeat(np.arange(3), sizes))
    assert graph.node_point.dtype == np.int64
    assert np.array_equal(graph.node_point, np.concatenate(point_ids))
    assert graph.latents.dtype == np.dtype(dtype) and graph.latents.shape == (34, 4)
    assert np.array_equal(graph.latents, np.concatenate(latents))
    assert not graph.has_weights and not graph.has_positions
    for c in range(3):
        index = graph.chart_index(c)
        assert index.n_points == sizes[c] and index.dim == 4 and index.dtype == np.dtype(dtype)
        assert_knn_matches_brute_force(*index.query_self(3), latents[c], latents[c], 3, exclude_self=True)
    # The caller's arrays are not referenced by the graph.
    latents[0][:] = 123.0
    assert not np.array_equal(graph.latents[:9], latents[0])
    for bad in (3, 100, -1):
        with pytest.raises((IndexError, TypeError), match="chart"):
            graph.chart_index(bad)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_csr_equals_scipy(layout: tuple, rng: np.random.Generator) -> None:
    graph, _, _ = weighted_graph(rng, layout)
    indptr, indices, data = graph.csr()
    n, e = graph.n_nodes, graph.n_edges
    assert indptr.dtype == np.int64 and indices.dtype == np.int64 and data.dtype == np.float64
    assert indptr.shape == (n + 1,) and indices.shape == (2 * e,) and data.shape == (2 * e,)
    assert np.array_equal(graph.weights, graph.weights.astype(np.float64)) and graph.has_weights
    expected = symmetric_csr(n, graph.edges, graph.weights)
    exp_indptr = expected.indptr.astype(np.int64)
    exp_triples = csr_triples(n, exp_indptr, expected.indices.astype(np.int64), expected.data)
    assert np.array_equal(csr_triples(n, indptr, indices, data), exp_triples)
    mat = sp.csr_array((data, indices, indptr), shape=(n, n))
    assert (abs(mat - mat.T)).sum() == 0.0


@pytest.mark.parametrize("layout", LAYOUTS)
def test_components_equal_scipy(layout: tuple, rng: np.random.Generator) -> None:
    graph, _, _ = weighted_graph(rng, layout)
    structure = symmetric_csr(graph.n_nodes, graph.edges, np.ones(graph.n_edges))
    n_comp, labels = connected_components(structure, directed=False)
    comp = graph.component
    assert comp.dtype == np.int64 and comp.shape == (graph.n_nodes,)
    assert np.array_equal(comp, canonical_labels(labels)), "labels must equal scipy's, numbered by first node"
    sizes = graph.component_sizes
    assert sizes.dtype == np.int64 and np.array_equal(sizes, np.bincount(comp, minlength=n_comp))
    if layout[3] is False:
        assert n_comp >= len(layout[0]) * layout[4]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_diameter_and_stats_equal_scipy(layout: tuple, rng: np.random.Generator) -> None:
    graph, _, _ = weighted_graph(rng, layout)
    structure = symmetric_csr(graph.n_nodes, graph.edges, np.ones(graph.n_edges))
    hops = scipy_shortest_path(structure, directed=False, unweighted=True)
    diameter = int(hops[np.isfinite(hops)].max())
    assert graph.diameter_hops(n_threads=1) == graph.diameter_hops(n_threads=2) == diameter
    stats = graph.stats()
    assert set(stats) == STATS_KEYS
    n_comp, labels = connected_components(structure, directed=False)
    assert stats == {
        "n_nodes": graph.n_nodes,
        "n_edges": graph.n_edges,
        "n_intra_edges": graph.n_intra_edges,
        "n_cross_edges": graph.n_edges - graph.n_intra_edges,
        "n_components": n_comp,
        "largest_component": int(np.bincount(labels).max()),
        "diameter_hops": diameter,
        "diameter_lower": diameter,
        "diameter_upper": diameter,
    }
    assert all(type(v) is int for v in stats.values())


def test_diameter_of_a_path_graph() -> None:
    # 1-D chart, k=1 on points 0, 1, 3, 6, 10, ...: every point's nearest neighbour is its left one -> a path.
    z = np.cumsum(np.arange(12, dtype=np.float64))[:, None]
    graph = core.AtlasGraph([np.ascontiguousarray(z)], [np.arange(12, dtype=np.int64)], 1)
    graph.set_weights(np.ones(graph.n_edges))
    assert graph.n_edges == 11 and graph.diameter_hops() == 11


def test_memory_bytes_per_edge(rng: np.random.Generator) -> None:
    z = rng.normal(size=(2000, 7)).astype(np.float32)
    graph = core.AtlasGraph([z], [np.arange(2000, dtype=np.int64)], 20)
    graph.set_weights(rng.random(graph.n_edges))
    per_edge = graph.memory_bytes() / graph.n_edges
    assert per_edge <= 30.0, f"{per_edge:.1f} bytes per edge"
    before = graph.memory_bytes()
    positions = rng.normal(size=(2000, 5))
    graph.set_positions(positions)
    assert graph.memory_bytes() >= before + positions.nbytes


def test_memory_bytes_per_edge_at_d7_float64_in_the_cube(rng: np.random.Generator) -> None:
    """Issue 19's case: uniform points in the unit cube of R^7, float64 latents, k = 20 (11.9 edges per node, the
    fewest of the cases measured): at 20k points 30.3 B/edge with 64-bit row pointers and point ids, 29.7 with
    32-bit ones."""
    z = rng.random((20000, 7))
    graph = core.AtlasGraph([z], [np.arange(20000, dtype=np.int64)], 20)
    graph.set_weights(rng.random(graph.n_edges))
    per_edge = graph.memory_bytes() / graph.n_edges
    assert 24.0 < per_edge <= 30.0, f"{per_edge:.2f} bytes per edge"  # indices 8 B + weights 16 B, then nodes


def test_memory_bytes_per_edge_of_an_8_chart_graph(rng: np.random.Generator) -> None:
    # the shape of the trained MNIST graph of issue 12: 8 charts, k = 20, every point in about 3 charts
    latents, point_ids = make_atlas(rng, [110] * 8, 2, np.float32, shared=True)
    graph = core.AtlasGraph(latents, point_ids, 20)
    graph.set_weights(rng.random(graph.n_edges))
    assert graph.n_edges > graph.n_intra_edges > 0
    # edge list (8 B) + CSR indices (8 B) + CSR weights (16 B) per edge would be 32 B before any node array
    assert graph.memory_bytes() / graph.n_edges <= 30.0


# --- persistence -------------------------------------------------------------------------------------------


def _assert_same_graph(a: core.AtlasGraph, b: core.AtlasGraph) -> None:
    for name in ("n_charts", "n_nodes", "k", "latent_dim", "n_edges", "n_intra_edges", "has_weights", "has_positions"):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("chart_offsets", "node_chart", "node_point", "latents", "edges"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    if a.has_weights:
        for name in ("weights", "component", "component_sizes"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        for x, y in zip(a.csr(), b.csr()):
            assert np.array_equal(x, y)
    if a.has_positions:
        assert a.positions.dtype == b.positions.dtype and np.array_equal(a.positions, b.positions)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stage", ["unweighted", "weighted", "positioned"])
def test_save_load_round_trip(dtype: type, stage: str, tmp_path: Path, rng: np.random.Generator) -> None:
    latents, point_ids = make_atlas(rng, [30, 20, 25], 3, dtype)
    graph = core.AtlasGraph(latents, point_ids, 4)
    if stage != "unweighted":
        graph.set_weights(rng.uniform(0.1, 1.0, size=graph.n_edges))
    if stage == "positioned":
        # small positions: distances below every weight (>= 0.1), so A*'s heuristic is consistent
        graph.set_positions((0.005 * rng.normal(size=(graph.n_nodes, 6))).astype(dtype))
    metadata = '{"model": "awae", "note": "λ ✓ \\u00e9"}'
    path = tmp_path / "graph.agm"
    assert graph.metadata == ""
    graph.save(str(path), metadata=metadata)
    loaded = core.AtlasGraph.load(str(path))
    assert loaded.metadata == metadata
    _assert_same_graph(graph, loaded)
    for c in range(3):
        for x, y in zip(graph.chart_index(c).query_self(3), loaded.chart_index(c).query_self(3)):
            assert np.array_equal(x, y)
    if stage != "unweighted":
        methods = ["dijkstra", "astar"] if stage == "positioned" else ["dijkstra"]
        for method in methods:
            src = np.array([0, 5, 17], dtype=np.int64)
            dst = np.array([60, 44, 2], dtype=np.int64)
            p1, c1 = graph.shortest_paths(src, dst, method=method, raise_unreachable=False)
            p2, c2 = loaded.shortest_paths(src, dst, method=method, raise_unreachable=False)
            assert np.array_equal(c1, c2) and all(np.array_equal(x, y) for x, y in zip(p1, p2))
        assert graph.stats() == loaded.stats()
        d1, pr1 = graph.single_source(3)
        d2, pr2 = loaded.single_source(3)
        assert np.array_equal(d1, d2) and np.array_equal(pr1, pr2)


@pytest.fixture
def saved_graph(tmp_path: Path, rng: np.random.Generator) -> bytes:
    latents, point_ids = make_atlas(rng, [30, 20], 3, np.float32)
    graph = core.AtlasGraph(latents, point_ids, 4)
    graph.set_weights(rng.uniform(0.1, 1.0, size=graph.n_edges))
    graph.set_positions(rng.normal(size=(graph.n_nodes, 4)))
    path = tmp_path / "good.agm"
    graph.save(str(path), metadata="meta")
    return path.read_bytes()


def _load_must_fail(tmp_path: Path, blob: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(blob)
    with pytest.raises(ValueError, match=re.escape(name)):
        core.AtlasGraph.load(str(path))


@pytest.mark.parametrize("cut", [0.0, 0.001, 0.01, 0.25, 0.5, 0.9, 0.999, -1])
def test_load_truncated_file(cut: float, saved_graph: bytes, tmp_path: Path) -> None:
    n = len(saved_graph) - 1 if cut == -1 else int(cut * len(saved_graph))
    _load_must_fail(tmp_path, saved_graph[:n], f"truncated_{n}.agm")


@pytest.mark.parametrize("where", [0, 3, 8, 17, 0.3, 0.5, 0.75, -2])
def test_load_flipped_byte(where: float, saved_graph: bytes, tmp_path: Path) -> None:
    blob = bytearray(saved_graph)
    pos = int(where * len(blob)) if isinstance(where, float) else where % len(blob)
    blob[pos] ^= 0x10
    _load_must_fail(tmp_path, bytes(blob), f"flipped_{pos}.agm")


def test_load_foreign_files(saved_graph: bytes, tmp_path: Path, rng: np.random.Generator) -> None:
    _load_must_fail(tmp_path, rng.integers(0, 256, size=4096, dtype=np.uint8).tobytes(), "random.bin")
    _load_must_fail(tmp_path, b"hello, this is a text file\n" * 100, "text.txt")
    _load_must_fail(tmp_path, saved_graph + b"\0" * 16, "trailing.agm")
    with pytest.raises((OSError, ValueError), match="missing"):
        core.AtlasGraph.load(str(tmp_path / "missing.agm"))


# --- errors ------------------------------------------------------------------------------------------------


def _atlas(sizes: tuple[int, ...] = (10, 12), d: int = 2, dtype: type = np.float64) -> tuple[list, list]:
    return make_atlas(np.random.default_rng(7), list(sizes), d, dtype)


@pytest.mark.parametrize("k", [0, -2])
def test_k_below_one(k: int) -> None:
    latents, point_ids = _atlas()
    with pytest.raises(ValueError if k == 0 else (ValueError, TypeError), match="k"):
        core.AtlasGraph(latents, point_ids, k)


@pytest.mark.parametrize("k", [9, 10, 50])
def test_k_not_below_chart_size(k: int) -> None:
    latents, point_ids = _atlas((9, 20))
    with pytest.raises(ValueError, match=r"\bk\b"):
        core.AtlasGraph(latents, point_ids, k)


def test_bad_chart_lists() -> None:
    latents, point_ids = _atlas((10, 12, 11))
    with pytest.raises(ValueError, match="latents"):
        core.AtlasGraph([], [], 2)
    with pytest.raises(ValueError, match="latents"):  # an empty chart
        core.AtlasGraph([latents[0], np.zeros((0, 2))], [point_ids[0], np.zeros(0, dtype=np.int64)], 2)
    with pytest.raises(ValueError, match="point_ids"):  # mismatched list lengths
        core.AtlasGraph(latents, point_ids[:2], 2)
    with pytest.raises(ValueError, match="point_ids"):  # one chart's ids of the wrong length
        core.AtlasGraph(latents, [point_ids[0], point_ids[1][:-1], point_ids[2]], 2)
    with pytest.raises(ValueError, match="latents"):  # different d
        core.AtlasGraph([latents[0], np.zeros((12, 3)), latents[2]], point_ids, 2)
    with pytest.raises((TypeError, ValueError), match="latents"):  # different dtype
        core.AtlasGraph([latents[0], latents[1].astype(np.float32), latents[2]], point_ids, 2)


def test_bad_point_ids() -> None:
    latents, point_ids = _atlas()
    dup = point_ids[1].copy()
    dup[3] = dup[7]
    with pytest.raises(ValueError, match="point_ids"):
        core.AtlasGraph(latents, [point_ids[0], dup], 2)
    neg = point_ids[1].copy()
    neg[0] = -1
    with pytest.raises(ValueError, match="point_ids"):
        core.AtlasGraph(latents, [point_ids[0], neg], 2)
    with pytest.raises(TypeError, match="point_ids"):
        core.AtlasGraph(latents, [point_ids[0], point_ids[1].astype(np.int32)], 2)
    with pytest.raises(ValueError, match="point_ids"):
        core.AtlasGraph(latents, [point_ids[0], np.repeat(point_ids[1], 2)[::2]], 2)


def test_bad_latents() -> None:
    latents, point_ids = _atlas()
    nan = latents[1].copy()
    nan[2, 0] = np.nan
    with pytest.raises(ValueError, match="latents"):
        core.AtlasGraph([latents[0], nan], point_ids, 2)
    with pytest.raises(TypeError, match="latents"):
        core.AtlasGraph([latents[0].astype(np.float16), latents[1].astype(np.float16)], point_ids, 2)
    with pytest.raises(ValueError, match="latents"):
        core.AtlasGraph([latents[0], np.asfortranarray(latents[1])], point_ids, 2)
    with pytest.raises(ValueError, match="latents"):
        core.AtlasGraph([latents[0], latents[1][:, 0].copy()], point_ids, 2)


@pytest.fixture
def graph() -> core.AtlasGraph:
    latents, point_ids = _atlas()
    return core.AtlasGraph(latents, point_ids, 3)


@pytest.mark.parametrize("bad", [-1e-12, -1.0, np.nan, np.inf, -np.inf])
def test_bad_weight_values(bad: float, graph: core.AtlasGraph) -> None:
    w = np.ones(graph.n_edges)
    w[graph.n_edges // 2] = bad
    with pytest.raises(ValueError, match="weights"):
        graph.set_weights(w)
    assert not graph.has_weights


def test_bad_weight_arrays(graph: core.AtlasGraph) -> None:
    e = graph.n_edges
    for w in (np.ones(e - 1), np.ones(e + 1), np.ones((e, 1)), np.ones(2 * e)[::2]):
        with pytest.raises(ValueError, match="weights"):
            graph.set_weights(w)
    for w in (np.ones(e, dtype=np.float32), np.ones(e, dtype=np.int64)):
        with pytest.raises(TypeError, match="weights"):
            graph.set_weights(w)


def test_search_before_set_weights(graph: core.AtlasGraph) -> None:
    one = np.array([0], dtype=np.int64)
    cost = np.array([0.0])
    with pytest.raises(ValueError, match="weights"):
        _ = graph.weights
    with pytest.raises(ValueError, match="weights"):
        graph.shortest_path(0, 5, method="dijkstra")
    with pytest.raises(ValueError, match="weights"):
        graph.shortest_paths(one, one + 3, method="dijkstra")
    with pytest.raises(ValueError, match="weights"):
        graph.search(one, cost, one + 3, cost, method="dijkstra")
    with pytest.raises(ValueError, match="weights"):
        graph.single_source(0)


def test_astar_before_set_positions(graph: core.AtlasGraph) -> None:
    graph.set_weights(np.ones(graph.n_edges))
    with pytest.raises(ValueError, match="positions"):
        _ = graph.positions
    with pytest.raises(ValueError, match="positions"):
        graph.shortest_path(0, 5)
    with pytest.raises(ValueError, match="positions"):
        graph.shortest_paths(np.array([0]), np.array([5]), method="astar")
    one = np.array([0], dtype=np.int64)
    with pytest.raises(ValueError, match="positions"):
        graph.search(one, np.zeros(1), one + 3, np.zeros(1), goals=np.zeros((1, 2)), method="astar")
    graph.shortest_path(0, 5, method="dijkstra")  # Dijkstra needs no positions


def test_bad_positions(graph: core.AtlasGraph) -> None:
    n = graph.n_nodes
    for p in (
        np.zeros((n - 1, 3)),
        np.zeros((n + 1, 3)),
        np.zeros(n),
        np.zeros((n, 3, 1)),
        np.zeros((n, 0)),
        np.zeros((n, 6))[:, ::2],
        np.asfortranarray(np.zeros((n, 3))),
    ):
        with pytest.raises(ValueError, match="positions"):
            graph.set_positions(p)
    nan = np.zeros((n, 3))
    nan[1, 1] = np.inf
    with pytest.raises(ValueError, match="positions"):
        graph.set_positions(nan)
    for dtype in (np.float16, np.int64):
        with pytest.raises(TypeError, match="positions"):
            graph.set_positions(np.zeros((n, 3), dtype=dtype))
    assert not graph.has_positions


# --- update_weights ------------------------------------------------------------------------------------------


def test_update_weights_equals_set_weights_with_those_entries_replaced(rng: np.random.Generator) -> None:
    graph, _, _ = weighted_graph(rng, LAYOUTS[1])
    assert graph.n_edges > graph.n_intra_edges  # cross-chart edges are updatable too
    full = graph.weights
    ids = rng.choice(graph.n_edges, size=graph.n_edges // 3, replace=False).astype(np.int64)
    ids[0] = graph.n_edges - 1  # a cross-chart edge
    new = rng.uniform(0.5, 2.0, size=ids.size)
    graph.update_weights(ids, new)
    full[ids] = new
    assert np.array_equal(graph.weights, full)
    oracle = symmetric_csr(graph.n_nodes, graph.edges, full)
    indptr, indices, data = graph.csr()
    assert np.array_equal(
        csr_triples(graph.n_nodes, indptr, indices, data),
        csr_triples(graph.n_nodes, oracle.indptr, oracle.indices.astype(np.int64), oracle.data),
    )
    d_update, _ = graph.single_source(0)
    graph.set_weights(full)
    d_set, _ = graph.single_source(0)
    assert np.array_equal(d_update, d_set)
    np.testing.assert_allclose(d_set, scipy_shortest_path(oracle, indices=0), rtol=1e-12)


def _many_page_graph(rng: np.random.Generator) -> core.AtlasGraph:
    """A one-chart k-NN graph whose CSR weights span many pages (2048 slots each, see paged_weights.hpp)."""
    n = 3000
    graph = core.AtlasGraph([rng.random((n, 2))], [np.arange(n, dtype=np.int64)], 8)
    assert 2 * graph.n_edges > 8 * 2048
    graph.set_weights(rng.uniform(1.0, 2.0, size=graph.n_edges))
    return graph


def test_update_weights_round_after_round_across_pages_equals_the_oracle(rng: np.random.Generator) -> None:
    graph = _many_page_graph(rng)
    full = graph.weights
    for round_ in range(25):
        size = int(rng.integers(1, 300))
        ids = rng.choice(graph.n_edges - 1, size=size, replace=False).astype(np.int64)
        if round_ % 5 == 0:
            ids[0] = graph.n_edges - 1  # the last (partly filled) page
        new = rng.uniform(0.5, 3.0, size=ids.size)
        graph.update_weights(ids, new)
        full[ids] = new
        assert np.array_equal(graph.weights, full), round_
    oracle = symmetric_csr(graph.n_nodes, graph.edges, full)
    indptr, indices, data = graph.csr()
    assert np.array_equal(
        csr_triples(graph.n_nodes, indptr, indices, data),
        csr_triples(graph.n_nodes, oracle.indptr, oracle.indices.astype(np.int64), oracle.data),
    )
    d_update, _ = graph.single_source(7)
    np.testing.assert_allclose(d_update, scipy_shortest_path(oracle, indices=7), rtol=1e-12)
    before = graph.memory_bytes()
    graph.set_weights(full)
    assert graph.memory_bytes() == before  # the updated block holds as many pages as a fresh one


def test_readers_never_see_part_of_an_update(rng: np.random.Generator) -> None:
    """Pages are shared between versions: an update writes copies, so a concurrent reader's snapshot holds every
    edge of an update at its old value or every edge at its new one."""
    graph = _many_page_graph(rng)
    ids = np.sort(rng.choice(graph.n_edges, size=400, replace=False)).astype(np.int64)  # spread over the pages
    graph.update_weights(ids, np.zeros(ids.size))
    torn: list[np.ndarray] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen = graph.weights[ids]
            if not np.all(seen == seen[0]):
                torn.append(seen)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for value in range(1, 300):
            graph.update_weights(ids, np.full(ids.size, float(value)))
    finally:
        done.set()
        reader.join()
    assert not torn
    assert np.all(graph.weights[ids] == 299.0)


def test_update_weights_of_no_edge_keeps_the_weights(graph: core.AtlasGraph) -> None:
    graph.set_weights(np.arange(graph.n_edges, dtype=np.float64))
    graph.update_weights(np.zeros(0, dtype=np.int64), np.zeros(0))
    assert np.array_equal(graph.weights, np.arange(graph.n_edges))


def test_update_weights_errors_change_nothing(graph: core.AtlasGraph) -> None:
    m = graph.n_edges
    ids = np.array([0, 3], dtype=np.int64)
    with pytest.raises(ValueError, match="no weights yet: call set_weights first"):
        graph.update_weights(ids, np.ones(2))
    base = np.ones(m)
    graph.set_weights(base)
    for bad in (-1, m, m + 7, -(2**40)):
        with pytest.raises(IndexError, match=rf"edge_ids must hold edge ids in \[0, {m}\); got {bad} at index 1"):
            graph.update_weights(np.array([0, bad], dtype=np.int64), np.ones(2))
    with pytest.raises(ValueError, match="edge_ids must be unique; got 3 more than once"):
        graph.update_weights(np.array([3, 1, 3], dtype=np.int64), np.ones(3))
    for bad in (-1e-12, -1.0, np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match=r"weights must be finite and >= 0; got .* at index 1"):
            graph.update_weights(ids, np.array([2.0, bad]))
    with pytest.raises(ValueError, match="edge_ids and weights must have the same length; got 2 and 3"):
        graph.update_weights(ids, np.ones(3))
    with pytest.raises(ValueError, match="edge_ids must be 1-D"):
        graph.update_weights(ids[:, None], np.ones(2))
    with pytest.raises(ValueError, match="weights must be C-contiguous"):
        graph.update_weights(ids, np.ones(4)[::2])
    with pytest.raises(TypeError, match="edge_ids must have dtype int64"):
        graph.update_weights(ids.astype(np.int32), np.ones(2))
    with pytest.raises(TypeError, match="weights must have dtype float64"):
        graph.update_weights(ids, np.ones(2, dtype=np.float32))
    assert np.array_equal(graph.weights, base)  # every refused call left the weights as they were
