"""Continuous geodesics across charts: graph paths refined by minimising the discrete energy of the decoded curve.

A graph path (:class:`agm.geodesic.GeodesicPath`) is a polyline through data points, so its length is above the
geodesic's by the polyline's corners (1-2% on the exact models, up to ~10% on short pairs). :func:`refine_paths`
takes it as the start of a finer curve and moves the curve's latent points to minimise the discrete energy

    E = sum_s w_s || G_{c_{s+1}}(z_{s+1}) - G_{c_s}(z_s) ||^2

of the decodings (with the graph's ``n_steps`` sub-steps on every segment inside a chart), by the batched
Gauss-Newton descent of :mod:`agm.geodesic.refinement.gauss_newton` (the pullback metric at every curve point, one
block-tridiagonal solve per iteration, a line search). This module does the curves' other job: it builds them from
the paths (each maximal run of a path in one chart resampled into segments equidistant in decoded length, where the
path changes chart its two copies of the transition point joined by a segment of weight ``jump_weight`` >> 1), it
chooses their charts (:mod:`agm.geodesic.refinement.recharting`: before the descent, which drops the graph's detours
through charts the geometry does not need, and after it, which adds a transition where the curve is pressed against its
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

import dataclasses
import math
import numbers
import sys
import time
from collections.abc import Sequence
from typing import Literal, TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

from agm._progress import show
from agm.geodesic._support.checks import check_int
from agm.geodesic._support.evaluating import evaluating
from agm.geodesic.paths.curve import AtlasCurve
from agm.geodesic.refinement.curve_batch import CurveBatch, pad_curves, stacked, with_rows
from agm.geodesic.refinement.differentiable import check_differentiable
from agm.geodesic.refinement.evaluation import Pending
from agm.geodesic.refinement.gauss_newton import MOVE_TOLERANCE
from agm.geodesic.refinement.recharting import rechart
from agm.geodesic.refinement.refine_curves import (
    BestCurves,
    RefineSettings,
    decodes_per_evaluation,
    descend,
    descend_and_measure,
    measure,
    near_edge_or_switching,
    resampled,
)

#: A curve type: the paths given come back as the same type (a GeodesicPath stays one).
C = TypeVar("C", bound=AtlasCurve)

#: Refinement's decoder calls last at least this long at the decode policy's measured rate (seconds): each call
#: also costs ~0.1-0.3 ms of Python, checks and autograd nodes, which a cheap decoder (the sphere: 2.3M points/s)
#: would otherwise pay per few hundred points (20 sphere paths in one call: 4.75 ms per path in the policy's 256
#: points per call, 2.24 ms in 16,384). An expensive decoder keeps the policy's batch (a trained conv decoder at
#: 1,400 points/s: 64), in which it decodes fastest.
MIN_CALL_S = 0.005
#: The most points per refinement decoder call chosen by :data:`MIN_CALL_S`.
MAX_CALL_POINTS = 16384

#: A decoder measured at this many points per second or more is cheap: the Jacobians' shifted points are decoded
#: in the energy's own call (one call less per evaluation; the backward pass then also runs over them, a few
#: microseconds for such a decoder, far more for a trained conv decoder at ~1,400 points/s).
FUSE_RATE = 1e5

#: A cheap decoder's evaluation decodes every energy row's central differences (2 d shifted copies of each, in the
#: rows' own call, no autograd) instead of running a backward pass where those copies take at most this long at the
#: decode policy's measured rate: autograd's fixed cost (recording the graph, the engine, ~0.1-0.2 ms a call) then
#: exceeds what the copies add. Measured one by one on the sphere's 20 paths (2-core Xeon, 1 thread, ms of CPU per
#: ``refine()``, autograd / differences): the closed-form sphere (4.5M points/s; the 2,052 copies of a 33-point curve
#: 0.46 ms at that rate) 3.6 / 2.9; with a 2 -> h -> h -> 784 tanh MLP added to its decoder: h = 4 (1.9M points/s,
#: 1.1 ms) 6.5 / 6.5, h = 16 (1.4M, 1.5 ms) 6.6 / 8.6, h = 32 (1.0M) 7.0 / 8.0, h = 256 (0.28M) 20 / 35.
DIFFERENCE_S = 0.75e-3

#: Rounds of re-charting after the first descent (each followed by a descent of the curves whose charts changed).
RECHART_ROUNDS = 3


def refine_paths(
    paths: Sequence[C],
    *,
    steps: int = 100,
    points: int = 32,
    jump_weight: float = 100.0,
    eps: float | None = None,
    keep_in_chart: bool = True,
    batch_size: int | None = None,
    baseline: Literal["graph", "resampled"] = "graph",
    sub_steps: int | None = None,
    coarse_to_fine: bool = False,
    change_charts: bool = True,
    tolerance: float = MOVE_TOLERANCE,
    progress: bool | None = None,
) -> list[C]:
    """Refine graph geodesics into smooth curves of (nearly) minimal length; see the module docstring.

    Args:
        paths: graph paths of one model (from ``shortest_path(s)``), or already refined paths.
        steps: most Gauss-Newton evaluations per descent (line-search trials included; curves stop earlier when
            converged), >= 0 (0 only resamples: the measured lengths of the resampled paths, kept where shorter).
        points: segments per path inside charts (split among the path's chart runs by decoded length), >= 2.
        jump_weight: energy weight of a transition segment (two copies of one point in two charts), > 0.
        eps: the partition threshold that keeps each point in its chart; default (None) the eps of the graph the
            first path was found in.
        keep_in_chart: keep psi_c(G_c(z)) > eps for every free point (needs ``model.partition``).
        batch_size: decoded points per forward call; default (None) the batch of the graph's decode policy that
            the first path was found with (``DecodePolicy.batch_size``, measured for this decoder on this device),
            raised for a cheap decoder to what it decodes in :data:`MIN_CALL_S`. A conv decoder on a CPU decodes
            fewer points per second in large calls: one call for all curves' points made 6 trained-MNIST paths in
            one call 1.33x slower per path than one by one; in the policy's batches they are not
            (benchmarks/README.md).
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
            (:mod:`agm.geodesic.refinement.recharting`); False keeps the path's chart sequence (each transition can
            still slide along the overlap).
        tolerance: a curve stops when its next Gauss-Newton step would move none of its decoded points by more
            than this fraction of its length (the first-order distance to the minimum of the step's model: a shape
            criterion), or when the step predicts an energy decrease below 1e-7 of its energy; >= 0. Measured on
            the sphere's 20 pairs (``benchmarks/bench_refine.py --tolerances``, benchmarks/README.md): the default
            2e-4 leaves a largest angle to the great circle of 3.1e-4 rad; 5e-4 takes 0.88-0.95x the time for
            9.2e-4 rad, 1e-3 0.80-0.87x for 5.0e-3 rad, at the same length errors (median 4e-6).
        progress: a tqdm bar of the curves converged (and of each re-charting round's). None (default): shown only
            when the first evaluation says the descent may take over ``agm._progress.LONG_S`` seconds (``steps``
            evaluations like it) and stderr is a terminal or a notebook; True / False force it (the CLI passes
            True).

    Returns:
        One :class:`GeodesicPath` per input path, on the same model and device: the refined curve (no graph
        ``nodes``; ``latents``/``charts`` are the curve's points), or the input path where refining did not
        shorten it. ``length`` is never above the input's (with ``baseline="graph"``), and the curve is the
        shortest one the refinement measured for the path (its final descents' starts and accepted steps; the energy's
        minimum is not always the shortest on a trained decoder), among those kept inside their charts.

    Raises:
        ValueError: bad arguments, paths of different models, or a model changed since the paths were computed.
        TypeError: ``paths`` holds something that is not a GeodesicPath.
    """
    steps = check_int("steps", steps, minimum=0)
    points = check_int("points", points, minimum=2)
    if not float(jump_weight) > 0:
        raise ValueError(f"jump_weight must be > 0; got {jump_weight!r}")
    if eps is not None and not 0.0 <= float(eps) < 1.0:
        raise ValueError(f"eps must be a number in [0, 1); got {eps!r}")
    if not (isinstance(tolerance, numbers.Real) and math.isfinite(float(tolerance)) and float(tolerance) >= 0):
        raise ValueError(f"tolerance must be a finite number >= 0; got {tolerance!r}")
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
    batch_size = check_int("batch_size", _call_points(first) if batch_size is None else batch_size, minimum=1)
    eps = first._eps if eps is None else float(eps)
    sub = check_int("sub_steps", sub_steps if sub_steps is not None else first._n_steps, minimum=1)
    settings = RefineSettings(
        model=first._model,
        data_shape=first._data_shape,
        n_steps=first._n_steps,
        eps=float(eps),
        barrier=float(eps) if keep_in_chart else None,
        jump_weight=float(jump_weight),
        sub_steps=sub,
        steps=steps,
        batch_size=batch_size,
        fuse=first._decode_rate >= FUSE_RATE,
        difference_rows=int(first._decode_rate * DIFFERENCE_S) if first._decode_rate >= FUSE_RATE else 0,
        warm=first._decode_rate < FUSE_RATE,
        tolerance=float(tolerance),
    )
    # a semi-AGM (no chart encoders) cannot re-encode a point in another chart: its curves keep their charts
    recharting = keep_in_chart and change_charts and callable(getattr(settings.model, "encode", None))
    meter = _Bar(progress, len(current), steps)
    with evaluating(settings.model), torch.no_grad(), meter:
        curves = _path_curves(current, points, settings.jump_weight, first._device)
        positions = _path_positions(current)  # the graph paths' decodings, where the query kept them
        if baseline == "graph":
            bar = np.array([p.length for p in current])
        else:
            bar = measure(settings, resampled(settings, curves, points, positions))[0]
        levels = [n for n in (points // 4, points // 2) if n >= 4 and coarse_to_fine] + [points]
        index = np.arange(len(current))  # the path of each row of ``curves``
        begun = None  # the first evaluation's forward half, where the re-charting check ran it and kept the curves
        for level, n_points in enumerate(levels):
            curves = resampled(settings, curves, n_points, positions if level == 0 else None)
            if level == 0 and recharting:  # on the resampled points: the graph's detours
                # through charts the energy does not need are dropped, transitions go where two charts both hold
                charted, changed, begun = _rechart_where_needed(settings, curves)
                # An expensive decoder's curve that this changed descends twice, in the same calls: re-charted and as
                # the graph charted it; the shorter wins. On the trained 8-chart MNIST decoder the re-charted start
                # alone ended 16% longer on one pair of 10; on the sphere, whose charts agree exactly, the twins cost
                # 1.1x one by one and 1.6x in one call for 1e-5 in the worst length (benchmarks/README.md, "Issue
                # 25, fourth round"), so a cheap decoder (FUSE_RATE and above) keeps the re-charted start alone.
                if changed.size and settings.warm:
                    graph_charted = curves.rows(torch.from_numpy(changed).to(first._device))
                    charted = stacked(charted, graph_charted, settings.jump_weight)
                    index = np.concatenate([index, changed])
                curves = charted
            if level < len(levels) - 1:
                curves, begun = descend(settings, curves), None
        meter.begin()
        curves, length, inside, pressed = descend_and_measure(settings, curves, meter.update, begun)
        n = len(current)
        rows_of = torch.arange(curves.n_curves, device=first._device)
        best = BestCurves(curves.rows(rows_of[:n]), length[:n], inside[:n])
        best.offer(index[n:], curves.rows(rows_of[n:]), length[n:], inside[n:])
        for round_ in range(RECHART_ROUNDS if recharting else 0):
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
            meter.restart(f"refine: re-charting round {round_ + 1}", int(changed.sum()))
            curves, length, inside, pressed = descend_and_measure(
                settings, moved.rows(torch.from_numpy(np.flatnonzero(changed)).to(device)), meter.update
            )
            index = index[rows[changed]]
            best.offer(index, curves, length, inside)
    out = list(paths)
    for j, i in enumerate(todo):
        measured, kept_in = float(best.length[j]), bool(best.inside[j])
        if np.isfinite(measured) and measured < bar[j] and (kept_in or not keep_in_chart):
            out[i] = _as_path(paths[i], *best.points(j), measured)
    return out


def _call_points(path: AtlasCurve) -> int:
    """Points per decoder call of refinement: the path's decode policy's batch, raised to what it decodes in
    :data:`MIN_CALL_S` at the policy's measured rate (up to :data:`MAX_CALL_POINTS`)."""
    return max(path._batch_size, min(MAX_CALL_POINTS, int(path._decode_rate * MIN_CALL_S)))


def refine_decode_bound(
    n_paths: int, n_steps: int, latent_dim: int, n_charts: int, steps: int = 100, points: int = 32
) -> int:
    """At most how many points :func:`refine_paths` decodes for ``n_paths`` paths with its defaults
    (``sub_steps`` = the graph's ``n_steps``, re-charting on): every descent (the first and
    :data:`RECHART_ROUNDS` more) at its ``steps`` evaluations, each re-charting's decodings in every chart, the
    resampling and the final measure. Typical refinements converge in far fewer evaluations (the sphere: 4-6;
    a trained 8-chart MNIST model: tens)."""
    descents = 1 + RECHART_ROUNDS
    per_path = descents * steps * decodes_per_evaluation(points, n_steps, latent_dim)
    per_path += descents * (points + 1) * (2 + n_charts)  # each re-charting: the points, their encodings' decodings
    per_path += 2 * ((points + 1) + points * max(0, n_steps - 1))  # the resampling and one measure
    return n_paths * per_path


class _Bar:
    """A tqdm bar of curves converged (see ``progress`` of :func:`refine_paths`), decided on the first evaluation
    when ``progress`` is None."""

    def __init__(self, progress: bool | None, total: int, steps: int) -> None:
        self.progress, self.total, self.steps = progress, total, max(1, steps)
        self.bar: tqdm | None = None
        self.start = time.perf_counter()
        if progress:
            self._open("refine", total)

    def _open(self, description: str, total: int) -> None:
        self.bar = tqdm(total=total, desc=description, unit="path", file=sys.stderr, leave=False)

    def begin(self) -> None:
        """The descent starts (what the first evaluation is timed from)."""
        self.start = time.perf_counter()

    def update(self, done: int) -> None:
        """After each evaluation: ``done`` curves of this descent have converged or stopped."""
        if self.progress is None:  # decide once, on the first evaluation: steps more like it, at most
            self.progress = show(None, (time.perf_counter() - self.start) * self.steps)
            if self.progress:
                self._open("refine", self.total)
        if self.bar is not None:
            self.bar.n = done
            self.bar.refresh()

    def restart(self, description: str, total: int) -> None:
        """A new descent of ``total`` curves (a re-charting round)."""
        if self.bar is not None:
            self.bar.reset(total=total)
            self.bar.set_description(description)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def restart_paths(
    paths: Sequence[C],
    chart: int,
    latent: np.ndarray,
    *,
    points: int = 32,
    batch_size: int | None = None,
) -> list[C]:
    """The curves with their first point moved to ``latent`` in ``chart``, resampled into ``points`` segments and
    measured (eq. 10 inside charts + transition gaps; no optimisation): warm starts for :func:`refine_paths`
    when the common start of many geodesics moves a little (the Fréchet mean's descent).

    Args:
        paths: curves (graph or refined paths) of one model whose first point is in ``chart``, each with >= 2
            points.
        chart: the chart of the new start.  latent: (d,) float, its latent point in that chart.
        points: segments per curve.  batch_size: decoded points per forward call (default: the graph's decode
            policy's).

    Returns:
        One measured :class:`GeodesicPath` per input (no graph ``nodes``), on the same model and device.

    Raises:
        ValueError: bad arguments, a path that does not start in ``chart`` or has fewer than 2 points, paths of
            different models, or a model changed since the paths were computed.
        TypeError: ``paths`` holds something that is not a GeodesicPath.
    """
    points = check_int("points", points, minimum=2)
    paths = _checked_paths(paths)
    if not paths:
        return []
    batch_size = check_int("batch_size", _call_points(paths[0]) if batch_size is None else batch_size, minimum=1)
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
    settings = RefineSettings(first._model, first._data_shape, first._n_steps, first._eps, None, 1.0, 1, 0, batch_size)
    with evaluating(first._model), torch.no_grad():
        curves = resampled(settings, _path_curves(moved, points, 1.0, first._device), points)
        lengths = measure(settings, curves)[0]
    latents, charts = curves.latents.cpu().numpy(), curves.charts.cpu().numpy()
    count = curves.count.cpu().numpy()
    return [_as_path(p, latents[j, : count[j]], charts[j, : count[j]], float(lengths[j])) for j, p in enumerate(paths)]


def _rechart_where_needed(
    settings: RefineSettings, curves: CurveBatch
) -> tuple[CurveBatch, np.ndarray, Pending | None]:
    """The curves re-charted, except those in one chart with no free point near its edge (they would keep it),
    (k,) int64 the rows that re-charting changed, and the descent's first evaluation begun on the curves where the
    check ran it and no curve needed re-charting (see ``near_edge_or_switching``), else None."""
    need, begun = near_edge_or_switching(settings, curves)
    if not need.any():
        return curves, np.zeros(0, dtype=np.int64), begun
    rows = np.flatnonzero(need)
    device = curves.latents.device
    some = curves if need.all() else curves.rows(torch.from_numpy(rows).to(device))
    moved, changed = rechart(
        settings.model, some, settings.eps, settings.jump_weight, settings.data_shape, settings.batch_size
    )
    out = moved if need.all() else with_rows(curves, rows.tolist(), moved, settings.jump_weight)
    return out, rows[np.asarray(changed, dtype=bool)], None


def _checked_paths(paths: Sequence[C]) -> list[C]:
    """The paths as a list, each a GeodesicPath of the first one's model, which has not changed since."""
    out = list(paths)
    for i, p in enumerate(out):
        if not isinstance(p, AtlasCurve):
            raise TypeError(f"paths[{i}] must be a GeodesicPath; got {type(p).__name__}")
        if p._model is not out[0]._model:
            raise ValueError(f"paths must all belong to one model; paths[{i}] belongs to another")
        p._check_model()
    return out


def _path_curves(paths: Sequence[AtlasCurve], points: int, jump_weight: float, device: torch.device) -> CurveBatch:
    """The paths' own points as curves, with energy scale points / length^2 (about 1 per path at the optimum)."""
    scale = torch.tensor([points / max(p.length, 1e-12) ** 2 for p in paths], dtype=torch.float64, device=device)
    latents = [torch.from_numpy(p.latents).to(device) for p in paths]
    charts = [torch.from_numpy(p.charts).to(device) for p in paths]
    return pad_curves(latents, charts, scale, jump_weight)


def _path_positions(paths: Sequence[AtlasCurve]) -> np.ndarray | None:
    """(B, L, D) float64 the decodings of the paths' points padded like :func:`_path_curves` (zeros), where every
    path has them (``_positions``, from the query), else None."""
    rows = [p._positions for p in paths if p._positions is not None]
    if len(rows) < len(paths):
        return None
    out = np.zeros((len(rows), max(x.shape[0] for x in rows), rows[0].shape[1]))
    for b, x in enumerate(rows):
        out[b, : x.shape[0]] = x
    return out


def curve_path(template: C, latents: np.ndarray, charts: np.ndarray, length: float) -> C:
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


def _as_path(graph_path: C, latents: np.ndarray, charts: np.ndarray, length: float) -> C:
    """The graph path's type over the refined curve's points (no graph nodes), on its model, device and batch."""
    return dataclasses.replace(
        graph_path,
        length=float(length),
        charts=charts.astype(np.int64),
        latents=np.ascontiguousarray(latents, dtype=np.float32),
        nodes=np.zeros(0, dtype=np.int64),
        data_indices=np.zeros(0, dtype=np.int64),
        chart_changes=np.flatnonzero(charts[1:] != charts[:-1]).astype(np.int64),
        shortest_length=float("nan"),
        _positions=None,
    )
