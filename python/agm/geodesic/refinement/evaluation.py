"""One evaluation of the discrete curve energy: its value, its gradient, the Jacobians and the Gauss-Newton step.

The energy of a :class:`~agm.geodesic.refinement.curve_batch.CurveBatch` is

    E = sum_s w_s * n * sum_k || x_s(t_(k+1)) - x_s(t_k) ||^2,   x_s(t) = G_c(z_a + t (z_b - z_a)),  t_k = k / n,

over the segments s = (a, b) inside a chart (n = ``sub_steps``: the decoded polyline that eq. 10 measures, so no
length can hide between two points), plus w_s || G_c'(z_b) - G_c(z_a) ||^2 for a chart transition (two encodings of
one point held together by a large weight). An evaluation is one decoding of all curves' points and sub-steps (the
rows of :class:`~agm.geodesic.refinement.energy_layout.EnergyLayout`) and, with ``eps``, one partition call: that
decides a line-search trial. Only for a trial that some curve accepts come the backward pass (the energy's exact
gradient: its derivative by the decodings is written out, so autograd runs the decoder's vector-Jacobian product
only), the Jacobians J = dG_c/dz of the points by d forward differences (forward-mode AD, ``torch.func.jvp`` or
``torch.autograd.forward_ad``, costs 3.8-5.6 s of imports (torch._dynamo) on its first use in a process with torch
2.13, far above the decoder's own cost; for a cheap decoder the shifted points are decoded in the rows' own call) and
the step (:mod:`agm.geodesic.refinement.banded_step`). A very cheap decoder (a ``differenced`` layout, see
:func:`~agm.geodesic.refinement.energy_layout.energy_layout`: a closed-form chart map, whose backward pass is mostly
autograd's fixed cost) decodes every row with its 2 d central-difference copies in one call instead, without
autograd: the rows' Jacobians give the gradient (J^T of the derivative by the decodings) and the points' metric
(measured one by one on the sphere's 20 paths: 3.6 -> 2.8 ms of CPU a ``refine()``, lengths and angles to the great
circle equal to the printed digits).

The device decodes; everything else is on the host: the decodings come back once per call, the energy, lengths and
the derivative by the decodings of all curves are one call of the native core (``agm._core.curve_energy``), the
gradient by the latents a sparse product with the layout's lerp adjoint. Measured on the sphere (20 curves of 33
points one by one, 1 torch thread): the same evaluation in torch operations dispatched 2-3x as many operations,
each 3-5 us; with the native energy instead of two sparse products, a refined path took 0.92x the time
(benchmarks/README.md, "Issue 25, sixth round").

Floor: :mod:`agm.geodesic.refinement` (imports the support floor's checks and the native core only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import torch

from agm._core import curve_energy
from agm.geodesic._support.checks import call_model, check_decoded
from agm.geodesic.refinement.banded_step import gauss_newton_step
from agm.geodesic.refinement.curve_batch import CurveBatch
from agm.geodesic.refinement.energy_layout import EnergyLayout, energy_layout
from agm.models.protocol import SemiAtlasModel

#: Forward-difference step of the Jacobians, relative to 1 + the latent's largest coordinate.
FD_STEP = 1e-3

#: (s, y0), (B, L, d) float64 each: a curve's last move and its gradient before it (see
#: :func:`agm.geodesic.refinement.banded_step.secant_corrected`).
Secant = tuple[np.ndarray, np.ndarray]


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


#: ``finish(secant, stale, accepted)``: the rest of an evaluation (see :class:`Pending`).
Finish = Callable[[Secant | None, list[np.ndarray | None] | None, np.ndarray | None], Evaluation]


@dataclass(frozen=True)
class Pending:
    """The forward half of an evaluation: what decides a line-search trial (energy, violation; length and edge),
    and ``finish``, the rest (the backward pass, the Jacobians, the step), run only for a trial that some curve
    accepts: a refused trial costs one forward decoding and one partition call.

    ``finish(secant, stale, accepted)``: ``secant`` as :data:`Secant` for these curves or None; ``stale``: per
    group of curves, Jacobians to reuse instead of decoding them anew (or None); ``accepted``: (B,) bool, the
    groups without an accepting curve are not finished (or None: all are). ``jacobians``: what ``finish`` used, per
    group, for the next step to reuse ((P, d, D) float64 each, J^T of every point)."""

    energy: np.ndarray
    length: np.ndarray
    violation: np.ndarray
    edge: np.ndarray
    finish: Finish
    jacobians: list[np.ndarray | None]


def begin_curves(
    model: SemiAtlasModel,
    curves: CurveBatch,
    sub_steps: int,
    eps: float | None,
    data_shape: tuple[int, ...],
    batch_size: int = 1 << 30,
    fuse: bool = False,
    difference_rows: int = 0,
) -> Pending:
    """The forward half of an evaluation of ``curves`` on their own layout (see the module docstring): its energy,
    lengths, violation and edge (the smallest psi_c of each curve's free points) can decide what to do with the
    curves before the rest is run (a descent's first evaluation, ``begun`` of
    :func:`agm.geodesic.refinement.gauss_newton.descend_measured`); ``finish(None, None, None)`` gives the whole
    :class:`Evaluation`.

    Args:
        model: an AGM (``decode``; ``partition`` when ``eps`` is given), in eval mode, on the curves' device.
        curves: the curves (B >= 1).  sub_steps: n of the energy (>= 1).  eps: the chart threshold or None.
        data_shape: S, the shape of one decoding (for ``partition``).  batch_size: points per decoder call.
        fuse: the Jacobians' shifted points decoded in the rows' call (a cheap decoder).
        difference_rows: central differences instead of a backward pass where the rows' 2 d shifted copies number
            at most this (see :func:`~agm.geodesic.refinement.energy_layout.energy_layout`).
    """
    layout = energy_layout(curves, sub_steps, batch_size, fuse, difference_rows)
    latents = curves.latents.detach().cpu().numpy()
    return begin(model, layout, latents, curves.latents.device, eps, data_shape, batch_size, True)


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
    points = z.detach().cpu().numpy().astype(np.float32)
    width, shifted = _shifted(points)
    moved = _decoded(model, torch.from_numpy(shifted).to(z.device), y.repeat(z.shape[1]), batch_size, True)
    host = _difference(moved.detach().cpu().numpy(), x.detach().reshape(x.shape[0], -1).cpu().numpy(), width)
    return torch.from_numpy(np.ascontiguousarray(host.transpose(0, 2, 1))).to(z.device)


def begin(
    model: SemiAtlasModel,
    layout: EnergyLayout,
    latents: np.ndarray,
    device: torch.device,
    eps: float | None,
    data_shape: tuple[int, ...],
    batch_size: int,
    check: bool,
) -> Pending:
    """The forward half of an evaluation of the curves of ``layout`` at ``latents`` (B, L, d) float32 (host): one
    differentiable decoding of their points and sub-steps (with the shifted points where ``layout.fuse``) and, with
    ``eps``, one partition call; in groups of curves where ``layout`` has them. ``check``: finiteness of the
    decodings checked (a line-search trial's non-finite decoding gives a non-finite energy, and it is refused)."""
    if layout.groups is not None:
        parts = [
            (index, begin(model, part, latents[index], device, eps, data_shape, batch_size, check))
            for index, part in layout.groups
        ]
        return _joined(parts, latents)
    d = layout.shape[2]
    n, r = layout.n_points, layout.n_rows
    flat = np.ascontiguousarray(latents, dtype=np.float32).reshape(-1, d)
    start = flat[layout.ia]
    rows = start + layout.t * (flat[layout.ib] - start)  # (R, d) float32: lerp(z_a, z_b, t)
    if layout.differenced:
        return _begin_differenced(_Calls(model, device, eps, data_shape, batch_size, check), layout, rows)
    width, shifted = _shifted(rows[:n])
    inputs = torch.from_numpy(np.concatenate([rows, shifted]) if layout.fuse else rows).to(device)
    with torch.enable_grad():
        inputs.requires_grad_(True)
        charts = layout.decode_charts if layout.fuse else layout.decode_charts[:r]
        decoded = _decoded(model, inputs, charts, batch_size, check)
    host = decoded.detach().cpu().numpy()
    x = host[:n]
    energy, length, upstream = curve_energy(host[:r], layout.order, layout.fine_weight)
    violation, edge = _chart_terms(model, layout, decoded.detach()[:n], eps, data_shape)
    used: list[np.ndarray | None] = [None]

    def finish(secant: Secant | None, stale: list[np.ndarray | None] | None, accepted: np.ndarray | None) -> Evaluation:
        gradient = _gradient(layout, inputs, decoded, upstream)
        if stale is not None and stale[0] is not None:
            jt = stale[0]
        elif layout.fuse:
            jt = _difference(host[r:], x, width)
        else:
            moved = _decoded(model, torch.from_numpy(shifted).to(device), layout.decode_charts[r:], batch_size, check)
            jt = _difference(moved.detach().cpu().numpy(), x, width)
        used[:] = [jt]
        return _evaluation(layout, jt, gradient, energy, length, violation, edge, secant)

    return Pending(energy, length, violation, edge, finish, used)


@dataclass(frozen=True)
class _Calls:
    """How one evaluation calls the model (the arguments of :func:`begin` beside the curves)."""

    model: SemiAtlasModel
    device: torch.device
    eps: float | None
    data_shape: tuple[int, ...]
    batch_size: int
    check: bool


def _begin_differenced(calls: _Calls, layout: EnergyLayout, rows: np.ndarray) -> Pending:
    """:func:`begin` of a ``differenced`` layout (a very cheap decoder): the rows (R, d) float32 and their 2 d
    shifted copies decoded in one call without autograd; every row's Jacobian by central differences gives both
    the energy's gradient (J^T of the derivative by the decodings, through lerp's adjoint) and the points' metric.
    Their error (float32 decodings over a 2 FD_STEP width: ~3e-5 relative, truncation ~1e-6) moves the minimum the
    gradient finds by about that fraction of a segment; the length is measured on the decodings, as always."""
    n, r = layout.n_points, layout.n_rows
    span, copies = _central(rows)
    inputs = torch.from_numpy(copies).to(calls.device)
    with torch.no_grad():
        decoded = _decoded(calls.model, inputs, layout.decode_charts, calls.batch_size, calls.check)
    host = decoded.cpu().numpy().reshape(copies.shape[0] // r, r, -1)
    energy, length, upstream = curve_energy(host[0], layout.order, layout.fine_weight)
    violation, edge = _chart_terms(calls.model, layout, decoded[:n], calls.eps, calls.data_shape)
    used: list[np.ndarray | None] = [None]

    def finish(secant: Secant | None, stale: list[np.ndarray | None] | None, accepted: np.ndarray | None) -> Evaluation:
        jt_rows = _central_difference(host[1:], span)  # (R, d, D) float64
        through = np.einsum("rkx,rx->rk", jt_rows, upstream)
        jt = np.ascontiguousarray(jt_rows[:n])
        used[:] = [jt]
        return _evaluation(layout, jt, layout.spread @ through, energy, length, violation, edge, secant)

    return Pending(energy, length, violation, edge, finish, used)


def _joined(parts: list[tuple[np.ndarray, Pending]], latents: np.ndarray) -> Pending:
    """One :class:`Pending` of groups of curves begun apart (``parts``: each group's curves (b,) int64 and its
    pending evaluation), whose ``finish`` finishes only the groups with an accepting curve."""
    used: list[np.ndarray | None] = [None] * len(parts)

    def finish_all(
        secant: Secant | None, stale: list[np.ndarray | None] | None, accepted: np.ndarray | None
    ) -> Evaluation:
        done = []
        for g, (i, p) in enumerate(parts):
            if accepted is not None and not accepted[i].any():  # no curve of the group takes its trial
                shape = latents[i].shape
                zero = np.zeros(shape[0])
                done.append(
                    Evaluation(p.energy, np.zeros(shape), zero, p.violation, p.length, p.edge, np.zeros(shape), zero)
                )
                used[g] = None
                continue
            old = stale[g] if stale is not None else None
            done.append(p.finish(None if secant is None else (secant[0][i], secant[1][i]), [old], None))
            used[g] = p.jacobians[-1]
        return Evaluation(*(np.concatenate([getattr(e, f.name) for e in done]) for f in fields(Evaluation)))

    joined = [np.concatenate([getattr(p, f) for _, p in parts]) for f in ("energy", "length", "violation", "edge")]
    return Pending(joined[0], joined[1], joined[2], joined[3], finish_all, used)


def _chart_terms(
    model: SemiAtlasModel, layout: EnergyLayout, x: torch.Tensor, eps: float | None, data_shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """(B,) float64 each: the chart violation and edge (see :class:`Evaluation`) from the points' decodings x (P, D)
    (one partition call; zeros and inf without ``eps``)."""
    b = layout.shape[0]
    violation, edge = np.zeros(b), np.full(b, np.inf)
    if eps is None:
        return violation, edge
    psi = call_model("partition", model.partition, x.reshape(-1, *data_shape)).detach().cpu().numpy()
    own = psi[layout.free, layout.point_charts[layout.free]].astype(np.float64)
    violation = np.bincount(layout.curve_of_free, weights=np.maximum(eps - own, 0.0), minlength=b).astype(float)
    if own.size:
        edge[layout.with_free] = np.minimum.reduceat(own, layout.free_start)
    return violation, edge


def _evaluation(
    layout: EnergyLayout,
    jt: np.ndarray,
    gradient: np.ndarray,
    energy: np.ndarray,
    length: np.ndarray,
    violation: np.ndarray,
    edge: np.ndarray,
    secant: Secant | None,
) -> Evaluation:
    """The :class:`Evaluation` of one group from its points' Jacobians jt (P, d, D) and gradient (P, d) float64."""
    b, length_max, d = layout.shape
    pair = None
    if secant is not None:
        at = layout.point_flat[layout.free]
        pair = (secant[0].reshape(-1, d)[at], gradient[layout.free] - secant[1].reshape(-1, d)[at])
    step, move_f = gauss_newton_step(layout, jt, gradient, pair)
    grad = np.zeros((b * length_max, d))
    grad[layout.point_flat] = gradient
    full_step = np.zeros((b * length_max, d))
    full_step[layout.point_flat[layout.free]] = step
    slope = np.bincount(layout.curve_of_free, weights=(gradient[layout.free] * step).sum(axis=1), minlength=b)
    move = np.zeros(b)
    if move_f.size:
        move[layout.with_free] = np.maximum.reduceat(move_f, layout.free_start)
    shape = (b, length_max, d)
    return Evaluation(energy, full_step.reshape(shape), slope, violation, length, edge, grad.reshape(shape), move)


def _gradient(layout: EnergyLayout, inputs: torch.Tensor, decoded: torch.Tensor, upstream: np.ndarray) -> np.ndarray:
    """(P, d) float64 the energy's gradient at the points: one backward pass through the decoder alone.

    The energy's derivative by the decodings (a polyline's: 2 w (x_k - x_(k-1)) - 2 w (x_(k+1) - x_k) at every
    vertex, summed over the vertices that share a row) is ``upstream`` (R, D) float32 (``agm._core.curve_energy``),
    and that of the points' latents the spread matrix times the rows' (lerp's adjoint); autograd runs only the
    decoder's vector-Jacobian product. inputs: the decoded latents (the first R rows: points and sub-steps) with their
    graph to ``decoded``."""
    r = layout.n_rows
    with torch.enable_grad():  # a scalar: grad_outputs would import torch.fx's sympy (~1 s) on the first call
        weighted = decoded[:r] * torch.from_numpy(upstream).to(decoded.device)
        (through,) = torch.autograd.grad(weighted.sum(), [inputs])
    out: np.ndarray = layout.spread @ through[:r].detach().cpu().numpy().astype(np.float64)
    return out


def _decoded(
    model: SemiAtlasModel, z: torch.Tensor, y: torch.Tensor, batch_size: int, check: bool = True
) -> torch.Tensor:
    """(N, D) float32 decodings of z (N, d) in charts y (N,), ``batch_size`` points per call (differentiable).

    The shape is always checked; finiteness only with ``check``."""
    parts = []
    for s in range(0, z.shape[0], batch_size):
        zb, yb = z[s : s + batch_size], y[s : s + batch_size]
        out = call_model("decode", model.decode, zb, yb)
        if check or not isinstance(out, torch.Tensor) or out.ndim < 1 or out.shape[0] != zb.shape[0]:
            out = check_decoded(out, zb, yb, zb.shape[0])
        parts.append(out.reshape(zb.shape[0], -1))
    return (parts[0] if len(parts) == 1 else torch.cat(parts)).float()


def _shifted(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The forward differences' widths (N, 1) float32 and the d shifted copies (d N, d) float32 of latents z (N, d)
    float32, direction after direction."""
    n, d = z.shape
    width = _fd_width(z)
    shifted = np.repeat(z[None], d, axis=0)
    shifted[np.arange(d), :, np.arange(d)] += width  # shifted[k, :, k] += width
    return width[:, None], shifted.reshape(d * n, d)


def _fd_width(z: np.ndarray) -> np.ndarray:
    """(N,) float32 the finite differences' step at latents z (N, d) float32: FD_STEP (1 + |z|_inf)."""
    out: np.ndarray = (FD_STEP * (1.0 + np.abs(z).max(axis=1, initial=0.0))).astype(np.float32)
    return out


def _central(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The central differences' spans (d, N, 1) float64 (the float32 shifted latents' own difference, exact) and
    ((1 + 2 d) N, d) float32: latents z (N, d) float32, then their copies shifted by +h e_k (k = 1..d), then by
    -h e_k, h = FD_STEP (1 + |z|_inf)."""
    n, d = z.shape
    width = _fd_width(z)
    copies = np.empty((1 + 2 * d, n, d), dtype=np.float32)
    copies[:] = z
    span = np.empty((d, n, 1))
    for k in range(d):  # in place: the copies of a one-by-one curve are a few thousand rows, numpy's overhead counts
        copies[1 + k, :, k] += width
        copies[1 + d + k, :, k] -= width
        np.subtract(copies[1 + k, :, k], copies[1 + d + k, :, k], out=span[k, :, 0], dtype=np.float64)
    return span, copies.reshape(-1, d)


def _central_difference(shifted: np.ndarray, span: np.ndarray) -> np.ndarray:
    """(N, d, D) float64 central-difference Jacobians, transposed (J^T), from the decodings (2 d, N, D) float32 of
    :func:`_central`'s shifted copies and their spans (d, N, 1) float64."""
    d = shifted.shape[0] // 2
    change = (shifted[:d] - shifted[d:]).astype(np.float64) / span
    out: np.ndarray = change.transpose(1, 0, 2)
    return out


def _difference(moved: np.ndarray, x: np.ndarray, width: np.ndarray) -> np.ndarray:
    """(N, d, D) float64 C-contiguous forward-difference Jacobians, transposed (J^T of every point), from the
    decodings (d N, D) float32 of the shifted copies and x (N, D) float32 of the points. Contiguous as the native
    step reads them (a reused, stale one is not copied again)."""
    n = x.shape[0]
    d = moved.shape[0] // max(1, n)
    change = (moved.reshape(d, n, -1) - x[None]).astype(np.float64) / width.astype(np.float64)[None]
    out: np.ndarray = np.ascontiguousarray(change.transpose(1, 0, 2))
    return out
