"""Queries as in Chen et al.: both query points are added to the graph (d(x, x) = 0, close pairs at their true
distance), direct routes without graph nodes, and the fewest chart switches among paths of equal length."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.geodesic.query import routes
from agm.geodesic.query.switches import fewest_switches
from agm.models.analytic import CircleAtlas, CylinderAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def cylinder() -> tuple[CylinderAtlas, geodesic.GeodesicGraph]:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(0)
    theta, h = torch.rand(1000, generator=g) * 6.28 - 3.14, torch.rand(1000, generator=g)
    return model, geodesic.build_graph(model, model.points(theta, h), k=10, eps=0.05, n_steps=4, progress=False)


@pytest.fixture(scope="module")
def circle() -> tuple[CircleAtlas, geodesic.GeodesicGraph]:
    model = CircleAtlas()
    g = torch.Generator().manual_seed(0)
    data = model.points((torch.arange(400) + torch.rand(400, generator=g)) / 400 * 2 * math.pi - math.pi)
    return model, geodesic.build_graph(model, data, k=6, n_steps=4, progress=False)


def test_distance_of_a_point_to_itself_is_exactly_zero(cylinder: tuple[CylinderAtlas, geodesic.GeodesicGraph]) -> None:
    model, graph = cylinder
    g = torch.Generator().manual_seed(1)
    # angles near 0, pi/2 (both charts, psi ~ 0.5) and pi: main chart 0, either, 1
    theta = torch.tensor([0.0, 1.5707, 1.5709, 3.1, -2.0, 0.7])
    x = model.points(theta, torch.rand(6, generator=g))
    for i in range(6):
        path = geodesic.shortest_path(model, x[i], x[i], graph)
        assert path.length == 0.0
        assert path.nodes.size == 0 and path.data_indices.size == 0 and path.chart_changes.size == 0
    # in a batch, at any row position and next to other points, still exactly 0
    paths = geodesic.shortest_paths(model, torch.cat([x, x[:3]]), torch.cat([x, x[:3]]), graph)
    assert [p.length for p in paths] == [0.0] * 9


@pytest.mark.parametrize("true", [0.001, 0.003, 0.01])
def test_close_pairs_on_the_cylinder_are_at_their_true_distance(
    cylinder: tuple[CylinderAtlas, geodesic.GeodesicGraph], true: float
) -> None:
    model, graph = cylinder
    g = torch.Generator().manual_seed(2)
    th, h, direction = (
        torch.rand(40, generator=g) * 6.2 - 3.1,
        0.1 + 0.8 * torch.rand(40, generator=g),
        torch.rand(40, generator=g) * 6.28,
    )
    th1, h1 = th + true * torch.cos(direction), h + true * torch.sin(direction)  # radius 1: arc = angle
    paths = geodesic.shortest_paths(model, model.points(th, h), model.points(th1, h1), graph)
    ratio = np.array([p.length for p in paths]) / model.distance(th, h, th1, h1).numpy()
    # before queries joined each other: up to 127x; float32 decodings leave ~1e-4 of 0.001
    assert ratio.max() <= 1.5 and ratio.min() >= 0.99, ratio
    for i in range(4):  # one by one: decodings of magnitude 1 differ by ~1 ulp (1e-7) with the batch
        single = geodesic.shortest_path(
            model, model.points(th[i : i + 1], h[i : i + 1])[0], model.points(th1[i : i + 1], h1[i : i + 1])[0], graph
        )
        assert single.length == pytest.approx(paths[i].length, abs=1e-6)


@pytest.mark.parametrize("true", [0.001, 0.01])
def test_close_pairs_on_the_circle_are_at_their_true_distance(
    circle: tuple[CircleAtlas, geodesic.GeodesicGraph], true: float
) -> None:
    model, graph = circle
    theta = torch.linspace(-3.1, 3.1, 25)
    paths = geodesic.shortest_paths(model, model.points(theta), model.points(theta + true), graph)
    ratio = np.array([p.length for p in paths]) / true
    assert ratio.max() <= 1.5 and ratio.min() >= 0.99, ratio


def test_a_direct_route_decodes_and_interpolates(circle: tuple[CircleAtlas, geodesic.GeodesicGraph]) -> None:
    model, graph = circle
    a, b = model.points(torch.tensor([0.3]))[0], model.points(torch.tensor([0.302]))[0]
    path = geodesic.shortest_path(model, a, b, graph)
    assert path.nodes.size == 0 and len(path) == 2  # main copy of x0 -> main copy of x1, chart 0
    assert path.length == pytest.approx(0.002, rel=1e-3)
    np.testing.assert_allclose(path.decode().numpy(), torch.stack([a, b]).numpy(), atol=1e-6)
    interp = path.interpolate(5)
    np.testing.assert_allclose(model.angle(interp.x).numpy(), np.linspace(0.3, 0.302, 5), atol=1e-5)
    assert interp.labels == ["0"] * 5
    same = geodesic.shortest_path(model, a, a, graph).interpolate(3)
    np.testing.assert_array_equal(same.arc_length, np.zeros(3))
    np.testing.assert_allclose(same.x.numpy(), a.expand(3, 2).numpy(), atol=1e-6)


def test_far_pairs_still_go_through_the_graph(cylinder: tuple[CylinderAtlas, geodesic.GeodesicGraph]) -> None:
    model, graph = cylinder
    path = geodesic.shortest_path(
        model,
        model.points(torch.tensor([-2.0]), torch.tensor([0.2]))[0],
        model.points(torch.tensor([2.0]), torch.tensor([0.8]))[0],
        graph,
    )
    assert path.nodes.size >= 3 and len(path) >= path.nodes.size + 2


def _quick_start() -> tuple[CylinderAtlas, geodesic.GeodesicGraph, torch.Tensor, torch.Tensor]:
    """The README's quick start, seeded (seed 2 gave 7 chart changes before chart switches were minimised)."""
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(2)
    theta, h = torch.rand(2000, generator=g) * 6.28 - 3.14, torch.rand(2000, generator=g)
    graph = geodesic.build_graph(model, model.points(theta, h), k=20, eps=0.05, n_steps=15, progress=False)
    x0 = model.points(torch.tensor([3.0]), torch.tensor([0.1]))[0]
    x1 = model.points(torch.tensor([0.2]), torch.tensor([0.9]))[0]
    return model, graph, x0, x1


def test_quick_start_path_changes_chart_only_where_the_geometry_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    model, graph, x0, x1 = _quick_start()
    path = geodesic.shortest_path(model, x0, x1, graph)
    with monkeypatch.context() as patch:  # the search's own path, free flips kept
        patch.setattr(routes, "_layered", lambda *args: None)
        raw = geodesic.shortest_path(model, x0, x1, graph)
    assert raw.chart_changes.size >= 3  # the search flips charts for free where the two charts agree
    assert path.chart_changes.size == 1  # x0 (angle 3.0) lies in chart 1 only, x1 (0.2) in chart 0 only
    assert raw.length <= path.length <= raw.length * (1 + 2e-2) + 1e-7
    assert path.shortest_length == pytest.approx(raw.length, rel=1e-6)
    # the merged path is a path of the graph: consecutive nodes share a data point or are joined by an edge
    w = graph.edge_weight(path.nodes[:-1], path.nodes[1:])
    assert bool(np.isfinite(w).all())
    assert path.interpolate(400).arc_length[-1] == pytest.approx(path.length, rel=1e-5)
    labels = path.interpolate(60).labels
    assert sum("/" in lab for lab in labels) <= 2 * path.chart_changes.size


def _brute_force(steps: np.ndarray, switch: np.ndarray, start: int, end: int, budget: float) -> tuple[int, float]:
    """(fewest switches, lowest cost among those) over every chart choice of a chain with one-station steps."""
    n_steps, m = steps.shape[0], steps.shape[2]
    best: tuple[int, float] | None = None
    for leaves in itertools.product(range(m), repeat=n_steps):
        charts = (start, *leaves, end)  # chart of step i is leaves[i]; station i switches charts[i] -> charts[i+1]
        cost, switches = 0.0, 0
        for i in range(n_steps + 1):
            if charts[i] != charts[i + 1]:
                cost += switch[i, charts[i], charts[i + 1]]
                switches += 1
            if i < n_steps:
                cost += steps[i, 0, charts[i + 1]]
        if np.isfinite(cost) and cost <= budget and (best is None or (switches, cost) < best):
            best = (switches, cost)
    return best if best is not None else (-1, np.inf)


def test_fewest_switches_agrees_with_brute_force(rng: np.random.Generator) -> None:
    for _ in range(60):
        n_steps, m = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        steps = np.where(rng.random((n_steps, 1, m)) < 0.8, rng.random((n_steps, 1, m)), np.inf)
        switch = np.where(rng.random((n_steps + 1, m, m)) < 0.7, rng.random((n_steps + 1, m, m)) * 0.3, np.inf)
        start, end = int(rng.integers(m)), int(rng.integers(m))
        optimum = _brute_force(steps, switch, start, end, np.inf)[1]
        if not np.isfinite(optimum):
            assert fewest_switches(steps, switch, start, end, 1e300, 2 * n_steps + 2) is None
            continue
        budget = optimum * float(rng.choice([1.0, 1.2, 2.0]))
        want = _brute_force(steps, switch, start, end, budget)
        got = fewest_switches(steps, switch, start, end, budget, 2 * n_steps + 2)
        assert got is not None and (got.switches, got.cost) == pytest.approx(want, rel=1e-12)
        # the chosen charts reproduce the cost
        charts = [got.arrive[0], *got.leave]
        total = sum(steps[i, 0, charts[i + 1]] for i in range(n_steps))
        total += sum(switch[i, a, lv] for i, (a, lv) in enumerate(zip(got.arrive, got.leave)) if a != lv)
        assert total == pytest.approx(got.cost, rel=1e-12)
