"""Statistics on the atlas: the geodesic medoid, k-medoids clustering and the Fréchet mean.

``medoid`` and ``k_medoids`` work on a distance matrix (e.g. :func:`agm.geodesic.distances`); ``frechet_mean``
finds a manifold point, possibly between data points: starting from the medoid it repeats the Karcher step
p <- R_p(mean_i log_p(x_i)), where log_p(x_i) is the initial direction of the refined geodesic from p to x_i
(:mod:`agm.geodesic.refine`) scaled to its length, taken in the data space, and R_p moves p in the chart that
holds it to the point whose decoding is nearest to p + that mean (a retraction; no Jacobian is formed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agm.geodesic._context import evaluating
from agm.geodesic.distances import distances
from agm.geodesic.graph import GeodesicGraph
from agm.geodesic.inputs import as_batch, call_model, check_int
from agm.geodesic.path import GeodesicPath
from agm.geodesic.refine import minimise_energy, refine_paths
from agm.geodesic.search import shortest_paths


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


@dataclass(frozen=True)
class FrechetMean:
    """A Fréchet mean on the atlas.

    Attributes:
        point: (*S) float32 CPU tensor: the mean's decoding (a point of the model's manifold).
        chart: the chart holding it.  latent: (d,) float32, its latent point in that chart.
        variance: mean squared geodesic distance from the mean to the data (refined geodesics).
        medoid: index of the data medoid it started from.  iterations: Karcher steps made.
        step_norm: data-space length of the last step's mean log vector (0 at a critical point).
    """

    point: torch.Tensor
    chart: int
    latent: np.ndarray
    variance: float
    medoid: int
    iterations: int
    step_norm: float


def frechet_mean(
    model: Any,
    X: torch.Tensor | np.ndarray,
    graph: GeodesicGraph | None = None,
    *,
    max_iter: int = 10,
    tol: float = 1e-2,
    refine_steps: int = 300,
    points: int = 16,
) -> FrechetMean:
    """The Fréchet (Karcher) mean of data points: the manifold point minimising the sum of squared geodesic
    distances, by descent from the geodesic medoid along refined geodesics (see the module docstring).

    Args:
        model: the AGM the graph was built for.  X: (n, *S) data points.
        graph: default the model's latest graph.
        max_iter: Karcher steps at most, >= 1.
        tol: stop when the mean log vector is shorter than ``tol`` times the root mean squared distance (refined
            lengths are accurate to ~1e-3 relative, so much smaller steps are noise).
        refine_steps, points: passed to :func:`agm.geodesic.refine.refine_paths`.

    Raises:
        ValueError: bad arguments, or data in several components (the medoid is undefined).
    """
    max_iter = check_int("max_iter", max_iter, minimum=1)
    x = as_batch("X", X, None, single=False)
    start = medoid(distances(model, x, graph=graph))
    p = x[start].clone()
    chart, latent, variance, step = -1, np.zeros(0, dtype=np.float32), 0.0, np.inf
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
        paths = shortest_paths(model, p[None].expand(x.shape[0], *p.shape), x, graph=graph)
        refined = refine_paths([q for q in paths if q is not None], steps=refine_steps, points=points)
        log, lengths, (chart, latent) = _mean_log(refined)
        variance = float(np.mean(lengths**2))
        step = float(np.linalg.norm(log))
        if step <= tol * max(np.sqrt(variance), 1e-12):
            break
        p, latent = _retract(model, refined[0], chart, latent, log)
    with evaluating(model):
        decoded = call_model(
            "decode", model.decode, torch.from_numpy(latent[None]), torch.tensor([chart], dtype=torch.int64)
        )
    return FrechetMean(decoded[0].detach().cpu().float(), chart, latent, variance, start, iterations, step)


def _first_step(path: GeodesicPath) -> np.ndarray:
    """(D,) data-space unit direction in which the path leaves its start (0 for a zero-length path)."""
    x = path.decode().reshape(len(path), -1).double().numpy()
    gaps = np.linalg.norm(x[1:] - x[0], axis=1)
    far = np.flatnonzero(gaps > 1e-3 * max(path.length, 1e-12))
    if far.size == 0 or path.length <= 0:
        return np.zeros(x.shape[1])
    v = x[far[0] + 1] - x[0]
    out: np.ndarray = v / np.linalg.norm(v)
    return out


def _mean_log(paths: list[GeodesicPath]) -> tuple[np.ndarray, np.ndarray, tuple[int, np.ndarray]]:
    """Mean of the log vectors (D,), the geodesic lengths (n,) and the start's (chart, latent)."""
    lengths = np.array([q.length for q in paths], dtype=np.float64)
    logs = np.stack([q.length * _first_step(q) for q in paths])
    return logs.mean(axis=0), lengths, (int(paths[0].charts[0]), paths[0].latents[0].copy())


def _retract(
    model: Any, path: GeodesicPath, chart: int, latent: np.ndarray, log: np.ndarray
) -> tuple[torch.Tensor, np.ndarray]:
    """The point of ``chart`` whose decoding is nearest to decode(latent) + log: (decoding (*S), latent (d,))."""
    device = path._device
    y = torch.tensor([chart], dtype=torch.int64, device=device)
    z0 = torch.from_numpy(latent[None]).to(device)
    with evaluating(model):
        base = call_model("decode", model.decode, z0, y).reshape(1, -1).double()
    target = (base + torch.from_numpy(log[None]).to(device)).float()

    def energy(z: torch.Tensor) -> torch.Tensor:
        e: torch.Tensor = ((call_model("decode", model.decode, z, y).reshape(1, -1) - target) ** 2).sum()
        return e

    with evaluating(model), torch.enable_grad():
        z = minimise_energy(energy, z0, 50)
        x = call_model("decode", model.decode, z, y)
    point: torch.Tensor = x[0].detach().cpu().float().reshape(path._data_shape)
    return point, z.detach().cpu().numpy()[0].astype(np.float32)
