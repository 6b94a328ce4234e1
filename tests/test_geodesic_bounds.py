"""Midpoint lower bounds of unevaluated edges (agm.geodesic.graph.bounds) and how lazy distances use them."""

from __future__ import annotations

import numpy as np
import torch

from agm import geodesic
from agm.geodesic.graph.bounds import midpoint_lengths
from agm.geodesic.graph.completion import node_table
from agm.geodesic.graph.curves import packed_lengths
from agm.geodesic.graph.edge_kinds import DecodeContext, GraphEdgeKind, bound
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.query.lazysp import LazyStats
from agm.models.analytic import CylinderAtlas

POLICY = DecodePolicy(threads=None, batch_size=37)


class Bumpy(CylinderAtlas):
    """The cylinder with its height bumped: decoded curves bend away from their chords."""

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        theta = z[:, 0] / self.radius + self.offsets[y]
        return self.points(theta, z[:, 1] + 0.25 * torch.sin(3 * theta) * torch.cos(3 * z[:, 1]))


def _data(model: CylinderAtlas, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return model.points(torch.rand(n, generator=g) * 6.28 - 3.14, torch.rand(n, generator=g))


def test_midpoint_bound_lies_between_the_chord_and_the_weight_and_is_often_tighter() -> None:
    model = Bumpy()
    graph = geodesic.build_graph(
        model, _data(model, 400, 0), k=8, n_steps=6, progress=False, decode_policy=POLICY, node_decodes="build"
    )
    rec = graph.record
    table = node_table(rec, torch.device("cpu"))
    ends = torch.from_numpy(rec.edge_weights.edges[: rec.native.n_intra_edges])
    chord = rec.edge_weights.values[: rec.native.n_intra_edges]
    with torch.no_grad():
        bound = midpoint_lengths(model.decode, table, ends, 6, 37).numpy()
        exact = packed_lengths(model.decode, table, ends, 6, 53).numpy()
    assert np.all(bound >= chord * (1 - 2e-6)) and np.all(bound <= exact)
    assert np.mean(bound > chord * (1 + 1e-4)) > 0.3  # tighter where the curve bends
    gap_closed = (bound - chord) / np.maximum(exact - chord, 1e-12)
    assert np.median(gap_closed[exact > chord * 1.01]) > 0.5
    # n_steps = 1: the weight is the chord; nothing to decode
    with torch.no_grad():
        np.testing.assert_allclose(midpoint_lengths(model.decode, table, ends, 1, 37).numpy(), chord, rtol=1e-6)


def test_raise_bounds_only_raises_unevaluated_edges_and_leaves_the_version() -> None:
    model = Bumpy()
    graph = geodesic.build_graph(
        model, _data(model, 200, 1), k=6, n_steps=4, progress=False, decode_policy=POLICY, node_decodes="build"
    )
    w = graph.record.edge_weights
    w.store(np.array([0, 1]), w.values[[0, 1]] * 1.5)
    assert w.intra_pending == int((~w.evaluated[: w.native.n_intra_edges]).sum()) == w.native.n_intra_edges - 2
    version, before = w.version, w.values.copy()
    ids = np.array([0, 2, 3, 4])
    w.raise_bounds(ids, np.array([9.0, 9.0, 0.0, before[4] * 2]))
    assert w.version == version and not w.evaluated[[2, 3, 4]].any()
    assert w.values[0] == before[0] and w.values[3] == before[3]  # evaluated: kept; lower: kept
    assert w.values[2] == 9.0 and w.values[4] == before[4] * 2
    np.testing.assert_array_equal(w.native.weights, w.values)  # handed to the native graph
    assert w.bounded[[2, 3, 4]].all() and not w.bounded[0]
    with torch.no_grad():  # bound() skips what is bounded or evaluated
        kind = GraphEdgeKind(node_table(graph.record, torch.device("cpu")), w.native, w)
        context = DecodeContext(model, torch.device("cpu"), POLICY, 4)
        assert bound(kind, np.array([0, 1, 2, 3, 4]), context) == 0
        assert bound(kind, np.array([5, 6, 6]), context) == 2


def test_lazy_distances_with_midpoint_bounds_equal_eager_and_decode_fewer_full_edges() -> None:
    model = Bumpy()
    data = _data(model, 600, 2)
    kw = {"k": 10, "n_steps": 8, "progress": False, "decode_policy": POLICY}
    eager = geodesic.build_graph(model, data, weights="eager", **kw)  # type: ignore[arg-type]
    lazy = geodesic.build_graph(model, data, weights="lazy", **kw)  # type: ignore[arg-type]
    X = _data(model, 30, 3)
    stats = LazyStats()
    D = geodesic.distances(model, X, graph=lazy, lazy_stats=stats)
    np.testing.assert_allclose(D, geodesic.distances(model, X, graph=eager), rtol=2e-6, atol=1e-7)
    assert stats.bounded_edges > 0
    # some routes were refuted by their bound alone: bounded edges that were never decoded in full
    refuted = lazy.edge_weights.bounded & ~lazy.edge_weights.evaluated
    assert refuted.sum() > 0
    assert np.all(lazy.native.weights <= eager.native.weights * (1 + 1e-6))


def test_shortest_paths_with_midpoint_bounds_equal_eager_and_refute_routes_by_bounds() -> None:
    model = Bumpy()
    data = _data(model, 600, 4)
    kw = {"k": 10, "n_steps": 8, "progress": False, "decode_policy": POLICY}
    eager = geodesic.build_graph(model, data, weights="eager", **kw)  # type: ignore[arg-type]
    lazy = geodesic.build_graph(model, data, weights="lazy", **kw)  # type: ignore[arg-type]
    X0, X1 = _data(model, 25, 5), _data(model, 25, 6)
    stats = LazyStats()
    got = [p.length for p in lazy.shortest_paths(X0, X1, lazy_stats=stats)]
    want = [p.length for p in eager.shortest_paths(X0, X1)]
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
    assert stats.bounded_edges > 0
    refuted = lazy.edge_weights.bounded & ~lazy.edge_weights.evaluated
    assert refuted.sum() > 0  # routes given up on their bounds alone, without n_steps - 1 decodings
    assert np.all(lazy.native.weights <= eager.native.weights * (1 + 1e-6))


def test_shortest_paths_bound_nothing_with_two_interior_points_or_fewer() -> None:
    model = Bumpy()
    lazy = geodesic.build_graph(model, _data(model, 300, 7), k=8, n_steps=3, progress=False, decode_policy=POLICY)
    stats = LazyStats()
    lazy.shortest_paths(_data(model, 10, 8), _data(model, 10, 9), lazy_stats=stats)
    assert stats.bounded_edges == 0 and not lazy.edge_weights.bounded.any()
