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

Measured (benchmarks/bench_refine.py, 20 sphere pairs, loaded 2-core Xeon, CPU time per geodesic): 3.2 ms in one
call for all 20 (17.5 ms one by one; the L-BFGS refine it replaces: 57 ms batched, 145 ms one by one; GEORCE
1.4 ms), median / max length error 4.4e-6 / 9.4e-5 on all 20 pairs (GEORCE's max 2.3e-3, near its chart's pole).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from agm.geodesic._support.checks import call_model, check_decoded
from agm.geodesic.refinement.curve_batch import CurveBatch
from agm.models.protocol import SemiAtlasModel

#: Sufficient-decrease constant of the line search (Armijo).
ARMIJO = 1e-4
#: A curve stops when its step predicts an energy decrease below this fraction of its energy. Measured on the
#: sphere (20 pairs, 32 points): 1e-7 and 1e-9 give the same lengths to 3 digits of their 4e-6 median error, at
#: half the evaluations.
TOLERANCE = 1e-7
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
    """

    energy: torch.Tensor
    step: torch.Tensor
    slope: torch.Tensor
    violation: torch.Tensor


def _decoded(model: SemiAtlasModel, z: torch.Tensor, y: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(N, D) decodings of z (N, d) in charts y (N,), ``batch_size`` points per call (differentiable), checked."""
    parts = []
    for s in range(0, z.shape[0], batch_size):
        zb, yb = z[s : s + batch_size], y[s : s + batch_size]
        out = check_decoded(call_model("decode", model.decode, zb, yb), zb, yb, zb.shape[0])
        parts.append(out.reshape(zb.shape[0], -1))
    return torch.cat(parts)


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
    n, d = z.shape
    width = FD_STEP * (1.0 + z.abs().amax(dim=1, keepdim=True))  # (N, 1)
    offsets = torch.eye(d, dtype=z.dtype, device=z.device)[:, None, :] * width[None, :, :]  # (d, N, d)
    shifted = (z[None] + offsets).reshape(d * n, d)
    charts = y.repeat(d)
    moved = _decoded(model, shifted, charts, batch_size).reshape(d, n, -1).double()
    jacobian: torch.Tensor = ((moved - x.double()[None]) / width.double()[None]).permute(1, 2, 0)
    return jacobian


def evaluate(
    model: SemiAtlasModel,
    curves: CurveBatch,
    sub_steps: int,
    eps: float | None,
    data_shape: tuple[int, ...],
    batch_size: int = 1 << 30,
) -> Evaluation:
    """Energy, Gauss-Newton step, its slope and the chart violation of every curve (see the module docstring).

    Args:
        model: an AGM (``decode``; ``partition`` when ``eps`` is given), in eval mode, on the curves' device.
        curves: the curves (B >= 1).  sub_steps: n of the energy (>= 1).  eps: the chart threshold or None.
        data_shape: S, the shape of one decoding (for ``partition``).  batch_size: points per decoder call.
    """
    b, length, _ = curves.latents.shape
    valid = curves.valid
    energy, gradient, x_points = _energy_and_gradient(model, curves, sub_steps, batch_size)
    jac = jacobians(model, curves.latents[valid], curves.charts[valid], x_points, batch_size)
    jac = jac.new_zeros(b, length, *jac.shape[1:]).index_put((valid,), jac)
    step = _gauss_newton_step(curves, jac, gradient)
    violation = torch.zeros(b, dtype=torch.float64, device=energy.device)
    if eps is not None:
        psi = call_model("partition", model.partition, x_points.reshape(-1, *data_shape))
        own = psi.gather(1, curves.charts[valid][:, None])[:, 0].double()
        short = torch.zeros(b, length, dtype=torch.float64, device=energy.device)
        short = short.index_put((valid,), (eps - own).clamp(min=0))
        violation = torch.where(curves.free, short, 0.0).sum(dim=1)
    return Evaluation(energy, step, (gradient * step).sum(dim=(1, 2)), violation)


def _energy_and_gradient(
    model: SemiAtlasModel, curves: CurveBatch, sub_steps: int, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B,) float64 energies, (B, L, d) float64 gradients and the points' decodings (P, D) float32 (the valid
    points, curve after curve): one decoding of the points and the sub-steps inside charts, one backward pass."""
    valid = curves.valid
    inner = curves.segment & ~curves.jump
    with torch.enable_grad():
        z = curves.latents.detach().clone().requires_grad_(True)
        latents, charts = [z[valid]], [curves.charts[valid]]
        n_sub = sub_steps - 1 if bool(inner.any()) else 0
        if n_sub > 0:
            z_a, z_b = z[:, :-1][inner], z[:, 1:][inner]  # (S, d)
            t = torch.arange(1, sub_steps, dtype=z.dtype, device=z.device) / sub_steps
            latents.append((z_a[:, None, :] + t[None, :, None] * (z_b - z_a)[:, None, :]).reshape(-1, z.shape[2]))
            charts.append(curves.charts[:, :-1][inner][:, None].expand(-1, n_sub).reshape(-1))
        flat, flat_charts = torch.cat(latents), torch.cat(charts)
        decoded = _decoded(model, flat, flat_charts, batch_size).double()
        n_points = latents[0].shape[0]
        x = decoded.new_zeros(*valid.shape, decoded.shape[1]).index_put((valid,), decoded[:n_points])
        chord = ((x[:, 1:] - x[:, :-1]) ** 2).sum(dim=2)  # (B, L - 1)
        if n_sub > 0:
            x_sub = decoded[n_points:].reshape(-1, n_sub, decoded.shape[1])
            poly = torch.cat([x[:, :-1][inner][:, None], x_sub, x[:, 1:][inner][:, None]], dim=1)
            fine = sub_steps * ((poly[:, 1:] - poly[:, :-1]) ** 2).sum(dim=(1, 2))
            chord = chord.index_put(torch.nonzero(inner, as_tuple=True), fine)
        energy = (curves.weight * chord).sum(dim=1)
        (gradient,) = torch.autograd.grad(energy.sum(), [z])
    return energy.detach(), gradient.double(), decoded[:n_points].detach().float()


def _gauss_newton_step(curves: CurveBatch, jac: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """(B, L, d) float64 step -H^-1 g with H the block-tridiagonal Gauss-Newton matrix of the chord energy
    sum_s w_s |G(z_b) - G(z_a)|^2 (fixed and padded points held)."""
    b, length, d = gradient.shape
    weight = curves.weight[:, :, None, None]
    metric = torch.einsum("blDi,blDj->blij", jac, jac)  # J^T J at every point
    diag = torch.zeros_like(metric)
    diag[:, :-1] += 2.0 * weight * metric[:, :-1]
    diag[:, 1:] += 2.0 * weight * metric[:, 1:]
    off = -2.0 * weight * torch.einsum("bsDi,bsDj->bsij", jac[:, :-1], jac[:, 1:])
    free = curves.free
    eye = torch.eye(d, dtype=diag.dtype, device=diag.device)
    level = diag.diagonal(dim1=2, dim2=3).sum(dim=(1, 2)) / max(1, length * d)  # (B,)
    diag = torch.where(free[:, :, None, None], diag + DAMPING * level[:, None, None, None] * eye, eye)
    off = torch.where((free[:, :-1] & free[:, 1:])[:, :, None, None], off, 0.0)
    index = torch.arange(length, device=diag.device)
    blocks = diag.new_zeros(b, length, length, d, d)
    blocks[:, index, index] = diag
    blocks[:, index[:-1], index[1:]] = off
    blocks[:, index[1:], index[:-1]] = off.transpose(2, 3)
    matrix = blocks.permute(0, 1, 3, 2, 4).reshape(b, length * d, length * d)
    rhs = torch.where(free[:, :, None], gradient, 0.0).reshape(b, length * d, 1)
    step: torch.Tensor = -torch.linalg.solve(matrix, rhs).reshape(b, length, d)
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
    z = curves.latents.clone()
    if max_steps == 0 or not bool(curves.free.any()):
        return curves
    now = evaluate(model, curves, sub_steps, eps, data_shape, batch_size)
    energy, step, slope, violation = now.energy.clone(), now.step.clone(), now.slope.clone(), now.violation.clone()
    alpha = torch.ones_like(energy)
    halvings = torch.zeros_like(energy, dtype=torch.int64)
    done = ~(-slope > TOLERANCE * energy)
    for _ in range(max_steps):
        rows = torch.nonzero(~done)[:, 0]
        if rows.numel() == 0:
            break
        trial = (z[rows].double() + alpha[rows, None, None] * step[rows]).to(z.dtype)
        then = evaluate(model, curves.rows(rows).moved(trial), sub_steps, eps, data_shape, batch_size)
        ok = (
            torch.isfinite(then.energy)
            & (then.energy <= energy[rows] + ARMIJO * alpha[rows] * slope[rows])
            & (then.violation <= violation[rows])
        )
        took, kept = rows[ok], rows[~ok]
        z[took] = trial[ok]
        energy[took], step[took], slope[took] = then.energy[ok], then.step[ok], then.slope[ok]
        violation[took] = then.violation[ok]
        alpha[took], halvings[took] = 1.0, 0
        done[took] = ~(-slope[took] > TOLERANCE * energy[took])
        alpha[kept] *= 0.5
        halvings[kept] += 1
        done[kept] = halvings[kept] > MAX_HALVINGS
    return curves.moved(z)
