"""Toy data sets with non-trivial topology and known geodesics; generated, no download, deterministic per seed.

* :func:`circle` (S^1), :func:`sphere` (S^2), :func:`torus` (flat Clifford torus T^2): natural coordinates in
  R^2 / R^3 / R^4 mapped into R^D by a fixed orthonormal embedding ``E`` (k, D): ``x = natural(params) @ E``
  (+ optional Gaussian noise). ``E`` is an isometry, so the geodesic distances below are exact for noise 0.
* :func:`glyph_loop`: an asymmetric glyph ('F') rotated through 360 degrees, a closed loop in pixel space that
  one chart cannot cover.

All tensors are float32 on the CPU. The sample randomness comes from ``numpy.random.default_rng([seed, stream])``
(streams separate train and test); the embedding depends only on ``embed_seed`` so train and test share it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .summary import tensor_summary

__all__ = [
    "ManifoldSample",
    "angular_distance",
    "circle",
    "glyph_loop",
    "random_embedding",
    "render_glyph",
    "sphere",
    "sphere_distance",
    "torus",
    "torus_distance",
]

TWO_PI = 2.0 * math.pi


@dataclass(frozen=True)
class ManifoldSample:
    """Points on a known manifold and their intrinsic coordinates.

    Attributes:
        x: (N, D) float32 for circle/sphere/torus; (N, 1, size, size) float32 in [0, 1] for the glyph loop.
        params: (N, k) float32 intrinsic coordinates in radians: circle (angle,), sphere (polar in [0, pi],
            azimuth in [0, 2 pi)), torus (angle_major, angle_minor), glyph loop (rotation angle,).
        embedding: (k_nat, D) float32 with orthonormal rows (natural coordinates -> R^D), None for the glyph loop.
    """

    x: torch.Tensor
    params: torch.Tensor
    embedding: torch.Tensor | None

    def __repr__(self) -> str:
        return (
            f"ManifoldSample(x={tensor_summary(self.x)}, params={tensor_summary(self.params)}, "
            f"embedding={tensor_summary(self.embedding)})"
        )


def _rng(seed: int, stream: int) -> np.random.Generator:
    for arg, value in (("seed", seed), ("stream", stream)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{arg} must be a non-negative int; got {value!r}")
    return np.random.default_rng([int(seed), int(stream)])


def _check_n(n: int) -> int:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    return int(n)


def _check_positive(arg: str, value: float, allow_zero: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{arg} must be a finite {'non-negative' if allow_zero else 'positive'} float; got {value}")
    return value


def random_embedding(natural_dim: int, ambient_dim: int, embed_seed: int = 0) -> torch.Tensor:
    """A fixed random linear isometry R^natural_dim -> R^ambient_dim.

    Args:
        natural_dim: k >= 1.
        ambient_dim: D >= k.
        embed_seed: seed of the embedding (independent of the sample seed).

    Returns:
        (k, D) float32 tensor with orthonormal rows (E @ E.T = I_k); ``z @ E`` embeds row vectors z (.., k) and
        ``x @ E.T`` projects back. For D == k it is a random rotation/reflection.

    Raises:
        ValueError: ambient_dim < natural_dim or natural_dim < 1.
    """
    if natural_dim < 1 or ambient_dim < natural_dim:
        raise ValueError(f"ambient_dim must be >= natural dimension {natural_dim}; got {ambient_dim}")
    rng = np.random.default_rng([int(embed_seed), natural_dim, ambient_dim, 0xE3B])
    q, r = np.linalg.qr(rng.standard_normal((ambient_dim, natural_dim)))
    q = q * np.sign(np.diag(r))  # unique QR: fixes the column signs
    return torch.from_numpy(q.T.copy()).to(torch.float32)


def _embed(
    natural: np.ndarray, ambient_dim: int, noise: float, embed_seed: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """x = natural @ E (+ noise) in float64, then float32; returns (x, E)."""
    emb = random_embedding(natural.shape[1], ambient_dim, embed_seed)
    x = natural @ emb.numpy().astype(np.float64)
    if noise > 0:
        x = x + noise * rng.standard_normal(x.shape)
    return torch.from_numpy(x).to(torch.float32), emb


def circle(
    n: int,
    *,
    radius: float = 1.0,
    ambient_dim: int = 2,
    noise: float = 0.0,
    seed: int = 0,
    stream: int = 0,
    embed_seed: int = 0,
) -> ManifoldSample:
    """Points uniform on a circle of ``radius``, natural coordinates ``radius * (cos a, sin a)`` embedded in R^D.

    Args:
        n: number of points.
        radius: circle radius (> 0).
        ambient_dim: D >= 2.
        noise: standard deviation of isotropic Gaussian noise added in R^D (>= 0).
        seed, stream: sample randomness (``default_rng([seed, stream])``).
        embed_seed: seed of the fixed embedding.

    Returns:
        ManifoldSample with x (n, D), params (n, 1) angles in [0, 2 pi), embedding (2, D).
    """
    n, radius = _check_n(n), _check_positive("radius", radius)
    noise = _check_positive("noise", noise, allow_zero=True)
    rng = _rng(seed, stream)
    angle = rng.uniform(0.0, TWO_PI, size=n)
    natural = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    x, emb = _embed(natural, ambient_dim, noise, embed_seed, rng)
    return ManifoldSample(x, torch.from_numpy(angle[:, None]).to(torch.float32), emb)


def sphere(
    n: int,
    *,
    radius: float = 1.0,
    ambient_dim: int = 3,
    noise: float = 0.0,
    seed: int = 0,
    stream: int = 0,
    embed_seed: int = 0,
) -> ManifoldSample:
    """Points uniform on a 2-sphere, natural coordinates ``radius * (sin t cos p, sin t sin p, cos t)`` in R^D.

    Args:
        n: number of points.
        radius: sphere radius (> 0).
        ambient_dim: D >= 3.
        noise, seed, stream, embed_seed: as for :func:`circle`.

    Returns:
        ManifoldSample with x (n, D), params (n, 2) = (polar t in [0, pi], azimuth p in [0, 2 pi)), embedding (3, D).
    """
    n, radius = _check_n(n), _check_positive("radius", radius)
    noise = _check_positive("noise", noise, allow_zero=True)
    rng = _rng(seed, stream)
    u = rng.standard_normal((n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    polar = np.arccos(np.clip(u[:, 2], -1.0, 1.0))
    azimuth = np.mod(np.arctan2(u[:, 1], u[:, 0]), TWO_PI)
    natural = radius * np.stack(
        [np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], axis=1
    )
    x, emb = _embed(natural, ambient_dim, noise, embed_seed, rng)
    params = torch.from_numpy(np.stack([polar, azimuth], axis=1)).to(torch.float32)
    return ManifoldSample(x, params, emb)


def torus(
    n: int,
    *,
    radii: tuple[float, float] = (1.0, 0.5),
    ambient_dim: int = 4,
    noise: float = 0.0,
    seed: int = 0,
    stream: int = 0,
    embed_seed: int = 0,
) -> ManifoldSample:
    """Points uniform on the flat (Clifford) torus ``(R cos a, R sin a, r cos b, r sin b)`` in R^4, embedded in R^D.

    This embedding is exactly isometric to the flat torus [0, 2 pi R) x [0, 2 pi r), so geodesic distances are
    closed-form (:func:`torus_distance`) and the uniform measure is uniform in the angles.

    Args:
        n: number of points.
        radii: (R, r), both > 0.
        ambient_dim: D >= 4.
        noise, seed, stream, embed_seed: as for :func:`circle`.

    Returns:
        ManifoldSample with x (n, D), params (n, 2) = (a, b) in [0, 2 pi)^2, embedding (4, D).
    """
    n = _check_n(n)
    if len(radii) != 2:
        raise ValueError(f"radii must be (R, r); got {radii!r}")
    big, small = (_check_positive("radii", r) for r in radii)
    noise = _check_positive("noise", noise, allow_zero=True)
    rng = _rng(seed, stream)
    angles = rng.uniform(0.0, TWO_PI, size=(n, 2))
    a, b = angles[:, 0], angles[:, 1]
    natural = np.stack([big * np.cos(a), big * np.sin(a), small * np.cos(b), small * np.sin(b)], axis=1)
    x, emb = _embed(natural, ambient_dim, noise, embed_seed, rng)
    return ManifoldSample(x, torch.from_numpy(angles).to(torch.float32), emb)


def angular_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance on the unit circle between angles (radians): ``min_k |a - b + 2 pi k|`` in [0, pi].

    The true geodesic distance of :func:`circle` points is ``radius * angular_distance``; for the glyph loop it
    is the rotation angle between two images.

    Args:
        a, b: broadcastable float tensors of angles (any device).

    Returns:
        Float tensor of the broadcast shape.
    """
    d = torch.remainder(a - b, TWO_PI)
    return torch.minimum(d, TWO_PI - d)


def sphere_distance(p: torch.Tensor, q: torch.Tensor, radius: float = 1.0) -> torch.Tensor:
    """Great-circle distance between sphere points given by params (polar, azimuth).

    Args:
        p, q: (..., 2) float tensors (broadcastable) of :func:`sphere` params.
        radius: sphere radius.

    Returns:
        (...) float tensor, ``radius * atan2(|u x v|, u . v)`` (stable for close and antipodal points).
    """

    def unit(t: torch.Tensor) -> torch.Tensor:
        polar, azimuth = t[..., 0], t[..., 1]
        s = torch.sin(polar)
        return torch.stack([s * torch.cos(azimuth), s * torch.sin(azimuth), torch.cos(polar)], dim=-1)

    u, v = unit(p), unit(q)
    shape = np.broadcast_shapes(u.shape, v.shape)
    u, v = u.broadcast_to(shape), v.broadcast_to(shape)
    cross = torch.linalg.vector_norm(torch.linalg.cross(u, v, dim=-1), dim=-1)
    return radius * torch.atan2(cross, (u * v).sum(-1))


def torus_distance(p: torch.Tensor, q: torch.Tensor, radii: tuple[float, float] = (1.0, 0.5)) -> torch.Tensor:
    """Geodesic distance on the flat torus of :func:`torus`: ``hypot(R * da, r * db)`` with wrapped angle gaps.

    Args:
        p, q: (..., 2) float tensors (broadcastable) of :func:`torus` params (a, b).
        radii: (R, r) used to generate the points.

    Returns:
        (...) float tensor.
    """
    da = angular_distance(p[..., 0], q[..., 0])
    db = angular_distance(p[..., 1], q[..., 1])
    return torch.hypot(radii[0] * da, radii[1] * db)


def _glyph_template(size: int) -> np.ndarray:
    """(size, size) float64 coverage image of an upright 'F' (area coverage by 8x8 supersampling per pixel)."""
    sub = 8
    coords = (np.arange(size * sub) + 0.5) / (size * sub) * 2.0 - 1.0  # [-1, 1], left->right
    u = coords[None, :]
    v = -coords[:, None]  # top row is +1 (y up)
    # After the 0.9 scaling the glyph fits in a disc of radius 0.78 < 1: no part leaves the frame when rotated.
    rects = [(-0.45, -0.15, -0.7, 0.7), (-0.45, 0.5, 0.4, 0.7), (-0.45, 0.25, -0.05, 0.2)]  # (u0, u1, v0, v1)
    inside = np.zeros((size * sub, size * sub), dtype=bool)
    for u0, u1, v0, v1 in rects:
        inside |= (u >= u0 * 0.9) & (u <= u1 * 0.9) & (v >= v0 * 0.9) & (v <= v1 * 0.9)
    coverage: np.ndarray = inside.reshape(size, sub, size, sub).mean(axis=(1, 3))
    return coverage


def render_glyph(angles: torch.Tensor, size: int = 28) -> torch.Tensor:
    """Images of the 'F' glyph rotated counter-clockwise by ``angles`` about the image centre.

    Output pixel p takes the template value at ``R(-angle) p``, sampled bilinearly (zero outside), so angle 0
    reproduces the anti-aliased template exactly and multiples of 90 degrees are exact pixel permutations.

    Args:
        angles: (N,) float tensor of radians (any device; read as float64 on the CPU).
        size: image side length (>= 8).

    Returns:
        (N, 1, size, size) float32 CPU tensor in [0, 1].
    """
    if not isinstance(size, int) or isinstance(size, bool) or size < 8:
        raise ValueError(f"size must be an int >= 8; got {size!r}")
    if not isinstance(angles, torch.Tensor) or angles.ndim != 1:
        raise ValueError(f"angles must be a 1-D tensor; got {getattr(angles, 'shape', type(angles).__name__)}")
    theta = angles.detach().to("cpu", torch.float64).numpy()
    template = np.pad(_glyph_template(size), 1)  # zero border: out-of-frame samples read 0
    half = size / 2.0
    centres = np.arange(size) + 0.5 - half  # pixel centre offsets from the image centre
    px = np.broadcast_to(centres[None, :], (size, size)).ravel()  # column offset (x, right)
    py = np.broadcast_to(-centres[:, None], (size, size)).ravel()  # row offset as y (up)
    out = np.empty((len(theta), size * size), dtype=np.float32)
    for start in range(0, len(theta), 1024):
        c = np.cos(theta[start : start + 1024])[:, None]
        s = np.sin(theta[start : start + 1024])[:, None]
        sx, sy = c * px + s * py, -s * px + c * py  # R(-angle) applied to the pixel centre
        col = np.clip(sx + half - 0.5 + 1.0, 0.0, size + 1.0)  # +1: padding
        row = np.clip(half - sy - 0.5 + 1.0, 0.0, size + 1.0)
        c0 = np.minimum(np.floor(col).astype(np.int64), size)
        r0 = np.minimum(np.floor(row).astype(np.int64), size)
        fc, fr = col - c0, row - r0
        value = (
            template[r0, c0] * (1 - fr) * (1 - fc)
            + template[r0, c0 + 1] * (1 - fr) * fc
            + template[r0 + 1, c0] * fr * (1 - fc)
            + template[r0 + 1, c0 + 1] * fr * fc
        )
        out[start : start + len(c)] = np.clip(value, 0.0, 1.0)
    return torch.from_numpy(out).reshape(len(theta), 1, size, size)


def glyph_loop(n: int, size: int = 28, *, seed: int | None = None, stream: int = 0) -> ManifoldSample:
    """A rotating glyph: n images of an 'F' rotated through 360 degrees (a closed loop in pixel space).

    Args:
        n: number of images.
        size: image side length (>= 8).
        seed: None for evenly spaced angles ``2 pi k / n`` (k = 0..n-1); an int for uniform random angles from
            ``default_rng([seed, stream])``.
        stream: random stream (train/test) when ``seed`` is an int.

    Returns:
        ManifoldSample with x (n, 1, size, size) float32 in [0, 1], params (n, 1) angles in [0, 2 pi),
        embedding None. The true distance between two images is :func:`angular_distance` of their angles.
    """
    n = _check_n(n)
    if seed is None:
        angles = np.arange(n, dtype=np.float64) * (TWO_PI / n)
    else:
        angles = _rng(seed, stream).uniform(0.0, TWO_PI, size=n)
    theta = torch.from_numpy(angles)
    return ManifoldSample(render_glyph(theta, size), theta.to(torch.float32)[:, None], None)
