"""Many curves through an atlas in one padded layout: the refinement's state (see :mod:`agm.geodesic.paths.refine`).

Curve b has ``count[b]`` points, point i in chart ``charts[b, i]`` at latent ``latents[b, i]``; segment i joins points
i and i + 1. A segment whose two points are in different charts (``jump``) joins two encodings of one point (a chart
transition); every other segment is a straight latent segment inside one chart. The first and last points (the query
points' main copies) are fixed. Rows are padded to the longest curve; padding has weight 0 and is never decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class CurveBatch:
    """B curves of at most L points, all tensors on the decoder's device.

    Attributes:
        latents: (B, L, d) float32 latent points (padding: copies of the last point).
        charts: (B, L) int64 chart of each point (padding: the last point's chart).
        count: (B,) int64 points per curve, >= 2.
        weight: (B, L - 1) float64 energy weight of each segment (0 beyond the curve).
        scale: (B,) float64 each curve's energy scale (inner segments / length^2), the weight of an inner segment.
    """

    latents: torch.Tensor
    charts: torch.Tensor
    count: torch.Tensor
    weight: torch.Tensor
    scale: torch.Tensor

    @property
    def n_curves(self) -> int:
        return int(self.latents.shape[0])

    @property
    def valid(self) -> torch.Tensor:
        """(B, L) bool: the point exists."""
        positions = torch.arange(self.latents.shape[1], device=self.latents.device)
        return positions[None, :] < self.count[:, None]

    @property
    def free(self) -> torch.Tensor:
        """(B, L) bool: the point exists and is not one of the curve's two fixed ends."""
        positions = torch.arange(self.latents.shape[1], device=self.latents.device)
        return (positions[None, :] > 0) & (positions[None, :] < self.count[:, None] - 1)

    @property
    def segment(self) -> torch.Tensor:
        """(B, L - 1) bool: the segment exists."""
        positions = torch.arange(self.latents.shape[1] - 1, device=self.latents.device)
        return positions[None, :] < self.count[:, None] - 1

    @property
    def jump(self) -> torch.Tensor:
        """(B, L - 1) bool: the segment is a chart transition (its two points are in different charts)."""
        return self.segment & (self.charts[:, 1:] != self.charts[:, :-1])

    def rows(self, index: torch.Tensor) -> CurveBatch:
        """The curves ``index`` ((b,) int64) only."""
        return CurveBatch(
            self.latents[index], self.charts[index], self.count[index], self.weight[index], self.scale[index]
        )

    def moved(self, latents: torch.Tensor) -> CurveBatch:
        """The same curves at other latents (B, L, d) float32."""
        return CurveBatch(latents, self.charts, self.count, self.weight, self.scale)


def segment_weights(charts: torch.Tensor, count: torch.Tensor, scale: torch.Tensor, jump_weight: float) -> torch.Tensor:
    """(B, L - 1) float64 energy weights: ``scale`` for a segment inside a chart, ``jump_weight * scale`` for a
    transition, 0 beyond the curve. charts (B, L) int64, count (B,) int64, scale (B,) float64, one device."""
    positions = torch.arange(charts.shape[1] - 1, device=charts.device)
    exists = positions[None, :] < count[:, None] - 1
    jump = charts[:, 1:] != charts[:, :-1]
    factor = torch.where(jump, jump_weight, 1.0).to(torch.float64)
    weight: torch.Tensor = torch.where(exists, factor * scale[:, None], 0.0)
    return weight


def pad_curves(
    latents: list[torch.Tensor], charts: list[torch.Tensor], scale: torch.Tensor, jump_weight: float
) -> CurveBatch:
    """One padded :class:`CurveBatch` of curves given one by one: latents (n_b, d) float32 and charts (n_b,) int64
    per curve (n_b >= 2), scale (B,) float64, all on one device."""
    longest = max(z.shape[0] for z in latents)
    count = torch.tensor([z.shape[0] for z in latents], dtype=torch.int64, device=scale.device)
    z_pad = torch.stack([torch.cat([z, z[-1:].expand(longest - z.shape[0], -1)]) for z in latents])
    c_pad = torch.stack([torch.cat([c, c[-1:].expand(longest - c.shape[0])]) for c in charts])
    return CurveBatch(z_pad, c_pad, count, segment_weights(c_pad, count, scale, jump_weight), scale)


def unpadded(curves: CurveBatch) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Each curve's latents (n_b, d) float32 and charts (n_b,) int64, without padding."""
    count = curves.count.tolist()
    return [curves.latents[b, :n] for b, n in enumerate(count)], [curves.charts[b, :n] for b, n in enumerate(count)]


def with_rows(curves: CurveBatch, index: list[int], others: CurveBatch, jump_weight: float) -> CurveBatch:
    """``curves`` with its rows ``index`` replaced by the curves of ``others`` (in order, same scales), padded
    anew (the replacements may have other lengths)."""
    latents, charts = unpadded(curves)
    new_latents, new_charts = unpadded(others)
    for k, b in enumerate(index):
        latents[b], charts[b] = new_latents[k], new_charts[k]
    return pad_curves(latents, charts, curves.scale, jump_weight)


def stacked(first: CurveBatch, second: CurveBatch, jump_weight: float) -> CurveBatch:
    """The curves of ``first``, then those of ``second``, in one batch padded anew (their scales kept)."""
    latents, charts = unpadded(first)
    more_latents, more_charts = unpadded(second)
    scale = torch.cat([first.scale, second.scale])
    return pad_curves(latents + more_latents, charts + more_charts, scale, jump_weight)
