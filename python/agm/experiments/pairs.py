"""Endpoint pairs of the geodesic experiments: seeded random test pairs and pairs around a known loop."""

from __future__ import annotations

import math

import numpy as np


def random_pairs(n_points: int, n_pairs: int, seed: int) -> np.ndarray:
    """Seeded random pairs of distinct point indices (the paper's "100 random test pairs").

    Args:
        n_points: number of points to draw from (>= 2).
        n_pairs: number of pairs (>= 1); pairs may repeat a point across pairs, never within one.
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        (n_pairs, 2) int64 array of indices in [0, n_points), ``out[:, 0] != out[:, 1]``.

    Raises:
        ValueError: n_points < 2 or n_pairs < 1.
    """
    if not isinstance(n_points, int) or n_points < 2:
        raise ValueError(f"n_points must be an int >= 2; got {n_points!r}")
    if not isinstance(n_pairs, int) or n_pairs < 1:
        raise ValueError(f"n_pairs must be an int >= 1; got {n_pairs!r}")
    rng = np.random.default_rng([int(seed), 0x9A125])
    first = rng.integers(0, n_points, size=n_pairs)
    shift = rng.integers(1, n_points, size=n_pairs)  # != 0, so the second index differs from the first
    return np.stack([first, (first + shift) % n_points], axis=1).astype(np.int64)


def loop_pairs(centres: np.ndarray, gap: float) -> np.ndarray:
    """Pairs of angles on a loop, ``gap`` apart, centred on ``centres``.

    Args:
        centres: (P,) float angles in radians.
        gap: angular distance of the two endpoints, in (0, pi] (so the shorter arc is the one through the centre).

    Returns:
        (P, 2) float64 angles in [0, 2 pi): (centre - gap / 2, centre + gap / 2).

    Raises:
        ValueError: gap outside (0, pi] or centres not one-dimensional.
    """
    if not 0.0 < float(gap) <= math.pi:
        raise ValueError(f"gap must be an angle in (0, pi]; got {gap!r}")
    centres = np.asarray(centres, dtype=np.float64)
    if centres.ndim != 1:
        raise ValueError(f"centres must be a 1-D array; got shape {centres.shape}")
    half = 0.5 * float(gap)
    return np.mod(np.stack([centres - half, centres + half], axis=1), 2 * math.pi)
