"""agm._core.AtlasGraph.distances_many: one-to-many route lengths between virtual endpoints, against scipy's
Dijkstra on the same augmented graph and against search_many, and every error path.

Tolerance: the oracles use the same float64 weights and costs, and every Dijkstra computes min over u of
fl(d(u) + w(u, v)) along the same paths, so the results are equal up to the order in which a path's terms are
added; rtol 1e-12 leaves room for that and nothing else.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

from _core_oracles import make_atlas
from agm import _core as core

I64, F64 = np.int64, np.float64
RTOL = 1e-12
Ragged = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]


def weighted_graph(rng: np.random.Generator, sizes: list[int], k: int, zero_frac: float = 0.0) -> core.AtlasGraph:
    """A random multi-chart graph; weights uniform in (0, 2], a fraction of them exactly 0."""
    latents, ids = make_atlas(rng, sizes, 2, shared=True, clusters=2)
    graph = core.AtlasGraph(latents, ids, k, n_threads=1)
    w = rng.uniform(0.0, 2.0, graph.n_edges)
    w[rng.random(graph.n_edges) < zero_frac] = 0.0
    graph.set_weights(w)
    return graph


def ragged(rng: np.random.Generator, n_queries: int, n_nodes: int, max_per: int) -> Ragged:
    """offsets (Q + 1,), nodes, costs (zeros among them) for Q queries with 1..max_per attachments (repeats allowed)."""
    counts = rng.integers(1, max_per + 1, n_queries)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(I64)
    nodes = rng.integers(0, n_nodes, int(offsets[-1])).astype(I64)
    costs = rng.uniform(0.0, 1.0, nodes.size) * (rng.random(nodes.size) > 0.1)
    return offsets, nodes, costs.astype(F64)


def scipy_oracle(graph: core.AtlasGraph, src: Ragged, dst: Ragged) -> NDArray[np.float64]:
    """(B, T) by scipy's Dijkstra over the graph plus B source nodes (out-edges) and T sink nodes (in-edges)."""
    n, b, t = graph.n_nodes, src[0].size - 1, dst[0].size - 1
    indptr, indices, data = graph.csr()
    r = [np.repeat(np.arange(n), np.diff(indptr)), n + np.repeat(np.arange(b), np.diff(src[0])), dst[1]]
    c = [indices, src[1], n + b + np.repeat(np.arange(t), np.diff(dst[0]))]
    w = [data, src[2], dst[2]]
    rows, cols, weights = np.concatenate(r), np.concatenate(c), np.concatenate(w)
    order = np.lexsort((weights, cols, rows))  # keep the cheapest of parallel entries (scipy would sum them)
    rows, cols, weights = rows[order], cols[order], weights[order]
    first = np.concatenate([[True], (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])])
    size = n + b + t
    ptr = np.concatenate([[0], np.cumsum(np.bincount(rows[first], minlength=size))])
    adjacency = sp.csr_array((weights[first], cols[first], ptr), shape=(size, size))
    out: NDArray[np.float64] = dijkstra(adjacency, directed=True, indices=np.arange(n, n + b))[:, n + b :]
    return out


@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(6, 40), min_size=1, max_size=3),
    n_sources=st.integers(0, 6),
    n_targets=st.integers(0, 6),
    zero_frac=st.sampled_from([0.0, 0.3]),
    n_threads=st.sampled_from([1, 2]),
)
def test_equals_scipy_dijkstra_on_the_augmented_graph(
    seed: int, sizes: list[int], n_sources: int, n_targets: int, zero_frac: float, n_threads: int
) -> None:
    rng = np.random.default_rng(seed)
    graph = weighted_graph(rng, sizes, 3, zero_frac)  # two blobs per chart: often several components
    src = ragged(rng, n_sources, graph.n_nodes, 4)
    dst = ragged(rng, n_targets, graph.n_nodes, 4)
    out = graph.distances_many(*src, *dst, n_threads=n_threads)
    assert out.shape == (n_sources, n_targets) and out.dtype == F64 and out.flags.c_contiguous
    expected = scipy_oracle(graph, src, dst)
    np.testing.assert_array_equal(np.isinf(out), np.isinf(expected))
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=0.0)


def test_equals_search_many_pair_by_pair_and_threads_agree(rng: np.random.Generator) -> None:
    graph = weighted_graph(rng, [40, 30, 35], 4)
    src, dst = ragged(rng, 5, graph.n_nodes, 3), ragged(rng, 7, graph.n_nodes, 3)
    out = graph.distances_many(*src, *dst, n_threads=1)
    np.testing.assert_array_equal(out, graph.distances_many(*src, *dst, n_threads=2))
    pairs = [(b, t) for b in range(5) for t in range(7)]
    so = np.concatenate([[0], np.cumsum([src[0][b + 1] - src[0][b] for b, _ in pairs])]).astype(I64)
    to = np.concatenate([[0], np.cumsum([dst[0][t + 1] - dst[0][t] for _, t in pairs])]).astype(I64)
    sn = np.concatenate([src[1][src[0][b] : src[0][b + 1]] for b, _ in pairs])
    sc = np.concatenate([src[2][src[0][b] : src[0][b + 1]] for b, _ in pairs])
    tn = np.concatenate([dst[1][dst[0][t] : dst[0][t + 1]] for _, t in pairs])
    tc = np.concatenate([dst[2][dst[0][t] : dst[0][t + 1]] for _, t in pairs])
    _, costs = graph.search_many(so, sn, sc, to, tn, tc, method="dijkstra", raise_unreachable=False)
    np.testing.assert_allclose(out.ravel(), costs, rtol=RTOL, atol=0.0)


def test_closed_form_on_a_path() -> None:
    # 1-D chart, k = 1 on 0, 1, 3, 6, 10, ...: a path whose edge weights are set to 1, 2, ..., 9.
    z = np.cumsum(np.arange(10, dtype=F64))[:, None]
    graph = core.AtlasGraph([np.ascontiguousarray(z)], [np.arange(10, dtype=I64)], 1)
    graph.set_weights(np.arange(1, 10, dtype=F64))
    # source 0 at node 0 (cost 0.5); source 1 at node 9 (cost 0) or node 5 (cost 100); targets at nodes 3 and 9
    out = graph.distances_many(
        np.array([0, 1, 3]), np.array([0, 9, 5]), np.array([0.5, 0.0, 100.0]),
        np.array([0, 1, 2]), np.array([3, 9]), np.array([0.25, 0.0]),
    )  # fmt: skip
    np.testing.assert_array_equal(out, [[0.5 + 6 + 0.25, 0.5 + 45], [45 - 6 + 0.25, 0.0]])


def test_unreachable_targets_are_inf(rng: np.random.Generator) -> None:
    latents, ids = make_atlas(rng, [30, 30], 2, shared=False)  # two charts, no shared points: >= 2 components
    graph = core.AtlasGraph(latents, ids, 3)
    graph.set_weights(np.ones(graph.n_edges))
    comp = graph.component
    a, b = int(np.flatnonzero(comp == comp[0])[1]), int(np.flatnonzero(comp != comp[0])[0])
    out = graph.distances_many(
        np.array([0, 1]), np.array([0]), np.array([0.0]), np.array([0, 1, 2]), np.array([a, b]), np.zeros(2)
    )
    assert np.isfinite(out[0, 0]) and out[0, 1] == np.inf


def test_empty_batches_have_their_shape(rng: np.random.Generator) -> None:
    graph = weighted_graph(rng, [20], 3)
    none = (np.zeros(1, dtype=I64), np.zeros(0, dtype=I64), np.zeros(0, dtype=F64))
    one = (np.array([0, 1]), np.array([0]), np.array([0.0]))
    assert graph.distances_many(*none, *one).shape == (0, 1)
    assert graph.distances_many(*one, *none).shape == (1, 0)


def test_bad_inputs_raise(rng: np.random.Generator) -> None:
    graph = weighted_graph(rng, [20], 3)
    n = graph.n_nodes
    off, node, cost = np.array([0, 1]), np.array([0]), np.array([0.0])
    ok = (off, node, cost)
    with pytest.raises(ValueError, match="source_offsets must have B \\+ 1 >= 1 entries; got 0"):
        graph.distances_many(np.zeros(0, dtype=I64), node[:0], cost[:0], *ok)
    with pytest.raises(ValueError, match="target_offsets must have T \\+ 1 >= 1 entries; got 0"):
        graph.distances_many(*ok, np.zeros(0, dtype=I64), node[:0], cost[:0])
    with pytest.raises(ValueError, match="source_offsets must start at 0 and end at 1; got 0 ... 2"):
        graph.distances_many(np.array([0, 2]), node, cost, *ok)
    with pytest.raises(ValueError, match="target_offsets must start at 0 and end at 1; got 1 ... 1"):
        graph.distances_many(*ok, np.array([1, 1]), node, cost)
    with pytest.raises(ValueError, match="source_offsets must be strictly increasing .* got 1 then 1 at query 1"):
        graph.distances_many(np.array([0, 1, 1]), node, cost, *ok)
    with pytest.raises(ValueError, match="source_costs / target_costs must match source_nodes / target_nodes"):
        graph.distances_many(off, node, np.array([0.0, 1.0]), *ok)
    with pytest.raises(IndexError, match=f"source_nodes must hold node ids in \\[0, {n}\\); got {n} at index 0"):
        graph.distances_many(off, np.array([n]), cost, *ok)
    with pytest.raises(IndexError, match=f"target_nodes must hold node ids in \\[0, {n}\\); got -1 at index 0"):
        graph.distances_many(*ok, off, np.array([-1]), cost)
    for bad in (-1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="target_costs must be finite and >= 0; got .* at index 0"):
            graph.distances_many(*ok, off, node, np.array([bad]))
    with pytest.raises(ValueError, match="source_costs must be finite and >= 0"):
        graph.distances_many(off, node, np.array([-0.5]), *ok)
    with pytest.raises(ValueError, match="n_threads must be >= 0"):
        graph.distances_many(*ok, *ok, n_threads=-1)
    with pytest.raises(TypeError, match="source_nodes must have dtype int64; got int32"):
        graph.distances_many(off, node.astype(np.int32), cost, *ok)
    with pytest.raises(TypeError, match="target_costs must have dtype float64; got float32"):
        graph.distances_many(*ok, off, node, cost.astype(np.float32))
    with pytest.raises(ValueError, match="target_offsets must be 1-D \\(T \\+ 1,\\)"):
        graph.distances_many(*ok, off[None, :], node, cost)
    latents, ids = make_atlas(rng, [20], 2)
    bare = core.AtlasGraph(latents, ids, 3)
    with pytest.raises(ValueError, match="the graph has no weights yet: call set_weights before searching"):
        bare.distances_many(*ok, *ok)
