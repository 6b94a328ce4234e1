"""Where every decoded row of an energy evaluation comes from and where it goes: the layout of a set of curves.

Built once per set of curves, on the host, not per iteration (see :mod:`agm.geodesic.refinement.evaluation`), so
that every evaluation is a few array operations on the host, whatever the number of curves: the rows' latents from
the points' (lerp, index arrays) and its adjoint for the energy's gradient (a sparse matrix, scipy CSC); the fine
polylines' rows (``order``), from which the native core (``agm._core.curve_energy``) sums the energy, the lengths
and the energy's derivative by the decoded rows in one call.

A layout depends on the curves' structure (their point counts, charts and the pattern of their segment weights), not
on their latents, and only through a factor per curve on their energy scales: the layouts of sets of curves that fit
one decoder call are kept (:data:`CACHE_SIZE` of them, up to :data:`CACHE_ROWS` decoded rows each) by structure, at
unit scale, and scaled on use. Refining paths one by one builds each structure once: measured on the sphere (20
paths of 33 points, one chart or two), building one took 0.7 ms of a path's 7 ms.

Floor: :mod:`agm.geodesic.refinement` (numpy, scipy and torch only).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import torch

from agm.geodesic.refinement.curve_batch import CurveBatch

#: Layouts kept by structure (least recently used dropped first).
CACHE_SIZE = 32
#: Only layouts of at most this many decoded rows are kept: a layout holds about 77 bytes a row (measured: 39.2 KB
#: for a 33-point curve at 16 steps a segment), so the kept ones take at most about 10 MB.
CACHE_ROWS = 4096


@dataclass(frozen=True)
class EnergyLayout:
    """What every evaluation of one set of curves shares.

    Decoded rows: the P existing points (curve after curve, in order), then the sub-steps of every segment inside a
    chart (n - 1 each). Row r's latent is lerp(z[ia[r]], z[ib[r]], t[r]) of the flat (B L, d) latents (a point:
    ia = ib, t = 0). The fine polyline of curve b has M = (L - 1) n + 1 vertices: each segment's first point, its
    n - 1 sub-steps, ..., the last point; a transition's or a padding segment's sub-steps are its first point's row
    again (held), so its n fine edges are 0, ..., 0 and the gap. The energy is sum_e weight[b, e] |x_(e+1) - x_e|^2
    over fine edges, the length sum_e |x_(e+1) - x_e|.
    """

    shape: tuple[int, int, int]  # B, L, d
    ia: np.ndarray  # (R,) int64 flat latent index of every row's start
    ib: np.ndarray  # (R,) int64 flat latent index of every row's end
    t: np.ndarray  # (R, 1) float32 every row's place between them
    decode_charts: torch.Tensor  # (R + d P,) int64 on the device: the rows' charts, then the shifted points'; or,
    # ``differenced``, ((1 + 2 d) R,): the rows' charts, then those of their 2 d shifted copies
    point_charts: np.ndarray  # (P,) int64 the chart of every point
    order: np.ndarray  # (B, M) int64: the rows of every fine polyline's vertices (``agm._core.curve_energy``)
    spread: scipy.sparse.csc_matrix  # (P, R) float64: the rows' derivative by the points' latents (lerp's adjoint)
    fine_weight: np.ndarray  # (B, M - 1) float64 energy weight of every fine edge
    n_points: int  # P
    point_flat: np.ndarray  # (P,) int64 flat index (b L + i) of every row-point
    fuse: bool  # the Jacobians' shifted points decoded in the rows' call (a cheap decoder: one call less)
    differenced: bool  # every row and its 2 d shifted copies decoded instead of a backward pass (see energy_layout)
    free: np.ndarray  # (F,) int64 the free points among the P (rows)
    curve_of_free: np.ndarray  # (F,) int64
    free_start: np.ndarray  # (C,) int64 where each curve with free points starts among the F
    with_free: np.ndarray  # (C,) int64 those curves
    free_rank: np.ndarray  # (F,) int64 the curve of each free point among the C
    diag_weight: np.ndarray  # (F,) float64: 2 (w_(i-1) + w_i), the weight of J_i^T J_i
    off_weight: np.ndarray  # (F - 1,) float64: -2 w_i between free points f and f + 1 of one curve, else 0
    groups: tuple[tuple[np.ndarray, EnergyLayout], ...] | None  # curves evaluated apart (see _groups), or None

    @property
    def n_rows(self) -> int:
        """R, the decoded rows: the points and the sub-steps."""
        return int(self.ia.size)


def energy_layout(
    curves: CurveBatch, sub_steps: int, batch_size: int = 1 << 30, fuse: bool = False, difference_rows: int = 0
) -> EnergyLayout:
    """The layout of ``curves`` for the energy with ``sub_steps`` steps a segment; ``batch_size`` points per decoder
    call (curves whose rows do not fit one call are evaluated in groups); ``fuse``: one decoder call for the rows
    and the Jacobians' shifted points. ``difference_rows``: where ``fuse`` and the 2 d R shifted copies of the R
    rows number at most this (and all fit one call), the evaluation decodes every row's central differences instead
    of running a backward pass (``differenced``: a decoder so cheap that autograd's fixed cost exceeds decoding
    them, see :mod:`agm.geodesic.refinement.evaluation`); 0, the default: never. Kept by structure where the curves
    fit one call (module docstring)."""
    count = curves.count.cpu().numpy()
    charts = curves.charts.cpu().numpy()
    weight = curves.weight.cpu().numpy()
    scale = curves.scale.cpu().numpy()
    n = _sub_steps(count, charts, sub_steps)
    rows = _curve_rows(count, n - 1)
    total = int(rows.sum())
    d = int(curves.latents.shape[2])
    decoded = _decoded_rows(count, charts, n)
    differenced = fuse and 2 * d * decoded <= difference_rows and (1 + 2 * d) * decoded <= batch_size
    if not _one_call(rows, batch_size) or total > CACHE_ROWS or not bool(np.all(scale > 0)):
        return _layout(curves, count, charts, weight, sub_steps, batch_size, fuse, differenced)
    unit = _rounded(weight / scale[:, None])
    where = (tuple(curves.latents.shape), str(curves.latents.device), sub_steps, fuse, differenced)
    key = (*where, count.tobytes(), charts.tobytes(), unit.tobytes())
    with _LOCK:
        kept = _KEPT.get(key)
        if kept is not None:
            _KEPT.move_to_end(key)
    if kept is None:
        kept = _read_only(_layout(curves, count, charts, unit, sub_steps, batch_size, fuse, differenced))
        with _LOCK:
            _KEPT[key] = kept
            while len(_KEPT) > CACHE_SIZE:
                _KEPT.popitem(last=False)
    return _scaled(kept, scale)


_KEPT: OrderedDict[tuple[object, ...], EnergyLayout] = OrderedDict()
_LOCK = threading.Lock()


def _read_only(layout: EnergyLayout) -> EnergyLayout:
    """``layout`` with its numpy arrays made read-only: a kept layout is shared by every call (and thread) that
    refines curves of its structure, so a write into one would be a bug; it raises instead."""
    for field in dataclasses.fields(layout):
        value = getattr(layout, field.name)
        for array in value if isinstance(value, tuple) else (value,):
            if isinstance(array, np.ndarray):
                array.setflags(write=False)
    return layout


def _rounded(unit: np.ndarray) -> np.ndarray:
    """The unit weights (B, L - 1) float64 (>= 0) rounded to the nearest multiple of 256 units in their last place
    (2^-44 relative), so that the weights of two paths of one structure (w * scale / scale, a few units in the last
    place apart) have one key."""
    bits = np.ascontiguousarray(unit).view(np.int64)
    out: np.ndarray = ((bits + np.int64(0x80)) & ~np.int64(0xFF)).view(np.float64)
    return out


def _scaled(layout: EnergyLayout, scale: np.ndarray) -> EnergyLayout:
    """A unit-scale layout (no groups) for curves of energy scales ``scale`` (B,) float64: its weights times them."""
    of_free = layout.curve_of_free
    return dataclasses.replace(
        layout,
        fine_weight=layout.fine_weight * scale[:, None],
        diag_weight=layout.diag_weight * scale[of_free],
        off_weight=layout.off_weight * scale[of_free[:-1]],
    )


def _sub_steps(count: np.ndarray, charts: np.ndarray, sub_steps: int) -> int:
    """n, the steps of every segment inside a chart: ``sub_steps``, or 1 where no curve has such a segment."""
    inner = _inner_segments(count, charts)
    return sub_steps if charts.shape[1] > 1 and sub_steps > 1 and bool(inner.any()) else 1


def _inner_segments(count: np.ndarray, charts: np.ndarray) -> np.ndarray:
    """(B, L - 1) bool: the segments inside a chart of curves of ``count`` (B,) points and ``charts`` (B, L)."""
    segment = np.arange(charts.shape[1] - 1)[None, :] < count[:, None] - 1
    out: np.ndarray = segment & (charts[:, 1:] == charts[:, :-1])
    return out


def _decoded_rows(count: np.ndarray, charts: np.ndarray, n: int) -> int:
    """R, the rows that a layout of curves of ``count`` (B,) points and ``charts`` (B, L) decodes at ``n`` steps a
    segment: every point, and n - 1 sub-steps of every segment inside a chart (a transition has none)."""
    return int(count.sum()) + int(_inner_segments(count, charts).sum()) * (n - 1)


def _curve_rows(count: np.ndarray, n_sub: int) -> np.ndarray:
    """(B,) int64: the decoded rows of each curve of ``count`` (B,) points, ``n_sub`` sub-steps a segment."""
    out: np.ndarray = count + (count - 1) * n_sub
    return out


def _one_call(rows: np.ndarray, batch_size: int) -> bool:
    """Whether curves of ``rows`` (B,) decoded rows are evaluated in one decoder call (else in groups, ``_groups``):
    one curve always is."""
    return rows.size < 2 or int(rows.sum()) <= batch_size


def _layout(
    curves: CurveBatch,
    count: np.ndarray,
    charts: np.ndarray,
    weight: np.ndarray,
    sub_steps: int,
    batch_size: int,
    fuse: bool,
    differenced: bool = False,
) -> EnergyLayout:
    """The layout of ``curves`` (host copies of their count (B,), charts (B, L) and segment weights (B, L - 1));
    ``differenced`` only where they fit one call of ``batch_size`` (their groups never are)."""
    b, length, d = curves.latents.shape
    device = curves.latents.device
    positions = np.arange(length)
    valid = positions[None, :] < count[:, None]
    free = (positions[None, :] > 0) & valid & (positions[None, :] < count[:, None] - 1)
    segment = positions[None, :-1] < count[:, None] - 1
    jump = segment & (charts[:, 1:] != charts[:, :-1])
    inner = segment & ~jump
    n = _sub_steps(count, charts, sub_steps)
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
    row_charts = charts.reshape(-1)[ia]
    held = np.repeat(row_of[:, :-1, None], n, axis=2)  # (B, L - 1, n): held at the segment's first point
    if n_sub > 0:
        held[sb, si, 1:] = n_points + np.arange(sb.size * n_sub).reshape(-1, n_sub)
    order = np.concatenate([held.reshape(b, -1), row_of[:, -1:]], axis=1)  # (B, M) the fine polylines' rows
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
    if differenced:  # the rows, then their copies shifted by +h e_k, then by -h e_k (k = 1..d)
        decode_charts = np.tile(row_charts, 1 + 2 * d)
    else:  # the rows, then the points' copies shifted by +h e_k
        decode_charts = np.concatenate([row_charts, np.tile(row_charts[:n_points], d)])
    return EnergyLayout(
        shape=(b, length, d),
        ia=ia,
        ib=ib,
        t=t.astype(np.float32)[:, None],
        decode_charts=torch.from_numpy(decode_charts).to(device),
        point_charts=row_charts[:n_points],
        order=np.ascontiguousarray(order, dtype=np.int64),
        spread=_spread_matrix(flat_row[ia], flat_row[ib], t, n_points),
        fine_weight=fine.reshape(b, -1),
        n_points=n_points,
        point_flat=point_flat,
        fuse=fuse,
        differenced=differenced,
        free=free_rows,
        curve_of_free=curve_of_free,
        free_start=free_start,
        with_free=with_free,
        free_rank=np.repeat(np.arange(with_free.size), np.diff(np.append(free_start, curve_of_free.size))),
        diag_weight=diag_weight,
        off_weight=off_weight,
        groups=_groups(curves, sub_steps, n_sub, batch_size, fuse),
    )


def _spread_matrix(a: np.ndarray, b: np.ndarray, t: np.ndarray, n_points: int) -> scipy.sparse.csc_matrix:
    """(P, R) float64: row r = lerp(z_a, z_b, t) moves with point a by 1 - t and with point b by t (a point's own
    row: a = b, t = 0), so the points' gradient is this matrix times the rows'."""
    data = np.stack([1.0 - t, t], axis=1).reshape(-1)
    indptr = np.arange(0, 2 * a.size + 1, 2)
    return scipy.sparse.csc_matrix((data, np.stack([a, b], axis=1).reshape(-1), indptr), (n_points, a.size))


def _groups(
    curves: CurveBatch, sub_steps: int, n_sub: int, batch_size: int, fuse: bool
) -> tuple[tuple[np.ndarray, EnergyLayout], ...] | None:
    """Consecutive curves whose decoded rows (points and sub-steps) fit one ``batch_size`` (a curve alone where
    one does not), with their layouts; None where all fit together. Curves evaluated in groups keep every group's
    activations alive for its own backward pass only: a conv decoder on a CPU then decodes as fast as for one curve
    (measured: 6 trained-MNIST curves in one call 1.03x the CPU time of one by one without groups)."""
    rows = _curve_rows(curves.count.cpu().numpy(), n_sub)
    if _one_call(rows, batch_size):
        return None
    bounds, total = [0], 0
    for b, r in enumerate(rows.tolist()):
        if total and total + r > batch_size:
            bounds.append(b)
            total = 0
        total += r
    bounds.append(len(rows))
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        index = np.arange(lo, hi)
        part = curves.rows(torch.from_numpy(index).to(curves.latents.device))
        out.append((index, energy_layout(part, sub_steps, fuse=fuse)))
    return tuple(out)
