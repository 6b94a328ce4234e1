"""Medoid, k-medoids and the Fréchet mean on the atlas, against exact geometry and brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.models.analytic import SphereAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _sphere_graph(seed: int = 1) -> tuple[SphereAtlas, geodesic.GeodesicGraph]:
    model = SphereAtlas()
    data = model.points(torch.randn(1200, 3, generator=torch.Generator().manual_seed(seed)))
    return model, geodesic.build_graph(model, data, k=10, n_steps=5, progress=False)


def test_sphere_distance_matrix_matches_the_great_circle_to_graph_accuracy() -> None:
    model, graph = _sphere_graph()
    x = model.points(torch.randn(12, 3, generator=torch.Generator().manual_seed(4)))
    D = geodesic.distances(model, x, graph=graph)
    true = model.distance(x.repeat_interleave(12, 0), x.repeat(12, 1)).numpy().reshape(12, 12)
    off = ~np.eye(12, dtype=bool)
    rel = D[off] / true[off] - 1
    # the graph's accuracy (k = 10, 1200 points): a few % typical, the worst on short pairs (see refine)
    assert np.median(np.abs(rel)) < 0.05 and np.abs(rel).max() < 0.2 and rel.min() > -1e-3, rel


def test_medoid_of_points_around_the_pole_is_the_point_nearest_the_pole() -> None:
    model, graph = _sphere_graph()
    azimuth = torch.linspace(0, 2 * math.pi, 9)[:-1]
    ring = model.spherical(torch.full((8,), 0.6), azimuth)
    near_pole = model.spherical(torch.tensor([0.05]), torch.tensor([1.0]))
    x = torch.cat([ring[:3], near_pole, ring[3:]])
    assert geodesic.medoid(geodesic.distances(model, x, graph=graph)) == 3


def test_frechet_mean_of_two_points_is_their_geodesic_midpoint() -> None:
    model, graph = _sphere_graph()
    x = model.spherical(torch.tensor([1.0, 1.3]), torch.tensor([0.3, 1.4]))
    mean = geodesic.frechet_mean(model, x, graph=graph, max_iter=4, refine_steps=150)
    mid = model.points(model.coordinates(x).sum(0, keepdim=True))
    gap = float(model.distance(mean.point[None], mid)[0])
    half = float(model.distance(x[:1], x[1:])[0]) / 2
    assert gap < 0.01 * half, (gap, half)  # 1% of the half distance: refined geodesics are ~1e-3 accurate
    assert mean.variance == pytest.approx(half**2, rel=0.01)
    assert mean.medoid == 0 and mean.chart in (0, 1)


def test_k_medoids_matches_brute_force_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal(0, 0.3, (6, 2)), rng.normal(3, 0.3, (5, 2)), rng.normal((0, 4), 0.3, (4, 2))])
    D = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    result = geodesic.k_medoids(D, 3, seed=1)
    best = min(D[list(c)].min(axis=0).sum() for c in itertools.combinations(range(len(pts)), 3))
    assert result.cost == pytest.approx(best)
    assert sorted(np.bincount(result.labels).tolist()) == [4, 5, 6]
    again = geodesic.k_medoids(D, 3, seed=1)
    np.testing.assert_array_equal(again.medoids, result.medoids)
    np.testing.assert_array_equal(geodesic.k_medoids(D, 1).medoids, [int(np.argmin(D.sum(axis=1)))])


def test_statistics_bad_inputs() -> None:
    with pytest.raises(ValueError, match="D must be a square"):
        geodesic.medoid(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="non-negative distances"):
        geodesic.medoid(np.array([[0.0, -1.0], [-1.0, 0.0]]))
    with pytest.raises(ValueError, match="infinite entry in every row"):
        geodesic.medoid(np.array([[0.0, np.inf], [np.inf, 0.0]]))
    with pytest.raises(ValueError, match="k must be at most"):
        geodesic.k_medoids(np.zeros((2, 2)), 3)
    with pytest.raises(ValueError, match="k must be a positive int"):
        geodesic.k_medoids(np.zeros((2, 2)), 0)
