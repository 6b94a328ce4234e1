"""agm.geodesic.distances: cdist-like geodesic distances, against shortest_paths, closed forms and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.geodesic.query.distances import augmented_csr
from agm.models.analytic import CircleAtlas, CylinderAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _cylinder(n: int = 500, seed: int = 1) -> tuple[CylinderAtlas, torch.Tensor, geodesic.GeodesicGraph]:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(seed)
    data = model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g) * 2)
    return model, data, geodesic.build_graph(model, data, k=10, n_steps=3, progress=False)


def test_distances_equal_shortest_paths_lengths() -> None:
    model, data, graph = _cylinder()
    g = torch.Generator().manual_seed(5)
    off = model.points(torch.rand(4, generator=g) * 6 - 3, torch.rand(4, generator=g))  # not data points
    X, Y = torch.cat([data[:8], off[:2]]), torch.cat([data[5:12], off[2:], data[:1]])  # shared and equal points
    D = geodesic.distances(model, X, Y, graph=graph)
    assert D.shape == (10, 10) and D.dtype == np.float64
    paths = geodesic.shortest_paths(model, X.repeat_interleave(len(Y), 0), Y.repeat(len(X), 1), graph=graph)
    L = np.array([p.shortest_length for p in paths if p is not None]).reshape(D.shape)
    # float32 encodings in different batches (~1e-7): the distance is the shortest route's length
    np.testing.assert_allclose(D, L, rtol=1e-5, atol=1e-6)
    # the route returned may be up to its switch tolerance (2e-2) longer to save chart switches, never shorter
    lengths = np.array([p.length for p in paths if p is not None]).reshape(D.shape)
    assert (lengths >= D * (1 - 1e-5) - 1e-6).all() and (lengths <= D * (1 + 2e-2 + 1e-5) + 1e-6).all()
    assert D[0, 10 - 1] == 0.0  # X[0] == Y[-1]: d(x, x) = 0 exactly


def test_self_distances_symmetric_with_zero_diagonal() -> None:
    model, data, graph = _cylinder()
    D = graph.distances(data[:15])
    np.testing.assert_array_equal(D, D.T)
    np.testing.assert_array_equal(np.diag(D), 0.0)
    assert bool((D[~np.eye(15, dtype=bool)] > 0).all())


def test_circle_distances_match_the_arc_to_graph_accuracy() -> None:
    model = CircleAtlas()
    n = 400
    g = torch.Generator().manual_seed(0)
    theta = (torch.arange(n) + torch.rand(n, generator=g)) / n * 2 * math.pi - math.pi
    data = model.points(theta)
    graph = geodesic.build_graph(model, data, k=6, n_steps=5, progress=False)
    idx = torch.arange(0, n, 37)
    D = geodesic.distances(model, data[idx], graph=graph)
    true = model.distance(theta[idx][:, None], theta[idx][None, :]).numpy()
    off = ~np.eye(len(idx), dtype=bool)
    rel = D[off] / true[off] - 1
    assert np.all(rel <= 1e-5) and np.all(rel > -0.02), rel  # chords of the arc: never longer than the arc


def test_unreachable_pairs_are_inf() -> None:
    model = CircleAtlas()
    theta = torch.cat([torch.linspace(-0.5, 0.5, 60), torch.linspace(2.6, 3.7, 60)])  # two arcs, far apart
    data = model.points(theta)
    graph = geodesic.build_graph(model, data, k=4, eps=0.01, n_steps=2, progress=False)
    assert graph.stats()["n_components"] >= 2
    D = geodesic.distances(model, data[[0, 30, 90]], graph=graph)
    assert np.isfinite(D[0, 1]) and D[0, 2] == np.inf and D[2, 0] == np.inf


def test_augmented_graph_keeps_zero_weights_and_queries_are_ends_only() -> None:
    model, data, graph = _cylinder(300)
    from agm.geodesic.query.distances import _attach_all
    from agm.geodesic.query.search import prepare_query

    g, dev, policy = prepare_query(model, graph.record, "dijkstra", None, None)
    src, dst = _attach_all(model, g, dev, policy, data[:3], data[3:5])
    adj = augmented_csr(g, src, dst)
    n = g.n_nodes
    assert adj.shape == (n + 5, n + 5)
    assert adj[:, n : n + 3].nnz == 0 and adj[n + 3 :, :].nnz == 0  # sources: out-edges only; sinks: in-edges only
    assert adj.nnz == 2 * g.n_edges + src.nodes.size + dst.nodes.size  # zero-weight entries kept


def test_bad_inputs_raise() -> None:
    model, data, graph = _cylinder(300)
    with pytest.raises(ValueError, match="X must have shape"):
        geodesic.distances(model, data[:2, :2], graph=graph)
    with pytest.raises(ValueError, match="n_threads must be an int >= 0"):
        geodesic.distances(model, data[:2], graph=graph, n_threads=-1)
    with pytest.raises(TypeError, match="graph must be a GeodesicGraph"):
        geodesic.distances(model, data[:2], graph="g")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Y must be finite"):
        geodesic.distances(model, data[:2], data[:2] * float("nan"), graph=graph)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_native_row_search_equals_scipy_on_the_augmented_graph(n_threads: int) -> None:
    """The native one-to-many search (what distances uses) against scipy's Dijkstra on the explicit augmented
    graph (what it used before). Same float64 weights and costs, same left-to-right sums along each route: equal up
    to the summation order of a route's terms, hence rtol 1e-12."""
    from scipy.sparse.csgraph import dijkstra

    from agm.geodesic.query.distances import _attach_all, _graph_distances
    from agm.geodesic.query.search import prepare_query

    model, data, graph = _cylinder(300)
    g, dev, policy = prepare_query(model, graph.record, "dijkstra", None, None)
    src, dst = _attach_all(model, g, dev, policy, data[:7], data[100:111])
    native = _graph_distances(g, src, dst, n_threads)
    n = g.n_nodes
    oracle = dijkstra(augmented_csr(g, src, dst), directed=True, indices=np.arange(n, n + 7))[:, n + 7 :]
    assert native.shape == (7, 11) and native.dtype == np.float64
    np.testing.assert_allclose(native, oracle, rtol=1e-12, atol=0.0)


def _clustered(model: CylinderAtlas, n_clusters: int, size: int, seed: int) -> torch.Tensor:
    """Query points in tight clusters (off the data): the pairs inside a cluster have direct edges."""
    g = torch.Generator().manual_seed(seed)
    angle = (torch.rand(n_clusters, generator=g) * 6 - 3).repeat_interleave(size)
    height = (0.2 + 1.6 * torch.rand(n_clusters, generator=g)).repeat_interleave(size)
    spread = 0.02 * torch.randn(2, n_clusters * size, generator=g)
    return model.points(angle + spread[0], height + spread[1])


def test_close_pairs_take_the_shorter_of_the_direct_edge_and_the_graph_route() -> None:
    model, data, graph = _cylinder()
    X = _clustered(model, 3, 4, 11)
    D = graph.distances(X)
    pairs = [(i, j) for i in range(len(X)) for j in range(len(X)) if i != j]
    a = torch.stack([X[i] for i, _ in pairs])
    b = torch.stack([X[j] for _, j in pairs])
    L = [p.shortest_length for p in geodesic.shortest_paths(model, a, b, graph=graph)]
    for (i, j), length in zip(pairs, L, strict=True):
        assert D[i, j] == pytest.approx(length, rel=1e-5, abs=1e-6)
    np.testing.assert_array_equal(D, D.T)


class _CountingDecoder:
    """Counts the points the wrapped model decodes."""

    def __init__(self, model: CylinderAtlas) -> None:
        self.model, self.count = model, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.model, name)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.count += int(z.shape[0])
        return self.model.decode(z, y)


def test_direct_edges_are_decoded_only_where_their_route_can_beat_the_graph_route() -> None:
    from agm.geodesic.query import distances as distances_module
    from agm.geodesic.query.direct import direct_edges

    model, data, graph = _cylinder()
    record, dev = graph.record, torch.device("cpu")
    X = _clustered(model, 2, 4, 12)
    att, inv = distances_module._attach_unique(model, record, dev, record.decode_policy, X, None)
    src = att.select(inv)
    counting = _CountingDecoder(model)
    rows, cols = distances_module._candidate_pairs(src, src)
    upper = rows < cols
    edges = direct_edges(record, src.select(rows[upper]), src.select(cols[upper]))
    n_edges = int((~edges.evaluated).sum())
    assert n_edges >= 6  # two clusters of 4: the direct edges of the 12 pairs inside them

    def apply(out: np.ndarray, symmetric: bool) -> int:
        counting.count = 0
        distances_module._apply_direct(counting, record, dev, record.decode_policy, src, src, out, symmetric)
        return counting.count

    # no graph route: every direct edge of the pairs i < j goes up its bound levels (none at n_steps 3, where a bound
    # saves nothing) and to its weight, each step decoded once
    free = np.full((8, 8), np.inf)
    every = apply(free, True)
    assert every == n_edges * (record.n_steps - 1)
    assert np.isfinite(free[rows[upper], cols[upper]]).all() and np.isinf(free[np.tril_indices(8)]).all()
    both = np.full((8, 8), np.inf)
    apply(both, False)  # both directions: the same lengths up to float32 rounding of the reversed segment
    np.testing.assert_allclose(both[rows[upper], cols[upper]], free[rows[upper], cols[upper]], rtol=1e-5, atol=1e-7)
    # graph routes shorter than every chord: nothing decoded, nothing changed
    short = np.full((8, 8), 1e-9)
    assert apply(short, True) == 0 and (short == 1e-9).all()
    # graph routes as long as the exact direct routes: none can be beaten (a route whose midpoint bound reaches
    # its exact length is not decoded in full), the matrix is unchanged
    tie = free.copy()
    assert apply(tie, True) <= every
    np.testing.assert_allclose(tie, free, rtol=1e-6, atol=0)  # up to float32 rounding of decodes in other batches
