"""Graphs whose nodes are decoded on demand (``build_graph(node_decodes="on_demand")``): the same geodesics,
distances, exports and files as a graph whose build decodes every node, from fewer decodings."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agm import geodesic
from agm.geodesic._support.checks import DECODE_SHAPE_PROBES
from agm.geodesic.graph import node_decode_choice
from agm.geodesic.graph.file import save_graph
from agm.geodesic.graph.fingerprint import PROBES_PER_CHART
from agm.geodesic.graph.node_decode_choice import GAP_SAMPLE, gap_sample
from agm.geodesic.graph.node_positions import ensure_positions
from agm.geodesic.graph.pending_nodes import BLOCKED, PendingNodes
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.query.lazysp import _decodable_edges
from agm.models.analytic import CylinderAtlas, SphereAtlas

POLICY = DecodePolicy(threads=1, batch_size=64)
KW = {"k": 10, "eps": 0.05, "n_steps": 5, "progress": False, "decode_policy": POLICY}
RTOL, ATOL = 2e-6, 1e-7


class Counted(CylinderAtlas):
    """The cylinder, counting the points it decodes."""

    def __init__(self) -> None:
        super().__init__(radius=0.7, ambient_shape=(6,))
        self.decoded = 0

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.decoded += int(z.shape[0])
        return super().decode(z, y)


def _cylinder_points(model: CylinderAtlas, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g) * 2)


def _sphere_points(model: SphereAtlas, n: int, seed: int) -> torch.Tensor:
    unit = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed))
    return model.points(unit / unit.norm(dim=1, keepdim=True))


@pytest.fixture(scope="module")
def cylinder() -> tuple[Counted, torch.Tensor]:
    model = Counted()
    return model, _cylinder_points(model, 1200, 0)


def test_one_geodesic_equals_the_built_graphs_and_decodes_a_fraction_of_the_nodes(
    cylinder: tuple[Counted, torch.Tensor],
) -> None:
    model, data = cylinder
    x0, x1 = model.points(torch.tensor([0.0, 1.2]), torch.tensor([0.4, 1.3]))  # a quarter of the way round
    model.decoded = 0
    built = geodesic.build_graph(model, data, **KW)  # type: ignore[arg-type]
    want = built.shortest_path(x0, x1)
    built_decodes, model.decoded = model.decoded, 0
    lazy = geodesic.build_graph(model, data, node_decodes="on_demand", **KW)  # type: ignore[arg-type]
    pending = lazy.record.pending_nodes
    assert pending is not None and int(pending.decoded.sum()) <= 32  # the far-query scale's sample only
    got = lazy.shortest_path(x0, x1)
    assert got.length == pytest.approx(want.length, rel=RTOL, abs=ATOL)
    # the same route up to float32 ties (the two graphs decode their nodes in other batches)
    assert len(got.chart_changes) == len(want.chart_changes)
    assert int(pending.decoded.sum()) < 0.4 * lazy.n_nodes
    assert model.decoded < built_decodes - 0.5 * lazy.n_nodes  # the same edges, fewer nodes


def test_many_pairs_and_distances_equal_the_built_graphs(cylinder: tuple[Counted, torch.Tensor]) -> None:
    model, data = cylinder
    built = geodesic.build_graph(model, data, **KW)  # type: ignore[arg-type]
    lazy = geodesic.build_graph(model, data, node_decodes="on_demand", **KW)  # type: ignore[arg-type]
    X0, X1 = _cylinder_points(model, 12, 2), _cylinder_points(model, 12, 3)
    got = [p.length for p in lazy.shortest_paths(X0, X1)]
    want = [p.length for p in built.shortest_paths(X0, X1)]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    D = lazy.distances(X0[:6], X1[:5])  # decodes the remaining nodes first
    assert lazy.record.pending_nodes is None and lazy.record.native.has_positions
    np.testing.assert_allclose(D, built.distances(X0[:6], X1[:5]), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(lazy.positions, built.positions, rtol=1e-6, atol=1e-6)
    # once complete it is a lazy graph like any other: A* queries, equal answers
    np.testing.assert_allclose([p.length for p in lazy.shortest_paths(X0, X1)], want, rtol=RTOL, atol=ATOL)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), tolerance=st.sampled_from([0.0, 2e-2, 0.2]))
def test_routes_equal_the_built_graphs_on_the_sphere(seed: int, tolerance: float) -> None:
    model = SphereAtlas(ambient_shape=(5,))
    data = _sphere_points(model, 500, seed)
    built = geodesic.build_graph(model, data, **KW)  # type: ignore[arg-type]
    lazy = geodesic.build_graph(model, data, node_decodes="on_demand", **KW)  # type: ignore[arg-type]
    X0, X1 = _sphere_points(model, 4, seed + 1), _sphere_points(model, 4, seed + 2)
    got = lazy.shortest_paths(X0, X1, switch_tolerance=tolerance)
    want = built.shortest_paths(X0, X1, switch_tolerance=tolerance)
    for a, b in zip(got, want):
        assert a is not None and b is not None
        assert a.length == pytest.approx(b.length, rel=RTOL, abs=ATOL)
        assert len(a.chart_changes) == len(b.chart_changes)


def test_concurrent_queries_on_one_graph_equal_serial_ones(cylinder: tuple[Counted, torch.Tensor]) -> None:
    model, data = cylinder
    built = geodesic.build_graph(model, data, **KW)  # type: ignore[arg-type]
    lazy = geodesic.build_graph(model, data, node_decodes="on_demand", **KW)  # type: ignore[arg-type]
    X0, X1 = _cylinder_points(model, 24, 4), _cylinder_points(model, 24, 5)
    want = np.array([p.length for p in built.shortest_paths(X0, X1)])

    def job(t: int) -> list[float]:
        return [p.length for p in lazy.shortest_paths(X0[t * 6 : (t + 1) * 6], X1[t * 6 : (t + 1) * 6])]

    with ThreadPoolExecutor(4) as pool:
        got = np.concatenate(list(pool.map(job, range(4))))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_a_round_decodes_only_unblocked_intra_chart_edges_of_a_route(cylinder: tuple[Counted, torch.Tensor]) -> None:
    """What a LazySP round on an on-demand graph may decode of a route's pending edges: an intra-chart edge whose
    ends are decoded (a chord bound), not one still blocked, and never a cross-chart edge, even once another
    thread's decodings made it exact after the search judged it pending (it reached the bound levels' per-edge
    arrays, sized by the intra-chart edges: an IndexError under concurrent queries)."""
    model, data = cylinder
    record = geodesic.build_graph(model, data, node_decodes="on_demand", **KW).record  # type: ignore[arg-type]
    edges, intra = record.edge_weights.edges, int(record.native.n_intra_edges)
    assert record.pending_nodes is not None and edges.shape[0] > intra  # cross-chart edges exist
    cross = intra
    unblocked = next(i for i in range(intra) if not set(edges[i]) & set(edges[cross]))
    ensure_positions(
        record, model, np.unique(np.concatenate([edges[cross], edges[unblocked]])), torch.device("cpu"), POLICY
    )
    decoded = record.pending_nodes.decoded
    blocked = next(i for i in range(intra) if not decoded[edges[i]].all())
    assert record.edge_weights.evaluated[cross] and record.edge_weights.values[cross] < BLOCKED  # exact now
    assert not record.edge_weights.evaluated[unblocked] and record.edge_weights.values[unblocked] < BLOCKED
    assert record.edge_weights.values[blocked] >= BLOCKED
    ids = np.array([cross, unblocked, blocked])
    assert _decodable_edges(record, ids).tolist() == [False, True, False]


def test_exports_and_files_decode_the_rest_first(cylinder: tuple[Counted, torch.Tensor], tmp_path: Path) -> None:
    model, data = cylinder
    built = geodesic.build_graph(model, data, **KW)  # type: ignore[arg-type]
    lazy = geodesic.build_graph(model, data, node_decodes="on_demand", **KW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not decoded yet"):
        save_graph(lazy.record, tmp_path / "early.agmg")
    bounds = lazy.to_scipy(weights="bounds")
    assert lazy.record.pending_nodes is None
    assert float(bounds.data.max()) < BLOCKED
    np.testing.assert_allclose(bounds.toarray(), built.to_scipy(weights="bounds").toarray(), rtol=1e-6, atol=1e-7)
    lazy.save(tmp_path / "g.agmg")
    loaded = geodesic.load_graph(tmp_path / "g.agmg", model)
    x0, x1 = _cylinder_points(model, 2, 6)
    assert loaded.shortest_path(x0, x1).length == pytest.approx(built.shortest_path(x0, x1).length, rel=RTOL)


def test_save_decodes_the_rest_first(cylinder: tuple[Counted, torch.Tensor], tmp_path: Path) -> None:
    model, data = cylinder
    lazy = geodesic.build_graph(model, data, node_decodes="on_demand", **KW)  # type: ignore[arg-type]
    lazy.save(tmp_path / "g.agmg")
    assert lazy.record.pending_nodes is None
    loaded = geodesic.load_graph(tmp_path / "g.agmg", model)
    np.testing.assert_array_equal(loaded.positions, lazy.positions)


def test_on_demand_refuses_what_it_cannot_do(cylinder: tuple[Counted, torch.Tensor]) -> None:
    model, data = cylinder
    with pytest.raises(ValueError, match="node_decodes must be one of"):
        geodesic.build_graph(model, data, node_decodes="later", **KW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs weights='lazy'"):
        geodesic.build_graph(model, data, node_decodes="on_demand", weights="eager", **KW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs encoder nodes"):
        geodesic.build_graph(model, data, node_decodes="on_demand", nodes="decoder", **KW)  # type: ignore[arg-type]


def test_pending_nodes_incidence_equals_brute_force(cylinder: tuple[Counted, torch.Tensor]) -> None:
    model, data = cylinder
    graph = geodesic.build_graph(model, data[:300], **KW)  # type: ignore[arg-type]
    native = graph.record.native
    pending = PendingNodes(native)
    rng = np.random.default_rng(0)
    pending.decoded[rng.random(native.n_nodes) < 0.5] = True
    edges = native.edges
    for v in rng.choice(native.n_nodes, 20, replace=False):
        mine = np.flatnonzero((edges[:, 0] == v) | (edges[:, 1] == v))
        np.testing.assert_array_equal(pending.incident(np.array([v])), mine)
        other = np.where(edges[mine, 0] == v, edges[mine, 1], edges[mine, 0])
        np.testing.assert_array_equal(
            pending.undecoded_neighbours(np.array([v])), np.unique(other[~pending.decoded[other]])
        )
        assert pending.has_undecoded_neighbour(np.array([v]))[0] == bool((~pending.decoded[other]).any())


def test_past_half_of_the_nodes_the_rest_are_decoded_at_once(cylinder: tuple[Counted, torch.Tensor]) -> None:
    model, data = cylinder
    lazy = geodesic.build_graph(model, data, node_decodes="on_demand", **KW)  # type: ignore[arg-type]
    record = lazy.record
    n = record.n_nodes
    assert ensure_positions(record, model, np.arange(n // 10), torch.device("cpu"), POLICY) > 0
    assert record.pending_nodes is not None and not record.native.has_positions
    ensure_positions(record, model, np.arange(int(0.6 * n)), torch.device("cpu"), POLICY)
    assert record.pending_nodes is None and record.native.has_positions  # all decoded, A* usable
    built = geodesic.build_graph(model, data, **KW)  # type: ignore[arg-type]
    np.testing.assert_allclose(record.positions, built.positions, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(record.edge_weights.values, built.edge_weights.values, rtol=1e-6, atol=1e-7)


def test_auto_builds_a_cheap_decoders_nodes_after_a_timed_sample(cylinder: tuple[Counted, torch.Tensor]) -> None:
    model, data = cylinder
    model.decoded = 0
    graph = geodesic.build_graph(model, data, node_decodes="auto", **KW)  # type: ignore[arg-type]
    assert graph.record.pending_nodes is None and graph.record.native.has_positions
    assert 0.0 < graph.timings["seconds_per_node"] < 1e-3  # microseconds a node: far below the rule's threshold
    fixed = model.n_charts * PROBES_PER_CHART + DECODE_SHAPE_PROBES
    assert model.decoded == graph.n_nodes + fixed + GAP_SAMPLE  # the sample is the only extra cost
    model.decoded = 0
    eager = geodesic.build_graph(model, data, weights="eager", **KW)  # type: ignore[arg-type]
    assert "seconds_per_node" not in eager.timings  # on demand is impossible: no sample
    assert model.decoded == eager.n_nodes + fixed + eager.native.n_intra_edges * (KW["n_steps"] - 1)  # type: ignore[operator]


def test_auto_decodes_an_expensive_decoders_nodes_on_demand(
    cylinder: tuple[Counted, torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, data = cylinder
    monkeypatch.setattr(node_decode_choice, "MIN_NODE_S", 0.0)
    monkeypatch.setattr(node_decode_choice, "SEARCH_S_PER_EDGE", 0.0)  # any decoder is expensive beside free searches
    built = geodesic.build_graph(model, data, node_decodes="build", **KW)  # type: ignore[arg-type]
    model.decoded = 0
    auto = geodesic.build_graph(model, data, node_decodes="auto", **KW)  # type: ignore[arg-type]
    pending = auto.record.pending_nodes
    assert pending is not None
    sample = gap_sample(auto.n_nodes)
    assert np.array_equal(np.flatnonzero(pending.decoded), sample)  # the timed sample, adopted: not decoded twice
    assert model.decoded == model.n_charts * PROBES_PER_CHART + DECODE_SHAPE_PROBES + sample.size
    np.testing.assert_allclose(auto.record.positions[sample], built.positions[sample], rtol=1e-6, atol=1e-6)
    X0, X1 = _cylinder_points(model, 6, 7), _cylinder_points(model, 6, 8)
    np.testing.assert_allclose(
        [p.length for p in auto.shortest_paths(X0, X1)],
        [p.length for p in built.shortest_paths(X0, X1)],
        rtol=RTOL,
        atol=ATOL,
    )


@pytest.mark.parametrize(
    ("n_nodes", "k", "seconds_per_node", "on_demand"),
    [
        (2_400, 20, 3.3e-3, True),  # the paper decoder (h = 48): 0.45x the CPU time on demand
        (3_233, 20, 3e-4, True),  # a trained h = 13 model: 0.61x
        (30_413, 20, 5e-6, False),  # the closed-form cylinder: 3.3x on demand
        (8_000, 20, 7.2e-5, False),  # an MLP (7 -> 256 -> 256 -> 784): below 4x the searches
        (100, 20, 3.3e-3, False),  # 0.33 s of nodes: below MIN_NODE_S
    ],
)
def test_the_rule_on_measured_decoders(n_nodes: int, k: int, seconds_per_node: float, on_demand: bool) -> None:
    assert node_decode_choice.prefer_on_demand(n_nodes, k, seconds_per_node) is on_demand


def test_auto_samples_nothing_on_a_small_graph() -> None:
    model = Counted()
    data = _cylinder_points(model, 40, 5)
    graph = geodesic.build_graph(model, data, node_decodes="auto", **KW)  # type: ignore[arg-type]
    assert graph.n_nodes < node_decode_choice.MIN_NODES and "seconds_per_node" not in graph.timings
