"""PNG figures of the experiments: interpolation strips, path-length plots, loop coverage.

Figures are ``matplotlib.figure.Figure`` objects saved with ``savefig``: no pyplot state and no backend choice here
(the ``agm`` command chooses Agg; notebooks keep their inline backend).

Figures of the paper's Fig. 2 (chart samples, confidence histogram) live in :mod:`agm.evaluation.figures`.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from agm.models.protocol import AtlasModel, model_device


@dataclass(frozen=True)
class StripRow:
    """One interpolation strip: the decodings along a geodesic and the chart under each step.

    Attributes:
        x: (n, 1, H, W) images or (n, D) points (CPU tensor).
        labels: n strings, the chart of each step ('y1/y2' on a chart transition).
        title: text shown above the strip (model, length, ...).
    """

    x: torch.Tensor
    labels: Sequence[str]
    title: str


def _save(fig: Figure, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def plot_strips(
    rows: Sequence[StripRow],
    path: str | os.PathLike[str],
    title: str | None = None,
    background: torch.Tensor | None = None,
) -> Path:
    """Write interpolation strips, one row per geodesic, the chart label under every step.

    Labels of chart transitions ('y1/y2') are drawn in red. Images (1, H, W) are shown in grey levels [0, 1];
    flat points (D,) are drawn as a polyline of their first two coordinates, each step annotated with its chart.

    Args:
        rows: the strips (R >= 1); image strips may have different lengths.
        path: PNG file to write (folder created).
        title: figure title.
        background: flat points only: (N, D) points drawn faintly behind every path (e.g. the true loop), which
            also fix the axes' limits.

    Returns:
        The path written.

    Raises:
        ValueError: no rows, labels not matching the steps, or points that are neither (1, H, W) nor (D,).
    """
    if not rows:
        raise ValueError("rows must hold at least one strip; got none")
    for i, row in enumerate(rows):
        if len(row.labels) != row.x.shape[0]:
            raise ValueError(f"rows[{i}]: {row.x.shape[0]} steps but {len(row.labels)} labels")
        if not (row.x.dim() == 4 and row.x.shape[1] == 1) and row.x.dim() != 2:
            raise ValueError(f"rows[{i}].x must be (n, 1, H, W) or (n, D); got {tuple(row.x.shape)}")
    if rows[0].x.dim() == 4:
        n = max(r.x.shape[0] for r in rows)
        fig = Figure(figsize=(0.75 * n + 0.2, 1.15 * len(rows) + 0.4))
        axes = fig.subplots(len(rows), n, squeeze=False)
        for r, row in enumerate(rows):
            for j in range(n):
                ax = axes[r][j]
                ax.set_xticks([])
                ax.set_yticks([])
                if j >= row.x.shape[0]:
                    ax.axis("off")
                    continue
                ax.imshow(row.x[j, 0].detach().cpu().float().numpy(), cmap="gray", vmin=0.0, vmax=1.0)
                jump = "/" in row.labels[j]
                ax.set_xlabel(row.labels[j], fontsize=7, color="tab:red" if jump else "black", labelpad=1)
            axes[r][0].set_title(row.title, loc="left", fontsize=8, pad=2)
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.04, top=0.92 if title else 0.96, wspace=0.05, hspace=0.55)
    else:
        ncols = min(2, len(rows))
        nrows = (len(rows) + ncols - 1) // ncols
        fig = Figure(figsize=(4.2 * ncols, 4.0 * nrows))
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax in axes.flat[len(rows) :]:
            ax.axis("off")
        for r, row in enumerate(rows):
            ax = axes.flat[r]
            if background is not None and background.shape[1] >= 2:
                bg = background.detach().cpu().float().numpy()
                ax.scatter(bg[:, 0], bg[:, 1], s=2, color="0.8")
            pts = row.x.detach().cpu().float().numpy()
            second = pts[:, 1] if pts.shape[1] > 1 else np.arange(pts.shape[0])
            ax.plot(pts[:, 0], second, "-o", ms=3, color="tab:blue")
            for j, label in enumerate(row.labels):
                ax.annotate(label, (pts[j, 0], second[j]), fontsize=6, color="tab:red" if "/" in label else "black")
            ax.set_title(textwrap.fill(row.title, 48), fontsize=7)
            ax.set_aspect("equal", adjustable="datalim")
        fig.tight_layout(rect=(0, 0, 1, 0.95 if title else 1))
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def _legend_outside(ax: Axes, fig: Figure) -> None:
    """The legend right of the axes, outside the data (legends never cover data; the figure is saved with a
    tight bounding box, so it is not cut off)."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.set_figwidth(fig.get_figwidth() + 2.0)


def _finite(values: np.ndarray) -> np.ndarray:
    arr: np.ndarray = np.asarray(values, dtype=np.float64)
    return np.asarray(arr[np.isfinite(arr)])


def plot_length_bars(
    pair_names: Sequence[str],
    series: Mapping[str, np.ndarray],
    path: str | os.PathLike[str],
    ylabel: str = "decoded path length",
    title: str | None = None,
) -> Path:
    """Grouped bar chart: for every pair, one bar per series (e.g. one chart, atlas, true length).

    Args:
        pair_names: P names shown under the groups.
        series: name -> (P,) float array; NaN/inf bars are left out.
        path: PNG file (folder created).
        ylabel, title: axis label and title.

    Returns:
        The path written.
    """
    if not series:
        raise ValueError("series must hold at least one series; got none")
    for name, values in series.items():
        if len(values) != len(pair_names):
            raise ValueError(f"series[{name!r}] must hold {len(pair_names)} values (one per pair); got {len(values)}")
    p, s = len(pair_names), len(series)
    width = 0.8 / s
    fig = Figure(figsize=(min(11.0, max(5.0, 0.3 * p * s + 2.0)), 3.6))
    ax = fig.subplots()
    for i, (name, values) in enumerate(series.items()):
        vals = np.asarray(values, dtype=np.float64)
        vals = np.where(np.isfinite(vals), vals, 0.0)
        ax.bar(np.arange(p) + (i - (s - 1) / 2) * width, vals, width, label=name)
    ax.set_xticks(np.arange(p))
    ax.set_xticklabels(pair_names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)
    _legend_outside(ax, fig)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_length_distributions(
    series: Mapping[str, np.ndarray],
    path: str | os.PathLike[str],
    ylabel: str = "decoded path length",
    title: str | None = None,
) -> Path:
    """Violin + box plot of path lengths per model (the paper's Fig. 3a); non-finite values are left out and
    counted in the tick label.

    Args:
        series: label -> (N,) float array of lengths.
        path: PNG file (folder created).
        ylabel, title: axis label and title.

    Returns:
        The path written.
    """
    if not series:
        raise ValueError("series must hold at least one series; got none")
    names, data, ticks = [], [], []
    for name, values in series.items():
        finite = _finite(values)
        dropped = int(np.asarray(values).size - finite.size)
        names.append(name)
        data.append(finite if finite.size else np.array([np.nan]))
        ticks.append(f"{name}\n(n={finite.size}" + (f", {dropped} unreachable)" if dropped else ")"))
    fig = Figure(figsize=(max(4.5, 1.3 * len(names) + 1.0), 4.0))
    ax = fig.subplots()
    pos = np.arange(1, len(names) + 1)
    ok = [i for i, d in enumerate(data) if np.isfinite(d).all() and d.size > 1]
    if ok:
        parts = ax.violinplot([data[i] for i in ok], positions=pos[ok], showextrema=False, widths=0.8)
        for body in list(parts["bodies"]):  # type: ignore[call-overload]
            body.set_alpha(0.35)
    ax.boxplot([d[np.isfinite(d)] for d in data], positions=pos, widths=0.25, showfliers=True)
    ax.set_xticks(pos)
    ax.set_xticklabels(ticks, fontsize=7)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_loop_coverage(
    angles: np.ndarray,
    panels: Sequence[tuple[str, np.ndarray, np.ndarray]],
    path: str | os.PathLike[str],
    tears: Sequence[float | None] = (),
) -> Path:
    """How each model covers a loop: its latent coordinate (first dimension) against the loop angle, coloured by
    the most likely chart. A jump in one chart's curve is where that chart tears the loop.

    Args:
        angles: (N,) loop angles in degrees, increasing.
        panels: per model (title, latent (N,) first latent coordinate in the most likely chart, chart (N,) int).
        path: PNG file (folder created).
        tears: per panel, an angle in degrees to mark with a vertical line (or None).

    Returns:
        The path written.
    """
    fig = Figure(figsize=(7.6, 2.3 * len(panels) + 0.3))
    axes = fig.subplots(len(panels), 1, squeeze=False, sharex=True)
    cmap = matplotlib.colormaps["tab10"]
    for i, (title, latent, chart) in enumerate(panels):
        ax = axes[i][0]
        chart = np.asarray(chart)
        for c in np.unique(chart):
            sel = chart == c
            ax.scatter(
                np.asarray(angles)[sel], np.asarray(latent)[sel], s=6, color=cmap(int(c) % 10), label=f"chart {c}"
            )
        tear = tears[i] if i < len(tears) else None
        if tear is not None:
            ax.axvline(float(tear), color="tab:red", ls="--", lw=1, label="largest jump")
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("latent z[0]")
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, markerscale=2)
    axes[-1][0].set_xlabel("rotation angle of the glyph (degrees)")
    axes[-1][0].set_xlim(0, 360)
    fig.tight_layout()
    return _save(fig, path)


@torch.no_grad()
def plot_chart_sample_grid(model: AtlasModel, path: str | os.PathLike[str], n_samples: int = 12, seed: int = 0) -> Path:
    """The paper's Fig. 2a: ``n_samples`` draws z ~ N(0, I) decoded in every chart, one row per chart, the charts
    numbered 1..m as in the paper.

    Args:
        model: a (semi-)atlas model in eval mode whose decodings are images (1, H, W).
        path: PNG file (folder created).  n_samples: samples per chart (>= 1; the paper shows 12).
        seed: seed of the latent draws (the same z in every chart).

    Returns:
        The path written.

    Raises:
        ValueError: n_samples < 1 or decodings that are not (1, H, W) images.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1; got {n_samples!r}")
    m, d = int(model.n_charts), int(model.latent_dim)
    device = model_device(model)
    z = torch.randn(n_samples, d, generator=torch.Generator().manual_seed(seed)).repeat(m, 1).to(device)
    y = torch.arange(m, device=device).repeat_interleave(n_samples)
    out = model.decode(z, y).detach().cpu().float()
    if out.dim() != 4 or out.shape[1] != 1:
        raise ValueError(f"model must be decodings of shape (1, H, W); got {tuple(out.shape[1:])}")
    fig = Figure(figsize=(0.6 * n_samples + 0.7, 0.6 * m + 0.4))
    axes = fig.subplots(m, n_samples, squeeze=False)
    for c in range(m):
        for j in range(n_samples):
            ax = axes[c][j]
            ax.imshow(out[c * n_samples + j, 0].numpy(), cmap="gray", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[c][0].set_ylabel(f"{c + 1}", rotation=0, labelpad=10, fontsize=8, va="center")
    fig.suptitle(f"{n_samples} samples per chart (rows: charts 1-{m}; the same z in every chart)", fontsize=8)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.01, top=1 - 0.35 / (0.6 * m + 0.4), wspace=0.04, hspace=0.04)
    return _save(fig, path)
