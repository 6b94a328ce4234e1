"""The Fréchet mean on the atlas against closed forms on the exact sphere (SphereAtlas): the midpoint of two
points, the pole of a ring, the chart hand-over of a step, and its argument errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.geodesic import statistics
from agm.models.analytic import SphereAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def sphere() -> tuple[SphereAtlas, geodesic.GeodesicGraph]:
    model = SphereAtlas()
    data = model.points(torch.randn(1200, 3, generator=torch.Generator().manual_seed(1)))
    return model, geodesic.build_graph(model, data, k=10, n_steps=5, progress=False)


def _ring(model: SphereAtlas, n: int, axis: tuple[float, float], radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """n points at geodesic distance ``radius`` around the axis (polar, azimuth), evenly spaced; and the axis."""
    polar, azimuth = axis
    a = torch.tensor(
        [math.sin(polar) * math.cos(azimuth), math.sin(polar) * math.sin(azimuth), math.cos(polar)],
        dtype=torch.float64,
    )
    u = torch.linalg.cross(a, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    u = u / u.norm()
    v = torch.linalg.cross(a, u)
    t = torch.linspace(0, 2 * math.pi, n + 1, dtype=torch.float64)[:-1] + 0.1
    ring = math.cos(radius) * a + math.sin(radius) * (torch.cos(t)[:, None] * u + torch.sin(t)[:, None] * v)
    return model.points(ring.float()), model.points(a[None].float())


def test_frechet_mean_of_a_ring_is_its_pole(sphere: tuple[SphereAtlas, geodesic.GeodesicGraph]) -> None:
    model, graph = sphere
    x, pole = _ring(model, 4, (0.9, 0.4), 0.6)  # the pole lies in chart 0 but no data point is near it
    mean = geodesic.frechet_mean(model, x, graph=graph, refine_steps=150, warm_steps=30)
    gap = float(model.distance(mean.point[None], pole)[0])
    # refined geodesics are ~1e-4 accurate here and the descent stops at a tangent mean log of 1e-3 * 0.6
    assert gap < 2e-3, gap
    assert mean.variance == pytest.approx(0.36, rel=1e-3)  # every point at distance 0.6 from the pole
    assert 1 <= mean.iterations <= 6 and mean.step_norm < 1e-3 * 0.6 * 1.01
    assert mean.refinements <= 2 * mean.iterations + 2  # warm starts: one refine call per accepted trial, mostly
    np.testing.assert_allclose(float(torch.linalg.vector_norm(model.coordinates(mean.point[None]))), 1.0, atol=1e-5)
    assert mean.medoid in range(4) and mean.latent.shape == (2,) and mean.latent.dtype == np.float32


def test_frechet_mean_of_two_points_is_the_midpoint_across_charts(
    sphere: tuple[SphereAtlas, geodesic.GeodesicGraph],
) -> None:
    model, graph = sphere
    x = model.spherical(torch.tensor([1.2, 2.0]), torch.tensor([0.3, 1.1]))  # north and south of the equator
    mean = geodesic.frechet_mean(model, x, graph=graph, refine_steps=150, warm_steps=30)
    mid = model.points(model.coordinates(x).sum(0, keepdim=True))
    half = float(model.distance(x[:1], x[1:])[0]) / 2
    assert float(model.distance(mean.point[None], mid)[0]) < 5e-3 * half
    assert mean.variance == pytest.approx(half**2, rel=2e-3)


def test_a_step_out_of_its_chart_is_re_encoded_in_the_most_likely_chart(
    sphere: tuple[SphereAtlas, geodesic.GeodesicGraph],
) -> None:
    model, graph = sphere
    x = model.spherical(torch.tensor([1.0, 1.4]), torch.tensor([0.0, 0.5]))
    paths = geodesic.shortest_paths(model, x[:1], x[1:], graph=graph)
    current = statistics._iterate(paths)
    assert current.chart == 0  # x[0] is north of the equator
    south = np.array([1.8, -2.4], dtype=np.float32)  # |z| = 3 in chart 0: x_3 = -0.8, psi_0 = sigmoid(-3.2) = 0.039
    assert float(model.partition(model.decode(torch.from_numpy(south[None]), torch.tensor([0])))[0, 0]) < 0.05
    assert paths[0]._eps == 0.05  # the graph's eps, which _hold applies
    chart, latent, point = statistics._hold(model, current, south)
    assert chart == 1
    np.testing.assert_allclose(model.decode(torch.from_numpy(latent[None]), torch.tensor([1])), point[None], atol=1e-6)
    inside = np.array([0.1, 0.2], dtype=np.float32)
    chart, latent, _ = statistics._hold(model, current, inside)
    assert chart == 0 and latent is inside


def test_frechet_mean_bad_arguments(sphere: tuple[SphereAtlas, geodesic.GeodesicGraph]) -> None:
    model, graph = sphere
    x = model.spherical(torch.tensor([1.0, 1.4]), torch.tensor([0.0, 0.5]))
    with pytest.raises(ValueError, match="max_iter must be a positive int"):
        geodesic.frechet_mean(model, x, graph=graph, max_iter=0)
    with pytest.raises(ValueError, match="warm_steps must be a positive int"):
        geodesic.frechet_mean(model, x, graph=graph, warm_steps=0)
    with pytest.raises(ValueError, match="tol must be a number >= 0"):
        geodesic.frechet_mean(model, x, graph=graph, tol=-1.0)
    with pytest.raises(ValueError, match="rtol must be a number >= 0"):
        geodesic.frechet_mean(model, x, graph=graph, rtol=float("nan"))
