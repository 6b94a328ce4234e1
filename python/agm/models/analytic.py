"""Closed-form AGMs whose geodesics are known exactly: oracles for the geodesic code and its users.

Both models cover a curved manifold with two analytic charts that overlap, glued by a smooth partition of unity,
so that a path between far-apart points must change chart. They have no trainable parameters.

* :class:`CircleAtlas`: the unit circle S^1, latent dimension 1. Chart y decodes z to the angle
  theta = z + a_y (a_0 = 0, a_1 = pi), an isometry: decoded length equals latent length.
* :class:`CylinderAtlas`: the cylinder S^1 x R of radius r, latent dimension 2, z = (r * angle, height):
  also an isometry onto its image, so the true geodesic between (theta0, h0) and (theta1, h1) has length
  sqrt((r * dtheta)^2 + (h1 - h0)^2), dtheta the shorter angular difference.

The partition of unity is psi_0(theta) = sigmoid(beta * cos(theta)), psi_1 = 1 - psi_0: chart 0 owns the side
around theta = 0 and chart 1 the side around theta = pi; each chart's own seam (where its encoder wraps) lies
where its psi is tiny, so for eps >= sigmoid(-beta) a chart never sees points across its seam.

Data may be embedded isometrically into a larger ambient space: ``ambient_shape`` (default the natural shape,
(2,) or (3,)) is reached by a fixed orthonormal embedding, e.g. ``(1, 28, 28)`` for image-shaped tests.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _orthonormal_embedding(natural_dim: int, ambient_shape: tuple[int, ...], seed: int) -> torch.Tensor:
    ambient_dim = math.prod(ambient_shape)
    if ambient_dim < natural_dim:
        raise ValueError(f"ambient_shape {ambient_shape} has fewer than {natural_dim} entries")
    if ambient_dim == natural_dim:
        return torch.eye(natural_dim)
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(ambient_dim, natural_dim, generator=g, dtype=torch.float64))
    frame: torch.Tensor = q.T.to(torch.float32)  # (natural_dim, ambient_dim), orthonormal rows
    return frame


class _TwoChartRing(nn.Module):
    """Shared machinery: angle-based charts with offsets (0, pi) and a sigmoid(beta cos) partition."""

    n_charts = 2
    embedding: torch.Tensor
    offsets: torch.Tensor

    def __init__(self, natural_dim: int, ambient_shape: tuple[int, ...] | None, beta: float, seed: int) -> None:
        super().__init__()
        self.ambient_shape = tuple(ambient_shape) if ambient_shape is not None else (natural_dim,)
        self.beta = float(beta)
        self.register_buffer("embedding", _orthonormal_embedding(natural_dim, self.ambient_shape, seed))
        self.register_buffer("offsets", torch.tensor([0.0, math.pi]))

    def _embed(self, coords: torch.Tensor) -> torch.Tensor:
        flat = coords.to(self.embedding.dtype) @ self.embedding
        return flat.reshape(coords.shape[0], *self.ambient_shape)

    def _coords(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1).to(self.embedding.dtype) @ self.embedding.T

    @staticmethod
    def _wrap(angle: torch.Tensor) -> torch.Tensor:
        return torch.remainder(angle + math.pi, 2 * math.pi) - math.pi

    def _psi(self, theta: torch.Tensor) -> torch.Tensor:
        p0 = torch.sigmoid(self.beta * torch.cos(theta))
        return torch.stack([p0, 1.0 - p0], dim=1)


class CircleAtlas(_TwoChartRing):
    """The unit circle covered by two isometric angle charts (latent_dim = 1).

    Args:
        ambient_shape: data shape S; default (2,).
        beta: steepness of the partition of unity.
        seed: seed of the orthonormal embedding when S has more than 2 entries.
    """

    latent_dim = 1

    def __init__(self, ambient_shape: tuple[int, ...] | None = None, beta: float = 4.0, seed: int = 0) -> None:
        super().__init__(2, ambient_shape, beta, seed)

    def points(self, theta: torch.Tensor) -> torch.Tensor:
        """Data points at angles theta (B,) -> (B, *S)."""
        return self._embed(torch.stack([torch.cos(theta), torch.sin(theta)], dim=1))

    def angle(self, x: torch.Tensor) -> torch.Tensor:
        """Angle of data points (B, *S) -> (B,) in (-pi, pi]."""
        c = self._coords(x)
        return torch.atan2(c[:, 1], c[:, 0])

    @staticmethod
    def distance(theta0: torch.Tensor, theta1: torch.Tensor) -> torch.Tensor:
        """True geodesic distance on the unit circle, (B,) -> (B,)."""
        d = torch.remainder(theta1 - theta0, 2 * math.pi)
        return torch.minimum(d, 2 * math.pi - d)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *S) -> (B, 2, 1): the angle relative to each chart's centre, in (-pi, pi]."""
        theta = self.angle(x)
        return self._wrap(theta[:, None] - self.offsets[None, :]).unsqueeze(-1)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """z (B, 1), y (B,) int64 -> (B, *S)."""
        return self.points(z[:, 0] + self.offsets[y])

    def partition(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *S) -> (B, 2) on the simplex."""
        return self._psi(self.angle(x))


class CylinderAtlas(_TwoChartRing):
    """The cylinder of radius r covered by two isometric charts z = (r * angle, height) (latent_dim = 2).

    Args:
        radius: r.
        ambient_shape: data shape S; default (3,).
        beta: steepness of the partition of unity.
        seed: seed of the orthonormal embedding when S has more than 3 entries.
    """

    latent_dim = 2

    def __init__(
        self, radius: float = 1.0, ambient_shape: tuple[int, ...] | None = None, beta: float = 4.0, seed: int = 0
    ) -> None:
        super().__init__(3, ambient_shape, beta, seed)
        self.radius = float(radius)

    def points(self, theta: torch.Tensor, height: torch.Tensor) -> torch.Tensor:
        """Data points at angles theta (B,) and heights (B,) -> (B, *S)."""
        r = self.radius
        return self._embed(torch.stack([r * torch.cos(theta), r * torch.sin(theta), height], dim=1))

    def cylindrical(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(angle (B,), height (B,)) of data points (B, *S)."""
        c = self._coords(x)
        return torch.atan2(c[:, 1], c[:, 0]), c[:, 2]

    def distance(self, theta0: torch.Tensor, h0: torch.Tensor, theta1: torch.Tensor, h1: torch.Tensor) -> torch.Tensor:
        """True geodesic distance on the cylinder, all (B,) -> (B,)."""
        return torch.hypot(self.radius * CircleAtlas.distance(theta0, theta1), h1 - h0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *S) -> (B, 2, 2): (r * relative angle, height) for each chart."""
        theta, h = self.cylindrical(x)
        rel = self._wrap(theta[:, None] - self.offsets[None, :]) * self.radius
        return torch.stack([rel, h[:, None].expand_as(rel)], dim=-1)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """z (B, 2), y (B,) int64 -> (B, *S)."""
        return self.points(z[:, 0] / self.radius + self.offsets[y], z[:, 1])

    def partition(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *S) -> (B, 2) on the simplex."""
        return self._psi(self.cylindrical(x)[0])
