"""Refinement keeps the shortest curve it measured: the descent records the shortest curve each one passed through
(its start or an accepted step), and ``descend_and_measure`` returns it where it is shorter than the end and no
less inside its charts; an expensive decoder's warm-started curves are also compared with their measured start."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agm.geodesic.refinement import refine_curves
from agm.geodesic.refinement.curve_batch import CurveBatch, pad_curves
from agm.geodesic.refinement.gauss_newton import Measured, descend_measured
from agm.geodesic.refinement.recharting import MARGIN
from agm.geodesic.refinement.refine_curves import RefineSettings, descend_and_measure, measure
from agm.models.analytic import SphereAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

EPS = 0.05


def _settings(model: SphereAtlas, warm: bool = False) -> RefineSettings:
    return RefineSettings(model, (3,), 4, EPS, EPS, 100.0, 4, 30, 4096, fuse=not warm, warm=warm)


def _curves(seed: int, noise: float) -> tuple[SphereAtlas, CurveBatch]:
    model = SphereAtlas()
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(3):
        a, b = torch.randn(2, generator=g) * 0.7, torch.randn(2, generator=g) * 0.7
        z = a[None] + torch.linspace(0, 1, 10)[:, None] * (b - a)[None]
        z[1:-1] += noise * torch.randn(8, 2, generator=g)
        out.append(z)
    charts = [torch.zeros(10, dtype=torch.int64)] * 3
    return model, pad_curves(out, charts, torch.full((3,), 10.0, dtype=torch.float64), 100.0)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 0.4))
def test_the_shortest_curve_passed_through_is_measured_as_measure_does(seed: int, noise: float) -> None:
    model, curves = _curves(seed, noise)
    s = _settings(model)
    start_length = measure(s, curves)[0]
    with torch.no_grad():
        out, measured = descend_measured(model, curves, 30, 4, EPS, (3,), 4096, fuse=True)
    assert isinstance(measured, Measured)
    assert (measured.shortest_length <= measured.length).all()
    assert (measured.shortest_length <= start_length * (1 + 1e-6)).all()  # the start is one of them
    again = measure(s, out.moved(torch.from_numpy(measured.shortest)))[0]
    np.testing.assert_allclose(again, measured.shortest_length, rtol=1e-5)
    np.testing.assert_allclose(measure(s, out)[0], measured.length, rtol=1e-5)


def _fake_descent(monkeypatch: pytest.MonkeyPatch, curves: CurveBatch, measured: Measured) -> None:
    monkeypatch.setattr(refine_curves, "_descend", lambda settings, c, watch, begun=None: (c, measured))


def test_an_earlier_shorter_curve_is_returned_unless_it_left_its_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    model, curves = _curves(0, 0.2)
    earlier = curves.latents.numpy() + 0.01
    inside, outside, edge = (MARGIN + 1) * EPS, EPS / 2, MARGIN * EPS  # psi of the curves' worst free points
    measured = Measured(
        length=np.array([2.0, 2.0, 2.0]),
        edge=np.array([inside, inside, outside]),
        shortest=earlier.astype(np.float32),
        shortest_length=np.array([1.5, 1.5, 1.9]),
        shortest_edge=np.array([edge, outside, outside]),
    )
    _fake_descent(monkeypatch, curves, measured)
    out, length, within, pressed = descend_and_measure(_settings(model), curves)
    np.testing.assert_array_equal(length, [1.5, 2.0, 1.9])  # the second would leave its charts
    np.testing.assert_array_equal(within, [True, True, False])
    np.testing.assert_array_equal(pressed, [True, False, True])
    np.testing.assert_array_equal(out.latents[0].numpy(), earlier[0].astype(np.float32))
    np.testing.assert_array_equal(out.latents[1].numpy(), curves.latents[1].numpy())
    np.testing.assert_array_equal(out.latents[2].numpy(), earlier[2].astype(np.float32))


def test_a_warm_started_curve_longer_than_its_start_gives_the_start_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """An expensive decoder's curves descend the points' energy first; the full descent's start is then not theirs,
    so the start is measured apart and kept where it is the shortest."""
    model, curves = _curves(1, 0.0)  # straight latent lines: the start is short
    start_length = measure(_settings(model), curves)[0]
    moved = curves.moved(curves.latents + 0.05 * torch.sin(torch.arange(10.0))[None, :, None])
    monkeypatch.setattr(refine_curves, "descend", lambda settings, c: moved)  # the warm phase bent them
    bent = measure(_settings(model), moved)[0]
    assert (bent > start_length).all()
    measured = Measured(bent, np.full(3, np.inf), moved.latents.numpy(), bent, np.full(3, np.inf))
    _fake_descent(monkeypatch, curves, measured)
    out, length, within, _ = descend_and_measure(_settings(model, warm=True), curves)
    np.testing.assert_allclose(length, start_length)
    np.testing.assert_array_equal(out.latents.numpy(), curves.latents.numpy())
    assert within.all()
    cold = descend_and_measure(dataclasses.replace(_settings(model, warm=True), warm=False), curves)[1]
    np.testing.assert_allclose(cold, bent)  # without the warm phase the descent's own start counts
