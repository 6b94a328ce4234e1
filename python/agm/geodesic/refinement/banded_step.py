"""The Gauss-Newton step of many curves at once: a block Cholesky solve per curve, and its secant (BFGS) correction.

The matrix of a curve's chord energy sum_s w_s |G(z_b) - G(z_a)|^2, with the metric frozen at the curve points
(J^T J: the GEORCE idea), is block tridiagonal with d x d blocks (no coupling between curves). The native core
(``agm._core.curve_step``: numpy in and out, the GIL released) assembles and factors every curve's blocks and
applies the secant in one call; where some curve's matrix is not positive definite in floating point, all curves
of the call are solved as one banded system (bandwidth 2 d - 1) by LAPACK (``dpbsv``, the Cholesky factorisation of
the band), and by a dense least-squares solve where that fails too (:func:`banded_step`). Measured on the sphere
(benchmarks/README.md, "Issue 25, sixth round"): the numpy and LAPACK step took 0.18 ms of each evaluation's ~1 ms.

From the second step on, the matrix is updated by BFGS along the curve's last move (the secant of the exact
gradient, :func:`secant_corrected`): the Gauss-Newton matrix leaves out the decoder's second derivatives, the
manifold's curvature, so alone it contracts a long curve's error slowly (by about (length / pi)^2 per step on the
unit sphere).

Floor: :mod:`agm.geodesic.refinement` (numpy, scipy and the native core).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg.lapack import dpbsv

from agm._core import curve_step

if TYPE_CHECKING:
    from agm.geodesic.refinement.energy_layout import EnergyLayout

#: Levenberg damping of the Gauss-Newton matrix, relative to its mean diagonal (keeps degenerate metrics solvable).
DAMPING = 1e-9


def gauss_newton_step(
    layout: EnergyLayout, jt: np.ndarray, gradient: np.ndarray, secant: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(F, d) float64 step -H^-1 g at the free points, H the block-tridiagonal Gauss-Newton matrix of the chord
    energy sum_s w_s |G(z_b) - G(z_a)|^2 (fixed and padded points held); jt (P, d, D) float64 the points'
    transposed Jacobians, gradient (P, d) float64; ``secant``: (s, y) (F, d) each, see :func:`secant_corrected`.
    Solved by the native core, or by :func:`banded_step` where a curve's matrix is not positive definite.

    Also (F,) float64 |J_f step_f|, each free point's decoded displacement."""
    d = gradient.shape[1]
    if layout.free.size == 0:
        return np.zeros((0, d)), np.zeros(0)
    moved, change = (None, None) if secant is None else (_float64(secant[0]), _float64(secant[1]))
    step, move, definite = curve_step(
        _float64(jt),
        _float64(gradient),
        layout.free,
        layout.free_start,
        layout.diag_weight,
        layout.off_weight,
        moved,
        change,
        DAMPING,
    )
    if definite:
        return step, move
    return banded_step(layout, jt, gradient, secant)


def _float64(values: np.ndarray) -> np.ndarray:
    """``values`` as a C-contiguous float64 array (the native core converts nothing; a float32 move is widened here,
    as numpy's products with the float64 Jacobians would)."""
    return np.ascontiguousarray(values, dtype=np.float64)


def banded_step(
    layout: EnergyLayout, jt: np.ndarray, gradient: np.ndarray, secant: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`gauss_newton_step` by numpy and LAPACK: all curves' blocks in one banded matrix, one ``dpbsv`` (the
    dense least-squares solution where the band is not positive definite), then :func:`secant_corrected`."""
    free, d = layout.free, gradient.shape[1]
    if free.size == 0:
        return np.zeros((0, d)), np.zeros(0)
    at = jt[free]
    metric = at @ at.transpose(0, 2, 1)  # (F, d, d): J^T J at every free point
    diag = layout.diag_weight[:, None, None] * metric
    trace = np.einsum("fii->f", diag)
    level = DAMPING * np.bincount(layout.curve_of_free, weights=trace) / d
    level = level / np.maximum(1, np.bincount(layout.curve_of_free))
    diag += level[layout.curve_of_free, None, None] * np.eye(d)
    n = free.size * d
    kd = 2 * d - 1
    ab = np.zeros((kd + 1, n))
    band = _band(free.size, d)
    diag_row, diag_col, up_row, up_col = band
    ab[diag_row, diag_col] = diag[:, np.triu(np.ones((d, d), dtype=bool))]
    if free.size > 1:  # J_f^T J_(f+1) of consecutive free points (0-weighted where they are not one curve's)
        cross = at[:-1] @ at[1:].transpose(0, 2, 1)
        ab[up_row, up_col] = (layout.off_weight[:, None, None] * cross).reshape(free.size - 1, -1)
    rhs = -gradient[free].reshape(n, 1)
    if secant is not None:
        rhs = np.concatenate([rhs, secant[1].reshape(n, 1)], axis=1)
    _, solution, info = dpbsv(ab, rhs)
    if info != 0:  # not positive definite in floating point: the dense least-squares step
        solution = _dense_solution(ab, rhs, band, kd)
    step: np.ndarray = solution[:, 0].reshape(free.size, d)
    if secant is not None:
        step = secant_corrected(layout, ab, step, solution[:, 1].reshape(free.size, d), gradient[free], secant)
    move = np.sqrt(np.maximum(np.einsum("fi,fij,fj->f", step, metric, step), 0.0))
    return step, move


def _band(n_free: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Upper band storage (LAPACK's ``pb``: ab[kd + i - j, j] = A[i, j], kd = 2 d - 1) of the block-tridiagonal
    matrix of ``n_free`` d x d diagonal blocks: the (band row, column) of the diagonal blocks' upper triangles
    ((F, d (d + 1) / 2) each) and of the blocks above the diagonal ((F - 1, d^2) each)."""
    kd = 2 * d - 1
    r, c = np.nonzero(np.triu(np.ones((d, d), dtype=bool)))
    blocks = np.arange(n_free)[:, None] * d
    diag_row, diag_col = np.broadcast_to(kd + r - c, (n_free, r.size)), blocks + c
    r2, c2 = np.divmod(np.arange(d * d), d)
    up_row = np.broadcast_to(kd - d + r2 - c2, (max(0, n_free - 1), d * d))
    up_col = blocks[:-1] + d + c2
    return diag_row, diag_col, up_row, up_col


def _dense_solution(
    ab: np.ndarray, rhs: np.ndarray, band: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], kd: int
) -> np.ndarray:
    """The least-squares solution of the symmetric matrix held in the upper band ``ab`` for ``rhs`` (n, k)."""
    diag_row, diag_col, up_row, up_col = band
    n = ab.shape[1]
    dense = np.zeros((n, n))
    rows = np.concatenate([diag_row.ravel() - kd + diag_col.ravel(), up_row.ravel() - kd + up_col.ravel()])
    cols = np.concatenate([diag_col.ravel(), up_col.ravel()])
    dense[rows, cols] = ab[np.concatenate([diag_row.ravel(), up_row.ravel()]), cols]
    dense[cols, rows] = dense[rows, cols]
    solution: np.ndarray = np.linalg.lstsq(dense, rhs, rcond=None)[0]
    return solution


def secant_corrected(
    layout: EnergyLayout,
    band: np.ndarray,
    step: np.ndarray,
    solved: np.ndarray,
    gradient: np.ndarray,
    secant: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """The Gauss-Newton step of the matrix H updated by BFGS along the last move: H + y y^T / (s^T y) -
    H s s^T H / (s^T H s), per curve (s the free points' last move, y the change of their gradient over it;
    curves where s^T y <= 0 keep the Gauss-Newton step). H leaves out the decoder's second derivatives (the
    manifold's curvature), so on a curved manifold its steps contract the error only by about (length / pi)^2 per
    iteration on the sphere; the secant puts the curvature back along the direction that converges slowest.

    band: (2 d, F d) the upper band of H; step: (F, d) -H^-1 g; solved: (F, d) H^-1 y; gradient: (F, d) g;
    secant: (s, y), (F, d) each. By Sherman-Morrison-Woodbury with U = [y, H s]: p = p0 - (H^-1 y) k0 - s k1,
    k0 = -s.g / a, k1 = (y.p0 - (a + y.H^-1 y) k0) / a, a = s.y."""
    moved, change = secant
    kd = band.shape[0] - 1
    flat = moved.reshape(-1)
    product = band[kd] * flat  # H s from the upper band (symmetric)
    for k in range(1, kd + 1):
        product[:-k] += band[kd - k, k:] * flat[k:]
        product[k:] += band[kd - k, k:] * flat[:-k]
    # s.y, s.H s, s.g, y.p0, y.H^-1 y of every curve, in one product and one reduction
    left, right = (
        np.stack([moved, moved, moved, change, change]),
        np.stack([change, product.reshape(moved.shape), gradient, step, solved]),
    )
    a, c, sg, yp, yy = np.add.reduceat(np.einsum("kfd,kfd->kf", left, right), layout.free_start, axis=1)
    use = (a > 1e-12 * np.maximum(c, 1e-300)) & (c > 0)
    safe = np.where(use, a, 1.0)
    k0 = np.where(use, -sg / safe, 0.0)
    k1 = np.where(use, (yp - (safe + yy) * k0) / safe, 0.0)
    rank = layout.free_rank
    out: np.ndarray = step - solved * k0[rank, None] - moved * k1[rank, None]
    return out
