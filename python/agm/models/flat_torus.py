"""A closed-form four-chart AGM of the flat torus: geodesics are straight lines of its isometric charts.

The flat (Clifford) torus (R cos a, R sin a, r cos b, r sin b) in R^4 is isometric to [0, 2 pi R) x [0, 2 pi r), so
the geodesic between (a0, b0) and (a1, b1) has length hypot(R da, r db) with wrapped angle gaps (the distance of
:func:`agm.data.torus_distance`). The atlas is the product of two two-chart circle atlases: chart y = 2 i + j
(i, j in {0, 1}) decodes z to the angles a = z_1 / R + i pi, b = z_2 / r + j pi, an isometry, and its partition is
psi_y = p_i(a) q_j(b) with p_0(a) = sigmoid(beta cos a), p_1 = 1 - p_0 (q likewise in b), a product of partitions of
unity and so one. Each chart's seam (where its encoder wraps) lies where its psi is below sigmoid(-beta), so for
eps >= sigmoid(-beta) no chart sees it. A path around the torus therefore changes chart, and a short path between
two charts' regions may have to change twice.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class FlatTorusAtlas(nn.Module):
    """The flat torus with radii (R, r) covered by four isometric angle charts (latent_dim = 2).

    Args:
        radii: (R, r).
        beta: steepness of the partition of unity.
    """

    n_charts = 4
    latent_dim = 2
    offsets: torch.Tensor

    def __init__(self, radii: tuple[float, float] = (1.0, 0.5), beta: float = 4.0) -> None:
        super().__init__()
        self.radii = (float(radii[0]), float(radii[1]))
        self.beta = float(beta)
        centres = [(i * math.pi, j * math.pi) for i in (0, 1) for j in (0, 1)]
        self.register_buffer("offsets", torch.tensor(centres))  # (4, 2): the angles each chart is centred on

    def points(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Data points (B, 4) at angles a, b (B,) each."""
        big, small = self.radii
        return torch.stack([big * torch.cos(a), big * torch.sin(a), small * torch.cos(b), small * torch.sin(b)], 1)

    @staticmethod
    def angles(x: torch.Tensor) -> torch.Tensor:
        """(B, 4) data points -> (B, 2) angles (a, b) in (-pi, pi]."""
        return torch.stack([torch.atan2(x[:, 1], x[:, 0]), torch.atan2(x[:, 3], x[:, 2])], dim=1)

    def distance(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """True geodesic distance (B,) between data points (B, 4) x2 (float64 math)."""
        gap = torch.remainder(self.angles(x1).double() - self.angles(x0).double(), 2 * math.pi)
        gap = torch.minimum(gap, 2 * math.pi - gap)
        return torch.hypot(self.radii[0] * gap[:, 0], self.radii[1] * gap[:, 1])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4) -> (B, 4, 2): (R * relative a, r * relative b) in every chart, relative angles in (-pi, pi]."""
        rel = torch.remainder(self.angles(x)[:, None, :] - self.offsets[None] + math.pi, 2 * math.pi) - math.pi
        return rel * torch.tensor(self.radii, dtype=rel.dtype, device=rel.device)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """z (B, 2), y (B,) int64 -> (B, 4)."""
        big, small = self.radii
        angle = self.offsets[y]
        return self.points(z[:, 0] / big + angle[:, 0], z[:, 1] / small + angle[:, 1])

    def partition(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4) -> (B, 4) on the simplex: psi_(2i+j) = p_i(a) q_j(b)."""
        angle = self.angles(x)
        p0 = torch.sigmoid(self.beta * torch.cos(angle[:, 0]))
        q0 = torch.sigmoid(self.beta * torch.cos(angle[:, 1]))
        p, q = torch.stack([p0, 1 - p0], dim=1), torch.stack([q0, 1 - q0], dim=1)
        return (p[:, :, None] * q[:, None, :]).reshape(-1, 4)
