"""agm._core.AtlasGraph.distance_routes: distances_many plus the routes to the wanted targets (one-to-many
LazySP), against scipy's Dijkstra, against distances_many, route by route, and every error path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agm import _core as core
from test_core_distances import RTOL, ragged, scipy_oracle, weighted_graph

I64, F64 = np.int64, np.float64


def route_cost(graph: core.AtlasGraph, src: tuple, dst: tuple, b: int, t: int, nodes: np.ndarray) -> float:
    """Cost of a route: the cheapest attachment of source b to its first node, its edges, the cheapest attachment
    of its last node to target t (inf when an edge or attachment is missing)."""
    indptr, indices, data = graph.csr()
    total = 0.0
    for u, v in zip(nodes[:-1], nodes[1:]):
        hit = np.flatnonzero(indices[indptr[u] : indptr[u + 1]] == v)
        if hit.size == 0:
            return np.inf
        total += float(data[indptr[u] : indptr[u + 1]][hit].min())
    s = slice(src[0][b], src[0][b + 1])
    d = slice(dst[0][t], dst[0][t + 1])
    first = src[2][s][src[1][s] == nodes[0]]
    last = dst[2][d][dst[1][d] == nodes[-1]]
    if first.size == 0 or last.size == 0:
        return np.inf
    return float(first.min()) + total + float(last.min())


@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(6, 40), min_size=1, max_size=3),
    n_sources=st.integers(0, 6),
    n_targets=st.integers(0, 6),
    zero_frac=st.sampled_from([0.0, 0.3]),
    n_threads=st.sampled_from([1, 2]),
    want_frac=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_routes_cost_their_lengths_and_lengths_equal_scipy(
    seed: int, sizes: list[int], n_sources: int, n_targets: int, zero_frac: float, n_threads: int, want_frac: float
) -> None:
    rng = np.random.default_rng(seed)
    graph = weighted_graph(rng, sizes, k=3, zero_frac=zero_frac)
    src = ragged(rng, n_sources, graph.n_nodes, 3)
    dst = ragged(rng, n_targets, graph.n_nodes, 3)
    want = rng.random((n_sources, n_targets)) < want_frac
    lengths, offsets, nodes = graph.distance_routes(*src, *dst, want, n_threads)
    assert lengths.shape == (n_sources, n_targets) and offsets.shape == (n_sources * n_targets + 1,)
    assert offsets.dtype == I64 and nodes.dtype == I64 and int(offsets[-1]) == nodes.size
    oracle = scipy_oracle(graph, src, dst)
    np.testing.assert_allclose(lengths[want], oracle[want], rtol=RTOL)
    settled = np.isfinite(lengths)
    np.testing.assert_allclose(lengths[settled], oracle[settled], rtol=RTOL)  # unwanted: inf or exact
    np.testing.assert_array_equal(lengths, np.where(settled, lengths, np.inf))
    for p in range(n_sources * n_targets):
        b, t = divmod(p, n_targets)
        route = nodes[offsets[p] : offsets[p + 1]]
        if not want[b, t] or not np.isfinite(oracle[b, t]):
            assert route.size == 0
            continue
        assert route.size >= 1
        np.testing.assert_allclose(route_cost(graph, src, dst, b, t, route), oracle[b, t], rtol=RTOL, atol=1e-12)


def test_all_wanted_equals_distances_many_and_threads_agree(rng: np.random.Generator) -> None:
    graph = weighted_graph(rng, [60, 50], k=4)
    src, dst = ragged(rng, 9, graph.n_nodes, 4), ragged(rng, 7, graph.n_nodes, 4)
    want = np.ones((9, 7), dtype=bool)
    one = graph.distance_routes(*src, *dst, want, 1)
    two = graph.distance_routes(*src, *dst, want, 2)
    np.testing.assert_array_equal(one[0], graph.distances_many(*src, *dst, 1))
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_an_unreachable_row_after_a_reachable_one_has_no_routes() -> None:
    # two charts that share no point: two components; row 0 reaches both targets' component, row 1 none
    line = np.arange(8.0)[:, None]
    graph = core.AtlasGraph([line, line.copy()], [np.arange(8, dtype=I64), np.arange(8, 16, dtype=I64)], 2)
    ends = graph.edges
    graph.set_weights((ends[:, 1] - ends[:, 0]).astype(F64) ** 2)  # unit steps are the only shortest routes
    assert graph.stats()["n_components"] == 2
    src = (np.array([0, 1, 2], I64), np.array([0, 12], I64), np.zeros(2, F64))
    dst = (np.array([0, 1, 2], I64), np.array([3, 5], I64), np.zeros(2, F64))
    lengths, offsets, nodes = graph.distance_routes(*src, *dst, np.ones((2, 2), dtype=bool), 1)
    np.testing.assert_array_equal(lengths, [[3.0, 5.0], [np.inf, np.inf]])
    assert offsets.tolist() == [0, 4, 10, 10, 10] and nodes.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5]


def test_bad_want_and_inputs_raise(rng: np.random.Generator) -> None:
    graph = weighted_graph(rng, [30], k=3)
    src, dst = ragged(rng, 2, graph.n_nodes, 2), ragged(rng, 3, graph.n_nodes, 2)
    ok = np.ones((2, 3), dtype=bool)
    with pytest.raises(TypeError, match="want must have dtype bool"):
        graph.distance_routes(*src, *dst, ok.astype(np.uint8))
    with pytest.raises(ValueError, match=r"want must have shape \(2, 3\).*got \(3, 2\)"):
        graph.distance_routes(*src, *dst, np.ones((3, 2), dtype=bool))
    with pytest.raises(ValueError, match="want must be 2-D"):
        graph.distance_routes(*src, *dst, np.ones(6, dtype=bool))
    with pytest.raises(ValueError, match="want must be C-contiguous"):
        graph.distance_routes(*src, *dst, np.ones((3, 2), dtype=bool).T)
    with pytest.raises(ValueError, match="n_threads"):
        graph.distance_routes(*src, *dst, ok, -1)
    bad_nodes = (src[0], np.full_like(src[1], graph.n_nodes), src[2])
    with pytest.raises(IndexError):
        graph.distance_routes(*bad_nodes, *dst, ok)
    with pytest.raises(ValueError, match="source_costs"):
        graph.distance_routes(src[0], src[1], -np.ones_like(src[2]), *dst, ok)
    with pytest.raises(TypeError, match="source_nodes"):
        graph.distance_routes(src[0], src[1].astype(np.int32), src[2], *dst, ok)
    empty = graph.distance_routes(np.zeros(1, I64), np.zeros(0, I64), np.zeros(0, F64), *dst, np.ones((0, 3), bool))
    assert empty[0].shape == (0, 3) and empty[1].tolist() == [0] and empty[2].size == 0
