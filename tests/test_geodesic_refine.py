"""Refined geodesics (path.refine / refine_paths) against the closed-form geodesics of the exact models."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.geodesic.paths.refine import restart_paths
from agm.models.analytic import CylinderAtlas, SphereAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _sphere_pairs(n_pairs: int, seed: int) -> tuple[SphereAtlas, list[geodesic.GeodesicPath], np.ndarray]:
    model = SphereAtlas()
    g = torch.Generator().manual_seed(seed)
    data = model.points(torch.randn(1200, 3, generator=g))
    graph = geodesic.build_graph(model, data, k=10, n_steps=5, progress=False)
    u0, u1 = torch.randn(3 * n_pairs, 3, generator=g), torch.randn(3 * n_pairs, 3, generator=g)
    u1[::2, 2] = -u0[::2, 2].sign() * u1[::2, 2].abs()  # every other pair has its ends in opposite main charts
    q0, q1 = model.points(u0), model.points(u1)
    true = model.distance(q0, q1).numpy()
    keep = np.flatnonzero((true > 0.2) & (true < 0.8 * math.pi))[:n_pairs]  # no near-antipodal (ambiguous) pair
    paths = geodesic.shortest_paths(model, q0[keep], q1[keep], graph=graph)
    return model, [p for p in paths if p is not None], true[keep]


def test_sphere_refined_lengths_meet_the_targets_also_across_charts() -> None:
    model, paths, true = _sphere_pairs(8, 3)
    refined = geodesic.refine_paths(paths)
    graph_err = np.abs(np.array([p.length for p in paths]) / true - 1)
    err = np.abs(np.array([p.length for p in refined]) / true - 1)
    crossing = np.array([p.chart_changes.size > 0 for p in refined])
    assert crossing.sum() >= 3  # the check covers pairs whose refined curve changes chart
    assert np.median(err) <= 0.003 and err.max() <= 0.02, (graph_err, err)
    assert np.median(err) < np.median(graph_err)
    for p, r in zip(paths, refined):
        assert r.length <= p.length  # never above the graph path
    # the refined curve lies on the sphere and joins the two query points
    x = model.coordinates(refined[0].decode())
    np.testing.assert_allclose(torch.linalg.vector_norm(x, dim=1).numpy(), 1.0, atol=1e-5)


def test_refined_path_has_the_graph_path_interface() -> None:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(0)
    data = model.points(torch.rand(800, generator=g) * 6.28 - 3.14, torch.rand(800, generator=g) * 2)
    graph = geodesic.build_graph(model, data, k=10, n_steps=3, progress=False)
    t0, t1 = torch.tensor([2.8, 0.2]), torch.tensor([0.5, 1.6])
    path = graph.shortest_path(model.points(t0[:1], t0[1:])[0], model.points(t1[:1], t1[1:])[0])
    refined = path.refine(steps=200)
    true = float(model.distance(t0[:1], t0[1:], t1[:1], t1[1:])[0])
    assert refined.length <= path.length
    assert refined.length == pytest.approx(true, rel=3e-3)
    assert refined.charts[0] == path.charts[0] and refined.charts[-1] == path.charts[-1]
    np.testing.assert_array_equal(refined.chart_changes, np.flatnonzero(refined.charts[1:] != refined.charts[:-1]))
    strip = refined.interpolate(7)
    assert strip.x.shape == (7, 3) and strip.arc_length[-1] == pytest.approx(refined.length, rel=1e-4)
    assert refined.decode().shape == (len(refined), 3)
    assert refined.nodes.size == 0 and refined.latents.shape == (len(refined), 2)


def test_refine_keeps_a_path_it_cannot_shorten() -> None:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(2)
    data = model.points(torch.rand(300, generator=g) * 6.28 - 3.14, torch.rand(300, generator=g))
    graph = geodesic.build_graph(model, data, k=8, n_steps=3, progress=False)
    same = graph.shortest_path(data[0], data[0])
    assert geodesic.refine_paths([same])[0] is same  # length 0: nothing to refine


def test_refine_bad_arguments() -> None:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(2)
    data = model.points(torch.rand(300, generator=g) * 6.28 - 3.14, torch.rand(300, generator=g))
    graph = geodesic.build_graph(model, data, k=8, n_steps=3, progress=False)
    path = graph.shortest_path(data[0], data[1])
    with pytest.raises(ValueError, match="points must be an int >= 2"):
        path.refine(points=1)
    with pytest.raises(ValueError, match="jump_weight must be > 0"):
        geodesic.refine_paths([path], jump_weight=0.0)
    with pytest.raises(ValueError, match="baseline must be 'graph' or 'resampled'"):
        geodesic.refine_paths([path], baseline="best")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"paths\[0\] must be a GeodesicPath"):
        geodesic.refine_paths(["p"])  # type: ignore[list-item]


def test_restart_paths_moves_the_start_then_a_warm_refine_finds_the_new_geodesic() -> None:
    model = CylinderAtlas()  # isometric charts: geodesics are straight latent lines with closed-form lengths
    g = torch.Generator().manual_seed(0)
    data = model.points(torch.rand(800, generator=g) * 6.28 - 3.14, torch.rand(800, generator=g) * 2)
    graph = geodesic.build_graph(model, data, k=10, n_steps=3, progress=False)
    t0, t1 = torch.tensor([0.3, 0.4]), torch.tensor([1.9, 1.5])
    path = graph.shortest_path(model.points(t0[:1], t0[1:])[0], model.points(t1[:1], t1[1:])[0])
    refined = path.refine(steps=150, points=16)
    chart = int(refined.charts[0])
    same = restart_paths([refined], chart, refined.latents[0], points=16)[0]
    assert same.length == pytest.approx(refined.length, rel=1e-4)  # a straight curve measures the same resampled
    s0 = torch.tensor([0.5, 0.2])  # a new start, 0.28 away, in the same chart
    z = model.encode(model.points(s0[:1], s0[1:]))[0, chart].numpy()
    moved = restart_paths([refined], chart, z, points=16)[0]
    np.testing.assert_allclose(moved.latents[0], z, atol=1e-7)
    true = float(model.distance(s0[:1], s0[1:], t1[:1], t1[1:])[0])
    assert moved.length > true * (1 + 1e-4)  # the moved curve has a corner at its second point
    warm = geodesic.refine_paths([moved], steps=100, points=16, coarse_to_fine=False)[0]
    assert moved.length > warm.length == pytest.approx(true, rel=1e-3)
    with pytest.raises(ValueError, match=f"must have >= 2 points and start in chart {1 - chart}"):
        restart_paths([refined], 1 - chart, z)
    with pytest.raises(TypeError, match=r"paths\[0\] must be a GeodesicPath"):
        restart_paths(["p"], chart, z)  # type: ignore[list-item]
    assert restart_paths([], chart, z) == []


def test_refine_batches_follow_the_decode_policy_raised_for_cheap_decoders() -> None:
    import dataclasses

    from agm.geodesic.paths.refine import MAX_CALL_POINTS, MIN_CALL_S, _call_points

    model, paths, true = _sphere_pairs(3, 5)
    path = paths[0]
    slow = dataclasses.replace(path, _batch_size=64, _decode_rate=1400.0)  # a conv decoder on a CPU
    assert _call_points(slow) == 64
    cheap = dataclasses.replace(path, _batch_size=256, _decode_rate=2.3e6)
    assert _call_points(cheap) == min(MAX_CALL_POINTS, int(2.3e6 * MIN_CALL_S)) > 256
    unmeasured = dataclasses.replace(path, _batch_size=300, _decode_rate=0.0)
    assert _call_points(unmeasured) == 300
    # the chunking changes no result: every call size gives the same curves
    calls: list[int] = []
    decode = model.decode

    def counted(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(int(z.shape[0]))
        return decode(z, y)

    model.decode = counted  # type: ignore[method-assign]
    small = geodesic.refine_paths(paths, batch_size=100)
    assert max(calls) <= 100
    large = geodesic.refine_paths(paths, batch_size=1 << 20)
    for a, b, d in zip(small, large, true):
        assert a.length == pytest.approx(b.length, rel=1e-5)
        assert b.length == pytest.approx(d, rel=2e-3)


def _great_circle_angle(model: SphereAtlas, path: geodesic.GeodesicPath) -> float:
    """The largest angle between the path's decoded points and the great circle through its ends (rad)."""
    x = model.coordinates(path.decode()).double()
    normal = torch.linalg.cross(x[0], x[-1])
    normal = normal / torch.linalg.vector_norm(normal)
    return float(torch.asin((x @ normal).abs().clamp(max=1.0)).max())


def test_a_looser_tolerance_stops_sooner_and_a_stricter_one_follows_the_great_circle_closer(
    count_decodes: Callable[[torch.nn.Module], list[int]],
) -> None:
    """``tolerance`` bounds how far a curve's last step would still move it: fewer decodings at a loose one, the
    shape no worse (in the median over pairs) at a strict one; never above the graph path either way."""
    model, paths, _ = _sphere_pairs(8, 5)
    rows = count_decodes(model)
    decoded, angles = {}, {}
    for tolerance in (0.0, 2e-4, np.float32(3e-2)):  # any real number
        rows.clear()
        refined = [p.refine(tolerance=tolerance) for p in paths]
        decoded[tolerance] = sum(rows)
        angles[tolerance] = float(np.median([_great_circle_angle(model, r) for r in refined]))
        assert all(r.length <= p.length for p, r in zip(paths, refined))
    loose = np.float32(3e-2)
    assert decoded[loose] < decoded[2e-4] <= decoded[0.0]  # 0 goes on where 2e-4 stops, on the same trajectory
    assert angles[0.0] <= angles[2e-4] * 1.05 + 1e-6 and angles[2e-4] < angles[loose]


@pytest.mark.parametrize("tolerance", [-1e-3, float("nan"), float("inf"), "0.1"])
def test_a_bad_tolerance_is_refused(tolerance: object) -> None:
    _, paths, _ = _sphere_pairs(1, 5)
    with pytest.raises(ValueError, match="tolerance"):
        geodesic.refine_paths(paths, tolerance=tolerance)  # type: ignore[arg-type]
