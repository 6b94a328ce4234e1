"""Closed-form AGMs whose geodesics are known exactly: oracles for the geodesic code and its users.

Each model covers a curved manifold with two analytic charts that overlap, glued by a smooth partition of unity,
so that a path between far-apart points must change chart. They have no trainable parameters.

* :class:`CircleAtlas`: the unit circle S^1, latent dimension 1. Chart y decodes z to the angle
  theta = z + a_y (a_0 = 0, a_1 = pi), an isometry: decoded length equals latent length.
* :class:`CylinderAtlas`: the cylinder S^1 x R of radius r, latent dimension 2, z = (r * angle, height):
  also an isometry onto its image, so the true geodesic between (theta0, h0) and (theta1, h1) has length
  sqrt((r * dtheta)^2 + (h1 - h0)^2), dtheta the shorter angular difference.

* :class:`SphereAtlas`: the unit sphere S^2, latent dimension 2, charts the two stereographic projections (chart 0
  from the south pole, centred on the north pole; chart 1 from the north pole). Not an isometry: the pulled-back
  metric is 4 / (1 + |z|^2)^2 times the identity, so straight latent segments are not geodesics. The true
  distance is arccos(<x, y>); psi_0(x) = sigmoid(beta * x_3), psi_1 = 1 - psi_0.

The partition of unity of the circle and the cylinder is psi_0(theta) = sigmoid(beta * cos(theta)),
psi_1 = 1 - psi_0: chart 0 owns the side around theta = 0 and chart 1 the side around theta = pi; each chart's
own seam (where its encoder wraps) lies where its psi is tiny, so for eps >= sigmoid(-beta) a chart never sees
points across its seam.

Data may be embedded isometrically into a larger ambient space: ``ambient_shape`` (default the natural shape,
(2,) or (3,)) is reached by a fixed orthonormal embedding, e.g. ``(1, 28, 28)`` for image-shaped tests.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["CircleAtlas", "CylinderAtlas", "SphereAtlas"]


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


class SphereAtlas(nn.Module):
    """The unit sphere covered by the two stereographic charts (latent_dim = 2), glued by sigmoid(beta * x_3).

    Chart 0 projects from the south pole: G_0(z) = (2 z, 1 - |z|^2) / (1 + |z|^2), F_0(x) = (x_1, x_2) / (1 + x_3);
    chart 1 from the north pole: G_1(z) = (2 z, |z|^2 - 1) / (1 + |z|^2), F_1(x) = (x_1, x_2) / (1 - x_3). Each
    chart's singular pole is where its psi is sigmoid(-beta) (tiny), so for eps >= sigmoid(-beta) no chart sees it.

    Args:
        ambient_shape: data shape S; default (3,).
        beta: steepness of the partition of unity.
        seed: seed of the orthonormal embedding when S has more than 3 entries.
    """

    n_charts = 2
    latent_dim = 2
    embedding: torch.Tensor
    signs: torch.Tensor

    def __init__(self, ambient_shape: tuple[int, ...] | None = None, beta: float = 4.0, seed: int = 0) -> None:
        super().__init__()
        self.ambient_shape = tuple(ambient_shape) if ambient_shape is not None else (3,)
        self.beta = float(beta)
        self.register_buffer("embedding", _orthonormal_embedding(3, self.ambient_shape, seed))
        self.register_buffer("signs", torch.tensor([1.0, -1.0]))  # the pole each chart is centred on (x_3 sign)

    def _embed(self, coords: torch.Tensor) -> torch.Tensor:
        flat = coords.to(self.embedding.dtype) @ self.embedding
        return flat.reshape(coords.shape[0], *self.ambient_shape)

    def coordinates(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *S) -> (B, 3): the point in R^3 (unit vectors for points on the sphere)."""
        return x.reshape(x.shape[0], -1).to(self.embedding.dtype) @ self.embedding.T

    def points(self, unit: torch.Tensor) -> torch.Tensor:
        """Data points (B, *S) of points of R^3 (B, 3), normalised onto the sphere."""
        return self._embed(unit / torch.linalg.vector_norm(unit, dim=1, keepdim=True))

    def spherical(self, polar: torch.Tensor, azimuth: torch.Tensor) -> torch.Tensor:
        """Data points (B, *S) at polar angles (from the north pole) and azimuths, both (B,)."""
        s = torch.sin(polar)
        return self._embed(torch.stack([s * torch.cos(azimuth), s * torch.sin(azimuth), torch.cos(polar)], dim=1))

    def distance(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """True geodesic distance (great-circle angle) between data points, (B, *S) x2 -> (B,) (float64 math)."""
        a, b = self.coordinates(x0).double(), self.coordinates(x1).double()
        cross = torch.linalg.vector_norm(torch.linalg.cross(a, b, dim=1), dim=1)
        return torch.atan2(cross, (a * b).sum(dim=1))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *S) -> (B, 2, 2): the two stereographic coordinates of each point."""
        c = self.coordinates(x)
        denominator = 1.0 + self.signs[None, :] * c[:, 2:3]  # (B, 2)
        return c[:, None, :2] / denominator[:, :, None]

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """z (B, 2), y (B,) int64 -> (B, *S), on the unit sphere."""
        z = z.to(self.embedding.dtype)
        r2 = (z * z).sum(dim=1, keepdim=True)
        height = self.signs[y][:, None] * (1.0 - r2)
        return self._embed(torch.cat([2.0 * z, height], dim=1) / (1.0 + r2))

    def partition(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *S) -> (B, 2) on the simplex."""
        p0 = torch.sigmoid(self.beta * self.coordinates(x)[:, 2])
        return torch.stack([p0, 1.0 - p0], dim=1)
