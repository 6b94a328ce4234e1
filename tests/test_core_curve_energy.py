"""The native energy of many decoded polylines (``agm._core.curve_energy``) against numpy, and on real layouts.

Oracles: the energy, lengths and derivative written out in numpy (float32 edges, float64 sums, ``np.add.at``);
finite differences of the energy; every error path of the binding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agm._core import curve_energy
from agm.geodesic.refinement.curve_batch import pad_curves
from agm.geodesic.refinement.energy_layout import energy_layout


def _numpy(x: np.ndarray, order: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    edge = (x[order[:, 1:]] - x[order[:, :-1]]).astype(np.float64)  # (B, M - 1, D): float32 differences
    square = (edge * edge).sum(axis=2)
    slope = 2.0 * weight[:, :, None] * edge
    upstream = np.zeros(x.shape, dtype=np.float64)
    np.add.at(upstream, order[:, 1:].reshape(-1), slope.reshape(-1, x.shape[1]))
    np.add.at(upstream, order[:, :-1].reshape(-1), -slope.reshape(-1, x.shape[1]))
    return (weight * square).sum(axis=1), np.sqrt(square).sum(axis=1), upstream.astype(np.float32)


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    rows=st.integers(1, 12),
    curves=st.integers(1, 5),
    vertices=st.integers(1, 9),
    dim=st.integers(1, 6),
)
def test_energy_equals_numpy(seed: int, rows: int, curves: int, vertices: int, dim: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, dim)).astype(np.float32)
    order = rng.integers(0, rows, size=(curves, vertices))
    order[:, 1::3] = order[:, 0::3][:, : order[:, 1::3].shape[1]]  # held vertices: one row twice
    weight = rng.uniform(0.0, 5.0, size=(curves, vertices - 1))
    energy, length, upstream = curve_energy(x, order, weight)
    want_energy, want_length, want_upstream = _numpy(x, order, weight)
    np.testing.assert_allclose(energy, want_energy, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(length, want_length, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(
        upstream, want_upstream, rtol=1e-6, atol=1e-6 * max(1.0, float(np.abs(want_upstream).max()))
    )
    assert energy.dtype == np.float64 and upstream.dtype == np.float32 and upstream.shape == x.shape


def test_derivative_is_the_energy_s_gradient() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 3)).astype(np.float32)
    order = np.array([[0, 1, 2, 2, 3], [4, 5, 6, 0, 1]], dtype=np.int64)
    weight = rng.uniform(0.5, 2.0, size=(2, 4))
    _, _, upstream = curve_energy(x, order, weight)
    h = 1e-3
    for r in range(7):
        for k in range(3):
            up, down = x.copy(), x.copy()
            up[r, k] += h
            down[r, k] -= h
            numeric = (curve_energy(up, order, weight)[0].sum() - curve_energy(down, order, weight)[0].sum()) / (2 * h)
            assert abs(numeric - upstream[r, k]) <= 2e-3 * max(1.0, abs(float(upstream[r, k])))


def test_layout_energy_is_the_fine_polylines() -> None:
    """On a real layout (two charts: held vertices and transition gaps), the lengths are those of the decoded
    points' fine polylines, and a curve's energy is its weighted squares."""
    rng = np.random.default_rng(2)
    latents = [torch.from_numpy(rng.normal(size=(n, 2)).astype(np.float32)) for n in (5, 3)]
    charts = [torch.tensor([0, 0, 1, 1, 1]), torch.tensor([1, 1, 1])]
    layout = energy_layout(pad_curves(latents, charts, torch.tensor([1.0, 2.0], dtype=torch.float64), 100.0), 4)
    x = rng.normal(size=(layout.n_rows, 5)).astype(np.float32)
    energy, length, _ = curve_energy(x, layout.order, layout.fine_weight)
    want_energy, want_length, _ = _numpy(x, layout.order, layout.fine_weight)
    np.testing.assert_allclose(energy, want_energy, rtol=1e-12)
    np.testing.assert_allclose(length, want_length, rtol=1e-12)


def test_non_finite_rows_give_non_finite_energy() -> None:
    x = np.ones((3, 2), dtype=np.float32)
    x[1, 0] = np.nan
    energy, length, _ = curve_energy(x, np.array([[0, 1], [0, 2]], dtype=np.int64), np.ones((2, 1)))
    assert np.isnan(energy[0]) and np.isnan(length[0]) and energy[1] == 0.0


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((np.ones((3, 2)), np.zeros((1, 2), dtype=np.int64), np.ones((1, 1))), TypeError, "x must have dtype float32"),
        (
            (np.ones(3, dtype=np.float32), np.zeros((1, 2), dtype=np.int64), np.ones((1, 1))),
            ValueError,
            "x must be 2-D",
        ),
        (
            (np.ones((2, 3), dtype=np.float32).T, np.zeros((1, 2), dtype=np.int64), np.ones((1, 1))),
            ValueError,
            "x must be C-contiguous",
        ),
        ((np.ones((3, 2), dtype=np.float32), np.zeros((1, 2), dtype=np.int32), np.ones((1, 1))), TypeError, "order"),
        ((np.ones((3, 2), dtype=np.float32), np.array([[0, 3]]), np.ones((1, 1))), IndexError, "order has row 3"),
        ((np.ones((3, 2), dtype=np.float32), np.array([[0, -1]]), np.ones((1, 1))), IndexError, "order has row -1"),
        ((np.ones((3, 2), dtype=np.float32), np.zeros((1, 0), dtype=np.int64), np.ones((1, 0))), ValueError, "M >= 1"),
        (
            (np.ones((3, 2), dtype=np.float32), np.zeros((1, 3), dtype=np.int64), np.ones((1, 1))),
            ValueError,
            "weight must have shape",
        ),
        (
            (np.ones((3, 2), dtype=np.float32), np.zeros((2, 2), dtype=np.int64), np.ones((1, 1))),
            ValueError,
            "weight must have shape",
        ),
        (
            (np.ones((3, 2), dtype=np.float32), np.zeros((1, 2), dtype=np.int64), np.array([[np.inf]])),
            ValueError,
            "weight must be finite",
        ),
        (
            (np.ones((3, 2), dtype=np.float32), np.zeros((1, 2), dtype=np.int64), np.ones((1, 1), np.float32)),
            TypeError,
            "weight",
        ),
    ],
)
def test_bad_arguments_are_refused(args: tuple[np.ndarray, ...], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        curve_energy(*args)
