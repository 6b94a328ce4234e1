"""The demo's figures from its geodesic stage: lengths and angles per pair, and the interpolation strips."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from agm.experiments.demo.records import LoopGeodesics, TrainedModel, loop_points
from agm.experiments.demo.settings import DemoSettings
from agm.experiments.figures import StripRow, plot_length_bars, plot_strips
from agm.experiments.geodesics import path_lengths, strip_row


def _angles(geo: LoopGeodesics, tag: str) -> np.ndarray:
    values = [getattr(p, tag).angle_travelled_deg for p in geo.pairs]
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def plot_demo_figures(
    geo: LoopGeodesics,
    models: dict[str, TrainedModel],
    s: DemoSettings,
    dataset: str,
    out: Path,
    *,
    data_shape: tuple[int, ...],
) -> list[Path]:
    """Write ``lengths.png`` (geodesic and true lengths per pair), ``angles.png`` (angle travelled per pair) and
    ``strips.png`` (the interpolations across the tear and opposite it) into ``out``.

    Args:
        geo: the geodesic stage's output.  models: the trained models by tag (for labels).  s: the demo's sizes.
        dataset: the demo data set.  out: the folder.  data_shape: S, the shape of one data point.

    Returns:
        The three paths written.
    """
    true = np.array([p.true_length for p in geo.pairs])
    lengths = {tag: path_lengths(plist) for tag, plist in geo.paths.items()}
    written = [
        plot_length_bars(
            geo.names,
            {
                "one chart: geodesic": lengths["one_chart"],
                f"atlas ({s.charts} charts): geodesic": lengths["atlas"],
                "true arc (rendered)" if dataset == "glyph-loop" else "true arc": true,
            },
            out / "lengths.png",
            title=f"pairs {s.gap_deg:.0f}° apart, by centre angle (first: across the one-chart model's tear)",
        ),
        plot_length_bars(
            geo.names,
            {
                "one chart": _angles(geo, "one_chart"),
                f"atlas ({s.charts} charts)": _angles(geo, "atlas"),
                "true (short arc)": np.full(s.n_pairs, s.gap_deg),
            },
            out / "angles.png",
            ylabel="angle travelled along the loop (deg)",
            title="how far round the loop each geodesic goes (nearest rendered point of every decoding)",
        ),
    ]
    rows: list[StripRow] = []
    for i, where in ((0, "across the tear"), (s.n_pairs // 2, "opposite the tear")):
        if dataset == "glyph-loop":
            theta = geo.theta
            delta = (theta[i, 1] - theta[i, 0] + math.pi) % (2 * math.pi) - math.pi
            arc = torch.from_numpy(theta[i, 0] + delta * np.linspace(0, 1, s.strip_steps))
            title = f"pair centred at {geo.names[i]} ({where}): true rotation, length {true[i]:.1f}"
            rows.append(StripRow(loop_points(dataset, arc), ["true"] * s.strip_steps, title))
        for tag, t in models.items():
            title = f"{t.label}: geodesic, length {lengths[tag][i]:.1f}"
            rows.append(strip_row(geo.paths[tag][i], s.strip_steps, title, data_shape))
    background = None
    if dataset != "glyph-loop":
        background = loop_points(dataset, torch.from_numpy(np.deg2rad(np.arange(0.0, 360.0, 1.0))))
    written.append(
        plot_strips(
            rows,
            out / "strips.png",
            background=background,
            title="geodesic interpolations; the chart under each step ('a/b': transition)",
        )
    )
    return written
