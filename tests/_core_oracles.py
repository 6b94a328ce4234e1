"""Reference implementations (numpy brute force, scipy) that the native-core tests compare against.

Not a test module: imported by tests/test_core_*.py. Everything here is deliberately simple and slow.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

#: Relative tolerance of a distance computed by the core in the points' dtype vs a float64 oracle.
DIST_RTOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}


def pairwise_distances(a: NDArray[np.floating], b: NDArray[np.floating]) -> NDArray[np.float64]:
    """Exact Euclidean distances in float64 by explicit differences (no dot-product cancellation).

    Args:
        a: (Q, d) float array.
        b: (N, d) float array.

    Returns:
        (Q, N) float64 distance matrix.
    """
    diff = a.astype(np.float64)[:, None, :] - b.astype(np.float64)[None, :, :]
    out: NDArray[np.float64] = np.sqrt(np.einsum("qnd,qnd->qn", diff, diff))
    return out


def assert_knn_matches_brute_force(
    ids: NDArray[np.int64],
    dists: NDArray[np.float64],
    queries: NDArray[np.floating],
    points: NDArray[np.floating],
    k: int,
    exclude_self: bool = False,
) -> None:
    """Tie-tolerant kNN check: every returned id has the returned distance, and the sorted distances equal the
    k smallest brute-force distances (order statistics do not depend on how ties are broken).

    Args:
        ids: (Q, k) int64 from the core.
        dists: (Q, k) float64 from the core.
        queries: (Q, d) query points (for ``exclude_self`` the queries are the points themselves).
        points: (N, d) indexed points.
        k: neighbours asked for.
        exclude_self: row i must not contain id i (query_self).
    """
    q = queries.shape[0]
    assert ids.shape == (q, k) and dists.shape == (q, k)
    assert ids.dtype == np.int64 and dists.dtype == np.float64
    assert ids.flags.c_contiguous and dists.flags.c_contiguous
    assert np.all((ids >= 0) & (ids < points.shape[0]))
    assert np.all(np.isfinite(dists)) and np.all(dists >= 0)
    assert np.all(np.diff(dists, axis=1) >= 0), "distances are not sorted increasingly"
    for row in ids:
        assert len(set(row.tolist())) == k, f"repeated id in a row: {row}"
    full = pairwise_distances(queries, points)
    if exclude_self:
        assert not np.any(ids == np.arange(q)[:, None]), "query_self returned the point itself"
        full[np.arange(q), np.arange(q)] = np.inf
    rtol = DIST_RTOL[np.dtype(points.dtype)]
    atol = 1e-30 + rtol * 1e-6 * float(np.abs(points).max(initial=0.0))
    true_of_returned = np.take_along_axis(full, ids, axis=1)
    np.testing.assert_allclose(dists, true_of_returned, rtol=rtol, atol=atol, err_msg="id/distance mismatch")
    expected = np.sort(full, axis=1)[:, :k]
    np.testing.assert_allclose(dists, expected, rtol=rtol, atol=atol, err_msg="not the k nearest")


def brute_knn_strict(points: NDArray[np.floating], k: int) -> NDArray[np.int64]:
    """The k nearest other points of every point in float64, asserting that there is no near-tie at rank k.

    Args:
        points: (N, d) with N > k.
        k: neighbours per point.

    Returns:
        (N, k) int64 neighbour ids (the set is unambiguous by construction of the test data).
    """
    full = pairwise_distances(points, points)
    np.fill_diagonal(full, np.inf)
    order = np.argsort(full, axis=1, kind="stable")
    srt = np.take_along_axis(full, order, axis=1)
    if k < points.shape[0] - 1:
        rel = 1e-5 if points.dtype == np.float32 else 1e-9  # far above the rounding of the core's distances
        gap = srt[:, k] - srt[:, k - 1]
        assert np.all(gap > rel * (1.0 + srt[:, k])), "test data has a near-tie at rank k: pick another seed"
    return order[:, :k]


def oracle_candidate_edges(
    latents: list[NDArray[np.floating]], point_ids: list[NDArray[np.int64]], k: int
) -> tuple[list[set[tuple[int, int]]], set[tuple[int, int]]]:
    """Candidate edges of Algorithm 1 by brute force and a python loop.

    Args:
        latents: one (N_c, d) array per chart.
        point_ids: one (N_c,) int64 array per chart.
        k: neighbours per node inside its chart.

    Returns:
        (intra, cross): intra[c] is the set of global (u, v), u < v, de-duplicated kNN edges of chart c; cross is
        the set of global (u, v), u < v, joining nodes of different charts with the same data point.
    """
    offsets = np.concatenate([[0], np.cumsum([len(z) for z in latents])])
    intra: list[set[tuple[int, int]]] = []
    for c, z in enumerate(latents):
        nn = brute_knn_strict(z, k)
        base = int(offsets[c])
        chart_edges = set()
        for i in range(z.shape[0]):
            for j in nn[i]:
                u, v = sorted((base + i, base + int(j)))
                chart_edges.add((u, v))
        intra.append(chart_edges)
    owners: dict[int, list[int]] = {}
    for c, pid in enumerate(point_ids):
        for i, p in enumerate(pid.tolist()):
            owners.setdefault(p, []).append(int(offsets[c]) + i)
    cross = set()
    for nodes in owners.values():
        for a in range(len(nodes)):
            for b in range(a + 1, len(nodes)):
                cross.add((min(nodes[a], nodes[b]), max(nodes[a], nodes[b])))
    return intra, cross


def symmetric_csr(n_nodes: int, edges: NDArray[np.int64], weights: NDArray[np.float64]) -> sp.csr_array:
    """The symmetric weighted adjacency of undirected edges as a scipy CSR array (explicit zeros are edges).

    Args:
        n_nodes: number of nodes.
        edges: (E, 2) int64, each undirected edge once.
        weights: (E,) float64.

    Returns:
        (n_nodes, n_nodes) csr_array.
    """
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    data = np.concatenate([weights, weights]).astype(np.float64)
    return sp.csr_array((data, (rows, cols)), shape=(n_nodes, n_nodes))


def edge_weight_map(edges: NDArray[np.int64], weights: NDArray[np.float64]) -> dict[tuple[int, int], float]:
    """{(min(u, v), max(u, v)): w} for the undirected edges."""
    return {(int(min(u, v)), int(max(u, v))): float(w) for (u, v), w in zip(edges.tolist(), weights.tolist())}


def path_cost(path: NDArray[np.int64], wmap: dict[tuple[int, int], float]) -> float:
    """Sum of the weights along a node path, asserting that every step is an existing edge.

    Args:
        path: (L,) int64 node ids, L >= 1.
        wmap: from :func:`edge_weight_map`.

    Returns:
        The cost, summed from the first node on (the order in which a search accumulates it).
    """
    assert path.dtype == np.int64 and path.ndim == 1 and path.size >= 1
    total = 0.0
    for u, v in zip(path[:-1].tolist(), path[1:].tolist()):
        key = (min(u, v), max(u, v))
        assert key in wmap, f"path step {u}->{v} is not an edge"
        total += wmap[key]
    return total


def canonical_labels(labels: NDArray[np.integer]) -> NDArray[np.int64]:
    """Relabel components 0, 1, ... in the order of their first node."""
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)
    remap = np.empty(len(first), dtype=np.int64)
    remap[order] = np.arange(len(first))
    return remap[np.searchsorted(np.unique(labels), labels)]


def make_atlas(
    rng: np.random.Generator,
    sizes: list[int],
    d: int,
    dtype: type = np.float64,
    shared: bool = True,
    clusters: int = 1,
) -> tuple[list[NDArray[np.floating]], list[NDArray[np.int64]]]:
    """Random chart latents and data-point ids for an AtlasGraph.

    Args:
        rng: generator.
        sizes: N_c per chart.
        d: latent dimension.
        dtype: float32 or float64.
        shared: if True the point ids of all charts are drawn from one pool (cross-chart edges appear); if False
            every chart has its own disjoint ids (no cross-chart edges: one component per chart at least).
        clusters: split every chart into this many far-apart Gaussian blobs (nodes i % clusters), so that with a
            small k the kNN edges do not join the blobs.

    Returns:
        (latents, point_ids): one (N_c, d) C-contiguous array and one (N_c,) int64 array per chart.
    """
    pool = 2 * max(sizes)
    latents: list[NDArray[np.floating]] = []
    point_ids: list[NDArray[np.int64]] = []
    for c, n in enumerate(sizes):
        offset = 0 if shared else c * pool
        point_ids.append((offset + rng.choice(pool, size=n, replace=False)).astype(np.int64))
        z = rng.normal(size=(n, d))
        z[:, 0] += 1000.0 * (np.arange(n) % clusters)
        latents.append(np.ascontiguousarray(z.astype(dtype)))
    return latents, point_ids
