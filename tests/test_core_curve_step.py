"""The native Gauss-Newton step of many curves (``agm._core.curve_step``) against numpy and LAPACK.

Oracle: :func:`agm.geodesic.refinement.banded_step.banded_step` (all curves in one banded matrix, ``dpbsv``, the
secant by Sherman-Morrison-Woodbury in numpy) on real energy layouts; every error path of the binding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agm._core import curve_step
from agm.geodesic.refinement.banded_step import DAMPING, banded_step, gauss_newton_step
from agm.geodesic.refinement.curve_batch import pad_curves
from agm.geodesic.refinement.energy_layout import EnergyLayout, energy_layout


def _layout(rng: np.random.Generator, n_curves: int, d: int) -> EnergyLayout:
    latents, charts = [], []
    for _ in range(n_curves):
        n = int(rng.integers(3, 10))
        latents.append(torch.from_numpy(rng.normal(size=(n, d)).astype(np.float32)))
        charts.append(torch.from_numpy(rng.integers(0, 2, size=n).astype(np.int64)))
    scale = torch.from_numpy(rng.uniform(0.1, 50.0, size=n_curves))
    return energy_layout(pad_curves(latents, charts, scale, 100.0), 3)


def _inputs(
    rng: np.random.Generator, layout: EnergyLayout, ambient: int, with_secant: bool
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    p, d = layout.n_points, layout.shape[2]
    jt = rng.normal(size=(p, d, ambient))
    gradient = rng.normal(size=(p, d))
    f = layout.free.size
    secant = (rng.normal(size=(f, d)), rng.normal(size=(f, d))) if with_secant else None
    return jt, gradient, secant


def _native(layout: EnergyLayout, jt: np.ndarray, gradient: np.ndarray, secant, damping: float = DAMPING):  # type: ignore[no-untyped-def]
    moved, change = (None, None) if secant is None else secant
    return curve_step(
        jt, gradient, layout.free, layout.free_start, layout.diag_weight, layout.off_weight, moved, change, damping
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_curves=st.integers(1, 6),
    d=st.integers(1, 5),
    extra=st.integers(0, 6),
    with_secant=st.booleans(),
)
def test_step_equals_lapack_band(seed: int, n_curves: int, d: int, extra: int, with_secant: bool) -> None:
    rng = np.random.default_rng(seed)
    layout = _layout(rng, n_curves, d)
    # D >= 2 d: Gaussian Jacobians of condition number below ~6, so the two Cholesky orders agree to rounding on
    # any CPU's BLAS (square ones can be near-singular, and the solvers' rounding then differs by their condition)
    jt, gradient, secant = _inputs(rng, layout, 2 * d + extra, with_secant)
    step, move, definite = _native(layout, jt, gradient, secant)
    want_step, want_move = banded_step(layout, jt, gradient, secant)
    assert definite
    scale = max(1.0, float(np.abs(want_step).max()))
    np.testing.assert_allclose(step, want_step, rtol=1e-7, atol=1e-9 * scale)
    np.testing.assert_allclose(move, want_move, rtol=1e-7, atol=1e-9 * max(1.0, float(want_move.max())))
    got, got_move = gauss_newton_step(layout, jt, gradient, secant)
    np.testing.assert_array_equal(got, step)
    np.testing.assert_array_equal(got_move, move)


def test_secant_changes_the_step_only_where_s_y_is_positive() -> None:
    rng = np.random.default_rng(3)
    layout = _layout(rng, 3, 2)
    jt, gradient, secant = _inputs(rng, layout, 3, True)
    assert secant is not None
    plain = _native(layout, jt, gradient, None)[0]
    moved, change = secant
    change = change.copy()
    first = slice(int(layout.free_start[0]), int(layout.free_start[1]))
    change[first] = -moved[first]  # s.y < 0 on the first curve: no update there
    corrected = _native(layout, jt, gradient, (moved, change))[0]
    np.testing.assert_array_equal(corrected[first], plain[first])
    assert not np.allclose(corrected[first.stop :], plain[first.stop :])
    np.testing.assert_allclose(corrected, banded_step(layout, jt, gradient, (moved, change))[0], rtol=1e-7, atol=1e-9)


def test_singular_matrix_falls_back_to_least_squares() -> None:
    rng = np.random.default_rng(4)
    layout = _layout(rng, 2, 2)
    jt, gradient, _ = _inputs(rng, layout, 3, False)
    jt[:] = 0.0  # a constant decoder: J = 0, the matrix is 0 (the damping is relative to it)
    assert not _native(layout, jt, gradient, None)[2]
    step, move = gauss_newton_step(layout, jt, gradient)
    want_step, want_move = banded_step(layout, jt, gradient)
    np.testing.assert_array_equal(step, want_step)
    np.testing.assert_array_equal(move, want_move)


def test_non_finite_curve_stays_in_its_curve() -> None:
    rng = np.random.default_rng(5)
    layout = _layout(rng, 3, 2)
    jt, gradient, secant = _inputs(rng, layout, 4, True)
    clean = _native(layout, jt, gradient, secant)[0]
    second = slice(int(layout.free_start[1]), int(layout.free_start[2]))
    jt[layout.free[second][0], 0, 0] = np.nan  # a refused trial's decoding
    step, _, definite = _native(layout, jt, gradient, secant)
    assert definite
    assert np.isnan(step[second]).all()
    keep = np.ones(len(step), dtype=bool)
    keep[second] = False
    np.testing.assert_array_equal(step[keep], clean[keep])


def test_no_free_points() -> None:
    empty = np.zeros(0, dtype=np.int64)
    step, move, definite = curve_step(
        np.zeros((2, 2, 3)), np.zeros((2, 2)), empty, empty, np.zeros(0), np.zeros(0), None, None, 0.0
    )
    assert step.shape == (0, 2) and move.shape == (0,) and definite


def _good() -> dict[str, object]:
    return {
        "jt": np.ones((4, 2, 3)),
        "gradient": np.ones((4, 2)),
        "free": np.array([1, 2], dtype=np.int64),
        "start": np.array([0], dtype=np.int64),
        "diag_weight": np.ones(2),
        "off_weight": -np.ones(1),
        "moved": None,
        "change": None,
        "damping": 1e-9,
    }


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"jt": np.ones((4, 2, 3), dtype=np.float32)}, TypeError, "jt must have dtype float64"),
        ({"jt": np.ones((4, 6))}, ValueError, "jt must be 3-D"),
        ({"jt": np.ones((4, 3, 2)).transpose(0, 2, 1)}, ValueError, "jt must be C-contiguous"),
        ({"gradient": np.ones((3, 2))}, ValueError, "gradient must have shape"),
        ({"gradient": np.ones((4, 2), dtype=np.float32)}, TypeError, "gradient must have dtype float64"),
        ({"free": np.array([1, 4], dtype=np.int64)}, IndexError, r"free\[1\] = 4"),
        ({"free": np.array([-1, 2], dtype=np.int64)}, IndexError, r"free\[0\] = -1"),
        ({"free": np.array([1, 2], dtype=np.int32)}, TypeError, "free must have dtype int64"),
        ({"start": np.array([1], dtype=np.int64)}, ValueError, "start must begin with 0"),
        ({"start": np.array([0, 0], dtype=np.int64)}, ValueError, "start must increase strictly"),
        ({"start": np.array([0, 2], dtype=np.int64)}, ValueError, "start must increase strictly"),
        ({"diag_weight": np.ones(3)}, ValueError, "diag_weight must have one entry per free point"),
        ({"diag_weight": np.array([1.0, np.inf])}, ValueError, "diag_weight must be finite"),
        ({"off_weight": np.ones(2)}, ValueError, "off_weight must have F - 1 = 1"),
        ({"off_weight": np.array([np.nan])}, ValueError, "off_weight must be finite"),
        ({"moved": np.ones((2, 2))}, ValueError, "moved and change must be given together"),
        ({"moved": np.ones((2, 2)), "change": np.ones((3, 2))}, ValueError, "change must have shape"),
        ({"moved": [[1.0, 1.0]], "change": np.ones((2, 2))}, TypeError, "moved must be a numpy array or None"),
        ({"damping": -1.0}, ValueError, "damping must be finite and >= 0"),
        ({"damping": float("nan")}, ValueError, "damping must be finite and >= 0"),
        ({"jt": np.ones((4, 0, 3)), "gradient": np.ones((4, 0))}, ValueError, "d >= 1"),
    ],
)
def test_bad_arguments_are_refused(change: dict[str, object], error: type[Exception], match: str) -> None:
    args = _good() | change
    with pytest.raises(error, match=match):
        curve_step(**args)  # type: ignore[arg-type]
