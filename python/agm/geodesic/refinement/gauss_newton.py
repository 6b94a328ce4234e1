"""Batched Gauss-Newton descent of the discrete energy of decoded curves (the optimiser of refinement).

The energy, its evaluation and the step are :mod:`agm.geodesic.refinement.evaluation` and
:mod:`agm.geodesic.refinement.banded_step`; this module is the loop: a backtracking line search (Armijo, halving)
accepts a step only where the energy drops and no free point leaves its chart further (psi_c(G_c(z)) > eps, when
``eps`` is given), and a curve stops when its step hardly moves it. All unconverged curves advance together: every
iteration is one decoding of all their points and sub-steps (with its backward pass, for a trial that some curve
accepts), one decoding of the d shifted copies of their points (the Jacobians; in the same call for a cheap decoder,
``fuse``) and one partition call, whatever the number of curves; a very cheap decoder's few curves decode their
rows' central differences in that one call instead of running the backward pass (``difference_rows``).

Measured (benchmarks/bench_refine.py, 20 sphere pairs, 2-core Xeon, CPU time per geodesic, see benchmarks/README.md):
median / max length error 4.0e-6 / 1.1e-4 on all 20 pairs (GEORCE's max 2.3e-3, near its chart's pole), largest
angle to the great circle 3.1e-4 rad (GEORCE's median 1.8e-3); an expensive decoder's Jacobians are reused while its
curves hardly move (:data:`REUSE_MOVE`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agm.geodesic.refinement.curve_batch import CurveBatch
from agm.geodesic.refinement.energy_layout import EnergyLayout, energy_layout
from agm.geodesic.refinement.evaluation import Pending, begin
from agm.models.protocol import SemiAtlasModel

#: Sufficient-decrease constant of the line search (Armijo).
ARMIJO = 1e-4
#: A curve stops when its step moves no point by more than this fraction of the curve's length (|J_i step_i|, the
#: first-order distance to the minimum of the chord model: a shape criterion), or (for decoders whose steps never
#: get that small) when its step predicts an energy decrease below :data:`TOLERANCE` of its energy. Measured on the
#: sphere (bench_refine.py's 20 pairs, 32 points; evaluations per path, median / max angle to the great circle):
#: the energy criterion alone at 1e-6, Gauss-Newton: 5.0, 3.3e-4 / 2.0e-3; at 1e-7: 5.7, 1.4e-4 / 8.7e-4; with
#: the secant (:func:`~agm.geodesic.refinement.banded_step.secant_corrected`) at 1e-6: 4.7, 7.3e-5 / 4.5e-4; this
#: criterion (2e-4, 1e-7) with the secant: 4.7, 7.2e-5 / 3.1e-4; 3e-5: 5.3, 1.3e-5 / 3.1e-4. Length errors are the
#: same in all (median 4.0e-6).
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


@dataclass(frozen=True)
class Measured:
    """What a descent measured on its own decodings (float64 (B,) arrays, see
    :class:`~agm.geodesic.refinement.evaluation.Evaluation`): the final curves' ``length`` and ``edge``, and the
    shortest curve each one passed through (its start or an accepted step): ``shortest`` (B, L, d) float32 latents
    (host), ``shortest_length`` and ``shortest_edge``. The energy's minimum is not always the shortest curve: on a
    trained decoder a curve whose decoded speed is uneven can lengthen while its energy falls (measured on the
    8-chart MNIST decoder: a start 15.39 long descended to 16.66)."""

    length: np.ndarray
    edge: np.ndarray
    shortest: np.ndarray
    shortest_length: np.ndarray
    shortest_edge: np.ndarray


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
    begun: Pending | None = None,
    tolerance: float = MOVE_TOLERANCE,
    difference_rows: int = 0,
) -> tuple[CurveBatch, Measured | None]:
    """:func:`minimise_energy`, and what it measured on its own decodings (:class:`Measured`: the final curves'
    lengths and edges, and the shortest curve each passed through), or None where nothing was evaluated
    (``max_steps`` 0 or no free point). ``watch``, if given, is called after every evaluation with the number of
    curves done (converged or stopped) so far. ``fuse``: decode the Jacobians' shifted points in the same call as
    the curves' points and sub-steps (one decoder call and its overhead less per evaluation; their backward pass, of
    zeros, then runs too: for a cheap decoder only). ``begun``: the forward half of the first evaluation, already
    run on these curves (:func:`~agm.geodesic.refinement.evaluation.begin_curves`), or None. ``tolerance``: a curve
    stops when its step moves no point by more than this fraction of its length (:data:`MOVE_TOLERANCE` by
    default). ``difference_rows``: with ``fuse``, curves whose rows' 2 d shifted copies number at most this are
    evaluated by central differences of every row instead of a backward pass (a very cheap decoder, see
    :func:`~agm.geodesic.refinement.energy_layout.energy_layout`; 0, the default: never).

    The loop's bookkeeping (which curves go on, the line search's step sizes, the latents themselves) is on the
    host, in numpy; the device decodes.
    """
    if max_steps == 0 or not bool(curves.free.any()):
        return curves, None
    device = curves.latents.device
    layout = energy_layout(curves, sub_steps, batch_size, fuse, difference_rows)
    z = curves.latents.detach().cpu().numpy().copy()
    if begun is None:
        begun = begin(model, layout, z, device, eps, data_shape, batch_size, True)
    now = begun.finish(None, None, None)
    step, gradient = now.step.copy(), now.gradient.copy()
    energy, slope, violation = now.energy.copy(), now.slope.copy(), now.violation.copy()
    length, edge = now.length.copy(), now.edge.copy()
    alpha = np.ones_like(energy)
    halvings = np.zeros(energy.shape, dtype=np.int64)
    move = now.move.copy()
    shortest, shortest_length, shortest_edge = z.copy(), length.copy(), edge.copy()
    done = _converged(slope, energy, move, length, tolerance)
    if watch is not None:
        watch(int(done.sum()))
    rows_then: np.ndarray | None = None
    last: dict[tuple[int, ...], np.ndarray] = {}  # the last step's Jacobians of each group of curves (their rows)
    for _ in range(max_steps):
        rows = np.flatnonzero(~done)
        if rows.size == 0:
            break
        if rows.size == curves.n_curves:
            lay = layout
        elif rows_then is None or not np.array_equal(rows, rows_then):
            part = curves.rows(torch.from_numpy(rows).to(device))
            lay = energy_layout(part, sub_steps, batch_size, fuse, difference_rows)
        rows_then = rows if rows.size < curves.n_curves else None
        trial = (z[rows] + alpha[rows, None, None] * step[rows]).astype(np.float32)
        pending = begin(model, lay, trial, device, eps, data_shape, batch_size, False)
        ok = (
            np.isfinite(pending.energy)
            & (pending.energy <= energy[rows] + ARMIJO * alpha[rows] * slope[rows])
            & (pending.violation <= violation[rows])
        )
        took, kept = rows[ok], rows[~ok]
        if took.size:  # the backward pass, the Jacobians and the step only for a trial some curve takes
            index = _group_rows(lay, rows.size)
            groups = [tuple(rows[i].tolist()) for i in index]
            stale = None
            if not fuse:  # the last step's Jacobians of the same group of curves, where they hardly moved
                small = move[rows] <= REUSE_MOVE * length[rows]
                stale = [last.get(key) if bool(small[i].all()) else None for i, key in zip(index, groups)]
            then = pending.finish((trial - z[rows], gradient[rows]), stale, ok)
            last = {key: j for key, j in zip(groups, pending.jacobians) if j is not None}
            z[took], step[took], gradient[took] = trial[ok], then.step[ok], then.gradient[ok]
            energy[took], slope[took], violation[took] = then.energy[ok], then.slope[ok], then.violation[ok]
            length[took], edge[took] = then.length[ok], then.edge[ok]
            alpha[took], halvings[took] = 1.0, 0
            move[took] = then.move[ok]
            shorter = took[length[took] < shortest_length[took]]
            shortest[shorter], shortest_length[shorter], shortest_edge[shorter] = (
                z[shorter],
                length[shorter],
                edge[shorter],
            )
            done[took] = _converged(slope[took], energy[took], move[took], length[took], tolerance)
        alpha[kept] *= 0.5
        halvings[kept] += 1
        done[kept] = halvings[kept] > MAX_HALVINGS
        if watch is not None:
            watch(int(done.sum()))
    return curves.moved(torch.from_numpy(z).to(device)), Measured(
        length, edge, shortest, shortest_length, shortest_edge
    )


def _group_rows(layout: EnergyLayout, n_rows: int) -> list[np.ndarray]:
    """The curves (positions among the ``n_rows`` evaluated) of each group that ``layout`` evaluates apart."""
    return [np.arange(n_rows)] if layout.groups is None else [index for index, _ in layout.groups]


def _converged(
    slope: np.ndarray, energy: np.ndarray, move: np.ndarray, length: np.ndarray, tolerance: float
) -> np.ndarray:
    """(B,) bool: the curves whose step moves no point by more than ``tolerance`` of its length, or predicts an
    energy decrease below :data:`TOLERANCE` of its energy (all (B,) float64)."""
    out: np.ndarray = (move <= tolerance * length) | ~(-slope > TOLERANCE * energy)
    return out
