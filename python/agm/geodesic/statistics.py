"""Statistics on the atlas: the geodesic medoid, k-medoids clustering and the Fréchet mean.

``medoid`` and ``k_medoids`` work on a distance matrix (e.g. :func:`agm.geodesic.distances`); ``frechet_mean``
finds a manifold point, possibly between data points: starting from the medoid it repeats the Karcher step
z <- z + J^+ mean_i log_p(x_i) in the chart c that holds p = G_c(z). log_p(x_i) is the refined geodesic from p to
x_i (:mod:`agm.geodesic.paths.refine`): its initial direction, projected onto the tangent plane at p (J: the decoder's
Jacobian at z by central differences, d decodings each side), scaled to its length. The projection matters: the
first chord of a curve on a curved manifold leaves the tangent plane, and the mean of those chords' normal parts
does not vanish at the mean (on the unit sphere with points at angle 0.6 from the mean it stays ~0.01: a descent
that never meets its tolerance). A step is kept only where it lowers the variance (halved up to
``MAX_HALVINGS`` times otherwise); after the first iterate the geodesics are not searched and refined anew but
warm-started: the previous refined curves with their start moved (:func:`agm.geodesic.paths.refine.restart_paths`),
re-optimised with ``warm_steps`` at the finest level only. A step that leaves the chart (psi_c <= the graph's eps)
re-encodes p in its most likely chart and searches the graph again from there.

Measured (shared 2-core machine at load ~10, 1 torch thread; SphereAtlas, 1200-point graph, rings of 2, 4 and 8
points at angle 0.6 around an axis): process CPU 2.7-3.2 s before (10 Karcher steps with a search, a coarse-to-fine
refinement and a 50-step L-BFGS retraction each; never at its tolerance, the mean chord stuck at 1.1e-2) -> 1.0-1.5 s
(3-4 steps, 4-5 refine calls), distance to the true mean 7e-5 - 5e-4 before and after. On a trained model see
docs/beyond/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch

from agm.geodesic._support.checks import as_batch, call_model, check_int
from agm.geodesic._support.evaluating import evaluating
from agm.geodesic.graph.record import GraphRecord
from agm.geodesic.paths.path import GeodesicPath
from agm.geodesic.paths.refine import refine_paths, restart_paths
from agm.geodesic.query.distances import distances
from agm.geodesic.query.search import shortest_paths
from agm.models.protocol import AtlasModel, SemiAtlasModel


def _check_square(name: str, d: Any) -> np.ndarray:
    """A square float64 matrix without NaN or negative entries (inf allowed: unreachable pairs)."""
    m = np.asarray(d, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:
        raise ValueError(f"{name} must be a square (n, n) matrix with n >= 1; got shape {m.shape}")
    if bool(np.isnan(m).any()) or bool((m < 0).any()):
        raise ValueError(f"{name} must hold non-negative distances (inf allowed); got NaN or a negative entry")
    return m


def medoid(D: Any) -> int:
    """The index of the point minimising the sum of squared distances to all points (lowest index on ties).

    Args:
        D: (n, n) distance matrix (numpy-convertible, float); inf for unreachable pairs makes a row's sum inf.

    Raises:
        ValueError: D is not square, or holds NaN or negative entries, or every row has an infinite entry.
    """
    m = _check_square("D", D)
    cost = (m**2).sum(axis=1)
    if not bool(np.isfinite(cost).any()):
        raise ValueError("D has an infinite entry in every row (the points lie in several components): no medoid")
    return int(np.argmin(cost))


@dataclass(frozen=True)
class Clustering:
    """k-medoids result.

    Attributes:
        medoids: (k,) int64 point indices of the medoids, in the order they were chosen.
        labels: (n,) int64 cluster (0..k-1) of every point: its nearest medoid (lowest cluster on ties).
        cost: sum over points of the distance to their medoid (float; inf when a point reaches no medoid).
        swaps: number of improving swaps made.
    """

    medoids: np.ndarray
    labels: np.ndarray
    cost: float
    swaps: int


def k_medoids(D: Any, k: int, *, seed: int = 0, max_swaps: int = 1000) -> Clustering:
    """PAM k-medoids on a distance matrix: greedy BUILD, then the best improving SWAP until none improves.

    Deterministic: ties are broken by a fixed permutation of the points drawn from ``seed``.

    Args:
        D: (n, n) symmetric distance matrix (inf allowed for unreachable pairs).
        k: number of clusters, 1 <= k <= n.
        seed: seed of the tie-breaking order.
        max_swaps: at most this many swaps.

    Raises:
        ValueError: bad D, k or max_swaps.
    """
    m = _check_square("D", D)
    n = m.shape[0]
    k = check_int("k", k, minimum=1)
    if k > n:
        raise ValueError(f"k must be at most the number of points ({n}); got {k}")
    max_swaps = check_int("max_swaps", max_swaps, minimum=0)
    order = np.random.default_rng(check_int("seed", seed, minimum=0)).permutation(n)
    big = np.where(np.isfinite(m), m, np.finfo(np.float64).max / (4 * n))  # finite stand-in for inf
    medoids: list[int] = []
    nearest = np.full(n, np.inf)
    for _ in range(k):  # BUILD: the point that lowers the total most
        gain = np.minimum(nearest[None, :], big[order]).sum(axis=1)
        gain[np.isin(order, medoids)] = np.inf
        best = int(order[int(np.argmin(gain))])
        medoids.append(best)
        nearest = np.minimum(nearest, big[best])
    swaps = 0
    while swaps < max_swaps:
        current = big[medoids].min(axis=0).sum()
        best_cost, best_swap = current, None
        for slot in range(k):
            others = big[[mm for i, mm in enumerate(medoids) if i != slot]]
            rest = others.min(axis=0) if others.shape[0] else np.full(n, np.inf)
            costs = np.minimum(rest[None, :], big[order]).sum(axis=1)
            costs[np.isin(order, medoids)] = np.inf
            j = int(np.argmin(costs))
            if costs[j] < best_cost * (1 - 1e-12):
                best_cost, best_swap = costs[j], (slot, int(order[j]))
        if best_swap is None:
            break
        medoids[best_swap[0]] = best_swap[1]
        swaps += 1
    to_medoid = m[medoids]  # (k, n)
    labels = np.argmin(to_medoid, axis=0).astype(np.int64)
    cost = float(to_medoid[labels, np.arange(n)].sum())
    return Clustering(np.asarray(medoids, dtype=np.int64), labels, cost, swaps)


#: A rejected Karcher step (one that does not lower the variance) is halved at most this many times.
MAX_HALVINGS = 3
#: Central-difference step of the decoder's Jacobian, relative to max(1, |z|).
JACOBIAN_STEP = 1e-3


@dataclass(frozen=True)
class FrechetMean:
    """A Fréchet mean on the atlas.

    Attributes:
        point: (*S) float32 CPU tensor: the mean's decoding (a point of the model's manifold).
        chart: the chart holding it.  latent: (d,) float32, its latent point in that chart.
        variance: mean squared geodesic distance from the mean to the data (refined geodesics).
        medoid: index of the data medoid it started from.  iterations: Karcher steps taken (accepted).
        step_norm: data-space length of the last tangent mean log vector (0 at a critical point).
        refinements: refine calls made (one per trial point, all geodesics of a trial in one call).
    """

    point: torch.Tensor
    chart: int
    latent: np.ndarray
    variance: float
    medoid: int
    iterations: int
    step_norm: float
    refinements: int = 0


@dataclass(frozen=True)
class _Iterate:
    """One point of the descent: its chart and latent (d,) float32, the refined geodesics to the data, their
    mean squared length."""

    chart: int
    latent: np.ndarray
    paths: list[GeodesicPath]
    variance: float


def frechet_mean(
    model: SemiAtlasModel,
    X: torch.Tensor | np.ndarray,
    graph: GraphRecord,
    *,
    max_iter: int = 20,
    tol: float = 1e-3,
    rtol: float = 1e-5,
    refine_steps: int = 300,
    warm_steps: int = 60,
    points: int = 16,
) -> FrechetMean:
    """The Fréchet mean of X on ``graph``: :func:`agm.geodesic.frechet_mean` (arguments, errors, returns)."""
    max_iter = check_int("max_iter", max_iter, minimum=1)
    warm_steps = check_int("warm_steps", warm_steps, minimum=1)
    for name, value in (("tol", tol), ("rtol", rtol)):
        if not float(value) >= 0:
            raise ValueError(f"{name} must be a number >= 0; got {value!r}")
    x = as_batch("X", X, None, single=False)
    start = medoid(distances(model, x, None, graph))
    current = _searched(model, x, x[start], graph, refine_steps, points)
    calls, iterations, step = 1, 0, np.inf
    while iterations < max_iter:
        jacobian = _jacobian(model, current)
        dz, step = _karcher_step(current.paths, jacobian)
        if step <= float(tol) * max(np.sqrt(current.variance), 1e-12):
            break
        trial, tried = _line_search(model, x, graph, current, dz, refine_steps, warm_steps, points)
        calls += tried
        if trial is None:
            break
        iterations += 1
        gain = (current.variance - trial.variance) / max(current.variance, 1e-300)
        current = trial
        if gain < float(rtol):
            break
    decoded = _decode_one(model, current.chart, current.latent, current.paths[0]._device)
    return FrechetMean(
        decoded.reshape(current.paths[0]._data_shape),
        current.chart,
        current.latent,
        current.variance,
        start,
        iterations,
        float(step),
        calls,
    )


def _searched(
    model: SemiAtlasModel, x: torch.Tensor, p: torch.Tensor, graph: GraphRecord, steps: int, points: int
) -> _Iterate:
    """The iterate at data point p (*S): graph geodesics from p to every x[i], refined coarse to fine in one call."""
    found = shortest_paths(model, p[None].expand(x.shape[0], *p.shape), x, graph=graph)  # raises if unreachable
    paths = [path for path in found if path is not None]
    refined = refine_paths(paths, steps=steps, points=points)
    return _iterate(refined)


def _iterate(paths: list[GeodesicPath]) -> _Iterate:
    lengths = np.array([q.length for q in paths], dtype=np.float64)
    return _Iterate(int(paths[0].charts[0]), paths[0].latents[0].copy(), paths, float(np.mean(lengths**2)))


def _line_search(
    model: SemiAtlasModel,
    x: torch.Tensor,
    graph: GraphRecord,
    current: _Iterate,
    dz: np.ndarray,
    refine_steps: int,
    warm_steps: int,
    points: int,
) -> tuple[_Iterate | None, int]:
    """The first of z + dz, z + dz / 2, ... (MAX_HALVINGS halvings) whose variance is below the current one
    (None: none is), and the refine calls made."""
    for halving in range(MAX_HALVINGS + 1):
        z = (current.latent.astype(np.float64) + dz * 0.5**halving).astype(np.float32)
        chart, latent, point = _hold(model, current, z)
        if chart == current.chart:
            moved = restart_paths(current.paths, chart, latent, points=points)
            trial = _iterate(refine_paths(moved, steps=warm_steps, points=points, coarse_to_fine=False))
        else:  # p left its chart: search again from its decoding, in its most likely chart
            trial = _searched(model, x, point, graph, refine_steps, points)
        if trial.variance < current.variance:
            return trial, halving + 1
    return None, MAX_HALVINGS + 1


def _decode_one(model: SemiAtlasModel, chart: int, latent: np.ndarray, device: torch.device) -> torch.Tensor:
    """(D,) float32 CPU decoding of one latent point (d,) in ``chart``."""
    with evaluating(model), torch.no_grad():
        x: torch.Tensor = call_model(
            "decode",
            model.decode,
            torch.from_numpy(np.ascontiguousarray(latent[None], dtype=np.float32)).to(device),
            torch.tensor([chart], dtype=torch.int64, device=device),
        )
    out: torch.Tensor = x[0].detach().cpu().float().reshape(-1)
    return out


def _hold(model: SemiAtlasModel, current: _Iterate, z: np.ndarray) -> tuple[int, np.ndarray, torch.Tensor]:
    """(chart, latent (d,), decoding (*S)) of the trial point z in the current chart, or, when psi of that chart
    is at most the graph's eps there, of its decoding re-encoded in its most likely chart."""
    first = current.paths[0]
    point = _decode_one(model, current.chart, z, first._device).reshape(first._data_shape)
    with evaluating(model), torch.no_grad():
        batch = point[None].to(first._device)
        psi = call_model("partition", model.partition, batch)[0]
        if float(psi[current.chart]) > first._eps:
            return current.chart, z, point
        best = int(torch.argmax(psi))
        latent = call_model("encode", cast(AtlasModel, model).encode, batch)[0, best]
    return best, latent.detach().cpu().numpy().astype(np.float32), point


def _jacobian(model: SemiAtlasModel, current: _Iterate) -> np.ndarray:
    """(D, d) float64 Jacobian of the decoder of the iterate's chart at its latent (central differences)."""
    first = current.paths[0]
    z = torch.from_numpy(current.latent.astype(np.float64))
    d = z.numel()
    h = JACOBIAN_STEP * max(1.0, float(z.abs().max()))
    offsets = torch.cat([torch.eye(d, dtype=torch.float64) * h, -torch.eye(d, dtype=torch.float64) * h])
    zs = (z[None] + offsets).float().to(first._device)
    with evaluating(model), torch.no_grad():
        y = torch.full((2 * d,), current.chart, dtype=torch.int64, device=first._device)
        x = call_model("decode", model.decode, zs, y).reshape(2 * d, -1).double().cpu().numpy()
    out: np.ndarray = ((x[:d] - x[d:]) / (2 * h)).T
    return out


def _karcher_step(paths: list[GeodesicPath], jacobian: np.ndarray) -> tuple[np.ndarray, float]:
    """The latent Karcher step (d,) float64: the mean over the geodesics of log_p(x_i) = length * the unit
    tangent of its initial direction, in latent coordinates (J^+ of the data-space direction); and the data-space
    norm of that mean log (|J step|)."""
    steps = []
    for q in paths:
        chord = _first_chord(q)
        if chord is None:
            steps.append(np.zeros(jacobian.shape[1]))
            continue
        v = np.linalg.lstsq(jacobian, chord, rcond=None)[0]
        tangent = float(np.linalg.norm(jacobian @ v))
        steps.append(np.zeros_like(v) if tangent <= 0 else q.length * v / tangent)
    dz = np.mean(steps, axis=0)
    return dz, float(np.linalg.norm(jacobian @ dz))


def _first_chord(path: GeodesicPath) -> np.ndarray | None:
    """(D,) float64 data-space chord from the path's start to its first point more than 1e-3 of its length away
    (None for a zero-length path)."""
    if path.length <= 0 or len(path) < 2:
        return None
    x = path.decode().reshape(len(path), -1).double().numpy()
    gaps = np.linalg.norm(x[1:] - x[0], axis=1)
    far = np.flatnonzero(gaps > 1e-3 * path.length)
    if far.size == 0:
        return None
    chord: np.ndarray = x[far[0] + 1] - x[0]
    return chord
