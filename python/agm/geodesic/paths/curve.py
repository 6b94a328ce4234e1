"""A curve through the atlas: its points (latent, chart), length, decodings and interpolation.

:class:`AtlasCurve` is what a geodesic query returns and what refinement reads and makes; the query's own result
type, :class:`agm.geodesic.GeodesicPath` (:mod:`agm.geodesic.paths.path`), is an AtlasCurve that can refine itself.

Floor: :mod:`agm.geodesic.paths` (imports the graph and support floors only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from agm.geodesic._support.checks import check_int
from agm.geodesic._support.evaluating import evaluating
from agm.geodesic.graph.curves import decode_points
from agm.geodesic.graph.fingerprint import ModelCheck
from agm.models.protocol import SemiAtlasModel


@dataclass(frozen=True)
class Interpolation:
    """Points equidistant in decoded arc length along a geodesic (the paper's Fig. 3b).

    Attributes:
        x: (n, *S) float32 CPU tensor: the decodings.
        charts: (n,) int64: the chart each decoding comes from.
        labels: n strings: the chart, or 'y1/y2' for a point on a chart-transition edge.
        arc_length: (n,) float64: decoded arc length from the start, 0 .. path length.
        latents: (n, d) float32: the latent point of each decoding in its chart.
    """

    x: torch.Tensor
    charts: np.ndarray
    labels: list[str]
    arc_length: np.ndarray
    latents: np.ndarray

    def __repr__(self) -> str:
        length = float(self.arc_length[-1]) if self.arc_length.size else 0.0
        return (
            f"Interpolation(n={len(self.labels)}, x={tuple(self.x.shape)}, length={length:.6g}, "
            f"labels={_ellipsis(self.labels)})"
        )


@dataclass(frozen=True)
class AtlasCurve:
    """A curve between two data points through one or more charts, as points (latent, chart) joined by straight
    latent segments inside a chart and by two encodings of one point across charts: a graph geodesic or a refined
    one. The fields and their shapes are documented on :class:`agm.geodesic.GeodesicPath`, the query's result
    (an AtlasCurve that can refine itself); the decodings use the model's current weights and raise ValueError
    once the model is no longer the one the curve was computed with.
    """

    length: float
    charts: np.ndarray
    latents: np.ndarray
    nodes: np.ndarray
    data_indices: np.ndarray
    chart_changes: np.ndarray
    _model: SemiAtlasModel = field(repr=False)
    _n_steps: int = field(repr=False)
    _data_shape: tuple[int, ...] = field(repr=False)
    _device: torch.device = field(repr=False)
    _check: ModelCheck | None = field(default=None, repr=False)
    _eps: float = field(default=0.05, repr=False)  # the graph's eps: refine's default for staying in a chart
    _batch_size: int = field(default=1024, repr=False)  # decoded points per call: the graph's decode policy
    _decode_rate: float = field(default=0.0, repr=False)  # its measured points per second (0: not measured)
    shortest_length: float = float("nan")
    # (L, D) float32 decodings of the points where the query had them (graph nodes, attached copies), else None:
    # refinement resamples from them instead of decoding the points again
    _positions: np.ndarray | None = field(default=None, repr=False)

    @property
    def length_excess(self) -> float:
        """How much longer the path is than the pair's shortest graph route, relative: length / shortest - 1
        (0.0 when they are equal; NaN when the shortest is not known)."""
        if self.length == self.shortest_length:
            return 0.0
        return self.length / self.shortest_length - 1.0

    def __len__(self) -> int:
        return int(self.charts.shape[0])

    def __repr__(self) -> str:
        sequence = [int(self.charts[0])] + [int(self.charts[i + 1]) for i in self.chart_changes] if len(self) else []
        return (
            f"{type(self).__name__}(length={self.length:.6g}, points={len(self)}, graph_nodes={self.nodes.size}, "
            f"charts={_ellipsis(sequence)}, chart_changes={self.chart_changes.size})"
        )

    def _check_model(self) -> None:
        if self._check is not None and not self._check.matches(self._model, self._device):
            raise ValueError(
                "the model's weights changed since this path was computed, so its decodings would be those of "
                "another model; recompute the path (rebuild the graph with agm.geodesic.build_graph first)"
            )

    def decode(self) -> torch.Tensor:
        """Decodings G_y(z) of the path's points: (L, *S) float32 CPU tensor.

        Raises:
            ValueError: the model changed since the path was computed.
        """
        self._check_model()
        with evaluating(self._model):
            out = decode_points(
                self._model.decode,
                torch.from_numpy(self.latents),
                torch.from_numpy(self.charts),
                self._batch_size,
                self._device,
            )
        return out.cpu().reshape(len(self), *self._data_shape)

    def _polyline(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, torch.Tensor]:
        """The fine polyline whose length is the path length: (latents, charts, transition flags, decodings)."""
        n = self._n_steps  # eq. 10: t_i = i / n, i = 0..n-1 here (the end is the next point's start)
        t = np.arange(n, dtype=np.float32) / n
        lat, ch, jump = [], [], []
        for i in range(len(self) - 1):
            za, zb, ca = self.latents[i], self.latents[i + 1], self.charts[i]
            if ca == self.charts[i + 1]:
                lat.append(za[None, :] + t[:, None] * (zb - za)[None, :])
                ch.append(np.full(n, ca))
                jump.append(np.zeros(n, dtype=bool))
            else:
                lat.append(za[None, :])
                ch.append(np.array([ca]))
                jump.append(np.array([True]))
        lat.append(self.latents[-1:])
        ch.append(self.charts[-1:])
        jump.append(np.array([False]))
        latents = np.concatenate(lat).astype(np.float32)
        charts = np.concatenate(ch).astype(np.int64)
        with evaluating(self._model):
            dec = decode_points(
                self._model.decode, torch.from_numpy(latents), torch.from_numpy(charts), self._batch_size, self._device
            ).cpu()
        return latents, charts, np.concatenate(jump), dec

    def interpolate(self, n: int) -> Interpolation:
        """n decodings equidistant along the path in decoded arc length (the metric of the graph).

        Within a chart the point at arc length s is decoded from the latent point at that arc length on the
        fine polyline (the graph's weights' n_steps resolution); on a chart-transition edge (two encodings of one
        data point) the decoding of the nearer side is shown, labelled 'y1/y2'.

        Args:
            n: number of points, >= 2 (a Python or numpy integer).

        Returns:
            An :class:`Interpolation` with (n, *S) decodings on the CPU.

        Raises:
            ValueError: n < 2, or the model changed since the path was computed.
        """
        n = check_int("n", n, minimum=2)
        self._check_model()
        latents, charts, jump, dec = self._polyline()
        steps = torch.linalg.vector_norm(dec[1:] - dec[:-1], dim=1).double().numpy()
        cum = np.concatenate([[0.0], np.cumsum(steps)])
        targets = np.linspace(0.0, cum[-1], n)
        piece = np.clip(np.searchsorted(cum, targets, side="right") - 1, 0, len(steps) - 1)
        frac = np.where(steps[piece] > 0, (targets - cum[piece]) / np.maximum(steps[piece], 1e-300), 0.0)
        frac = np.clip(frac, 0.0, 1.0).astype(np.float32)
        out_lat = np.empty((n, latents.shape[1]), dtype=np.float32)
        out_chart = np.empty(n, dtype=np.int64)
        labels: list[str] = []
        for j, (p, f) in enumerate(zip(piece, frac)):
            if jump[p]:
                side = p if f < 0.5 else p + 1
                out_lat[j], out_chart[j] = latents[side], charts[side]
                labels.append(f"{charts[p]}/{charts[p + 1]}")
            else:
                out_lat[j] = latents[p] + f * (latents[p + 1] - latents[p])
                out_chart[j] = charts[p]
                labels.append(str(charts[p]))
        with evaluating(self._model):
            x = decode_points(
                self._model.decode,
                torch.from_numpy(out_lat),
                torch.from_numpy(out_chart),
                self._batch_size,
                self._device,
            ).cpu()
        return Interpolation(
            x=x.reshape(n, *self._data_shape),
            charts=out_chart,
            labels=labels,
            arc_length=targets,
            latents=out_lat,
        )


def _ellipsis(items: list[Any], most: int = 8) -> str:
    """A short list for reprs: the first and last items of a long one."""
    if len(items) <= most:
        return repr(items)
    head, tail = ", ".join(map(repr, items[: most // 2])), ", ".join(map(repr, items[-most // 2 :]))
    return f"[{head}, ..., {tail}] ({len(items)})"
