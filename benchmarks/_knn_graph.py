"""Exact k-nearest-neighbour graphs of a point set (the point itself excluded): k-d tree or blocked brute force.

Measured on this machine (2 shared cores under a load average of about 6, N = 20000, k = 20, float32, one thread
for the tree and one BLAS thread for the brute force; seconds): d = 4: tree 0.14, brute 8.2; d = 8: 1.1 vs 9.8;
d = 12: 3.4 vs 7.8; d = 16: 6.7 vs 8.2; d = 24: 10.3 vs 8.0; d = 32: 14.5 vs 5.4. The crossover lies between
d = 16 and d = 24, so ``method="auto"`` picks the brute force for d >= 20.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from agm._core import ChartIndex

__all__ = ["knn_graph", "AUTO_BRUTE_MIN_DIM"]

#: ``method="auto"`` uses the brute force from this dimension on (see the module docstring for the measurement).
AUTO_BRUTE_MIN_DIM = 20

#: The brute force works on blocks of query rows holding at most this many pairwise distances (64 MiB in float64).
_BLOCK_ENTRIES = 1 << 23

_METHODS = ("auto", "tree", "brute")


def knn_graph(
    points: np.ndarray,
    k: int,
    method: Literal["auto", "tree", "brute"] = "auto",
    n_threads: int = 0,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The k nearest neighbours of every point of ``points``, the point itself excluded.

    Args:
        points: (N, d) float32 or float64 numpy array, C-contiguous, finite, N >= 2, d >= 1. Not copied or
            converted beyond what the chosen method needs (the tree keeps its own copy while it runs).
        k: number of neighbours, 1 <= k < N.
        method: "tree" (nanoflann k-d tree, threads, GIL released), "brute" (blocked numpy BLAS distances) or
            "auto" (brute for d >= ``AUTO_BRUTE_MIN_DIM``, tree below).
        n_threads: worker threads of the tree (0 = all hardware threads); the brute force uses numpy's BLAS
            threads and ignores it.

    Returns:
        ids (N, k) int64 and true Euclidean distances (N, k) float64, each row sorted by (distance, id); a
        point's duplicates (distance 0) are neighbours like any other point.

    Raises:
        TypeError: ``points`` is not a float32/float64 ndarray, or ``k``/``n_threads`` is not an int.
        ValueError: wrong shape, non-contiguous, non-finite values, k out of range, unknown method.
    """
    _check(points, k, method, n_threads)
    if method == "auto":
        method = "brute" if points.shape[1] >= AUTO_BRUTE_MIN_DIM else "tree"
    if method == "tree":
        return ChartIndex(points).query_self(k, n_threads)
    return _brute_force(points, k)


def _check(points: object, k: object, method: object, n_threads: object) -> None:
    if not isinstance(points, np.ndarray):
        raise TypeError(f"points must be a numpy.ndarray; got {type(points).__name__}")
    if points.dtype not in (np.float32, np.float64):
        raise TypeError(f"points must have dtype float32 or float64; got {points.dtype}")
    if points.ndim != 2 or points.shape[1] < 1:
        raise ValueError(f"points must be 2-D (N, d) with d >= 1; got shape {points.shape}")
    if not points.flags.c_contiguous:
        raise ValueError(
            f"points must be C-contiguous; got strides {points.strides} (use np.ascontiguousarray to copy it)"
        )
    if not np.isfinite(points).all():
        raise ValueError("points must be finite; got NaN or inf values")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int; got {type(k).__name__}")
    n = points.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must satisfy 1 <= k < N = {n}; got {k}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}")
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)):
        raise TypeError(f"n_threads must be an int; got {type(n_threads).__name__}")
    if n_threads < 0:
        raise ValueError(f"n_threads must be >= 0 (0 = all hardware threads); got {n_threads}")


def _brute_force(points: np.ndarray, k: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Blocked ||a||^2 + ||b||^2 - 2 a.b in the points' dtype, a few spare candidates per row, then an exact
    float64 re-measure and re-sort of the candidates (so rounding of the expansion cannot reorder the result)."""
    n = points.shape[0]
    n_candidates = min(n - 1, k + max(4, k // 4))
    sq_norms = np.einsum("ij,ij->i", points, points)
    exact = points.astype(np.float64, copy=False)
    ids = np.empty((n, k), dtype=np.int64)
    dists = np.empty((n, k), dtype=np.float64)
    block = max(1, _BLOCK_ENTRIES // n)
    for start in range(0, n, block):
        stop = min(n, start + block)
        rows = np.arange(start, stop)
        d2 = sq_norms[start:stop, None] + sq_norms[None, :] - 2.0 * (points[start:stop] @ points.T)
        d2[rows - start, rows] = np.inf  # exclude the point itself
        cand = np.argpartition(d2, n_candidates - 1, axis=1)[:, :n_candidates]
        diff = exact[cand] - exact[start:stop, None, :]
        cand_d = np.sqrt(np.einsum("bcj,bcj->bc", diff, diff))
        cand_d[cand == rows[:, None]] = np.inf
        order = np.lexsort((cand, cand_d), axis=1)[:, :k]
        ids[start:stop] = np.take_along_axis(cand, order, axis=1)
        dists[start:stop] = np.take_along_axis(cand_d, order, axis=1)
    return ids, dists
