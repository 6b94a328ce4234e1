"""The in-memory records of one demo run, below its stages, report and figures: the trained models
(:class:`TrainedModel`), the geodesic stage's output (:class:`LoopGeodesics`) and the loop's points
(:func:`loop_points`). Imported by :mod:`agm.experiments.demo.run` and :mod:`agm.experiments.demo.figures`; imports
neither (the typed, written form of a run is :mod:`agm.experiments.demo.results`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from agm.data import random_embedding, render_glyph
from agm.experiments.demo.results import PairResult
from agm.geodesic import GeodesicGraph, GeodesicPath
from agm.models.protocol import AtlasModel

__all__ = ["LoopGeodesics", "TrainedModel", "loop_points"]


@dataclass
class TrainedModel:
    """A model of the demo and what was measured on it so far (the graph is added by the graph stage).

    Attributes:
        tag: "one_chart" or "atlas".  model: the trained model (eval mode).  label, name, n_charts, hidden: as in
        :class:`~agm.experiments.demo.results.ModelResult`.  run, epochs: how it was obtained.
        reconstruction_error, chart_usage: on the test points.  graph: its geodesic graph (None until built).
        loop_errors: (360,) float32 squared reconstruction error of the loop, one point per degree (None until
        measured).
    """

    tag: str
    model: AtlasModel
    label: str
    name: str
    n_charts: int
    hidden: int
    run: str
    epochs: int
    reconstruction_error: float
    chart_usage: list[int]
    graph: GeodesicGraph | None = None
    loop_errors: np.ndarray | None = None


def loop_points(dataset: str, angles: torch.Tensor) -> torch.Tensor:
    """Points of the demo data set at given loop angles (radians): rotated glyphs (N, 1, 28, 28) or circle points
    (N, 2) under the data set's embedding (float32 CPU tensors)."""
    if dataset == "glyph-loop":
        return render_glyph(angles.to(torch.float64))
    nat = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1).to(torch.float32)
    return nat @ random_embedding(2, 2, 0)


@dataclass(frozen=True)
class LoopGeodesics:
    """The geodesic stage's output: the pairs (typed results) and the paths themselves (for the figures).

    Attributes:
        pairs: P :class:`~agm.experiments.demo.results.PairResult`.  theta: (P, 2) float64 endpoint angles
        (radians).  names: P labels of the pairs (centre angle).  paths: per tag, P paths (None: unreachable).
    """

    pairs: list[PairResult]
    theta: np.ndarray
    names: list[str]
    paths: dict[str, list[GeodesicPath | None]]
