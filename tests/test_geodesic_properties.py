"""Metric properties of graph geodesics (hypothesis) and agreement of A* with Dijkstra and batched with single."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agm import geodesic
from agm.models.analytic import CylinderAtlas

MODEL = CylinderAtlas(radius=0.7, ambient_shape=(6,))


@pytest.fixture(scope="module")
def graph() -> geodesic.GeodesicGraph:
    """The graph every test of this module queries: 500 points of the cylinder, built once when first needed."""
    g = torch.Generator().manual_seed(11)
    data = MODEL.points(torch.rand(500, generator=g) * 2 * math.pi - math.pi, torch.rand(500, generator=g))
    return geodesic.build_graph(MODEL, data, k=10, eps=0.05, n_steps=4, progress=False)


angles = st.floats(-math.pi, math.pi)
heights = st.floats(0.0, 1.0)


def point(theta: float, h: float) -> torch.Tensor:
    return MODEL.points(torch.tensor([theta]), torch.tensor([h]))[0]


@settings(max_examples=25, deadline=None)
@given(t0=angles, h0=heights, t1=angles, h1=heights)
def test_length_is_at_least_the_decoded_chord_and_symmetric(
    t0: float, h0: float, t1: float, h1: float, graph: geodesic.GeodesicGraph
) -> None:
    a, b = point(t0, h0), point(t1, h1)
    ab = geodesic.shortest_path(MODEL, a, b, graph)
    ba = geodesic.shortest_path(MODEL, b, a, graph)
    dec = ab.decode()
    assert ab.length >= float(torch.linalg.vector_norm(dec[0] - dec[-1])) * (1 - 1e-6)
    assert ab.length == pytest.approx(ba.length, rel=1e-5, abs=1e-6)
    assert ab.length >= MODEL.distance(*(torch.tensor([v]) for v in (t0, h0, t1, h1))).item() * (1 - 1e-3)


@settings(max_examples=20, deadline=None)
@given(t0=angles, h0=heights, t1=angles, h1=heights, t2=angles, h2=heights)
def test_triangle_inequality(
    t0: float, h0: float, t1: float, h1: float, t2: float, h2: float, graph: geodesic.GeodesicGraph
) -> None:
    a, b, c = point(t0, h0), point(t1, h1), point(t2, h2)
    d = geodesic.shortest_paths(MODEL, torch.stack([a, b, a]), torch.stack([b, c, c]), graph)
    assert d[2].length <= d[0].length + d[1].length + 1e-5


@settings(max_examples=15, deadline=None)
@given(t0=angles, h0=heights, t1=angles, h1=heights)
def test_astar_equals_dijkstra(graph: geodesic.GeodesicGraph, t0: float, h0: float, t1: float, h1: float) -> None:
    a, b = point(t0, h0), point(t1, h1)
    p = geodesic.shortest_path(MODEL, a, b, graph, method="astar")
    q = geodesic.shortest_path(MODEL, a, b, graph, method="dijkstra")
    # same encodings; equal-cost ties may differ, and chart-switch merging keeps each within 1e-6 of the optimum
    assert p.length == pytest.approx(q.length, rel=2e-6)


def test_batched_equals_one_by_one(graph: geodesic.GeodesicGraph) -> None:
    g = torch.Generator().manual_seed(5)
    x0 = MODEL.points(torch.rand(16, generator=g) * 6 - 3, torch.rand(16, generator=g))
    x1 = MODEL.points(torch.rand(16, generator=g) * 6 - 3, torch.rand(16, generator=g))
    batched = geodesic.shortest_paths(MODEL, x0, x1, graph, n_threads=2)
    for i, p in enumerate(batched):
        single = geodesic.shortest_path(MODEL, x0[i], x1[i], graph)
        # float32 encodings/decodings depend on the batch by ~1 ulp (MKL GEMM rows): lengths agree to ~1.5e-6
        assert p.length == pytest.approx(single.length, rel=1e-5)


def test_path_length_is_the_sum_of_its_decoded_polyline(graph: geodesic.GeodesicGraph) -> None:
    p = geodesic.shortest_path(MODEL, point(-2.5, 0.1), point(2.0, 0.9), graph)
    fine = p.interpolate(400)
    assert fine.arc_length[-1] == pytest.approx(p.length, rel=1e-5)
    assert len(p) == p.latents.shape[0] == p.charts.shape[0]
    assert p.nodes.shape[0] + 2 <= len(p) <= p.nodes.shape[0] + 4  # main copies [+ copies in other charts]
