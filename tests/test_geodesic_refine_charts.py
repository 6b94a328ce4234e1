"""The Gauss-Newton refinement and its chart choice against exact geometry: great circles of the stereographic
sphere, straight lines of the (isometric) cylinder charts; batched against one by one; the Jacobians against the
closed form; the descent never raising the energy (hypothesis)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agm import geodesic
from agm.geodesic.paths.refine import curve_path, restart_paths
from agm.geodesic.refinement.curve_batch import pad_curves
from agm.geodesic.refinement.energy_layout import energy_layout
from agm.geodesic.refinement.evaluation import begin, begin_curves, jacobians
from agm.geodesic.refinement.gauss_newton import minimise_energy
from agm.models.analytic import CylinderAtlas, SphereAtlas
from agm.models.flat_torus import FlatTorusAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _sphere_template(model: SphereAtlas) -> geodesic.GeodesicPath:
    g = torch.Generator().manual_seed(0)
    data = model.points(torch.randn(300, 3, generator=g))
    graph = geodesic.build_graph(model, data, k=8, n_steps=5, progress=False)
    return graph.shortest_path(data[0], data[1])


def _great_circle_deviation(model: SphereAtlas, path: geodesic.GeodesicPath) -> float:
    """Largest angle (rad) between the decoded curve points and the great circle through its two ends."""
    x = model.coordinates(path.decode()).double()
    normal = torch.linalg.cross(x[0], x[-1])
    normal = normal / torch.linalg.vector_norm(normal)
    return float(torch.asin((x @ normal).abs().clamp(max=1)).max())


def test_refine_adds_a_transition_the_input_curve_lacks() -> None:
    # two points at height -0.6, 120 degrees apart: their great circle dips to height -0.83, below chart 0's edge
    # (psi_0 = sigmoid(4 x_3) = eps = 0.05 at x_3 = -0.736); the input curve is a straight line of chart 0 only
    model = SphereAtlas()
    template = _sphere_template(model)
    polar = math.acos(-0.6)
    ends = model.spherical(torch.tensor([polar, polar]), torch.tensor([-math.pi / 3, math.pi / 3]))
    z = model.encode(ends)[:, 0].numpy()
    line = z[0][None] + np.linspace(0, 1, 9, dtype=np.float32)[:, None] * (z[1] - z[0])[None]
    curve = restart_paths([curve_path(template, line, np.zeros(9, dtype=np.int64), np.inf)], 0, z[0], points=8)[0]
    true = float(model.distance(ends[:1], ends[1:])[0])
    assert curve.chart_changes.size == 0 and curve.length > 1.5 * true
    refined = curve.refine()
    assert refined.chart_changes.size == 2  # 0 -> 1 -> 0: into the chart beyond the edge and back
    assert [int(refined.charts[0]), int(refined.charts[refined.chart_changes[0] + 1]), int(refined.charts[-1])] == [
        0,
        1,
        0,
    ]
    assert refined.length == pytest.approx(true, rel=2e-4)
    assert _great_circle_deviation(model, refined) < 2e-3
    psi = model.partition(refined.decode())
    assert bool((psi.gather(1, torch.from_numpy(refined.charts)[:, None]) > 0.05).all())  # every point in its chart
    kept = geodesic.refine_paths([curve], change_charts=False)[0]  # the chart sequence held: pressed to the edge
    assert kept.chart_changes.size == 0 and kept.length > true * 1.005


def test_refine_drops_a_detour_the_geometry_does_not_need() -> None:
    # a bent cylinder curve inside chart 0 whose middle third, where both charts hold (psi_0, psi_1 > eps around
    # theta = pi / 2), was handed to chart 1 (both charts are isometric: the detour costs nothing and means nothing):
    # refined, it is one chart again and exact
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(0)
    data = model.points(torch.rand(300, generator=g) * 6.28 - 3.14, torch.rand(300, generator=g))
    template = geodesic.build_graph(model, data, k=8, n_steps=3, progress=False).shortest_path(data[0], data[1])
    t = torch.linspace(0, 1, 10)
    theta, height = 0.9 + 1.3 * t, 0.2 + 0.9 * t + 0.3 * torch.sin(math.pi * t)  # bent: refine has work to do
    x = model.points(theta, height)
    charts = np.array([0, 0, 0, 1, 1, 1, 1, 0, 0, 0])
    z = model.encode(x)[torch.arange(10), torch.from_numpy(charts)].numpy()
    lat = np.concatenate([z[:3], model.encode(x[2:3])[:, 1].numpy(), z[3:7], model.encode(x[6:7])[:, 0].numpy(), z[7:]])
    ch = np.array([0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    curve = restart_paths([curve_path(template, lat, ch, np.inf)], 0, lat[0], points=9)[0]
    assert curve.chart_changes.size == 2
    psi = model.partition(curve.decode())
    assert bool((psi > 0.06).all())  # every point of the curve is in both charts
    refined = curve.refine()
    true = float(model.distance(theta[:1], height[:1], theta[-1:], height[-1:])[0])
    assert curve.length > true * 1.01
    assert refined.chart_changes.size == 0
    assert refined.length == pytest.approx(true, rel=1e-5)
    assert refined.length <= curve.length
    assert geodesic.refine_paths([curve], change_charts=False)[0].chart_changes.size == 2  # held without re-charting


def test_batched_refine_matches_one_by_one_on_great_circles() -> None:
    model = SphereAtlas()
    g = torch.Generator().manual_seed(4)
    data = model.points(torch.randn(1500, 3, generator=g))
    graph = geodesic.build_graph(model, data, k=12, n_steps=8, progress=False)
    q0, q1 = model.points(torch.randn(8, 3, generator=g)), model.points(torch.randn(8, 3, generator=g))
    true = model.distance(q0, q1).numpy()
    keep = np.flatnonzero((true > 0.3) & (true < 2.6))
    paths = [p for p in geodesic.shortest_paths(model, q0[keep], q1[keep], graph=graph) if p is not None]
    batched = geodesic.refine_paths(paths)
    single = [p.refine() for p in paths]
    for p, b, s, d in zip(paths, batched, single, true[keep]):
        assert b.length == pytest.approx(s.length, rel=1e-5)
        assert b.length <= p.length
        assert b.length == pytest.approx(d, rel=3e-4)
        assert _great_circle_deviation(model, b) < 5e-3
    assert sum(p.chart_changes.size > 0 for p in batched) >= 2  # across charts too


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=2, max_size=2),
    st.integers(0, 1),
)
def test_jacobians_match_the_stereographic_closed_form(point: list[float], chart: int) -> None:
    model = SphereAtlas()
    z = torch.tensor([point], dtype=torch.float32)
    y = torch.tensor([chart])
    jac = jacobians(model, z, y, model.decode(z, y))[0]  # (3, 2)
    zz = z[0].double()
    r2 = float(zz @ zz)
    sign = 1.0 if chart == 0 else -1.0
    exact = torch.zeros(3, 2, dtype=torch.float64)
    for k in range(2):  # d/dz_k of (2 z, sign (1 - r2)) / (1 + r2)
        e = torch.zeros(2, dtype=torch.float64)
        e[k] = 1.0
        exact[:2, k] = (2 * e * (1 + r2) - 2 * zz * 2 * zz[k]) / (1 + r2) ** 2
        exact[2, k] = sign * (-2 * zz[k] * (1 + r2) - (1 - r2) * 2 * zz[k]) / (1 + r2) ** 2
    assert torch.allclose(jac, exact, rtol=1e-2, atol=5e-3)  # forward differences: O(step) error


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 0.3), st.integers(1, 4))
def test_gauss_newton_descent_never_raises_the_energy(seed: int, noise: float, sub_steps: int) -> None:
    model = SphereAtlas()
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(2, generator=g) * 0.8, torch.randn(2, generator=g) * 0.8
    t = torch.linspace(0, 1, 9)[:, None]
    z = a[None] + t * (b - a)[None]
    z[1:-1] += noise * torch.randn(7, 2, generator=g)
    curves = pad_curves([z, z.flip(0)], [torch.zeros(9, dtype=torch.int64)] * 2, torch.ones(2, dtype=torch.float64), 1)
    before = begin_curves(model, curves, sub_steps, None, (3,)).finish(None, None, None).energy
    after_curves = minimise_energy(model, curves, 20, sub_steps, None, (3,))
    after = begin_curves(model, after_curves, sub_steps, None, (3,)).finish(None, None, None).energy
    assert bool((after <= before * (1 + 1e-12)).all())
    assert torch.equal(after_curves.latents[:, 0], curves.latents[:, 0])  # the ends are fixed
    assert torch.equal(after_curves.latents[:, -1], curves.latents[:, -1])
    # a chord of the sphere's chart 0 converges to the great circle's discrete optimum: equal chords
    x = model.decode(after_curves.latents[0], after_curves.charts[0]).double()
    chords = torch.linalg.vector_norm(x[1:] - x[:-1], dim=1)
    if sub_steps == 1 and float(chords.sum()) > 0.1:
        assert float(chords.max() / chords.min()) < 1.01


def test_flat_torus_atlas_is_an_isometric_four_chart_atlas() -> None:
    model = FlatTorusAtlas()
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(200, generator=g) * 6.28, torch.rand(200, generator=g) * 6.28
    x = model.points(a, b)
    psi = model.partition(x)
    torch.testing.assert_close(psi.sum(dim=1), torch.ones(200), atol=1e-6, rtol=0)
    z = model.encode(x)
    for chart in range(4):
        torch.testing.assert_close(model.decode(z[:, chart], torch.full((200,), chart)), x, atol=1e-5, rtol=0)
    # an isometry: a short latent step decodes to a step of the same length
    step = torch.tensor([[1e-3, 0.0], [0.0, 1e-3]])
    base = z[:2, 0]
    moved = model.decode(base + step, torch.zeros(2, dtype=torch.int64)) - model.decode(
        base, torch.zeros(2, dtype=torch.int64)
    )
    torch.testing.assert_close(torch.linalg.vector_norm(moved, dim=1), torch.full((2,), 1e-3), rtol=1e-3, atol=0)
    assert float(psi.max(dim=1).values.min()) > 0.05  # every point is in some chart


def test_flat_torus_refined_lengths_are_the_straight_lines() -> None:
    model = FlatTorusAtlas()
    g = torch.Generator().manual_seed(2)
    sample = lambda n: model.points(torch.rand(n, generator=g) * 6.28, torch.rand(n, generator=g) * 6.28)  # noqa: E731
    graph = geodesic.build_graph(model, sample(1500), k=12, n_steps=5, progress=False)
    q0, q1 = sample(6), sample(6)
    paths = geodesic.shortest_paths(model, q0, q1, graph=graph)
    refined = geodesic.refine_paths(paths)
    true = model.distance(q0, q1).numpy()
    err = np.abs(np.array([r.length for r in refined]) / true - 1)
    assert err.max() < 1e-4, err
    assert sum(r.chart_changes.size > 0 for r in refined) >= 2
    for p, r in zip(paths, refined):
        assert r.length <= p.length
        assert r.chart_changes.size <= p.chart_changes.size  # the graph's spare flips dropped, none added


class _SemiCylinder(torch.nn.Module):
    """The cylinder with its encoders hidden (a semi-AGM: decoders and partition only)."""

    n_charts = 2
    latent_dim = 2

    def __init__(self) -> None:
        super().__init__()
        self.inner = CylinderAtlas()

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.inner.decode(torch.stack([1.3 * z[:, 0], 0.5 + 0.5 * z[:, 1]], dim=1), y)

    def partition(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.partition(x)


def test_semi_agm_curves_refine_in_their_own_charts() -> None:
    model = _SemiCylinder()  # no encode: no point can be re-encoded in another chart
    nodes = geodesic.DecoderNodes(n_samples=2000, search_steps=10)
    graph = geodesic.build_graph(model, nodes=nodes, k=12, n_steps=3, progress=False)
    theta0, theta1 = torch.tensor([0.2, -2.5]), torch.tensor([1.9, 2.6])
    h0, h1 = torch.tensor([0.35, 0.6]), torch.tensor([0.65, 0.4])
    paths = geodesic.shortest_paths(model, model.inner.points(theta0, h0), model.inner.points(theta1, h1), graph=graph)
    refined = geodesic.refine_paths(paths)
    true = model.inner.distance(theta0, h0, theta1, h1).numpy()
    for p, r, d in zip(paths, refined, true):
        assert r.length <= p.length and r.length == pytest.approx(d, rel=2e-3)
        sequence = lambda q: [int(q.charts[0])] + [int(q.charts[i + 1]) for i in q.chart_changes]  # noqa: E731
        assert sequence(r) == sequence(p)  # charts kept (each transition may slide)


def test_refine_in_small_decoder_calls_equals_one_call() -> None:
    model = SphereAtlas()
    template = _sphere_template(model)
    small = geodesic.refine_paths([template], batch_size=7)[0]
    large = geodesic.refine_paths([template])[0]
    assert small.length == pytest.approx(large.length, rel=1e-6)
    assert small.length < template.length


def _oracle_energy(
    model: SphereAtlas, z: torch.Tensor, charts: torch.Tensor, weight: torch.Tensor, n: int
) -> torch.Tensor:
    """The energy of one curve written plainly (float64 autograd): n sub-steps inside a chart, the gap at a
    transition."""
    total = torch.zeros((), dtype=torch.float64)
    for i in range(z.shape[0] - 1):
        if charts[i] != charts[i + 1]:
            gap = model.decode(z[i + 1 : i + 2], charts[i + 1 : i + 2]) - model.decode(z[i : i + 1], charts[i : i + 1])
            total = total + weight[i] * (gap.double() ** 2).sum()
            continue
        t = torch.arange(n + 1, dtype=torch.float32)[:, None] / n
        line = z[i] + t * (z[i + 1] - z[i])
        x = model.decode(line, charts[i].repeat(n + 1)).double()
        total = total + weight[i] * n * ((x[1:] - x[:-1]) ** 2).sum()
    return total


@pytest.mark.parametrize("sub_steps", [1, 3])
def test_evaluation_matches_autograd_and_a_dense_solve(sub_steps: int) -> None:
    """Energy, gradient (written out, through the decoder's vector-Jacobian product only) and Gauss-Newton step
    (one banded solve for all curves) of padded curves with a transition, against autograd of the plain energy and
    a dense solve of the block-tridiagonal matrix built from the same Jacobians."""
    model = SphereAtlas()
    g = torch.Generator().manual_seed(3)
    first = torch.tensor([0.1, 0.2]) + 0.3 * torch.arange(6, dtype=torch.float32)[:, None] * torch.tensor([1.0, 0.4])
    first = first + 0.05 * torch.randn(6, 2, generator=g)
    x = model.decode(first[3:4], torch.tensor([0]))
    second = torch.cat([first[:4], model.encode(x)[:, 1], 0.2 * torch.randn(3, 2, generator=g)])
    c1, c2 = torch.zeros(6, dtype=torch.int64), torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    curves = pad_curves([first, second], [c1, c2], torch.tensor([1.0, 2.0], dtype=torch.float64), 50.0)
    out = begin_curves(model, curves, sub_steps, None, (3,)).finish(None, None, None)
    for b, (z0, c) in enumerate([(first, c1), (second, c2)]):
        z = z0.clone().requires_grad_(True)
        w = curves.weight[b, : z.shape[0] - 1]
        energy = _oracle_energy(model, z, c, w, sub_steps)
        (grad,) = torch.autograd.grad(energy, [z])
        assert out.energy[b] == pytest.approx(float(energy), rel=1e-5)
        assert np.allclose(
            out.gradient[b, : z.shape[0]], grad.double().numpy(), rtol=1e-3, atol=1e-4 * grad.abs().max()
        )
        jac = jacobians(model, z0, c, model.decode(z0, c)).numpy()  # (n, 3, 2)
        n, d = z0.shape
        h = np.zeros((n * d, n * d))
        for i in range(n - 1):  # w |J_(i+1) v_(i+1) - J_i v_i|^2
            a = np.zeros((3, n * d))
            a[:, i * d : i * d + d], a[:, i * d + d : i * d + 2 * d] = -jac[i], jac[i + 1]
            h += 2 * float(w[i]) * a.T @ a
        free = slice(d, (n - 1) * d)
        step = -np.linalg.solve(h[free, free], grad.double().numpy().reshape(-1)[free])
        assert np.allclose(out.step[b, 1 : n - 1].reshape(-1), step, rtol=1e-4, atol=1e-6 * np.abs(step).max())
        assert not out.step[b, [0, n - 1]].any() and not out.step[b, n:].any()
        assert out.slope[b] == pytest.approx(float((grad.double().numpy()[1 : n - 1] * out.step[b, 1 : n - 1]).sum()))


def test_the_secant_step_is_the_bfgs_updated_gauss_newton_step() -> None:
    """With a secant pair (s, y) the step solves (H + y y^T / s.y - H s s^T H / s.H s) p = -g (H the Gauss-Newton
    matrix, dense here), per curve; a curve whose s.y <= 0 keeps the Gauss-Newton step."""
    model = SphereAtlas()
    g = torch.Generator().manual_seed(0)
    z1, z2 = 0.5 * torch.randn(7, 2, generator=g), 0.5 * torch.randn(5, 2, generator=g)
    zeros = [torch.zeros(7, dtype=torch.int64), torch.zeros(5, dtype=torch.int64)]
    curves = pad_curves([z1, z2], zeros, torch.ones(2, dtype=torch.float64), 10.0)
    layout = energy_layout(curves, 3)
    latents = curves.latents.numpy()
    plain = begin(model, layout, latents, torch.device("cpu"), None, (3,), 1 << 30, True).finish(None, None, None)
    rng = np.random.default_rng(0)
    secant = (0.01 * rng.normal(size=latents.shape), rng.normal(size=latents.shape))
    out = begin(model, layout, latents, torch.device("cpu"), None, (3,), 1 << 30, True).finish(secant, None, None)
    for b, n in ((0, 7), (1, 5)):
        z, c = curves.latents[b, :n], curves.charts[b, :n]
        jac = jacobians(model, z, c, model.decode(z, c)).numpy()
        h = np.zeros((2 * n, 2 * n))
        for i in range(n - 1):
            a = np.zeros((3, 2 * n))
            a[:, 2 * i : 2 * i + 2], a[:, 2 * i + 2 : 2 * i + 4] = -jac[i], jac[i + 1]
            h += 2 * float(curves.weight[b, i]) * a.T @ a
        h = h[2 : 2 * n - 2, 2 : 2 * n - 2]
        grad = out.gradient[b, 1 : n - 1].reshape(-1)
        s = secant[0][b, 1 : n - 1].reshape(-1)
        y = grad - secant[1][b, 1 : n - 1].reshape(-1)
        if s @ y <= 0:
            assert np.allclose(out.step[b], plain.step[b])
            continue
        hs = h @ s
        updated = h + np.outer(y, y) / (s @ y) - np.outer(hs, hs) / (s @ hs)
        expected = -np.linalg.solve(updated, grad)
        assert np.allclose(out.step[b, 1 : n - 1].reshape(-1), expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())
        assert not np.allclose(out.step[b], plain.step[b])


def test_the_warm_start_of_an_expensive_decoder_reaches_the_same_lengths() -> None:
    """``RefineSettings.warm`` (the points alone descend first, for an expensive decoder) ends at the lengths of the
    plain descent, below the start's, with the ends fixed."""
    from agm.geodesic.paths.refine import _path_curves
    from agm.geodesic.refinement.refine_curves import RefineSettings, descend_and_measure, measure, resampled

    model = SphereAtlas()
    g = torch.Generator().manual_seed(1)
    data = model.points(torch.randn(400, 3, generator=g))
    graph = geodesic.build_graph(model, data, k=8, n_steps=5, progress=False)
    paths = [graph.shortest_path(data[i], data[i + 1]) for i in range(0, 8, 2)]
    settings = RefineSettings(model, (3,), 5, 0.05, 0.05, 100.0, 5, 100, 4096)
    with torch.no_grad():
        start = resampled(settings, _path_curves(paths, 16, 100.0, torch.device("cpu")), 16)
        plain = descend_and_measure(settings, start)
        warm = descend_and_measure(dataclasses.replace(settings, warm=True), start)
        before = measure(settings, start)[0]
    assert np.all(warm[1] < before) and np.all(plain[1] < before)
    assert np.allclose(warm[1], plain[1], rtol=1e-5, atol=0)
    assert torch.equal(warm[0].latents[:, 0], start.latents[:, 0])


def _expensive_sphere_paths(
    monkeypatch: pytest.MonkeyPatch, seed: int, n_points: int, k: int, n_steps: int, n_pairs: int
) -> list[geodesic.GeodesicPath]:
    """Graph paths (more than 2 points) between random sphere points, refined as an expensive decoder's: FUSE_RATE
    raised so that every decoder counts as expensive (warm start, Jacobians decoded apart, twin descents)."""
    from agm.geodesic.paths import refine as refine_module

    monkeypatch.setattr(refine_module, "FUSE_RATE", float("inf"))
    model = SphereAtlas()
    g = torch.Generator().manual_seed(seed)
    data = model.points(torch.randn(n_points, 3, generator=g))
    graph = geodesic.build_graph(model, data, k=k, n_steps=n_steps, progress=False)
    q0, q1 = model.points(torch.randn(n_pairs, 3, generator=g)), model.points(torch.randn(n_pairs, 3, generator=g))
    return [p for p in geodesic.shortest_paths(model, q0, q1, graph=graph) if p is not None and len(p) > 2]


def test_an_expensive_decoders_recharted_curve_also_descends_in_the_graphs_charts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """For a decoder below FUSE_RATE a curve the first re-charting changed also descends as the graph charted it, in
    the same calls, and the shorter wins: refined with re-charting, a path is never longer than refined without."""
    from agm.geodesic.paths import refine as refine_module
    from agm.geodesic.refinement import curve_batch

    paths = _expensive_sphere_paths(monkeypatch, seed=0, n_points=1000, k=12, n_steps=8, n_pairs=16)
    twins = []
    monkeypatch.setattr(
        refine_module, "stacked", lambda a, b, w: twins.append(b.n_curves) or curve_batch.stacked(a, b, w)
    )
    together = geodesic.refine_paths(paths)
    alone = geodesic.refine_paths(paths, change_charts=False)
    for t, a in zip(together, alone):  # re-charted alone, 5 of these 16 end 1.1e-5 to 6.3e-5 longer
        assert t.length <= a.length * (1 + 5e-6)  # float32 batch effects: ~1e-7
    assert twins  # some curve was re-charted, and descended twice


def test_curves_refined_together_reuse_their_jacobians_as_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """An expensive decoder's curves in groups of one (each above a decoder call) reuse their last Jacobians
    while they hardly move, also after other curves of the call converged: together they decode no more Jacobian
    points than one by one (before the Jacobians were kept by group of curves: 1.25x as many)."""
    from agm.geodesic.refinement import evaluation

    paths = _expensive_sphere_paths(monkeypatch, seed=2, n_points=800, k=10, n_steps=4, n_pairs=8)
    shifted_rows = [0]
    difference = evaluation._difference

    def counted(moved: np.ndarray, x: np.ndarray, width: np.ndarray) -> np.ndarray:
        shifted_rows[0] += moved.shape[0]
        return difference(moved, x, width)

    monkeypatch.setattr(evaluation, "_difference", counted)
    one_by_one = [geodesic.refine_paths([p], batch_size=40)[0] for p in paths]
    alone, shifted_rows[0] = shifted_rows[0], 0
    together = geodesic.refine_paths(paths, batch_size=40)
    assert shifted_rows[0] <= alone * 1.05  # equal here; the margin absorbs a float32 flip of one line search
    for a, b in zip(one_by_one, together):
        assert b.length == pytest.approx(a.length, rel=1e-5)  # float32 batches of other curves: ~1e-7
