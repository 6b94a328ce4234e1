"""Figures of the paper's Fig. 2 as PNG files.

The figures are ``matplotlib.figure.Figure`` objects saved with ``savefig``: no pyplot, no global figure state and no
backend choice here (that is the application's: ``agm`` picks Agg; a notebook keeps its inline backend).

* :func:`plot_confidence_histogram` (Fig. 2b): histogram of the chart-assignment confidence max_y psi_y(x).
* :func:`plot_chart_samples` (Fig. 2a): ``n_samples`` latent draws z ~ N(0, I) decoded in every chart, one row per
  chart (images); for flat data (D,) a scatter of the decoded samples' first two coordinates, coloured by chart.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import torch
from matplotlib.figure import Figure

from agm.models.protocol import SemiAtlasModel, model_device


def plot_confidence_histogram(
    confidence: torch.Tensor, n_charts: int, path: str | os.PathLike[str], bins: int = 40
) -> Path:
    """Write the histogram of max_y psi_y(x) over the points.

    Args:
        confidence: (N,) float tensor with values in [1/m, 1].  n_charts: m (marks the uniform level 1/m).
        path: PNG file to write (folder created).  bins: histogram bins over [1/m, 1].

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    lo = 1.0 / n_charts if n_charts > 1 else 0.0
    ax.hist(confidence.detach().cpu().numpy(), bins=bins, range=(lo, 1.0), color="tab:blue")
    ax.set_xlabel(r"chart assignment confidence $\max_y \psi_y(x)$")
    ax.set_ylabel("number of points")
    ax.set_title(f"{n_charts} charts, {confidence.numel()} points")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


@torch.no_grad()
def plot_chart_samples(model: SemiAtlasModel, path: str | os.PathLike[str], n_samples: int = 12, seed: int = 0) -> Path:
    """Decode ``n_samples`` draws z ~ N(0, I) in every chart and write them as one PNG.

    Args:
        model: any semi-atlas model in eval mode; its decoded points have shape (1, H, W) (image grid) or (D,)
            (scatter of the first two coordinates, D >= 2; D = 1 is plotted against the sample index).
        path: PNG file (folder created).  n_samples: samples per chart.  seed: seed of the latent draws.

    Returns:
        The path written.

    Raises:
        ValueError: n_samples < 1 or a decoded shape that is neither (1, H, W) nor (D,).
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1; got {n_samples}")
    m, d = model.n_charts, model.latent_dim
    device = model_device(model)
    z = torch.randn(m * n_samples, d, generator=torch.Generator().manual_seed(seed)).to(device)
    y = torch.arange(m, device=device).repeat_interleave(n_samples)
    out = model.decode(z, y).detach().cpu().float()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if out.dim() == 4 and out.shape[1] == 1:
        imgs = out[:, 0].reshape(m, n_samples, *out.shape[2:])
        fig = Figure(figsize=(n_samples * 0.8, m * 0.8 + 0.3))
        axes = fig.subplots(m, n_samples, squeeze=False)
        for c in range(m):
            for j in range(n_samples):
                ax = axes[c][j]
                ax.imshow(imgs[c, j].numpy(), cmap="gray", vmin=0.0, vmax=1.0)
                ax.set_xticks([])
                ax.set_yticks([])
            axes[c][0].set_ylabel(
                f"chart {c + 1}", rotation=0, labelpad=22, fontsize=8
            )  # numbered 1..m as in the paper
        fig.suptitle(f"{n_samples} samples z ~ N(0, I) per chart (rows)", fontsize=9)
    elif out.dim() == 2:
        fig = Figure(figsize=(6.8, 5))  # room for the legend outside the axes
        ax = fig.subplots()
        second = out[:, 1] if out.shape[1] > 1 else torch.arange(out.shape[0], dtype=out.dtype)
        cmap = matplotlib.colormaps["tab20"]
        for c in range(m):
            rows = slice(c * n_samples, (c + 1) * n_samples)
            ax.scatter(out[rows, 0].numpy(), second[rows].numpy(), color=cmap(c % 20), s=14, label=f"chart {c + 1}")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 + m // 9)  # never over data
        ax.set_xlabel("x[0]")
        ax.set_ylabel("x[1]" if out.shape[1] > 1 else "sample")
        ax.set_title(f"{n_samples} samples z ~ N(0, I) per chart")
    else:
        raise ValueError(f"decoded points must have shape (1, H, W) or (D,); got {tuple(out.shape[1:])}")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path
