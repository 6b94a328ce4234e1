"""Continuous geodesics across charts: graph paths refined by minimising the discrete energy of the decoded curve.

A graph path (:class:`agm.geodesic.GeodesicPath`) is a polyline through data points, so its length is above the
geodesic's by the polyline's corners (1-2% on the exact models, up to ~10% on short pairs). :func:`refine_paths`
takes it as the start of a finer curve and moves the curve's latent points to minimise the discrete energy

    E = sum_s w_s || G_{c_{s+1}}(z_{s+1}) - G_{c_s}(z_s) ||^2

of the decodings (with the graph's ``n_steps`` sub-steps on every segment inside a chart), by the batched
Gauss-Newton descent of :mod:`agm.geodesic.gauss_newton` (the pullback metric at every curve point, one
block-tridiagonal solve per iteration, a line search). This module does the curves' other job: it builds them from
the paths (each maximal run of a path in one chart resampled into segments equidistant in decoded length, where the
path changes chart its two copies of the transition point joined by a segment of weight ``jump_weight`` >> 1), it
chooses their charts (:mod:`agm.geodesic.recharting`: before the descent, which drops the graph's detours through
charts the geometry does not need, and after it, which adds a transition where the curve is pressed against its
chart's edge or moves one; then the descent runs again), and it measures and keeps them.

With ``keep_in_chart`` every free point stays where its chart's psi exceeds ``eps`` (the line search never lets a
point leave it). The two ends (the query points' main copies) are fixed. The refined length is measured like a graph
path's: eq. (10) with the graph's ``n_steps`` on every segment inside a chart, plus the (small) decoded gap at each
transition. A refinement is kept only where that length is below the graph path's (and every point is in its
chart); otherwise the graph path is returned unchanged. All paths of a call advance together (every iteration one
Jacobian call, one sub-step decoding and one partition call for all unconverged curves).

Measured in ``benchmarks/bench_refine.py`` (the sphere against GEORCE and stochman, a trained 8-chart MNIST model)
and ``benchmarks/bench_transitions.py`` (cylinder, sphere, four-chart flat torus); see benchmarks/README.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from agm.geodesic._context import evaluating
from agm.geodesic.curve_batch import CurveBatch, pad_curves
from agm.geodesic.curves import decode_points, edges_per_batch, segment_lengths
from agm.geodesic.differentiable import check_differentiable
from agm.geodesic.gauss_newton import minimise_energy
from agm.geodesic.inputs import call_model, check_int
from agm.geodesic.path import GeodesicPath
from agm.geodesic.recharting import MARGIN, rechart

#: Rounds of re-charting after the first descent (each followed by a descent of the curves whose charts changed).
RECHART_ROUNDS = 3


def refine_paths(
    paths: Sequence[GeodesicPath],
    *,
    steps: int = 100,
    points: int = 32,
    jump_weight: float = 100.0,
    eps: float = 0.05,
    keep_in_chart: bool = True,
    batch_size: int = 16384,
    baseline: Literal["graph", "resampled"] = "graph",
    sub_steps: int | None = None,
    coarse_to_fine: bool = False,
    change_charts: bool = True,
) -> list[GeodesicPath]:
    """Refine graph geodesics into smooth curves of (nearly) minimal length; see the module docstring.

    Args:
        paths: graph paths of one model (from ``shortest_path(s)``), or already refined paths.
        steps: most Gauss-Newton evaluations per descent (line-search trials included; curves stop earlier when
            converged), >= 0 (0 only resamples: the measured lengths of the resampled paths, kept where shorter).
        points: segments per path inside charts (split among the path's chart runs by decoded length), >= 2.
        jump_weight: energy weight of a transition segment (two copies of one point in two charts), > 0.
        eps: the partition threshold that keeps each point in its chart (the graph's eps).
        keep_in_chart: keep psi_c(G_c(z)) > eps for every free point (needs ``model.partition``).
        batch_size: decoded points per forward call (the default holds one iteration of ~30 sphere paths in one
            call; a conv decoder on a CPU decodes fewer points per second in large calls, measured below).
        sub_steps: straight-latent sub-steps per segment in the energy (default: the graph's n_steps, as the
            length is measured); 1 uses the points alone (n_steps times fewer decodings, enough where the decoder
            has no detail between points, e.g. the closed-form models; a trained decoder's curve can fold between
            two points and the optimiser would then shorten the chords while lengthening the curve).
        baseline: what a refined curve must beat to be kept. "graph": the graph path's ``length`` (so the result
            is never longer than it). "resampled": the graph path measured at the refined resolution (its chart
            runs resampled into ``points`` segments, eq. 10 on each, no optimisation). A trained decoder's curve
            has detail that the graph's n_steps per edge does not resolve, and a finer polyline of a curve is
            never shorter, so a refined curve can be shorter than the resampled graph path yet longer than
            ``length`` (measured on a 1-D-latent glyph AWAE: graph 46.75, resampled 47.9, refined 47.77): with
            "resampled" the result compares like with like, and may exceed the graph path's ``length``.
        coarse_to_fine: descend with points/4 and points/2 segments first, then ``points`` (rarely needed: the
            Gauss-Newton steps move the smooth modes, such as a transition sliding along an overlap, directly).
        change_charts: let the refinement choose the curve points' charts (with ``keep_in_chart``, on a model
            with ``encode``; a semi-AGM's curves keep theirs): drop, add or move chart transitions
            (:mod:`agm.geodesic.recharting`); False keeps the path's chart sequence (each transition can still
            slide along the overlap).

    Returns:
        One :class:`GeodesicPath` per input path, on the same model and device: the refined curve (no graph
        ``nodes``; ``latents``/``charts`` are the curve's points), or the input path where refining did not
        shorten it. ``length`` is never above the input's (with ``baseline="graph"``).

    Raises:
        ValueError: bad arguments, paths of different models, or a model changed since the paths were computed.
        TypeError: ``paths`` holds something that is not a GeodesicPath.
    """
    steps = check_int("steps", steps, minimum=0)
    points = check_int("points", points, minimum=2)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if not float(jump_weight) > 0:
        raise ValueError(f"jump_weight must be > 0; got {jump_weight!r}")
    if not 0.0 <= float(eps) < 1.0:
        raise ValueError(f"eps must be a number in [0, 1); got {eps!r}")
    if baseline not in ("graph", "resampled"):
        raise ValueError(f"baseline must be 'graph' or 'resampled'; got {baseline!r}")
    paths = _checked_paths(paths)
    todo = [i for i, p in enumerate(paths) if p.length > 0 and len(p) >= 2]
    if not todo:
        return paths
    check_differentiable(
        paths[todo[0]]._model, paths[todo[0]].latents[0], int(paths[todo[0]].charts[0]), paths[todo[0]]._device
    )
    current = [paths[i] for i in todo]
    first = current[0]
    sub = check_int("sub_steps", sub_steps if sub_steps is not None else first._n_steps, minimum=1)
    settings = _Settings(
        model=first._model,
        data_shape=first._data_shape,
        n_steps=first._n_steps,
        eps=float(eps),
        barrier=float(eps) if keep_in_chart else None,
        jump_weight=float(jump_weight),
        sub_steps=sub,
        steps=steps,
        batch_size=batch_size,
    )
    # a semi-AGM (no chart encoders) cannot re-encode a point in another chart: its curves keep their charts
    recharting = keep_in_chart and change_charts and callable(getattr(settings.model, "encode", None))
    with evaluating(settings.model), torch.no_grad():
        curves = _path_curves(current, points, settings.jump_weight, first._device)
        if baseline == "graph":
            bar = np.array([p.length for p in current])
        else:
            bar = _measure(settings, _resampled(settings, curves, points))[0]
        levels = [n for n in (points // 4, points // 2) if n >= 4 and coarse_to_fine] + [points]
        for level, n_points in enumerate(levels):
            curves = _resampled(settings, curves, n_points)
            if level == 0 and recharting:  # on the resampled points: the graph's detours
                # through charts the energy does not need are dropped, transitions go where two charts both hold
                curves = rechart(
                    settings.model, curves, settings.eps, settings.jump_weight, first._data_shape, batch_size
                )[0]
            curves = _descend(settings, curves)
        length, inside, pressed = _measure(settings, curves)
        best = _Best(curves, length, inside)
        index = np.arange(curves.n_curves)  # the path of each row of ``curves``
        for _ in range(RECHART_ROUNDS if recharting else 0):
            rows = np.flatnonzero(pressed)  # curves with a point at its chart's edge, where the line search held it
            if rows.size == 0:
                break
            device = curves.latents.device
            moved, changed = rechart(
                settings.model,
                curves.rows(torch.from_numpy(rows).to(device)),
                settings.eps,
                settings.jump_weight,
                first._data_shape,
                batch_size,
            )
            if not changed.any():
                break
            curves = _descend(settings, moved.rows(torch.from_numpy(np.flatnonzero(changed)).to(device)))
            index = index[rows[changed]]
            length, inside, pressed = _measure(settings, curves)
            best.offer(index, curves, length, inside)
    out = list(paths)
    for j, i in enumerate(todo):
        measured, kept_in = float(best.length[j]), bool(best.inside[j])
        if np.isfinite(measured) and measured < bar[j] and (kept_in or not keep_in_chart):
            out[i] = _as_path(paths[i], *best.points(j), measured)
    return out


def restart_paths(
    paths: Sequence[GeodesicPath],
    chart: int,
    latent: np.ndarray,
    *,
    points: int = 32,
    batch_size: int = 16384,
) -> list[GeodesicPath]:
    """The curves with their first point moved to ``latent`` in ``chart``, resampled into ``points`` segments and
    measured (eq. 10 inside charts + transition gaps; no optimisation): warm starts for :func:`refine_paths`
    when the common start of many geodesics moves a little (the Fréchet mean's descent).

    Args:
        paths: curves (graph or refined paths) of one model whose first point is in ``chart``, each with >= 2
            points.
        chart: the chart of the new start.  latent: (d,) float, its latent point in that chart.
        points: segments per curve.  batch_size: decoded points per forward call.

    Returns:
        One measured :class:`GeodesicPath` per input (no graph ``nodes``), on the same model and device.

    Raises:
        ValueError: bad arguments, a path that does not start in ``chart`` or has fewer than 2 points, paths of
            different models, or a model changed since the paths were computed.
        TypeError: ``paths`` holds something that is not a GeodesicPath.
    """
    points = check_int("points", points, minimum=2)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    paths = _checked_paths(paths)
    if not paths:
        return []
    z = np.asarray(latent, dtype=np.float32).reshape(-1)
    moved = []
    for i, p in enumerate(paths):
        if len(p) < 2 or int(p.charts[0]) != int(chart) or p.latents.shape[1] != z.size:
            raise ValueError(
                f"paths[{i}] must have >= 2 points and start in chart {chart} with latents of size {z.size}; got "
                f"{len(p)} points starting in chart {int(p.charts[0]) if len(p) else None}"
            )
        lat = p.latents.copy()
        lat[0] = z
        moved.append(_as_path(p, lat, p.charts, np.inf))
    first = paths[0]
    settings = _Settings(first._model, first._data_shape, first._n_steps, first._eps, None, 1.0, 1, 0, batch_size)
    with evaluating(first._model), torch.no_grad():
        curves = _resampled(settings, _path_curves(moved, points, 1.0, first._device), points)
        lengths = _measure(settings, curves)[0]
    latents, charts = curves.latents.cpu().numpy(), curves.charts.cpu().numpy()
    count = curves.count.cpu().numpy()
    return [_as_path(p, latents[j, : count[j]], charts[j, : count[j]], float(lengths[j])) for j, p in enumerate(paths)]


@dataclass(frozen=True)
class _Settings:
    """What every stage of one refine call shares."""

    model: Any
    data_shape: tuple[int, ...]
    n_steps: int
    eps: float
    barrier: float | None
    jump_weight: float
    sub_steps: int
    steps: int
    batch_size: int


class _Best:
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


def _checked_paths(paths: Sequence[GeodesicPath]) -> list[GeodesicPath]:
    """The paths as a list, each a GeodesicPath of the first one's model, which has not changed since."""
    out = list(paths)
    for i, p in enumerate(out):
        if not isinstance(p, GeodesicPath):
            raise TypeError(f"paths[{i}] must be a GeodesicPath; got {type(p).__name__}")
        if p._model is not out[0]._model:
            raise ValueError(f"paths must all belong to one model; paths[{i}] belongs to another")
        p._check_model()
    return out


def _path_curves(paths: list[GeodesicPath], points: int, jump_weight: float, device: torch.device) -> CurveBatch:
    """The paths' own points as curves, with energy scale points / length^2 (about 1 per path at the optimum)."""
    scale = torch.tensor([points / max(p.length, 1e-12) ** 2 for p in paths], dtype=torch.float64, device=device)
    latents = [torch.from_numpy(p.latents).to(device) for p in paths]
    charts = [torch.from_numpy(p.charts).to(device) for p in paths]
    return pad_curves(latents, charts, scale, jump_weight)


def _descend(settings: _Settings, curves: CurveBatch) -> CurveBatch:
    """The Gauss-Newton descent of :mod:`agm.geodesic.gauss_newton` on all curves together."""
    return minimise_energy(
        settings.model,
        curves,
        settings.steps,
        settings.sub_steps,
        settings.barrier,
        settings.data_shape,
        settings.batch_size,
    )


def _decoded(settings: _Settings, curves: CurveBatch) -> torch.Tensor:
    """(B, L, D) float32 decodings of the curves' points (0 at padding), one batched decoding."""
    valid = curves.valid
    x = decode_points(
        settings.model.decode, curves.latents[valid], curves.charts[valid], settings.batch_size, curves.latents.device
    )
    return x.new_zeros(*valid.shape, x.shape[1]).index_put((valid,), x)


def _resampled(settings: _Settings, curves: CurveBatch, points: int) -> CurveBatch:
    """Every curve's chart runs resampled into ``points`` segments in all (split by decoded length), each run's
    points equidistant in decoded chord length; transitions and ends kept."""
    x = _decoded(settings, curves).double().cpu().numpy()
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
            z_run = latents[b, lo:hi] if hi - lo == 1 else _resample_run(latents[b, lo:hi], x[b, lo:hi], n_seg)
            pieces_z.append(z_run)
            pieces_c.append(np.full(z_run.shape[0], charts[b, lo], dtype=np.int64))
        out_latents.append(torch.from_numpy(np.concatenate(pieces_z)).to(device))
        out_charts.append(torch.from_numpy(np.concatenate(pieces_c)).to(device))
    return pad_curves(out_latents, out_charts, curves.scale, settings.jump_weight)


def _resample_run(z: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:
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


def _measure(settings: _Settings, curves: CurveBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each curve's length (eq. 10 with the graph's n_steps inside charts + the transition gaps), (B,) float64,
    whether all its free points are in their charts (psi_c > eps), (B,) bool, and whether one of them is near its
    chart's edge (psi_c <= MARGIN * eps: a curve that another chart may let go further), (B,) bool."""
    model, device = settings.model, curves.latents.device
    x = _decoded(settings, curves)
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
    valid = curves.valid
    psi = call_model("partition", model.partition, x[valid].reshape(-1, *settings.data_shape))
    own = psi.gather(1, y[valid][:, None])[:, 0]
    own_all = torch.ones(valid.shape, dtype=own.dtype, device=device).index_put((valid,), own)
    inside = ~((own_all <= settings.eps) & curves.free).any(dim=1)
    pressed = ((own_all <= MARGIN * settings.eps) & curves.free).any(dim=1)
    return lengths, inside.cpu().numpy(), pressed.cpu().numpy()


def curve_path(template: GeodesicPath, latents: np.ndarray, charts: np.ndarray, length: float) -> GeodesicPath:
    """A :class:`GeodesicPath` over given curve points (e.g. a refined curve saved as JSON and read back), on the
    template path's model, device and resolution; no graph ``nodes``.

    Args:
        template: a path of the same model (e.g. the graph path the curve was refined from).
        latents: (L, d) float latent points, L >= 1, d the template's latent size.  charts: (L,) int chart of each.
        length: the curve's measured length (as :func:`refine_paths` reports it).

    Raises:
        ValueError: shapes that do not fit, or charts outside 0..n_charts-1 of the template's model.
    """
    lat = np.asarray(latents, dtype=np.float32)
    ch = np.asarray(charts, dtype=np.int64).reshape(-1)
    if lat.ndim != 2 or lat.shape[0] < 1 or lat.shape[0] != ch.size or lat.shape[1] != template.latents.shape[1]:
        raise ValueError(
            f"latents must be (L, {template.latents.shape[1]}) with L = len(charts) >= 1; got latents "
            f"{lat.shape} and {ch.size} charts"
        )
    n_charts = int(getattr(template._model, "n_charts", int(ch.max()) + 1))
    if bool((ch < 0).any()) or bool((ch >= n_charts).any()):
        raise ValueError(f"charts must lie in 0..{n_charts - 1}; got {ch.tolist()}")
    return _as_path(template, lat, ch, float(length))


def _as_path(graph_path: GeodesicPath, latents: np.ndarray, charts: np.ndarray, length: float) -> GeodesicPath:
    """A GeodesicPath over the refined curve's points (no graph nodes), on the graph path's model and device."""
    return GeodesicPath(
        length=float(length),
        charts=charts.astype(np.int64),
        latents=np.ascontiguousarray(latents, dtype=np.float32),
        nodes=np.zeros(0, dtype=np.int64),
        data_indices=np.zeros(0, dtype=np.int64),
        chart_changes=np.flatnonzero(charts[1:] != charts[:-1]).astype(np.int64),
        _model=graph_path._model,
        _n_steps=graph_path._n_steps,
        _data_shape=graph_path._data_shape,
        _device=graph_path._device,
        _check=graph_path._check,
        _eps=graph_path._eps,
    )
