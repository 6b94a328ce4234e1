"""Choosing the charts of a curve's points anew: refinement that can add, drop or move chart transitions.

A curve's points are positions on the manifold, each held in one chart (two charts at a transition, whose two
encodings of the point are consecutive points). :func:`rechart` chooses the chart of every segment again by dynamic
programming over the positions: segment p (positions p -> p + 1) may be in chart c when psi_c > ``margin * eps``
at both ends (room for the descent to move them), or, at a position in the band eps < psi_c <= ``margin * eps``,
when the position is settled there: psi_c > eps at the point and at its local optimum (its neighbours' midpoint,
re-encoded and decoded, where a descent step on that point alone would take it). Each chart that holds a position
only in its band costs :data:`BAND_PRICE` switch prices, so the band is used only where it saves a transition: a
curve that crosses an overlap through the band (the two charts' psi never both above the margin there, e.g. 0 -> 3
on the flat torus) keeps its one transition instead of a detour through a third chart (0 -> 1 -> 3), while a curve
that the line search holds at a chart's edge (its local optimum beyond it) still gets a transition into the chart
beyond. A position is one point, its first copy's: it enters chart c by that copy's latent or by re-encoding its
decoding (F_c of it), a transition's second copy included (the small gap the descent leaves between a transition's
two copies must not make passing through the position in the second copy's chart dearer than a detour). The
cost is the chord energy w |G_c(z_(p+1),c) - G_c(z_p,c)|^2 of the segments, plus, at each transition from c to c',
``jump_weight * w |G_c'(z_p,c') - G_c(z_p,c)|^2`` and a small switch price (so that of chart sequences of equal energy
the one with fewest transitions wins). The ends stay the query points' main copies. Where no chart clears the margin
at a position, its current charts are allowed, so a curve is never left without an assignment.

The refinement alternates this with the energy descent: a curve pressed against its chart's edge (psi_c near eps,
where the line search holds it) gets a transition into the chart beyond, a detour through another chart that the
geometry does not need is dropped, and a transition moves to where the energy is lowest.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import torch

from agm.geodesic._support.checks import call_model
from agm.geodesic.graph.curves import decode_points
from agm.geodesic.refinement.curve_batch import CurveBatch, pad_curves
from agm.models.protocol import AtlasModel, SemiAtlasModel

#: A segment may stay in a chart where that chart's psi exceeds this factor times eps at both its ends.
MARGIN = 1.2
#: Price of one transition, relative to the mean chord energy of the curve's segments.
SWITCH_PRICE = 1e-2
#: Price of a point held in a chart only in its band (eps < psi <= MARGIN * eps, settled there), in switch prices:
#: a route through the band wins only where it saves a transition (and passes fewer than 1 / BAND_PRICE such points).
BAND_PRICE = 0.1


def rechart(
    model: SemiAtlasModel,
    curves: CurveBatch,
    eps: float,
    jump_weight: float,
    data_shape: tuple[int, ...],
    batch_size: int,
) -> tuple[CurveBatch, np.ndarray]:
    """The curves with every segment's chart chosen anew (see the module docstring).

    Args:
        model: an AGM (``encode``, ``decode``, ``partition``) in eval mode on the curves' device.
        curves: B curves.  eps: the chart threshold.  jump_weight: energy weight of a transition segment.
        data_shape: S, the shape of one decoding.  batch_size: decoded points per forward call.

    Returns:
        The new curves (same scales) and (B,) bool: whether each curve's chart sequence changed.
    """
    device = curves.latents.device
    valid = curves.valid.cpu().numpy()
    charts_np, count_np = curves.charts.cpu().numpy(), curves.count.cpu().numpy()
    point_charts = charts_np[valid]  # every point, curve after curve
    curve_of = np.nonzero(valid)[0]
    opens = np.ones(point_charts.size, dtype=bool)  # a point opens a position unless it is a transition's copy
    opens[1:] = (point_charts[1:] == point_charts[:-1]) | (curve_of[1:] != curve_of[:-1])
    position_of = np.cumsum(opens) - 1
    point_latents, point_charts_t = curves.latents[curves.valid], curves.charts[curves.valid]
    first = torch.from_numpy(np.flatnonzero(opens)).to(device)
    x = decode_points(model.decode, point_latents[first], point_charts_t[first], batch_size, device)
    shaped = x.reshape(-1, *data_shape)
    psi_np = call_model("partition", model.partition, shaped).double().cpu().numpy()
    encoded = (
        call_model("encode", cast(AtlasModel, model).encode, shaped).to(device=device, dtype=torch.float32).clone()
    )
    # a position is one point, its first copy's: that copy keeps its latent, every other chart (the second copy's
    # included) re-encodes its decoding (module docstring)
    encoded[torch.arange(first.numel(), device=device), point_charts_t[first]] = point_latents[first]
    n_charts = psi_np.shape[1]
    chart_ids = torch.arange(n_charts, device=device).repeat(encoded.shape[0])
    decoded = decode_points(model.decode, encoded.reshape(-1, encoded.shape[2]), chart_ids, batch_size, device)
    candidates = decoded.reshape(encoded.shape[0], n_charts, -1).double().cpu().numpy()
    latents_np = encoded.cpu().numpy()
    allowed: np.ndarray = np.asarray(psi_np > MARGIN * eps)
    # where no chart clears the margin, the current charts stay allowed
    stuck: np.ndarray = ~np.asarray(allowed.any(axis=1))[position_of]
    allowed[position_of[stuck], point_charts[stuck]] = True
    # whether a chart holds a position in its band matters only where it does not hold it with room (``allowed``)
    band = (psi_np > eps) & ~allowed
    settled = allowed.copy()
    if band.any():  # else the band's check (an encoding, a decoding, a partition call) changes nothing
        settled |= _settled(model, x, point_charts_t[first], curve_of[opens], eps, data_shape, batch_size) & band
    starts = np.searchsorted(curve_of[opens], np.arange(curves.n_curves + 1))
    scale_np = curves.scale.cpu().numpy()
    new_latents: list[torch.Tensor] = []
    new_charts: list[torch.Tensor] = []
    changed = np.zeros(curves.n_curves, dtype=bool)
    for b in range(curves.n_curves):
        lo, hi, n = int(starts[b]), int(starts[b + 1]), int(count_np[b])
        old = charts_np[b, :n]
        sequence = None
        if hi - lo >= 2:
            sequence = _cheapest_charts(
                candidates[lo:hi],
                (allowed[lo:hi], settled[lo:hi]),
                (int(old[0]), int(old[-1])),
                float(scale_np[b]),
                jump_weight,
            )
        if sequence is None:
            new_latents.append(curves.latents[b, :n])
            new_charts.append(curves.charts[b, :n])
            continue
        lat_np, ch_np = _assemble(latents_np[lo:hi], sequence, int(old[0]), int(old[-1]))
        lat = torch.from_numpy(lat_np).to(device)
        lat[0], lat[-1] = curves.latents[b, 0], curves.latents[b, n - 1]  # the fixed ends, bit for bit
        new_latents.append(lat)
        new_charts.append(torch.from_numpy(ch_np).to(device))
        changed[b] = ch_np.size != n or bool((ch_np != old).any())
    return pad_curves(new_latents, new_charts, curves.scale, jump_weight), changed


def _settled(
    model: SemiAtlasModel,
    x: torch.Tensor,
    charts: torch.Tensor,
    curve_of: np.ndarray,
    eps: float,
    data_shape: tuple[int, ...],
    batch_size: int,
) -> np.ndarray:
    """(P, m) bool: whether psi_c > eps at each position's local optimum (its neighbours' midpoint, re-encoded and
    decoded in the position's chart; a curve's ends are their own optimum).

    x: (P, D) float32 decoding of every position, curve after curve; charts: (P,) int64 its chart; curve_of: (P,)
    int64 the curve of each position."""
    device = x.device
    inner = np.zeros(curve_of.size, dtype=bool)
    inner[1:-1] = (curve_of[:-2] == curve_of[1:-1]) & (curve_of[2:] == curve_of[1:-1])
    at = torch.from_numpy(np.flatnonzero(inner)).to(device)
    target = x.clone()
    target[at] = 0.5 * (x[at - 1] + x[at + 1])
    shaped = target.reshape(-1, *data_shape)
    z = call_model("encode", cast(AtlasModel, model).encode, shaped).to(device=device, dtype=torch.float32)
    z = z[torch.arange(z.shape[0], device=device), charts]
    y = decode_points(model.decode, z, charts, batch_size, device).reshape(-1, *data_shape)
    psi = call_model("partition", model.partition, y).double().cpu().numpy()
    return np.asarray(psi > eps)


def _cheapest_charts(
    x: np.ndarray, masks: tuple[np.ndarray, np.ndarray], ends: tuple[int, int], scale: float, jump_weight: float
) -> np.ndarray | None:
    """The chart of each segment (P - 1,) int64 of least cost (module docstring), or None when none is allowed.

    x: (P, m, D) float64 decoding of every position in every chart; masks: (allowed, settled), (P, m) bool each:
    where a chart holds a position with room (psi > margin * eps), where it holds it at all (``allowed`` or settled
    in the band); ends: the charts of the first and last position (the fixed query copies)."""
    n_pos, n_charts = x.shape[0], x.shape[1]
    allowed, settled = masks
    chord = scale * ((x[1:] - x[:-1]) ** 2).sum(axis=2)  # (P - 1, m)
    seg = np.where(settled[1:] & settled[:-1], chord, np.inf)
    gap = x[:, :, None, :] - x[:, None, :, :]
    jump = jump_weight * scale * (gap**2).sum(axis=3)  # (P, m, m)
    finite = seg[np.isfinite(seg)]
    price = SWITCH_PRICE * float(finite.mean()) if finite.size else 0.0
    step = _position_costs(jump, price, allowed, settled, ends)
    cost = step[0, ends[0]] + seg[0]
    back = np.zeros((n_pos - 1, n_charts), dtype=np.int64)
    for p in range(1, n_pos - 1):
        total = cost[:, None] + step[p]
        back[p] = np.argmin(total, axis=0)
        cost = total[back[p], np.arange(n_charts)] + seg[p]
    final = cost + step[n_pos - 1, :, ends[1]]
    if not np.isfinite(final).any():
        return None
    sequence = np.empty(n_pos - 1, dtype=np.int64)
    sequence[-1] = int(np.argmin(final))
    for p in range(n_pos - 2, 0, -1):
        sequence[p - 1] = back[p, sequence[p]]
    return sequence


def _position_costs(
    jump: np.ndarray, price: float, allowed: np.ndarray, settled: np.ndarray, ends: tuple[int, int]
) -> np.ndarray:
    """(P, m, m) float64: the cost at position p of arriving in chart a and leaving in chart b: a transition (a != b)
    costs its gap (``jump``) plus the price; each chart that holds p only in the band (``settled`` but not
    ``allowed``) adds :data:`BAND_PRICE` prices; inf where a chart does not hold p. A transition at an end needs
    nothing of the end's own chart (its point is fixed)."""
    settled = settled.copy()
    settled[0, ends[0]] = settled[-1, ends[1]] = True
    hold = np.where(allowed, 0.0, np.where(settled, BAND_PRICE * price, np.inf))  # (P, m)
    change = jump + price + hold[:, :, None] + hold[:, None, :]
    eye = np.eye(jump.shape[1], dtype=bool)
    return np.where(eye[None], hold[:, :, None], change)


def _assemble(latents: np.ndarray, sequence: np.ndarray, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """The curve's points (latents (n, d) float32, charts (n,) int64) for segment charts ``sequence``: a position
    gets one point per chart it is in (two at a transition). latents: (P, m, d) every position in every chart."""
    n_pos = latents.shape[0]
    inbound = np.concatenate([[start], sequence])  # chart arriving at position p (the start: its own chart)
    outbound = np.concatenate([sequence, [end]])
    lat: list[np.ndarray] = []
    ch: list[int] = []
    for p in range(n_pos):
        for c in (inbound[p], outbound[p]) if inbound[p] != outbound[p] else (inbound[p],):
            lat.append(latents[p, c])
            ch.append(int(c))
    return np.asarray(lat, dtype=np.float32), np.asarray(ch, dtype=np.int64)
