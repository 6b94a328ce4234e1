"""Geodesic queries for the experiments: many pairs at once, unreachable pairs kept as missing, strip rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from agm._progress import show
from agm.experiments.figures import StripRow
from agm.geodesic import DecodePolicy, GeodesicGraph, GeodesicPath, shortest_paths
from agm.models.protocol import AtlasModel


def geodesics(
    model: AtlasModel,
    x0: torch.Tensor,
    x1: torch.Tensor,
    graph: GeodesicGraph,
    *,
    batch_size: int | None = None,
    chunk: int = 25,
    n_threads: int = 0,
    progress: bool | None = None,
    desc: str = "geodesics",
) -> list[GeodesicPath | None]:
    """Geodesics between x0[b] and x1[b]; a pair whose endpoints lie in different graph components gets None.

    Pairs are solved in chunks of ``chunk`` with :func:`agm.geodesic.shortest_paths` (batched encoding, threaded
    native search, ``raise_unreachable=False``); the chunks only pace the progress bar.

    Args:
        model: the AGM of ``graph``.
        x0, x1: (P, *S) float tensors.
        graph: the model's :class:`agm.geodesic.GeodesicGraph`.
        batch_size: decoded points per forward call (None: the geodesic module's default for the device).
        chunk: pairs per batched call (>= 1).
        n_threads: native search threads (0: all cores).
        progress: a tqdm bar over the pairs; None (default): when stderr is a terminal or a notebook and the pairs
            are many (over a few seconds at a guess of one second per pair, :mod:`agm._progress`).

    Returns:
        P entries: a :class:`agm.geodesic.GeodesicPath` or None (unreachable).
    """
    if x0.shape[0] != x1.shape[0]:
        raise ValueError(f"x0, x1 must have the same number of points; got {x0.shape[0]} and {x1.shape[0]}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1; got {chunk}")
    out: list[GeodesicPath | None] = []
    policy = DecodePolicy(batch_size=batch_size) if batch_size else None
    shown = show(progress, float(x0.shape[0]))
    with tqdm(total=x0.shape[0], desc=desc, unit="pair", disable=not shown, leave=False) as bar:
        for start in range(0, x0.shape[0], chunk):
            a, b = x0[start : start + chunk], x1[start : start + chunk]
            out.extend(
                shortest_paths(model, a, b, graph, decode_policy=policy, n_threads=n_threads, raise_unreachable=False)
            )
            bar.update(a.shape[0])
    return out


def path_lengths(paths: list[GeodesicPath | None]) -> np.ndarray:
    """(P,) float64 decoded lengths, inf for unreachable pairs."""
    return np.array([np.inf if p is None else p.length for p in paths], dtype=np.float64)


def path_summary(path: GeodesicPath | None) -> dict[str, Any]:
    """JSON-ready description of a path: length, number of points, charts visited, chart changes."""
    if path is None:
        return {"length": None, "reachable": False}
    charts = [int(c) for c in path.charts]
    visited = [charts[0]] + [c for i, c in enumerate(charts[1:]) if c != charts[i]]
    return {
        "length": float(path.length),
        "reachable": True,
        "n_points": len(path),
        "chart_sequence": visited,
        "n_chart_changes": int(path.chart_changes.shape[0]),
        "shortest_length": float(path.shortest_length) if np.isfinite(path.shortest_length) else None,
    }


def strip_row(
    path: GeodesicPath | None, n: int, title: str, data_shape: tuple[int, ...], *, first_chart: int = 0
) -> StripRow:
    """The interpolation strip of a path (n points equidistant in decoded arc length), or a blank strip labelled
    'unreachable' when there is no path.

    Args:
        path: the geodesic or None.  n: steps (>= 2).  title: the strip's title.  data_shape: S of one point.
        first_chart: the number shown for chart 0 (1: the paper's numbering 1..m).
    """
    if path is None:
        return StripRow(torch.zeros(n, *data_shape), ["-"] * n, f"{title}: unreachable (different components)")
    inter = path.interpolate(n)
    labels = ["/".join(str(int(c) + first_chart) for c in label.split("/")) for label in inter.labels]
    return StripRow(inter.x, labels, title)
