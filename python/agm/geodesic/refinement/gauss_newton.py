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
backward pass through the sub-step decodings). The blocks of all curves are solved together (one batched dense
solve of the (L d) x (L d) systems: L points of latent size d, a few hundred unknowns at most). A backtracking line
search (Armijo, halving) accepts a step only where the energy drops and no free point leaves its chart further
(psi_c(G_c(z)) > eps, when ``eps`` is given). All unconverged curves advance together: every iteration is one
decoding of all their points and sub-steps (with its backward pass), one decoding of the d shifted copies of their
points (the Jacobians) and one partition call, whatever the number of curves.

Measured (benchmarks/bench_refine.py, 20 sphere pairs, 2-core Xeon at load 5-6, CPU time per geodesic): 3.2 ms
in one call for all 20, 15.3 ms one by one (the version before this one: 4.7 / 27.0 ms; GEORCE 1.8 ms); median /
max length error 4.1e-6 / 9.4e-5 on all 20 pairs (GEORCE's max 2.3e-3, near its chart's pole). The energy's
derivative by the decodings is written out, so autograd runs the decoder's vector-Jacobian product only; the
loop's bookkeeping is numpy on the host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agm.geodesic._support.checks import call_model, check_decoded
from agm.geodesic.refinement.curve_batch import CurveBatch
from agm.models.protocol import SemiAtlasModel

#: Sufficient-decrease constant of the line search (Armijo).
ARMIJO = 1e-4
#: A curve stops when its step predicts an energy decrease below this fraction of its energy. Measured on the
#: sphere (bench_refine.py's 20 pairs, 32 points), median / max length error, median / max angle to the great
#: circle (rad) and evaluations per path: 1e-7: 4.1e-6 / 9.4e-5, 1.4e-4 / 4.2e-4, 5.75; 1e-6: 4.1e-6 / 9.4e-5,
#: 3.3e-4 / 1.3e-3, 5.0; 1e-5: 6.3e-6 / 9.6e-5, 9.6e-4 / 3.8e-3, 3.95 (the length converges before the shape).
TOLERANCE = 1e-6
#: A curve stops when its line search has halved the step this often without an acceptable point.
MAX_HALVINGS = 6
#: Forward-difference step of the Jacobians, relative to 1 + the latent's largest coordinate.
FD_STEP = 1e-3
#: Levenberg damping of the Gauss-Newton matrix, relative to its mean diagonal (keeps degenerate metrics solvable).
DAMPING = 1e-9


@dataclass(frozen=True)
class Evaluation:
    """The energy terms of curves at their latents.

    Attributes:
        energy: (B,) float64 energy of each curve.
        step: (B, L, d) float64 Gauss-Newton step (0 at fixed and padded points).
        slope: (B,) float64 directional derivative of the energy along ``step`` (<= 0).
        violation: (B,) float64 sum over free points of max(0, eps - psi_c(G_c(z))) (0 without ``eps``).
        length: (B,) float64 each curve's decoded length with ``sub_steps`` steps per segment inside a chart plus
            the decoded gap of each transition (eq. 10, as a path is measured: float32 differences).
        edge: (B,) float64 the smallest psi_c(G_c(z)) of the curve's free points (inf without ``eps`` or free
            points).
    """

    energy: torch.Tensor
    step: torch.Tensor
    slope: torch.Tensor
    violation: torch.Tensor
    length: torch.Tensor
    edge: torch.Tensor


@dataclass(frozen=True)
class _Layout:
    """What every evaluation of one set of curves shares (computed once per set, not per iteration).

    Decoded latents, flat: the B * L points (padding included: copies of the last point), then the B (L - 1)
    (n - 1) sub-steps (segment after segment). A transition's or padding segment's sub-steps are held at its first
    point, so nothing is decoded outside the charts' latent ranges.
    """

    free: torch.Tensor  # (B, L) bool
    segment: torch.Tensor  # (B, L - 1) bool
    jump: torch.Tensor  # (B, L - 1) bool
    hold: torch.Tensor  # (B, L - 1, 1) bool: the sub-steps stay at the segment's first point
    weight: torch.Tensor  # (B, L - 1) float64: the chord model's weights
    energy_weight: torch.Tensor  # (B, L - 1) float64: weight * n inside a chart, weight at a transition
    charts: torch.Tensor  # (B L + B (L - 1) (n - 1),) int64 (the kept rows only, where some are left out)
    point_charts: torch.Tensor  # (B L, 1) int64
    t: torch.Tensor  # (n - 1, 1) float32: the sub-steps' positions
    n_sub: int
    any_jump: bool
    shifted_charts: torch.Tensor  # (d B L,) int64: the charts of the Jacobians' d shifted copies of the points
    eye: torch.Tensor  # (d, d) float64
    shifts: torch.Tensor  # (d, 1, d) float32: the d unit directions of the forward differences
    diag_weight: torch.Tensor  # (B, L, 1, 1) float64: 2 (w_(i-1) + w_i), the weight of J_i^T J_i
    off_weight: torch.Tensor  # (B, L - 1, 1, 1) float64: -2 w_i, the weight of J_i^T J_(i+1)
    off_free: torch.Tensor  # (B, L - 1, 1, 1) bool: both ends of the segment free
    grad_weight: torch.Tensor  # (B, L - 1, 1, 1) float64: 2 * energy_weight
    jump4: torch.Tensor  # (B, L - 1, 1, 1) bool
    t64: torch.Tensor  # (n - 1, 1) float64
    kept: torch.Tensor | None  # (K,) int64: the flat rows decoded (padding left out), None when all are
    kept_points: torch.Tensor | None  # (P,) int64: the points decoded among the B L, None when all are
    groups: tuple[tuple[torch.Tensor, _Layout], ...] | None  # curves evaluated apart (see _groups), or None


def _layout(curves: CurveBatch, sub_steps: int, batch_size: int = 1 << 30) -> _Layout:
    b, length, _ = curves.latents.shape
    device = curves.latents.device
    free, segment, jump = curves.free, curves.segment, curves.jump
    n_sub = sub_steps - 1 if length > 1 and bool((segment & ~jump).any()) else 0
    charts = curves.charts.reshape(-1)
    if n_sub > 0:
        charts = torch.cat([charts, curves.charts[:, :-1, None].expand(b, length - 1, n_sub).reshape(-1)])
    factor = torch.where(jump, 1.0, float(sub_steps)).to(torch.float64)
    d = curves.latents.shape[2]
    valid = curves.valid.reshape(-1)
    kept = kept_points = None
    if not bool(valid.all()):  # padded curves: their padding is not decoded
        kept_points = torch.nonzero(valid)[:, 0]
        kept = kept_points
        if n_sub > 0:
            subs = segment[:, :, None].expand(b, length - 1, n_sub).reshape(-1)
            kept = torch.cat([kept_points, b * length + torch.nonzero(subs)[:, 0]])
        charts = charts[kept]
    padded = torch.nn.functional.pad(curves.weight, (1, 1))
    return _Layout(
        free=free,
        segment=segment,
        jump=jump,
        hold=(jump | ~segment)[:, :, None],
        weight=curves.weight,
        energy_weight=curves.weight * factor,
        charts=charts,
        point_charts=curves.charts.reshape(-1, 1),
        t=(torch.arange(1, n_sub + 1, device=device, dtype=curves.latents.dtype) / sub_steps)[:, None],
        n_sub=n_sub,
        any_jump=bool(jump.any()),
        shifted_charts=curves.charts.reshape(-1)[kept_points if kept_points is not None else slice(None)].repeat(d),
        eye=torch.eye(d, dtype=torch.float64, device=device),
        shifts=torch.eye(d, dtype=curves.latents.dtype, device=device)[:, None, :],
        diag_weight=(2.0 * (padded[:, :-1] + padded[:, 1:]))[:, :, None, None],
        off_weight=(-2.0 * curves.weight)[:, :, None, None],
        off_free=(free[:, :-1] & free[:, 1:])[:, :, None, None],
        grad_weight=(2.0 * curves.weight * factor)[:, :, None, None],
        jump4=jump[:, :, None, None],
        t64=(torch.arange(1, n_sub + 1, device=device, dtype=torch.float64) / sub_steps)[:, None],
        kept=kept,
        kept_points=kept_points,
        groups=_groups(curves, sub_steps, n_sub, batch_size),
    )


def _groups(
    curves: CurveBatch, sub_steps: int, n_sub: int, batch_size: int
) -> tuple[tuple[torch.Tensor, _Layout], ...] | None:
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
        index = torch.arange(lo, hi, device=curves.latents.device)
        out.append((index, _layout(curves.rows(index), sub_steps)))
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
    shifts: torch.Tensor | None = None,
    shifted_charts: torch.Tensor | None = None,
) -> torch.Tensor:
    """:func:`jacobians`; ``shifts`` (d, 1, d) the unit directions and ``shifted_charts`` (d N,) = y.repeat(d),
    when the caller has them."""
    n, d = z.shape
    if shifts is None:
        shifts = torch.eye(d, dtype=z.dtype, device=z.device)[:, None, :]
    width = FD_STEP * (1.0 + z.abs().amax(dim=1, keepdim=True))  # (N, 1)
    shifted = torch.addcmul(z[None], shifts, width[None]).reshape(d * n, d)
    charts = y.repeat(d) if shifted_charts is None else shifted_charts
    moved = _decoded(model, shifted, charts, batch_size, check).reshape(d, n, -1)
    jacobian: torch.Tensor = ((moved - x[None]).double() / width.double()[None]).permute(1, 2, 0)
    return jacobian


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
    return _evaluate(model, layout, curves.latents, eps, data_shape, batch_size, check=True)


def _evaluate(
    model: SemiAtlasModel,
    layout: _Layout,
    latents: torch.Tensor,
    eps: float | None,
    data_shape: tuple[int, ...],
    batch_size: int,
    check: bool,
) -> Evaluation:
    """:func:`evaluate` of the curves of ``layout`` at ``latents`` (B, L, d) float32: one differentiable decoding
    of their points and sub-steps (and its backward pass), one decoding of the d shifted copies of their points
    (the Jacobians) and, with ``eps``, one partition call; in groups of curves where ``layout`` has them."""
    if layout.groups is not None:
        parts = [
            _evaluate(model, part, latents[index], eps, data_shape, batch_size, check) for index, part in layout.groups
        ]
        return Evaluation(*(torch.cat([getattr(e, f) for e in parts]) for f in Evaluation.__dataclass_fields__))
    b, length, d = latents.shape
    energy, gradient, x, poly_length = _energy_and_gradient(model, layout, latents, batch_size, check)
    z, point_charts = latents.reshape(-1, d), layout.point_charts
    kept = layout.kept_points
    if kept is not None:
        z, x, point_charts = z[kept], x[kept], point_charts[kept]
    n_points = point_charts.shape[0]
    jac = _jacobians(model, z, layout.charts[:n_points], x, batch_size, check, layout.shifts, layout.shifted_charts)
    if kept is not None:
        jac = jac.new_zeros(b * length, *jac.shape[1:]).index_copy_(0, kept, jac)
    step = _gauss_newton_step(layout, jac.reshape(b, length, *jac.shape[1:]), gradient)
    if eps is None:
        violation = torch.zeros_like(energy)
        edge = torch.full_like(energy, float("inf"))
    else:
        psi = call_model("partition", model.partition, x.reshape(-1, *data_shape))
        mine = psi.gather(1, point_charts).double()
        if kept is not None:
            mine = mine.new_ones(b * length, 1).index_copy_(0, kept, mine)
        own = torch.where(layout.free, mine.reshape(b, length), float("inf"))
        violation = (eps - own).clamp(min=0).sum(dim=1)  # inf at fixed and padded points: no violation
        edge = own.amin(dim=1)
    return Evaluation(energy, step, (gradient * step).sum(dim=(1, 2)), violation, poly_length, edge)


def _energy_and_gradient(
    model: SemiAtlasModel, layout: _Layout, latents: torch.Tensor, batch_size: int, check: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B,) float64 energies, (B, L, d) float64 gradients, the points' decodings (B L, D) float32 and (B,) float64
    lengths: one decoding of the points and sub-steps, one backward pass through the decoder alone.

    The energy's derivative by the decodings is written out (a polyline's: 2 w (x_k - x_(k-1)) - 2 w (x_(k+1) -
    x_k) at every vertex), and that of the sub-step latents by the points' (z_a + t (z_b - z_a)); autograd runs
    only the decoder's vector-Jacobian product, not a graph of the energy's own operations."""
    b, length, d = latents.shape
    n_points, n_sub = b * length, layout.n_sub
    z = latents.detach()
    flat = z.reshape(-1, d)
    if n_sub > 0:
        z_a = z[:, :-1]
        z_b = torch.where(layout.hold, z_a, z[:, 1:])
        flat = torch.cat([flat, (z_a[:, :, None] + layout.t * (z_b - z_a)[:, :, None]).reshape(-1, d)])
    rows = flat if layout.kept is None else flat[layout.kept]
    with torch.enable_grad():
        rows = rows.detach().requires_grad_(True)
        decoded = _decoded(model, rows, layout.charts, batch_size, check)
    with torch.no_grad():
        out = decoded.detach()
        if layout.kept is not None:  # padding: zeros (weight 0, never measured)
            out = out.new_zeros(flat.shape[0], out.shape[1]).index_copy_(0, layout.kept, out)
        x = out[:n_points].reshape(b, length, -1)
        if n_sub > 0:
            poly = torch.cat([x[:, :-1, None], out[n_points:].reshape(b, length - 1, n_sub, -1), x[:, 1:, None]], 2)
        else:
            poly = torch.stack([x[:, :-1], x[:, 1:]], dim=2)  # (B, L - 1, n + 1, D)
        diff = poly[:, :, 1:] - poly[:, :, :-1]  # (B, L - 1, n, D) float32
        wide = diff.double()
        fine = (wide**2).sum(dim=(2, 3))
        slope = layout.grad_weight * wide  # dE/d(x_(k+1) - x_k)
        chord = x[:, 1:] - x[:, :-1]  # (B, L - 1, D): the transitions' gaps
        if layout.any_jump:
            gap = chord.double()
            fine = torch.where(layout.jump, (gap**2).sum(dim=2), fine)
            slope = torch.where(layout.jump4, layout.grad_weight * gap[:, :, None, :], slope)
        energy = (layout.energy_weight * fine).sum(dim=1)
        edge = slope.new_zeros(b, length - 1, 1, slope.shape[3])
        vertex = torch.cat([edge, slope], dim=2) - torch.cat([slope, edge], dim=2)  # (B, L - 1, n + 1, D)
        at_points = torch.nn.functional.pad(vertex[:, :, 0], (0, 0, 0, 1))
        at_points = at_points + torch.nn.functional.pad(vertex[:, :, -1], (0, 0, 1, 0))
        upstream = at_points.reshape(n_points, -1)
        if n_sub > 0:
            upstream = torch.cat([upstream, vertex[:, :, 1:-1].reshape(-1, upstream.shape[1])])
        if layout.kept is not None:
            upstream = upstream[layout.kept]
    with torch.enable_grad():  # a scalar: grad_outputs would import torch.fx's sympy (~1 s) on the first call
        (through,) = torch.autograd.grad((decoded * upstream.to(decoded.dtype)).sum(), [rows])
    with torch.no_grad():
        through = through.double()
        if layout.kept is not None:
            through = through.new_zeros(flat.shape[0], d).index_copy_(0, layout.kept, through)
        gradient = through[:n_points].reshape(b, length, d)
        if n_sub > 0:
            steps = through[n_points:].reshape(b, length - 1, n_sub, d)
            to_b = (layout.t64 * steps).sum(dim=2)  # (B, L - 1, d): d sub / d z_b = t
            to_a = steps.sum(dim=2) - to_b  # 1 - t
            held = torch.where(layout.hold, to_b, 0.0)  # held sub-steps move with z_a
            gradient = gradient + torch.nn.functional.pad(to_a + held, (0, 0, 0, 1))
            gradient = gradient + torch.nn.functional.pad(to_b - held, (0, 0, 1, 0))
        pieces = torch.linalg.vector_norm(diff, dim=3).double().sum(dim=2)
        if layout.any_jump:
            pieces = torch.where(layout.jump, torch.linalg.vector_norm(chord, dim=2).double(), pieces)
        curve_length = torch.where(layout.segment, pieces, 0.0).sum(dim=1)
    return energy, gradient, out[:n_points], curve_length


#: Flat positions of the block-tridiagonal entries in an (L d) x (L d) matrix, per (L, d, device).
_POSITIONS: dict[tuple[int, int, str], torch.Tensor] = {}


def _block_positions(length: int, d: int, device: torch.device) -> torch.Tensor:
    """(L d^2 + 2 (L - 1) d^2,) int64 flat positions of the diagonal blocks, the blocks above, those below."""
    key = (length, d, str(device))
    if key not in _POSITIONS:
        size = length * d
        i, j = torch.meshgrid(torch.arange(d), torch.arange(d), indexing="ij")  # (d, d)
        blocks = torch.arange(length)[:, None, None]
        diag = (blocks * d + i) * size + blocks * d + j
        up = (blocks[:-1] * d + i) * size + (blocks[:-1] + 1) * d + j
        low = ((blocks[:-1] + 1) * d + i) * size + blocks[:-1] * d + j
        _POSITIONS[key] = torch.cat([diag.reshape(-1), up.reshape(-1), low.reshape(-1)]).to(device)
    return _POSITIONS[key]


def _gauss_newton_step(layout: _Layout, jac: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """(B, L, d) float64 step -H^-1 g with H the block-tridiagonal Gauss-Newton matrix of the chord energy
    sum_s w_s |G(z_b) - G(z_a)|^2 (fixed and padded points held); jac (B, L, D, d) float64."""
    b, length, d = gradient.shape
    jt = jac.transpose(2, 3)
    metric = jt @ jac  # (B, L, d, d): J^T J at every point
    cross = jt[:, :-1] @ jac[:, 1:]  # (B, L - 1, d, d)
    diag = layout.diag_weight * metric
    level = diag.diagonal(dim1=2, dim2=3).sum(dim=(1, 2)) * (DAMPING / max(1, length * d))  # (B,)
    eye = layout.eye
    diag = torch.where(layout.free[:, :, None, None], diag + level[:, None, None, None] * eye, eye)
    off = torch.where(layout.off_free, layout.off_weight * cross, 0.0)
    values = torch.cat([diag.reshape(b, -1), off.reshape(b, -1), off.transpose(2, 3).reshape(b, -1)], dim=1)
    matrix = diag.new_zeros(b, (length * d) ** 2).index_copy_(1, _block_positions(length, d, diag.device), values)
    rhs = torch.where(layout.free[:, :, None], gradient, 0.0).reshape(b, length * d, 1)
    step: torch.Tensor = -torch.linalg.solve(matrix.reshape(b, length * d, length * d), rhs).reshape(b, length, d)
    return step


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
) -> tuple[CurveBatch, tuple[np.ndarray, np.ndarray] | None]:
    """:func:`minimise_energy`, and the final curves' lengths and edges ((B,) float64 each, see
    :class:`Evaluation`) from the descent's own decodings, or None where nothing was evaluated (``max_steps`` 0
    or no free point). ``watch``, if given, is called after every evaluation with the number of curves done
    (converged or stopped) so far.

    The loop's bookkeeping (which curves go on, the line search's step sizes) is on the host, in numpy: a few
    small copies per iteration instead of dozens of tensor operations.
    """
    if max_steps == 0 or not bool(curves.free.any()):
        return curves, None
    layout = _layout(curves, sub_steps, batch_size)
    now = _evaluate(model, layout, curves.latents, eps, data_shape, batch_size, check=True)
    z, step = curves.latents.clone(), now.step.clone()
    energy, slope, violation, length, edge = _on_host(now)
    alpha = np.ones_like(energy)
    halvings = np.zeros(energy.shape, dtype=np.int64)
    done = ~(-slope > TOLERANCE * energy)
    if watch is not None:
        watch(int(done.sum()))
    rows_then: np.ndarray | None = None
    for _ in range(max_steps):
        rows = np.flatnonzero(~done)
        if rows.size == 0:
            break
        whole = rows.size == curves.n_curves
        if whole:
            index: torch.Tensor | None = None
            lay = layout
        elif rows_then is None or not np.array_equal(rows, rows_then):
            index = torch.from_numpy(rows).to(z.device)
            lay = _layout(curves.rows(index), sub_steps, batch_size)
        rows_then = rows if not whole else None
        z_rows = z if index is None else z[index]
        step_rows = step if index is None else step[index]
        scale = torch.from_numpy(alpha[rows]).to(step_rows)
        trial = (z_rows.double() + scale[:, None, None] * step_rows).to(z.dtype)
        then = _evaluate(model, lay, trial, eps, data_shape, batch_size, check=False)
        e_new, s_new, v_new, l_new, g_new = _on_host(then)
        ok = (
            np.isfinite(e_new)
            & (e_new <= energy[rows] + ARMIJO * alpha[rows] * slope[rows])
            & (v_new <= violation[rows])
        )
        took, kept = rows[ok], rows[~ok]
        if took.size == curves.n_curves:
            z, step = trial, then.step
        elif took.size:
            at = torch.from_numpy(took).to(z.device)
            chosen = torch.from_numpy(np.flatnonzero(ok)).to(z.device)
            z[at], step[at] = trial[chosen], then.step[chosen]
        energy[took], slope[took], violation[took] = e_new[ok], s_new[ok], v_new[ok]
        length[took], edge[took] = l_new[ok], g_new[ok]
        alpha[took], halvings[took] = 1.0, 0
        done[took] = ~(-slope[took] > TOLERANCE * energy[took])
        alpha[kept] *= 0.5
        halvings[kept] += 1
        done[kept] = halvings[kept] > MAX_HALVINGS
        if watch is not None:
            watch(int(done.sum()))
    return curves.moved(z), (length, edge)


def _on_host(e: Evaluation) -> np.ndarray:
    """(5, B) float64 numpy: energy, slope, violation, length and edge of an evaluation, in one copy."""
    out: np.ndarray = torch.stack([e.energy, e.slope, e.violation, e.length, e.edge]).detach().cpu().numpy()
    return out
