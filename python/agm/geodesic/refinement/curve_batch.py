"""Many curves through an atlas in one padded layout: the refinement's state (see :mod:`agm.geodesic.paths.refine`).

Curve b has ``count[b]`` points, point i in chart ``charts[b, i]`` at latent ``latents[b, i]``; segment i joins points
i and i + 1. A segment whose two points are in different charts (``jump``) joins two encodings of one point (a chart
transition); every other segment is a straight latent segment inside one chart. The first and last points (the query
points' main copies) are fixed. Rows are padded to the longest curve; padding has weight 0 and is never decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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


def segment_weights(charts: np.ndarray, count: np.ndarray, scale: np.ndarray, jump_weight: float) -> np.ndarray:
    """(B, L - 1) float64 energy weights: ``scale`` for a segment inside a chart, ``jump_weight * scale`` for a
    transition, 0 beyond the curve. charts (B, L) int64, count (B,) int64, scale (B,) float64 (host arrays)."""
    exists = np.arange(charts.shape[1] - 1)[None, :] < count[:, None] - 1
    factor = np.where(charts[:, 1:] != charts[:, :-1], jump_weight, 1.0)
    out: np.ndarray = np.where(exists, factor * scale[:, None], 0.0)
    return out


def pad_curves(
    latents: list[torch.Tensor], charts: list[torch.Tensor], scale: torch.Tensor, jump_weight: float
) -> CurveBatch:
    """One padded :class:`CurveBatch` of curves given one by one: latents (n_b, d) float32 and charts (n_b,) int64
    per curve (n_b >= 2), scale (B,) float64, all on one device. Padded on the host (a few small arrays; one copy
    to the device each)."""
    device = scale.device
    count = np.array([z.shape[0] for z in latents], dtype=np.int64)
    longest = int(count.max())
    z_host = [z.detach().cpu().numpy() for z in latents]
    c_host = [c.cpu().numpy() for c in charts]
    tail = longest - count
    z_pad = np.stack([np.concatenate([z, np.repeat(z[-1:], k, axis=0)]) if k else z for z, k in zip(z_host, tail)])
    c_pad = np.stack([np.concatenate([c, np.repeat(c[-1:], k)]) if k else c for c, k in zip(c_host, tail)])
    weight = segment_weights(c_pad, count, scale.cpu().numpy(), jump_weight)
    return CurveBatch(
        torch.from_numpy(z_pad).to(device),
        torch.from_numpy(c_pad).to(device),
        torch.from_numpy(count).to(device),
        torch.from_numpy(weight).to(device),
        scale,
    )


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
