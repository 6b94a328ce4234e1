"""The curve job of refinement: curves resampled, descended, measured and the best of each kept.

Works on :class:`~agm.geodesic.refinement.curve_batch.CurveBatch` (padded latents and charts), not on paths: the
paths' side (paths to curves and back, which refinement to keep) is :mod:`agm.geodesic.paths.refine`.

Floor: :mod:`agm.geodesic.refinement` (imports the graph floor's decoding and the support floor only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agm.geodesic._support.checks import call_model
from agm.geodesic.graph.curves import decode_points, edges_per_batch, segment_lengths
from agm.geodesic.refinement.curve_batch import CurveBatch, pad_curves
from agm.geodesic.refinement.evaluation import Pending, begin_curves
from agm.geodesic.refinement.gauss_newton import MOVE_TOLERANCE, Measured, descend_measured
from agm.geodesic.refinement.recharting import MARGIN
from agm.models.protocol import SemiAtlasModel


@dataclass(frozen=True)
class RefineSettings:
    """What every stage of one refine call shares."""

    model: SemiAtlasModel
    data_shape: tuple[int, ...]
    n_steps: int
    eps: float
    barrier: float | None
    jump_weight: float
    sub_steps: int
    steps: int
    batch_size: int
    fuse: bool = False  # the Jacobians' decodings in the energy's call (a cheap decoder, see descend_measured)
    difference_rows: int = 0  # central differences instead of a backward pass up to these shifted rows (idem)
    warm: bool = False  # the points alone descend first (an expensive decoder, see descend_and_measure)
    tolerance: float = MOVE_TOLERANCE  # a curve stops when its step moves no point by more than this of its length


class BestCurves:
    """The best measured curve of every path so far: inside its charts first, then shortest."""

    def __init__(self, curves: CurveBatch, length: np.ndarray, inside: np.ndarray) -> None:
        self.length, self.inside = length.copy(), inside.copy()
        self.curves: list[tuple[np.ndarray, np.ndarray]] = []
        self.offer(np.arange(curves.n_curves), curves, length, inside, initial=True)

    def offer(
        self, index: np.ndarray, curves: CurveBatch, length: np.ndarray, inside: np.ndarray, initial: bool = False
    ) -> None:
        """Curves for the paths ``index`` (b,) int64, with their measured lengths and inside flags (b,)."""
        latents, charts = curves.latents.cpu().numpy(), curves.charts.cpu().numpy()
        count = curves.count.cpu().numpy()
        for row, j in enumerate(index):
            candidate = (latents[row, : count[row]].copy(), charts[row, : count[row]].copy())
            if initial:
                self.curves.append(candidate)
                continue
            better = (inside[row] and not self.inside[j]) or (
                inside[row] == self.inside[j] and length[row] < self.length[j]
            )
            if better:
                self.curves[j], self.length[j], self.inside[j] = candidate, length[row], inside[row]

    def points(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Latents (n, d) float32 and charts (n,) int64 of path j's best curve."""
        return self.curves[j]


def descend(settings: RefineSettings, curves: CurveBatch, watch: Callable[[int], None] | None = None) -> CurveBatch:
    """The Gauss-Newton descent of :mod:`agm.geodesic.refinement.gauss_newton` on all curves together (``watch``:
    called with the number of curves done after every evaluation)."""
    return _descend(settings, curves, watch)[0]


def _descend(
    settings: RefineSettings,
    curves: CurveBatch,
    watch: Callable[[int], None] | None,
    begun: Pending | None = None,
) -> tuple[CurveBatch, Measured | None]:
    """:func:`agm.geodesic.refinement.gauss_newton.descend_measured` with the settings' arguments."""
    return descend_measured(
        settings.model,
        curves,
        settings.steps,
        settings.sub_steps,
        settings.barrier,
        settings.data_shape,
        settings.batch_size,
        watch,
        settings.fuse,
        begun,
        settings.tolerance,
        settings.difference_rows,
    )


def descend_and_measure(
    settings: RefineSettings,
    curves: CurveBatch,
    watch: Callable[[int], None] | None = None,
    begun: Pending | None = None,
) -> tuple[CurveBatch, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`descend`, then :func:`measure`'s three answers for the result. Where the descent's energy has the
    measure's resolution (``sub_steps == n_steps``) and its line search read the partition at ``eps``, its last
    accepted evaluation already decoded exactly what :func:`measure` decodes (the points, the same sub-steps of
    every segment, their psi): those lengths and edges are used, and no decoding is repeated. With
    ``settings.warm`` the curves first descend the energy of their points alone (``sub_steps`` 1: an evaluation
    decodes n_steps times fewer rows), then the full energy from there. Measured on the trained 8-chart MNIST
    decoder (4 graph paths, one by one): 0.62x the CPU time (20.2 evaluations per path, most of them of the 33
    points alone, instead of 16.0 of the 161 points and sub-steps); the refined lengths moved by at most 5e-5
    relative (two of four longer by 4e-5 and 5e-5, the others equal to 5 digits). A cheap decoder (the sphere)
    spends its time per evaluation, not per decoded row, so it does not warm-start.

    Where the descent's lengths are those of :func:`measure`, a curve is its shortest evaluated point (its start
    or an accepted step, see :class:`~agm.geodesic.refinement.gauss_newton.Measured`) when that is shorter than its
    end and no less inside its charts: refinement keeps the shortest curve it measured.

    ``begun``: the first evaluation's forward half on ``curves`` (:func:`near_edge_or_switching` ran it), or None;
    not used with ``settings.warm`` (whose full-energy descent starts elsewhere)."""
    start = curves
    if settings.warm and settings.sub_steps > 1:
        curves = descend(dataclasses.replace(settings, sub_steps=1), curves)
        begun = None
    out, measured = _descend(settings, curves, watch, begun)
    if measured is None or settings.sub_steps != settings.n_steps or settings.barrier != settings.eps:
        return (out, *measure(settings, out))
    if curves is not start:  # the warm start's descent measured nothing comparable: its start is measured here
        measured = _with_start(settings, start, measured)
    inside = measured.edge > settings.eps
    earlier = (measured.shortest_length < measured.length) & ((measured.shortest_edge > settings.eps) | ~inside)
    if not earlier.any():
        return out, measured.length, inside, measured.edge <= MARGIN * settings.eps
    latents = out.latents.cpu().numpy().copy()
    latents[earlier] = measured.shortest[earlier]
    length = np.where(earlier, measured.shortest_length, measured.length)
    edge = np.where(earlier, measured.shortest_edge, measured.edge)
    chosen = out.moved(torch.from_numpy(latents).to(out.latents.device))
    return chosen, length, edge > settings.eps, edge <= MARGIN * settings.eps


def _with_start(settings: RefineSettings, start: CurveBatch, measured: Measured) -> Measured:
    """``measured`` with each curve's ``start`` (same layout) as its shortest where the start is shorter (one
    decoding and one partition call of the start's points and sub-steps, :func:`measure`)."""
    length, edge = measure_edges(settings, start)
    shorter = length < measured.shortest_length
    if not shorter.any():
        return measured
    shortest = measured.shortest.copy()
    shortest[shorter] = start.latents.cpu().numpy()[shorter]
    return dataclasses.replace(
        measured,
        shortest=shortest,
        shortest_length=np.where(shorter, length, measured.shortest_length),
        shortest_edge=np.where(shorter, edge, measured.shortest_edge),
    )


def decodes_per_evaluation(points: int, sub_steps: int, latent_dim: int) -> int:
    """Decoded points of one Gauss-Newton evaluation of one curve of ``points`` segments (and no transition): its
    points and the sub-steps of its segments (with gradients), and d shifted copies of its points (Jacobians)."""
    return (points + 1) * (1 + latent_dim) + points * max(0, sub_steps - 1)


def decoded(settings: RefineSettings, curves: CurveBatch) -> torch.Tensor:
    """(B, L, D) float32 decodings of the curves' points (0 at padding), one batched decoding."""
    valid = curves.valid
    x = decode_points(
        settings.model.decode, curves.latents[valid], curves.charts[valid], settings.batch_size, curves.latents.device
    )
    return x.new_zeros(*valid.shape, x.shape[1]).index_put((valid,), x)


def near_edge_or_switching(settings: RefineSettings, curves: CurveBatch) -> tuple[np.ndarray, Pending | None]:
    """(B,) bool: the curve changes chart somewhere, or one of its free points is near its chart's edge
    (psi_c <= MARGIN * eps). A curve that does neither keeps its one chart in a re-charting (every other chart
    costs a transition and holds the same positions), so re-charting it can be skipped.

    Where every curve is in one chart and the decoder is cheap (``settings.fuse``), the psi come from the forward half
    of the descent's first evaluation, returned for :func:`descend_and_measure` (``begun``), so that curves which
    keep their chart decode nothing twice (measured on the sphere: 0.26 ms of a path's 7 ms). Otherwise one decoding
    and one partition call for the curves in one chart (none where all change chart), and None."""
    switching = curves.jump.any(dim=1)
    out: np.ndarray = switching.cpu().numpy()
    if out.all():
        return out, None
    if settings.fuse and not out.any() and settings.barrier == settings.eps:
        begun = begin_curves(
            settings.model,
            curves,
            settings.sub_steps,
            settings.barrier,
            settings.data_shape,
            settings.batch_size,
            settings.fuse,
            settings.difference_rows,
        )
        return begun.edge <= MARGIN * settings.eps, begun
    one_chart = curves if not out.any() else curves.rows(torch.nonzero(~switching)[:, 0])
    near = _edges(settings, one_chart, decoded(settings, one_chart)) <= MARGIN * settings.eps
    out[~out] = near
    return out, None


def resampled(
    settings: RefineSettings, curves: CurveBatch, points: int, positions: np.ndarray | None = None
) -> CurveBatch:
    """Every curve's chart runs resampled into ``points`` segments in all (split by decoded length), each run's
    points equidistant in decoded chord length; transitions and ends kept. ``positions``: (B, L, D) float64 the
    curves' decoded points where already known (a query's), else None (decoded here)."""
    x = decoded(settings, curves).double().cpu().numpy() if positions is None else positions
    latents, charts = curves.latents.cpu().numpy(), curves.charts.cpu().numpy()
    out_latents: list[torch.Tensor] = []
    out_charts: list[torch.Tensor] = []
    device = curves.latents.device
    for b, n in enumerate(curves.count.cpu().numpy()):
        bounds = np.concatenate([[0], np.flatnonzero(charts[b, 1:n] != charts[b, : n - 1]) + 1, [n]])
        step = np.linalg.norm(np.diff(x[b, :n], axis=0), axis=1)
        inside = np.ones(n - 1, dtype=bool)
        inside[bounds[1:-1] - 1] = False  # the transition segments
        total = float(step[inside].sum())
        pieces_z: list[np.ndarray] = []
        pieces_c: list[np.ndarray] = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            run_length = float(step[lo : hi - 1].sum())
            n_seg = max(1, int(round(points * run_length / total))) if total > 0 else 1
            z_run = latents[b, lo:hi] if hi - lo == 1 else resample_run(latents[b, lo:hi], x[b, lo:hi], n_seg)
            pieces_z.append(z_run)
            pieces_c.append(np.full(z_run.shape[0], charts[b, lo], dtype=np.int64))
        out_latents.append(torch.from_numpy(np.concatenate(pieces_z)).to(device))
        out_charts.append(torch.from_numpy(np.concatenate(pieces_c)).to(device))
    return pad_curves(out_latents, out_charts, curves.scale, settings.jump_weight)


def resample_run(z: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:
    """n + 1 latents along the latent polyline z (R, d), equidistant in the decoded chord length of x (R, D)."""
    step = np.linalg.norm(np.diff(x, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(step)])
    if cum[-1] <= 0:
        return np.stack([z[0], z[-1]])
    targets = np.linspace(0.0, cum[-1], n + 1)
    piece = np.clip(np.searchsorted(cum, targets, side="right") - 1, 0, len(step) - 1)
    frac = np.clip((targets - cum[piece]) / np.maximum(step[piece], 1e-300), 0.0, 1.0)
    out: np.ndarray = (z[piece] + frac[:, None] * (z[piece + 1] - z[piece])).astype(np.float32)
    out[0], out[-1] = z[0], z[-1]
    return out


def measure(settings: RefineSettings, curves: CurveBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each curve's length (eq. 10 with the graph's n_steps inside charts + the transition gaps), (B,) float64,
    whether all its free points are in their charts (psi_c > eps), (B,) bool, and whether one of them is near its
    chart's edge (psi_c <= MARGIN * eps: a curve that another chart may let go further), (B,) bool."""
    lengths, edge = measure_edges(settings, curves)
    return lengths, edge > settings.eps, edge <= MARGIN * settings.eps


def measure_edges(settings: RefineSettings, curves: CurveBatch) -> tuple[np.ndarray, np.ndarray]:
    """Each curve's length (as :func:`measure`) and edge: the smallest psi_c of its free points in their own charts
    (inf without free points), (B,) float64 each; one decoding of the points and their sub-steps, one partition
    call."""
    model, device = settings.model, curves.latents.device
    x = decoded(settings, curves)
    segment, jump = curves.segment, curves.jump
    row, col = torch.nonzero(segment & ~jump, as_tuple=True)
    z, y = curves.latents, curves.charts
    inner = torch.zeros(segment.shape, dtype=torch.float64, device=device)
    per_call = edges_per_batch(settings.batch_size, settings.n_steps)
    for s in range(0, row.numel(), per_call):
        r, c = row[s : s + per_call], col[s : s + per_call]
        inner[r, c] = segment_lengths(
            model.decode, z[r, c], z[r, c + 1], y[r, c], x[r, c], x[r, c + 1], settings.n_steps
        )
    gap = torch.linalg.vector_norm(x[:, 1:] - x[:, :-1], dim=2).double()
    lengths = torch.where(jump, gap, inner).sum(dim=1).cpu().numpy()
    return lengths, _edges(settings, curves, x)


def _edges(settings: RefineSettings, curves: CurveBatch, x: torch.Tensor) -> np.ndarray:
    """(B,) float64: the smallest psi_c of each curve's free points in their own charts (inf without free points),
    from x (B, L, D) float32, the points' decodings (:func:`decoded`); one partition call."""
    valid = curves.valid
    psi = call_model("partition", settings.model.partition, x[valid].reshape(-1, *settings.data_shape))
    own = psi.gather(1, curves.charts[valid][:, None])[:, 0].double()
    own_free = torch.full(valid.shape, torch.inf, dtype=torch.float64, device=x.device).index_put((valid,), own)
    edge: np.ndarray = torch.where(curves.free, own_free, torch.inf).amin(dim=1).cpu().numpy()
    return edge
