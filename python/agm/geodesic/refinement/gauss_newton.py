"""Batched Gauss-Newton descent of the discrete energy of decoded curves (the optimiser of refinement).

The energy of a :class:`~agm.geodesic.refinement.curve_batch.CurveBatch` is

    E = sum_s w_s * n * sum_k || x_s(t_(k+1)) - x_s(t_k) ||^2,   x_s(t) = G_c(z_a + t (z_b - z_a)),  t_k = k / n,

over the segments s = (a, b) inside a chart (n = ``sub_steps``: the decoded polyline that eq. 10 measures, so no
length can hide between two points), plus w_s || G_c'(z_b) - G_c(z_a) ||^2 for a chart transition (two encodings of
one point held together by a large weight). Each step solves the Gauss-Newton system of the chord model of this
energy, whose matrix is the pullback metric J^T J of every curve point (J = dG_c/dz from d forward-difference
Jacobian-vector products of all points in one decoder call: forward-mode AD, ``torch.func.jvp`` or
``torch.autograd.forward_ad``, costs 3.8-5.6 s of imports (torch._dynamo) on its first use in a process with
torch 2.13, far above the decoder's own cost) coupled between neighbours: block tridiagonal with d x d blocks
(the GEORCE idea of freezing the metric at the curve points, with the exact gradient of the energy above, from one
backward pass through the sub-step decodings). The blocks of all curves are one banded system (no coupling between
curves; bandwidth 2 d - 1), solved by one LAPACK call (``dpbsv``, the Cholesky factorisation of the band) on the
host. From the second step on, the matrix is updated by BFGS along the curve's last move (the secant of the
exact gradient, :func:`_secant_corrected`): the Gauss-Newton matrix leaves out the decoder's second derivatives, the
manifold's curvature, so alone it contracts a long curve's error slowly (by about (length / pi)^2 per step on the
unit sphere). A backtracking line search (Armijo, halving) accepts a step only where the energy drops and no free point
leaves its chart further (psi_c(G_c(z)) > eps, when ``eps`` is given). All unconverged curves advance together:
every iteration is one decoding of all their points and sub-steps (with its backward pass), one decoding of the d
shifted copies of their points (the Jacobians; in the same call for a cheap decoder, ``fuse``) and one partition
call, whatever the number of curves. Every curve's fine polyline (points and sub-steps) is one gather of the
decoded rows, so energy, length and the energy's derivative are a few tensor operations for all curves.

Measured (benchmarks/bench_refine.py, 20 sphere pairs, 2-core Xeon at load 3-6, CPU time per geodesic, see
benchmarks/README.md): 2.5 ms in one call for all 20, 9.7-11.3 ms one by one (GEORCE 1.5-1.7 ms); median / max
length error 4.0e-6 / 1.1e-4 on all 20 pairs (GEORCE's max 2.3e-3, near its chart's pole), largest angle to the
great circle 3.1e-4 rad (GEORCE's median 1.8e-3). The energy's derivative by the decodings is written out, so
autograd runs the decoder's vector-Jacobian product only; the loop's bookkeeping is numpy on the host; a refused
line-search trial costs its forward decoding only; an expensive decoder's Jacobians are reused while its curves
hardly move (:data:`REUSE_MOVE`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.linalg.lapack import dpbsv

from agm.geodesic._support.checks import call_model, check_decoded
from agm.geodesic.refinement.curve_batch import CurveBatch
from agm.models.protocol import SemiAtlasModel

#: Sufficient-decrease constant of the line search (Armijo).
ARMIJO = 1e-4
#: A curve stops when its step moves no point by more than this fraction of the curve's length (|J_i step_i|, the
#: first-order distance to the minimum of the chord model: a shape criterion), or (for decoders whose steps never
#: get that small) when its step predicts an energy decrease below :data:`TOLERANCE` of its energy. Measured on the
#: sphere (bench_refine.py's 20 pairs, 32 points; evaluations per path, median / max angle to the great circle):
#: the energy criterion alone at 1e-6, Gauss-Newton: 5.0, 3.3e-4 / 2.0e-3; at 1e-7: 5.7, 1.4e-4 / 8.7e-4; with the
#: secant (:func:`_secant_corrected`) at 1e-6: 4.7, 7.3e-5 / 4.5e-4; this criterion (2e-4, 1e-7) with the secant:
#: 4.7, 7.2e-5 / 3.1e-4; 3e-5: 5.3, 1.3e-5 / 3.1e-4. Length errors are the same in all (median 4.0e-6).
MOVE_TOLERANCE = 2e-4
#: See :data:`MOVE_TOLERANCE`.
TOLERANCE = 1e-7
#: An expensive decoder's Jacobians are not decoded anew for a step after one that moved no point by more than
#: this fraction of its curve's length: the metric of a curve that hardly moves is the last one (the secant
#: corrects it along the move), and a trained conv decoder spends a third of an evaluation on its Jacobians.
#: Measured on the trained 8-chart MNIST decoder (4 paths): 0 (never reused) and 1e-2 give the same evaluations
#: and refined lengths to 5 digits; 3e-2 lengthens one path by 1e-4.
REUSE_MOVE = 1e-2
#: A curve stops when its line search has halved the step this often without an acceptable point.
MAX_HALVINGS = 6
#: Forward-difference step of the Jacobians, relative to 1 + the latent's largest coordinate.
FD_STEP = 1e-3
#: Levenberg damping of the Gauss-Newton matrix, relative to its mean diagonal (keeps degenerate metrics solvable).
DAMPING = 1e-9


@dataclass(frozen=True)
class Evaluation:
    """The energy terms of curves at their latents (host arrays: the descent's bookkeeping is numpy).

    Attributes:
        energy: (B,) float64 energy of each curve.
        step: (B, L, d) float64 Gauss-Newton step (0 at fixed and padded points).
        slope: (B,) float64 directional derivative of the energy along ``step`` (<= 0).
        violation: (B,) float64 sum over free points of max(0, eps - psi_c(G_c(z))) (0 without ``eps``).
        length: (B,) float64 each curve's decoded length with ``sub_steps`` steps per segment inside a chart plus
            the decoded gap of each transition (eq. 10, as a path is measured: float32 differences).
        edge: (B,) float64 the smallest psi_c(G_c(z)) of the curve's free points (inf without ``eps`` or free
            points).
        gradient: (B, L, d) float64 the energy's gradient by the latents (0 at padded points).
        move: (B,) float64 the largest decoded displacement of a point by the step, |J_i step_i| (the first-order
            distance of the curve to the minimum of its chord model; 0 without free points).
    """

    energy: np.ndarray
    step: np.ndarray
    slope: np.ndarray
    violation: np.ndarray
    length: np.ndarray
    edge: np.ndarray
    gradient: np.ndarray
    move: np.ndarray


@dataclass(frozen=True)
class _Layout:
    """What every evaluation of one set of curves shares (built once per set, on the host, not per iteration).

    Decoded rows: the P existing points (curve after curve, in order), then the sub-steps of every segment inside a
    chart (n - 1 each). Row r's latent is lerp(z[ia[r]], z[ib[r]], t[r]) of the flat (B L, d) latents (a point:
    ia = ib, t = 0). The fine polyline of curve b is rows ``order[b]`` ((L - 1) n + 1 vertices): each segment's
    first point, its n - 1 sub-steps, ..., the last point; a transition's or a padding segment's sub-steps are its
    first point's row again (held), so its n fine edges are 0, ..., 0 and the gap. The energy is
    sum_e weight[b, e] |x_(e+1) - x_e|^2 over fine edges, the length sum_e |x_(e+1) - x_e|.
    """

    shape: tuple[int, int, int]  # B, L, d
    ia: torch.Tensor  # (R,) int64 on the device
    ib: torch.Tensor  # (R,) int64
    t: torch.Tensor  # (R, 1) float32
    t64: torch.Tensor  # (R, 1) float64
    s64: torch.Tensor  # (R, 1) float64: 1 - t
    charts: torch.Tensor  # (R,) int64 the chart of every row
    order: torch.Tensor  # (B M,) int64 the rows of the fine polylines, M = (L - 1) n + 1
    fine_weight: torch.Tensor  # (B, M - 1) float64 energy weight of every fine edge
    n_points: int  # P
    point_flat: np.ndarray  # (P,) int64 flat index (b L + i) of every row-point
    point_index: torch.Tensor | None  # point_flat on the device, None where it is every index (no padding)
    shifted_charts: torch.Tensor  # (d P,) int64: the charts of the Jacobians' d shifted copies of the points
    fuse: bool  # the shifted copies decoded in the points' and sub-steps' call (a cheap decoder: one call less)
    free: np.ndarray  # (F,) int64 the free points among the P (rows)
    curve_of_free: np.ndarray  # (F,) int64
    free_start: np.ndarray  # (C,) int64 where each curve with free points starts among the F
    with_free: np.ndarray  # (C,) int64 those curves
    diag_weight: np.ndarray  # (F,) float64: 2 (w_(i-1) + w_i), the weight of J_i^T J_i
    off_weight: np.ndarray  # (F - 1,) float64: -2 w_i between free points f and f + 1 of one curve, else 0
    band: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # diagonal and upper blocks' band rows and columns
    upper: np.ndarray  # (d, d) bool: r <= c
    groups: tuple[tuple[np.ndarray, _Layout], ...] | None  # curves evaluated apart (see _groups), or None


def _layout(curves: CurveBatch, sub_steps: int, batch_size: int = 1 << 30, fuse: bool = False) -> _Layout:
    b, length, d = curves.latents.shape
    device = curves.latents.device
    count = curves.count.cpu().numpy()
    charts = curves.charts.cpu().numpy()
    weight = curves.weight.cpu().numpy()
    positions = np.arange(length)
    valid = positions[None, :] < count[:, None]
    free = (positions[None, :] > 0) & valid & (positions[None, :] < count[:, None] - 1)
    segment = positions[None, :-1] < count[:, None] - 1
    jump = segment & (charts[:, 1:] != charts[:, :-1])
    inner = segment & ~jump
    n = sub_steps if length > 1 and sub_steps > 1 and bool(inner.any()) else 1
    point_flat = np.flatnonzero(valid.reshape(-1))
    n_points = point_flat.size
    flat_row = np.zeros(b * length, dtype=np.int64)  # flat point -> its row (padding: the curve's last point's)
    flat_row[point_flat] = np.arange(n_points)
    last = np.arange(b) * length + count - 1
    row_of = np.where(valid.reshape(-1), flat_row, np.repeat(flat_row[last], length)).reshape(b, length)
    sb, si = np.nonzero(inner)
    n_sub = n - 1
    first = sb * length + si
    ia = np.concatenate([point_flat, np.repeat(first, n_sub)])
    ib = np.concatenate([point_flat, np.repeat(first + 1, n_sub)])
    t = np.concatenate([np.zeros(n_points), np.tile(np.arange(1, n) / n, sb.size)])
    row_charts = torch.from_numpy(charts.reshape(-1)[ia]).to(device)
    held = np.repeat(row_of[:, :-1, None], n, axis=2)  # (B, L - 1, n): held at the segment's first point
    if n_sub > 0:
        held[sb, si, 1:] = n_points + np.arange(sb.size * n_sub).reshape(-1, n_sub)
    order = np.concatenate([held.reshape(b, -1), row_of[:, -1:]], axis=1)
    fine = np.where(inner, weight * n, 0.0)[:, :, None].repeat(n, axis=2)
    fine[:, :, -1] = np.where(jump, weight, fine[:, :, -1])  # a transition: its gap, weight w
    free_rows = row_of[free]  # (F,) curve after curve, in order
    curve_of_free = np.nonzero(free)[0]
    with_free, free_start = np.unique(curve_of_free, return_index=True)
    padded = np.pad(weight, ((0, 0), (1, 1)))
    diag_weight = (2.0 * (padded[:, :-1] + padded[:, 1:]))[free]
    pair = np.zeros_like(free)
    pair[:, :-1] = free[:, :-1] & free[:, 1:]  # free point i and free point i + 1
    off_weight = np.where(pair, -2.0 * np.pad(weight, ((0, 0), (0, 1))), 0.0)[free][:-1]
    return _Layout(
        shape=(b, length, d),
        ia=torch.from_numpy(ia).to(device),
        ib=torch.from_numpy(ib).to(device),
        t=torch.from_numpy(t.astype(np.float32)[:, None]).to(device),
        t64=torch.from_numpy(t[:, None]).to(device),
        s64=torch.from_numpy(1.0 - t[:, None]).to(device),
        charts=row_charts,
        order=torch.from_numpy(order.reshape(-1)).to(device),
        fine_weight=torch.from_numpy(fine.reshape(b, -1)).to(device),
        n_points=n_points,
        point_flat=point_flat,
        point_index=None if n_points == b * length else torch.from_numpy(point_flat).to(device),
        shifted_charts=row_charts[:n_points].repeat(d),
        fuse=fuse,
        free=free_rows,
        curve_of_free=curve_of_free,
        free_start=free_start,
        with_free=with_free,
        diag_weight=diag_weight,
        off_weight=off_weight,
        band=_band(free_rows.size, d),
        upper=np.triu(np.ones((d, d), dtype=bool)),
        groups=_groups(curves, sub_steps, n_sub, batch_size, fuse),
    )


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


def _groups(
    curves: CurveBatch, sub_steps: int, n_sub: int, batch_size: int, fuse: bool
) -> tuple[tuple[np.ndarray, _Layout], ...] | None:
    """Consecutive curves whose decoded rows (points and sub-steps) fit one ``batch_size`` (a curve alone where
    one does not), with their layouts; None where all fit together. Curves evaluated in groups keep every group's
    activations alive for its own backward pass only: a conv decoder on a CPU then decodes as fast as for one curve
    (measured: 6 trained-MNIST curves in one call 1.03x the CPU time of one by one without groups)."""
    count = curves.count.tolist()
    rows = [n + (n - 1) * n_sub for n in count]
    if len(rows) < 2 or sum(rows) <= batch_size:
        return None
    bounds, total = [0], 0
    for b, r in enumerate(rows):
        if total and total + r > batch_size:
            bounds.append(b)
            total = 0
        total += r
    bounds.append(len(rows))
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        index = np.arange(lo, hi)
        out.append(
            (index, _layout(curves.rows(torch.from_numpy(index).to(curves.latents.device)), sub_steps, fuse=fuse))
        )
    return tuple(out)


def _decoded(
    model: SemiAtlasModel, z: torch.Tensor, y: torch.Tensor, batch_size: int, check: bool = True
) -> torch.Tensor:
    """(N, D) float32 decodings of z (N, d) in charts y (N,), ``batch_size`` points per call (differentiable).

    The shape is always checked; finiteness only with ``check`` (a line-search trial's non-finite decoding gives a
    non-finite energy, and the trial is refused)."""
    parts = []
    for s in range(0, z.shape[0], batch_size):
        zb, yb = z[s : s + batch_size], y[s : s + batch_size]
        out = call_model("decode", model.decode, zb, yb)
        if check or not isinstance(out, torch.Tensor) or out.ndim < 1 or out.shape[0] != zb.shape[0]:
            out = check_decoded(out, zb, yb, zb.shape[0])
        parts.append(out.reshape(zb.shape[0], -1))
    return (parts[0] if len(parts) == 1 else torch.cat(parts)).float()


def jacobians(
    model: SemiAtlasModel, z: torch.Tensor, y: torch.Tensor, x: torch.Tensor, batch_size: int = 1 << 30
) -> torch.Tensor:
    """Jacobians dG_y/dz of many points by forward differences, all d Jacobian-vector products in one call.

    Args:
        model: an AGM (``decode(z, y)``) in eval mode.
        z: (N, d) float32 latents on the decoder's device.  y: (N,) int64 charts.
        x: (N, D) float32 their decodings G_y(z) (flattened).  batch_size: points per decoder call.

    Returns:
        (N, D, d) float64 Jacobians on the decoder's device: the metric of the Gauss-Newton matrix. The energy's
        gradient does not use them (it is exact, by autograd), so their error (~FD_STEP relative) only changes
        the preconditioner, not the minimum.
    """
    return _jacobians(model, z, y, x, batch_size, check=True)


def _jacobians(
    model: SemiAtlasModel,
    z: torch.Tensor,
    y: torch.Tensor,
    x: torch.Tensor,
    batch_size: int,
    check: bool,
) -> torch.Tensor:
    """:func:`jacobians`."""
    width, shifted = _shifted(z)
    return _difference(_decoded(model, shifted, y.repeat(z.shape[1]), batch_size, check), x, width)


def evaluate(
    model: SemiAtlasModel,
    curves: CurveBatch,
    sub_steps: int,
    eps: float | None,
    data_shape: tuple[int, ...],
    batch_size: int = 1 << 30,
) -> Evaluation:
    """Energy, Gauss-Newton step, its slope, the chart violation, length and edge of every curve (see the module
    docstring).

    Args:
        model: an AGM (``decode``; ``partition`` when ``eps`` is given), in eval mode, on the curves' device.
        curves: the curves (B >= 1).  sub_steps: n of the energy (>= 1).  eps: the chart threshold or None.
        data_shape: S, the shape of one decoding (for ``partition``).  batch_size: points per decoder call.
    """
    layout = _layout(curves, sub_steps, batch_size)
    latents = curves.latents.detach().cpu().numpy()
    return _evaluate(model, layout, latents, curves.latents.device, eps, data_shape, batch_size, check=True)


Secant = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class _Pending:
    """The forward half of an evaluation: what decides a line-search trial (energy, violation; length and edge),
    and ``finish``, the rest (the backward pass, the Jacobians, the step), run only for a trial that some curve
    accepts: a refused trial costs one forward decoding and one partition call."""

    energy: np.ndarray
    length: np.ndarray
    violation: np.ndarray
    edge: np.ndarray
    finish: Callable[[Secant | None, list[torch.Tensor | None] | None, np.ndarray | None], Evaluation]
    jacobians: list[torch.Tensor | None]  # what ``finish`` used, per group of curves, for the next step to reuse


def _evaluate(
    model: SemiAtlasModel,
    layout: _Layout,
    latents: np.ndarray,
    device: torch.device,
    eps: float | None,
    data_shape: tuple[int, ...],
    batch_size: int,
    check: bool,
    secant: Secant | None = None,
) -> Evaluation:
    """:func:`evaluate` of the curves of ``layout`` at ``latents`` (B, L, d) float32 (host): one differentiable
    decoding of their points and sub-steps (and its backward pass), one decoding of the d shifted copies of their
    points (the Jacobians) and, with ``eps``, one partition call; in groups of curves where ``layout`` has them.
    ``secant``: (s, y0), (B, L, d) each, the move to ``latents`` and the gradient before it (see
    :func:`_secant_corrected`)."""
    return _begin(model, layout, latents, device, eps, data_shape, batch_size, check).finish(secant, None, None)


def _begin(
    model: SemiAtlasModel,
    layout: _Layout,
    latents: np.ndarray,
    device: torch.device,
    eps: float | None,
    data_shape: tuple[int, ...],
    batch_size: int,
    check: bool,
) -> _Pending:
    """The forward half of :func:`_evaluate` (see :class:`_Pending`)."""
    if layout.groups is not None:
        parts = [
            (index, _begin(model, part, latents[index], device, eps, data_shape, batch_size, check))
            for index, part in layout.groups
        ]

        def finish_all(
            secant: Secant | None, stale: list[torch.Tensor | None] | None, accepted: np.ndarray | None
        ) -> Evaluation:
            done = []
            for g, (i, p) in enumerate(parts):
                if accepted is not None and not accepted[i].any():  # no curve of the group takes its trial
                    shape = latents[i].shape
                    zero = np.zeros(shape[0])
                    done.append(
                        Evaluation(
                            p.energy, np.zeros(shape), zero, p.violation, p.length, p.edge, np.zeros(shape), zero
                        )
                    )
                    used_all[g] = None
                    continue
                old = stale[g] if stale is not None else None
                done.append(p.finish(None if secant is None else (secant[0][i], secant[1][i]), [old], None))
                used_all[g] = p.jacobians[-1]
            return Evaluation(*(np.concatenate([getattr(e, f) for e in done]) for f in Evaluation.__dataclass_fields__))

        used_all: list[torch.Tensor | None] = [None] * len(parts)

        joined = [np.concatenate([getattr(p, f) for _, p in parts]) for f in ("energy", "length", "violation", "edge")]
        return _Pending(joined[0], joined[1], joined[2], joined[3], finish_all, used_all)
    b, length, d = layout.shape
    n = layout.n_points
    z = torch.from_numpy(np.ascontiguousarray(latents, dtype=np.float32).reshape(-1, d)).to(device)
    rows = torch.lerp(z[layout.ia], z[layout.ib], layout.t)
    if layout.fuse:
        width, shifted = _shifted(rows[:n])
        inputs = torch.cat([rows, shifted])
        charts = torch.cat([layout.charts, layout.shifted_charts])
    else:
        inputs, charts = rows, layout.charts
    with torch.enable_grad():
        inputs.requires_grad_(True)
        decoded_all = _decoded(model, inputs, charts, batch_size, check)
        decoded = decoded_all[: rows.shape[0]] if layout.fuse else decoded_all
    with torch.no_grad():
        out = decoded.detach()
        x = out[:n]
        poly = out[layout.order].reshape(b, -1, out.shape[1])  # (B, M, D) the fine polylines
        wide = (poly[:, 1:] - poly[:, :-1]).double()  # float32 differences
        square = (wide * wide).sum(dim=2)
        host = torch.cat([(layout.fine_weight * square).sum(dim=1), square.sqrt().sum(dim=1)]).cpu().numpy()
    violation: np.ndarray = np.zeros(b)
    edge = np.full(b, np.inf)
    if eps is not None:
        psi = call_model("partition", model.partition, x.reshape(-1, *data_shape))
        own = psi.gather(1, layout.charts[:n, None])[:, 0].double().cpu().numpy()[layout.free]
        violation = np.bincount(layout.curve_of_free, weights=np.maximum(eps - own, 0.0), minlength=b).astype(float)
        if own.size:
            edge[layout.with_free] = np.minimum.reduceat(own, layout.free_start)

    def finish(
        secant: Secant | None, stale: list[torch.Tensor | None] | None, accepted: np.ndarray | None
    ) -> Evaluation:
        gradient = _gradient(layout, inputs, decoded, wide, rows.shape[0])
        with torch.no_grad():
            if stale is not None and stale[0] is not None:
                jac = stale[0]
            elif layout.fuse:
                jac = _difference(decoded_all.detach()[rows.shape[0] :], x, width)
            else:
                spread, moved = _shifted(rows[:n])
                jac = _difference(_decoded(model, moved, layout.shifted_charts, batch_size, check), x, spread)
        pair = None
        if secant is not None:
            at = layout.point_flat[layout.free]
            pair = (secant[0].reshape(-1, d)[at], gradient[layout.free] - secant[1].reshape(-1, d)[at])
        step, move_f = _gauss_newton_step(layout, jac, gradient, pair)
        used[:] = [jac]
        grad = np.zeros((b * length, d))
        grad[layout.point_flat] = gradient
        full_step = np.zeros((b * length, d))
        full_step[layout.point_flat[layout.free]] = step
        slope = np.bincount(layout.curve_of_free, weights=(gradient[layout.free] * step).sum(axis=1), minlength=b)
        move = np.zeros(b)
        if move_f.size:
            move[layout.with_free] = np.maximum.reduceat(move_f, layout.free_start)
        return Evaluation(
            host[:b],
            full_step.reshape(b, length, d),
            slope,
            violation,
            host[b:],
            edge,
            grad.reshape(b, length, d),
            move,
        )

    used: list[torch.Tensor | None] = [None]
    return _Pending(host[:b], host[b:], violation, edge, finish, used)


def _gradient(layout: _Layout, inputs: torch.Tensor, decoded: torch.Tensor, wide: torch.Tensor, r: int) -> np.ndarray:
    """(P, d) float64 the energy's gradient at the points: one backward pass through the decoder alone.

    The energy's derivative by the decodings is written out (a polyline's: 2 w (x_k - x_(k-1)) - 2 w (x_(k+1) -
    x_k) at every vertex, summed over the vertices that share a row), and that of the rows' latents by the points'
    (lerp(z_a, z_b, t)); autograd runs only the decoder's vector-Jacobian product. inputs: the decoded latents (the
    first ``r`` rows: points and sub-steps) with their graph to ``decoded`` (R, D); wide: (B, M - 1, D) float64 the
    fine polylines' edges."""
    with torch.no_grad():
        slope = (2.0 * layout.fine_weight)[:, :, None] * wide  # dE / d(x_(e+1) - x_e)
        vertex = torch.nn.functional.pad(slope, (0, 0, 1, 0)) - torch.nn.functional.pad(slope, (0, 0, 0, 1))
        upstream = wide.new_zeros(decoded.shape).index_add_(0, layout.order, vertex.reshape(-1, decoded.shape[1]))
    with torch.enable_grad():  # a scalar: grad_outputs would import torch.fx's sympy (~1 s) on the first call
        (through,) = torch.autograd.grad((decoded * upstream.to(decoded.dtype)).sum(), [inputs])
    with torch.no_grad():
        through = through[:r].double()
        flat = through.new_zeros(layout.shape[0] * layout.shape[1], inputs.shape[1])
        flat.index_add_(0, layout.ia, through * layout.s64).index_add_(0, layout.ib, through * layout.t64)
        gradient = flat if layout.point_index is None else flat[layout.point_index]
        out: np.ndarray = gradient.cpu().numpy()
    return out


def _shifted(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The forward differences' widths (N, 1) and the d shifted copies (d N, d) of latents z (N, d), direction
    after direction."""
    n, d = z.shape
    width = FD_STEP * (1.0 + z.abs().amax(dim=1, keepdim=True))
    shifted = z[None].repeat(d, 1, 1)
    shifted.diagonal(dim1=0, dim2=2).add_(width)  # shifted[k, :, k] += width
    return width, shifted.reshape(d * n, d)


def _difference(moved: torch.Tensor, x: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """(N, D, d) float64 forward-difference Jacobians from the decodings (d N, D) of the shifted copies."""
    d = moved.shape[0] // max(1, x.shape[0])
    jacobian: torch.Tensor = ((moved.reshape(d, x.shape[0], -1) - x[None]).double() / width.double()[None]).permute(
        1, 2, 0
    )
    return jacobian


def _gauss_newton_step(
    layout: _Layout, jac: torch.Tensor, gradient: np.ndarray, secant: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(F, d) float64 step -H^-1 g at the free points, H the block-tridiagonal Gauss-Newton matrix of the chord
    energy sum_s w_s |G(z_b) - G(z_a)|^2 (fixed and padded points held); jac (P, D, d) float64, gradient (P, d).

    The blocks of all curves are one banded system (no coupling between curves), solved by one LAPACK call
    (Cholesky of the band, ``dpbsv``) on the host. Also (F,) float64 |J_f step_f|, each free point's decoded
    displacement."""
    free, d = layout.free, gradient.shape[1]
    if free.size == 0:
        return np.zeros((0, d)), np.zeros(0)
    jt = jac.transpose(1, 2)
    metric = (jt @ jac).cpu().numpy()[free]  # (F, d, d): J^T J at every free point
    cross = (jt[:-1] @ jac[1:]).cpu().numpy() if jac.shape[0] > 1 else np.zeros((0, d, d))
    diag = layout.diag_weight[:, None, None] * metric
    trace = np.einsum("fii->f", diag)
    level = DAMPING * np.bincount(layout.curve_of_free, weights=trace) / d
    level = level / np.maximum(1, np.bincount(layout.curve_of_free))
    diag += level[layout.curve_of_free, None, None] * np.eye(d)
    n = free.size * d
    kd = 2 * d - 1
    ab = np.zeros((kd + 1, n))
    diag_row, diag_col, up_row, up_col = layout.band
    ab[diag_row, diag_col] = diag[:, layout.upper]
    if free.size > 1:
        ab[up_row, up_col] = (layout.off_weight[:, None, None] * cross[free[:-1]]).reshape(free.size - 1, -1)
    rhs = -gradient[free].reshape(n, 1)
    if secant is not None:
        rhs = np.concatenate([rhs, secant[1].reshape(n, 1)], axis=1)
    _, solution, info = dpbsv(ab, rhs)
    if info != 0:  # not positive definite in floating point: the dense least-squares step
        dense = np.zeros((n, n))
        rows = np.concatenate([diag_row.ravel() - kd + diag_col.ravel(), up_row.ravel() - kd + up_col.ravel()])
        cols = np.concatenate([diag_col.ravel(), up_col.ravel()])
        dense[rows, cols] = ab[np.concatenate([diag_row.ravel(), up_row.ravel()]), cols]
        dense[cols, rows] = dense[rows, cols]
        solution = np.linalg.lstsq(dense, rhs, rcond=None)[0]
    step: np.ndarray = solution[:, 0].reshape(free.size, d)
    if secant is not None:
        step = _secant_corrected(layout, ab, step, solution[:, 1].reshape(free.size, d), gradient[free], secant)
    move = np.sqrt(np.maximum(np.einsum("fi,fij,fj->f", step, metric, step), 0.0))
    return step, move


def minimise_energy(
    model: SemiAtlasModel,
    curves: CurveBatch,
    max_steps: int,
    sub_steps: int,
    eps: float | None,
    data_shape: tuple[int, ...],
    batch_size: int = 1 << 30,
) -> CurveBatch:
    """Gauss-Newton descent of every curve's energy, all curves together (see the module docstring).

    Args:
        model: an AGM in eval mode on the curves' device.
        curves: the start (B curves).
        max_steps: most evaluations (decoder calls for the unconverged curves), >= 0.
        sub_steps: n of the energy.  eps: the chart threshold kept by the line search, or None.
        data_shape: S, the shape of one decoding.  batch_size: points per decoder call.

    Returns:
        The curves at the lowest-energy latents found (never above the start's energy; a curve that started
        outside its charts never goes further out).
    """
    return descend_measured(model, curves, max_steps, sub_steps, eps, data_shape, batch_size)[0]


def descend_measured(
    model: SemiAtlasModel,
    curves: CurveBatch,
    max_steps: int,
    sub_steps: int,
    eps: float | None,
    data_shape: tuple[int, ...],
    batch_size: int = 1 << 30,
    watch: Callable[[int], None] | None = None,
    fuse: bool = False,
) -> tuple[CurveBatch, tuple[np.ndarray, np.ndarray] | None]:
    """:func:`minimise_energy`, and the final curves' lengths and edges ((B,) float64 each, see
    :class:`Evaluation`) from the descent's own decodings, or None where nothing was evaluated (``max_steps`` 0
    or no free point). ``watch``, if given, is called after every evaluation with the number of curves done
    (converged or stopped) so far. ``fuse``: decode the Jacobians' shifted points in the same call as the curves'
    points and sub-steps (one decoder call and its overhead less per evaluation; their backward pass, of zeros,
    then runs too: for a cheap decoder only).

    The loop's bookkeeping (which curves go on, the line search's step sizes, the latents themselves) is on the
    host, in numpy; the device decodes.
    """
    if max_steps == 0 or not bool(curves.free.any()):
        return curves, None
    device = curves.latents.device
    layout = _layout(curves, sub_steps, batch_size, fuse)
    z = curves.latents.detach().cpu().numpy().copy()
    now = _evaluate(model, layout, z, device, eps, data_shape, batch_size, check=True)
    step, gradient = now.step.copy(), now.gradient.copy()
    energy, slope, violation = now.energy.copy(), now.slope.copy(), now.violation.copy()
    length, edge = now.length.copy(), now.edge.copy()
    alpha = np.ones_like(energy)
    halvings = np.zeros(energy.shape, dtype=np.int64)
    move = now.move.copy()
    done = _converged(slope, energy, move, length)
    if watch is not None:
        watch(int(done.sum()))
    rows_then: np.ndarray | None = None
    last: tuple[_Layout | None, list[torch.Tensor | None]] = (None, [])  # the last step's layout and Jacobians
    for _ in range(max_steps):
        rows = np.flatnonzero(~done)
        if rows.size == 0:
            break
        if rows.size == curves.n_curves:
            lay = layout
        elif rows_then is None or not np.array_equal(rows, rows_then):
            lay = _layout(curves.rows(torch.from_numpy(rows).to(device)), sub_steps, batch_size, fuse)
        rows_then = rows if rows.size < curves.n_curves else None
        trial = (z[rows] + alpha[rows, None, None] * step[rows]).astype(np.float32)
        pending = _begin(model, lay, trial, device, eps, data_shape, batch_size, False)
        ok = (
            np.isfinite(pending.energy)
            & (pending.energy <= energy[rows] + ARMIJO * alpha[rows] * slope[rows])
            & (pending.violation <= violation[rows])
        )
        took, kept = rows[ok], rows[~ok]
        if took.size:  # the backward pass, the Jacobians and the step only for a trial some curve takes
            stale = None
            if not fuse and lay is last[0]:  # the last step's Jacobians, per group, where its curves hardly moved
                small = move[rows] <= REUSE_MOVE * length[rows]
                index = [np.arange(rows.size)] if lay.groups is None else [i for i, _ in lay.groups]
                stale = [j if bool(small[i].all()) else None for i, j in zip(index, last[1])]
            then = pending.finish((trial - z[rows], gradient[rows]), stale, ok)
            last = (lay, list(pending.jacobians))
            z[took], step[took], gradient[took] = trial[ok], then.step[ok], then.gradient[ok]
            energy[took], slope[took], violation[took] = then.energy[ok], then.slope[ok], then.violation[ok]
            length[took], edge[took] = then.length[ok], then.edge[ok]
            alpha[took], halvings[took] = 1.0, 0
            move[took] = then.move[ok]
            done[took] = _converged(slope[took], energy[took], move[took], length[took])
        alpha[kept] *= 0.5
        halvings[kept] += 1
        done[kept] = halvings[kept] > MAX_HALVINGS
        if watch is not None:
            watch(int(done.sum()))
    return curves.moved(torch.from_numpy(z).to(device)), (length, edge)


def _secant_corrected(
    layout: _Layout,
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
    starts = layout.free_start
    a = np.add.reduceat((moved * change).sum(axis=1), starts)
    c = np.add.reduceat((moved * product.reshape(moved.shape)).sum(axis=1), starts)
    sg = np.add.reduceat((moved * gradient).sum(axis=1), starts)
    yp = np.add.reduceat((change * step).sum(axis=1), starts)
    yy = np.add.reduceat((change * solved).sum(axis=1), starts)
    use = (a > 1e-12 * np.maximum(c, 1e-300)) & (c > 0)
    safe = np.where(use, a, 1.0)
    k0 = np.where(use, -sg / safe, 0.0)
    k1 = np.where(use, (yp - (safe + yy) * k0) / safe, 0.0)
    curve = np.repeat(np.arange(starts.size), np.diff(np.append(starts, moved.shape[0])))
    out: np.ndarray = step - solved * k0[curve, None] - moved * k1[curve, None]
    return out


def _converged(slope: np.ndarray, energy: np.ndarray, move: np.ndarray, length: np.ndarray) -> np.ndarray:
    """(B,) bool: the curves whose step moves no point by more than :data:`MOVE_TOLERANCE` of its length, or
    predicts an energy decrease below :data:`TOLERANCE` of its energy (all (B,) float64)."""
    out: np.ndarray = (move <= MOVE_TOLERANCE * length) | ~(-slope > TOLERANCE * energy)
    return out
