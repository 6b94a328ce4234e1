"""Graph geodesics of closed-form AGMs against the true geodesics (Algorithm 1 with exact geometry)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.models.analytic import CircleAtlas, CylinderAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _circle_data(model: CircleAtlas, n: int, seed: int) -> torch.Tensor:
    """Stratified angles: uniform random samples leave gaps that a 1-D k-NN graph cannot bridge."""
    g = torch.Generator().manual_seed(seed)
    return model.points((torch.arange(n) + torch.rand(n, generator=g)) / n * 2 * math.pi - math.pi)


def _cylinder_data(model: CylinderAtlas, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    theta = torch.rand(n, generator=g) * 2 * math.pi - math.pi
    return model.points(theta, torch.rand(n, generator=g) * 2.0)


@pytest.mark.parametrize("shape", [None, (5,)])
def test_circle_geodesic_is_the_arc_and_crosses_charts(shape: tuple[int, ...] | None) -> None:
    model = CircleAtlas(ambient_shape=shape)
    graph = geodesic.build_graph(model, _circle_data(model, 400, 0), k=6, eps=0.05, n_steps=5, progress=False)
    assert set(graph.charts) == {0, 1}
    # 170 deg lies only in chart 1 (around pi), 10 deg only in chart 0: the short arc (160 deg) must change chart.
    t0, t1 = torch.tensor([math.radians(170.0)]), torch.tensor([math.radians(10.0)])
    path = geodesic.shortest_path(model, model.points(t0)[0], model.points(t1)[0])
    true = math.radians(160.0)
    assert path.length == pytest.approx(true, rel=0.02)
    assert path.length <= true * (1 + 1e-6)  # chords of an arc are shorter than the arc
    assert path.charts[0] == 1 and path.charts[-1] == 0
    assert path.chart_changes.size >= 1
    # every visited node lies on the short arc (no detour through 180 deg -> 270 deg)
    angles = model.angle(path.decode())
    assert bool((angles > math.radians(5)).all() & (angles < math.radians(175)).all())


def test_cylinder_geodesic_length_within_a_few_percent() -> None:
    model = CylinderAtlas(radius=1.0)
    data = _cylinder_data(model, 2000, 1)
    geodesic.build_graph(model, data, k=20, eps=0.05, n_steps=4, progress=False)
    g = torch.Generator().manual_seed(7)
    th0, th1 = (torch.rand(12, generator=g) * 2 - 1) * math.pi, (torch.rand(12, generator=g) * 2 - 1) * math.pi
    h0, h1 = 0.2 + 1.6 * torch.rand(12, generator=g), 0.2 + 1.6 * torch.rand(12, generator=g)
    paths = geodesic.shortest_paths(model, model.points(th0, h0), model.points(th1, h1))
    true = model.distance(th0, h0, th1, h1).numpy()
    lengths = np.array([p.length for p in paths])
    rel = lengths / true - 1
    assert np.all(rel > -1e-3), rel  # a graph path is never shorter than the geodesic
    assert np.median(rel) < 0.04 and np.max(rel) < 0.08, rel


def test_image_shaped_data_gives_the_same_lengths_as_flat_data() -> None:
    flat, image = CylinderAtlas(), CylinderAtlas(ambient_shape=(1, 28, 28))
    g = torch.Generator().manual_seed(3)
    theta, h = torch.rand(600, generator=g) * 6.28 - 3.14, torch.rand(600, generator=g)
    gf = geodesic.build_graph(flat, flat.points(theta, h), k=8, n_steps=3, progress=False, weights="eager")
    gi = geodesic.build_graph(image, image.points(theta, h), k=8, n_steps=3, progress=False, weights="eager")
    assert gi.data_shape == (1, 28, 28) and gf.data_shape == (3,)
    np.testing.assert_array_equal(gf.native.edges, gi.native.edges)
    np.testing.assert_allclose(gf.native.weights, gi.native.weights, rtol=1e-4, atol=1e-6)
    q0, q1 = torch.tensor([0.3, 2.5]), torch.tensor([-2.0, 1.0])
    hf = geodesic.shortest_paths(
        flat, flat.points(q0, torch.tensor([0.1, 0.9])), flat.points(q1, torch.tensor([0.5, 0.2]))
    )
    hi = geodesic.shortest_paths(
        image, image.points(q0, torch.tensor([0.1, 0.9])), image.points(q1, torch.tensor([0.5, 0.2]))
    )
    for a, b in zip(hf, hi):
        assert a.length == pytest.approx(b.length, rel=1e-4)
        assert b.decode().shape == (len(b), 1, 28, 28)


def test_interpolation_is_equidistant_and_labels_transitions() -> None:
    model = CircleAtlas()
    geodesic.build_graph(model, _circle_data(model, 300, 2), k=5, n_steps=4, progress=False)
    path = geodesic.shortest_path(model, model.points(torch.tensor([2.9]))[0], model.points(torch.tensor([0.2]))[0])
    interp = path.interpolate(12)
    assert interp.x.shape == (12, 2)
    assert interp.arc_length[0] == 0 and interp.arc_length[-1] == pytest.approx(path.length, rel=1e-5)
    # on the circle, equal arc length means equal angle steps
    steps = torch.diff(model.angle(interp.x)).abs().numpy()
    np.testing.assert_allclose(steps, path.length / 11, rtol=0.02)
    assert all(lab.isdigit() or "/" in lab for lab in interp.labels)
    assert {int(c) for c in interp.charts} == {0, 1}
