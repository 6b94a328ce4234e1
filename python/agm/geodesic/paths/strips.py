"""Strips of geodesics as PNG files (the paper's Fig. 3b): one row per path, n decodings equidistant in arc length.

A ``matplotlib.figure.Figure`` saved with ``savefig``: no pyplot and no backend choice here. Images (1, H, W) or
(H, W) are drawn in gray; flat data (D,) as a line plot of each decoding's first coordinates. Each frame is titled
with its chart ('y1/y2' on a chart transition), each row with its label and length.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agm.geodesic._support.checks import check_int
from agm.geodesic.paths.path import GeodesicPath


def plot_strip(
    paths: GeodesicPath | Sequence[GeodesicPath],
    path: str | os.PathLike[str],
    n: int = 10,
    labels: Sequence[str] | None = None,
) -> Path:
    """Write the strips of one or more geodesics to a PNG.

    Args:
        paths: a path or a sequence of paths (graph or refined) of one model.
        path: PNG file to write (its folder is created).
        n: decodings per strip, >= 2 (``GeodesicPath.interpolate(n)``).
        labels: one row label per path (default "path i").

    Returns:
        The path written.

    Raises:
        ValueError: n < 2, no paths, labels of the wrong length, or a model changed since the paths were found.
        TypeError: something that is not a GeodesicPath.
    """
    rows = [paths] if isinstance(paths, GeodesicPath) else list(paths)
    n = check_int("n", n, minimum=2)
    if not rows:
        raise ValueError("paths must hold at least one GeodesicPath; got none")
    for i, p in enumerate(rows):
        if not isinstance(p, GeodesicPath):
            raise TypeError(f"paths[{i}] must be a GeodesicPath; got {type(p).__name__}")
    names = [f"path {i}" for i in range(len(rows))] if labels is None else list(labels)
    if len(names) != len(rows):
        raise ValueError(f"labels must have one entry per path ({len(rows)}); got {len(names)}")
    from matplotlib.figure import Figure  # imported here: ``import agm.geodesic`` stays free of matplotlib

    frames = [p.interpolate(n) for p in rows]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(n * 0.9 + 1.2, len(rows) * 1.05 + 0.2))
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, (p, f) in enumerate(zip(rows, frames)):
        x = f.x.numpy()
        for j in range(n):
            ax = axes[r][j]
            image = x[j, 0] if x.ndim == 4 and x.shape[1] == 1 else (x[j] if x.ndim == 3 else None)
            if image is not None:
                ax.imshow(image, cmap="gray", vmin=float(np.min(x)), vmax=float(np.max(x)))
            else:
                ax.plot(x[j].reshape(-1), lw=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f.labels[j], fontsize=6)
        axes[r][0].set_ylabel(f"{names[r]}\n{p.length:.3g}", fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return out
