"""Lower bounds of unevaluated edges in levels (agm.geodesic.graph.bounds) and how lazy queries use them: each
level's polyline lies between the chord and the weight, a level decodes only the steps the one below did not, the
full weight from kept decodings equals eq. 10 decoded at once, a query's budget of kept bytes only changes how many
decodings are repeated, and lazy distances and paths with bounds equal the eager graph's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.geodesic.graph import bounds, curves
from agm.geodesic.graph.bounds import KeptBytes, KeptPoints, bound_lengths, level_steps, polylines, top_level
from agm.geodesic.graph.completion import node_table
from agm.geodesic.graph.curves import packed_lengths
from agm.geodesic.graph.edge_kinds import DecodeContext, GraphEdgeKind, evaluate_kept, raise_level
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.query.bound_levels import BoundLevels
from agm.geodesic.query.lazysp import LazyStats
from agm.models.analytic import CylinderAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

POLICY = DecodePolicy(threads=None, batch_size=37)  # an odd batch: calls cross edge boundaries
N_STEPS = 15
RTOL = 2e-6  # float32 decodings in other batches


class Bumpy(CylinderAtlas):
    """The cylinder with its height bumped (decoded curves bend away from their chords); counts decoded points."""

    def __init__(self) -> None:
        super().__init__()
        self.decoded = 0

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.decoded += int(z.shape[0])
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
        middle = bound_lengths(polylines(model.decode, table, ends, 6, level_steps(6, 1), None, 37)[0]).numpy()
        exact = packed_lengths(model.decode, table, ends, 6, 53).numpy()
    assert np.all(middle >= chord * (1 - 2e-6)) and np.all(middle <= exact)
    assert np.mean(middle > chord * (1 + 1e-4)) > 0.3  # tighter where the curve bends
    gap_closed = (middle - chord) / np.maximum(exact - chord, 1e-12)
    assert np.median(gap_closed[exact > chord * 1.01]) > 0.5
    # n_steps = 1: the weight is the chord; nothing to decode
    model.decoded = 0
    with torch.no_grad():
        one = polylines(model.decode, table, ends, 1, level_steps(1, 1), None, 37)[0].numpy()
    np.testing.assert_allclose(one, chord, rtol=1e-6)
    assert model.decoded == 0


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
    with torch.no_grad():  # raise_level skips what is evaluated, and raises a bound only where higher
        kind = GraphEdgeKind(node_table(graph.record, torch.device("cpu")), w.native, w)
        context = DecodeContext(model, torch.device("cpu"), POLICY, 4)
        kept = KeptPoints(w.native.n_intra_edges, KeptBytes())
        model.decoded = 0
        assert raise_level(kind, np.array([0, 1, 2, 3, 4, 5, 6, 6]), 1, context, kept) == 5
        assert model.decoded == 5 and w.values[2] == 9.0 and w.values[0] == before[0]
        raised = w.values[[3, 5, 6]] - before[[3, 5, 6]]  # a bound only where above the chord
        assert (raised >= 0).all() and (raised > 0).any() and not w.evaluated[[2, 3, 4, 5, 6]].any()


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


def _graph(model: Bumpy, n: int, seed: int, n_steps: int = N_STEPS) -> geodesic.GeodesicGraph:
    g = torch.Generator().manual_seed(seed)
    data = model.points(torch.rand(n, generator=g) * 6.28 - 3.14, torch.rand(n, generator=g))
    return geodesic.build_graph(
        model, data, k=6, n_steps=n_steps, progress=False, decode_policy=POLICY, node_decodes="build"
    )


def test_levels_decode_the_middle_then_the_middles_of_the_halves() -> None:
    assert level_steps(15, 1) == (7,) and level_steps(15, 2) == (3, 7, 11)
    assert level_steps(7, 2) == (1, 3, 5) and level_steps(4, 1) == (2,)
    assert [top_level(n) for n in range(1, 10)] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    for n in range(7, 40):  # the second level's steps: interior, distinct, the first level's among them
        steps = level_steps(n, 2)
        assert 0 < steps[0] < steps[1] < steps[2] < n and level_steps(n, 1)[0] == steps[1]
    with pytest.raises(ValueError, match="level must be 1 or 2"):
        level_steps(15, 3)


def test_polylines_bound_from_below_and_the_full_one_is_eq_10_with_or_without_kept_points() -> None:
    model = Bumpy()
    rec = _graph(model, 300, 0).record
    table = node_table(rec, torch.device("cpu"))
    n = int(rec.native.n_intra_edges)
    ends = torch.from_numpy(rec.edge_weights.edges[:n])
    chord = rec.edge_weights.values[:n]
    every = tuple(range(1, N_STEPS))
    with torch.no_grad():
        exact = packed_lengths(model.decode, table, ends, N_STEPS, 53).numpy()
        one, p1 = polylines(model.decode, table, ends, N_STEPS, level_steps(N_STEPS, 1), None, 29, keep=n)
        model.decoded = 0
        two, p2 = polylines(model.decode, table, ends, N_STEPS, level_steps(N_STEPS, 2), ((7,), p1), 29, keep=n)
        assert model.decoded == 2 * n  # the middle step is not decoded again
        model.decoded = 0
        full, none = polylines(model.decode, table, ends, N_STEPS, every, ((3, 7, 11), p2), 31)
        assert model.decoded == (N_STEPS - 4) * n and none.shape[0] == 0
        fresh, _ = polylines(model.decode, table, ends, N_STEPS, every, None, 64)
    one, two = one.numpy(), two.numpy()
    assert np.all(chord <= one * (1 + RTOL)) and np.all(one <= two * (1 + RTOL)) and np.all(two <= exact * (1 + RTOL))
    assert np.mean(two > one * (1 + 1e-4)) > 0.2  # the second level is tighter where curves bend
    np.testing.assert_allclose(full.numpy(), exact, rtol=RTOL)
    np.testing.assert_allclose(fresh.numpy(), exact, rtol=RTOL)
    np.testing.assert_allclose(p2[:, 1].numpy(), p1[:, 0].numpy(), rtol=0, atol=0)  # kept, not decoded again


# decoded points for e edges raised twice then evaluated: all kept (each step once), nothing kept (1 + 3 + 14 per
# edge), 360 bytes (a cylinder decoding is 3 float32: the middles of 30 edges, then the three steps of 10 of them)
EXPECTED = {
    None: lambda e: e * (N_STEPS - 1),
    0: lambda e: e * (1 + 3 + N_STEPS - 1),
    360: lambda e: e + (30 * 2 + (e - 30) * 3) + (10 * (N_STEPS - 4) + (e - 10) * (N_STEPS - 1)),
}


@pytest.mark.parametrize("budget", list(EXPECTED))
def test_raise_level_then_evaluate_kept_decode_each_step_once_within_the_budget(budget: int | None) -> None:
    model = Bumpy()
    graph = _graph(model, 300, 1)
    rec = graph.record
    kind = GraphEdgeKind(node_table(rec, torch.device("cpu")), rec.native, rec.edge_weights)
    context = DecodeContext(model, torch.device("cpu"), POLICY, N_STEPS)
    ids = np.arange(0, int(rec.native.n_intra_edges), 3)
    e = ids.size
    with torch.no_grad():
        want = packed_lengths(model.decode, kind.table, torch.from_numpy(rec.edge_weights.edges[ids]), N_STEPS, 64)
    shared = KeptBytes(budget)
    start = shared.left
    kept = KeptPoints(int(rec.native.n_intra_edges), shared)
    model.decoded = 0
    with torch.no_grad():
        assert raise_level(kind, ids, 1, context, kept) == e
        first = rec.edge_weights.values[ids].copy()
        assert raise_level(kind, ids, 2, context, kept) == e
        second = rec.edge_weights.values[ids].copy()
        assert not rec.edge_weights.evaluated[ids].any() and np.all(kept.level[ids] == 2)
        assert evaluate_kept(kind, ids, context, kept) == e
    assert e > 30 and model.decoded == EXPECTED[budget](e)
    assert shared.left == start  # every kept decoding was taken back
    assert rec.edge_weights.evaluated[ids].all()
    np.testing.assert_allclose(rec.edge_weights.values[ids], want.numpy(), rtol=RTOL)
    assert np.all(first <= second * (1 + RTOL)) and np.all(second <= want.numpy() * (1 + RTOL))


def _random_points(model: Bumpy, n: int, g: torch.Generator) -> torch.Tensor:
    return model.points(torch.rand(n, generator=g) * 6.28 - 3.14, torch.rand(n, generator=g))


def _query_both(
    query: str,
    model: Bumpy,
    lazy: geodesic.GeodesicGraph,
    eager: geodesic.GeodesicGraph,
    x0: torch.Tensor,
    x1: torch.Tensor,
) -> LazyStats:
    """``distances`` of x0 or ``shortest_paths`` x0 -> x1 on both graphs: equal; what the lazy call decoded."""
    stats = LazyStats()
    if query == "distances":
        got = geodesic.distances(model, x0, graph=lazy, lazy_stats=stats)
        want = geodesic.distances(model, x0, graph=eager)
    else:
        got = np.array([p.length for p in lazy.shortest_paths(x0, x1, lazy_stats=stats)])
        want = np.array([p.length for p in eager.shortest_paths(x0, x1)])
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-7)
    return stats


@pytest.mark.parametrize("kept_bytes", [bounds.KEPT_BYTES, 0])
@pytest.mark.parametrize("query", ["distances", "shortest_paths"])
def test_lazy_queries_with_bound_levels_equal_the_eager_graph(
    query: str, kept_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bounds, "KEPT_BYTES", kept_bytes)
    model = Bumpy()
    lazy, eager = _graph(model, 400, 2), _graph(model, 400, 2)
    eager.evaluate_all(progress=False)
    g = torch.Generator().manual_seed(3)
    x0, x1 = _random_points(model, 20, g), _random_points(model, 20, g)
    stats = _query_both(query, model, lazy, eager, x0, x1)
    # most edges were bounded (some twice) before any was decoded in full, and most were never decoded in full
    assert stats.bounded_edges > stats.graph_edges > 0 and 0 < lazy.weights_evaluated < 0.5


@pytest.mark.parametrize("query", ["distances", "shortest_paths"])
def test_rounds_that_decode_in_full_within_full_round_s_skip_the_bound_levels(query: str) -> None:
    """A decoder measured fast enough that a round's edges decode in full within FULL_ROUND_S: no bound is
    decoded (a bound would only add a round), and the queries still equal the eager graph's."""
    model = Bumpy()
    fast = DecodePolicy(threads=None, batch_size=37, measured=1e12)
    data = _data(model, 400, 2)
    kw = {"k": 6, "n_steps": N_STEPS, "progress": False, "decode_policy": fast, "node_decodes": "build"}
    lazy = geodesic.build_graph(model, data, **kw)  # type: ignore[arg-type]
    eager = geodesic.build_graph(model, data, weights="eager", **kw)  # type: ignore[arg-type]
    assert lazy.decode_policy is not None and lazy.decode_policy.measured == 1e12
    g = torch.Generator().manual_seed(3)
    x0, x1 = _random_points(model, 20, g), _random_points(model, 20, g)
    stats = _query_both(query, model, lazy, eager, x0, x1)
    assert stats.bounded_edges == 0 and stats.graph_edges > 0 and not lazy.edge_weights.bounded.any()


def test_split_decodes_a_round_in_full_up_to_the_points_full_round_s_decodes() -> None:
    model = Bumpy()
    levels = BoundLevels(_graph(model, 200, 4), 10, top_level(N_STEPS))
    assert levels.full_round_points == 0.0  # the policy was given, not measured: levels always
    graph_ids, att_ids = np.arange(5), np.arange(3)
    (raise_g, raise_a), (full_g, full_a) = levels.split(graph_ids, att_ids)
    assert np.array_equal(raise_g, graph_ids) and np.array_equal(raise_a, att_ids) and full_g.size == full_a.size == 0
    levels.full_round_points = 8 * (N_STEPS - 1)  # exactly these 8 edges' interior points
    (raise_g, raise_a), (full_g, full_a) = levels.split(graph_ids, att_ids)
    assert raise_g.size == raise_a.size == 0 and np.array_equal(full_g, graph_ids) and np.array_equal(full_a, att_ids)
    levels.full_round_points -= 1  # one point beyond: the levels again
    assert levels.split(graph_ids, att_ids)[0][0].size == 5


class _Trial:
    """A stand-in for a graph's edge-decode trial (``EdgeFeed``): running or ended, its streams undisturbed."""

    def __init__(self, running: bool) -> None:
        self.running, self.streams = running, 0

    def current(self, fallback: DecodePolicy) -> DecodePolicy:
        return fallback

    def lengths(self, decode, table, ends, n_steps, fallback, progress=False, watch_of=None):  # type: ignore[no-untyped-def]
        self.streams += 1
        return packed_lengths(decode, table, ends, n_steps, fallback.batch_size)


@pytest.mark.parametrize("running", [True, False])
def test_a_running_policy_trial_gets_the_whole_edge_stream(running: bool) -> None:
    model = Bumpy()
    rec = _graph(model, 300, 6).record
    kind = GraphEdgeKind(node_table(rec, torch.device("cpu")), rec.native, rec.edge_weights)
    trial = _Trial(running)
    context = DecodeContext(model, torch.device("cpu"), POLICY, N_STEPS, trial)  # type: ignore[arg-type]
    ids = np.arange(0, int(rec.native.n_intra_edges), 5)
    kept = KeptPoints(int(rec.native.n_intra_edges), KeptBytes())
    with torch.no_grad():
        want = packed_lengths(model.decode, kind.table, torch.from_numpy(rec.edge_weights.edges[ids]), N_STEPS, 64)
        raise_level(kind, ids, 1, context, kept)
        model.decoded = 0
        assert evaluate_kept(kind, ids, context, kept) == ids.size
    # while the trial runs it times the full stream (the kept middles are not used); once it has chosen, they are
    assert trial.streams == int(running) and model.decoded == ids.size * (N_STEPS - 1 - (0 if running else 1))
    np.testing.assert_allclose(rec.edge_weights.values[ids], want.numpy(), rtol=RTOL)


@pytest.mark.parametrize("batch", [16, 37, 4096])
def test_polylines_decode_in_whole_calls_where_the_steps_allow(batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    model = Bumpy()
    rec = _graph(model, 300, 7).record
    table = node_table(rec, torch.device("cpu"))
    ends = torch.from_numpy(rec.edge_weights.edges[: rec.native.n_intra_edges])
    monkeypatch.setattr(curves, "CHORD_CHUNK_BYTES", 10 * (N_STEPS + 1) * 3 * 4)  # chunks of 10 edges' points
    sizes: list[int] = []
    inner = model.decode

    def decode(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        sizes.append(int(z.shape[0]))
        return inner(z, y)

    with torch.no_grad():
        got = polylines(decode, table, ends, N_STEPS, tuple(range(1, N_STEPS)), None, batch)[0]
        want = packed_lengths(inner, table, ends, N_STEPS, 64)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=RTOL)
    assert sum(sizes) == ends.shape[0] * (N_STEPS - 1) and len(sizes) > 2
    # 14 steps an edge: whole calls of 16 (chunks of 8 edges) and of 37 (37 edges); 4096 (more than 4 chunks of
    # edges would hold whole) at least one call's worth a chunk: 292 edges, 4,088 points
    least = batch if batch < 4096 else 4088
    assert all(size >= least for size in sizes[:-1]), sizes
