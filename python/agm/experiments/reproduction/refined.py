"""The reproduction's refined stage: Fig. 3b's strip pairs refined into smooth curves beside their graph geodesics.

The refined curves are saved next to the checkpoint in ``refined-KEY.json`` (lengths and every curve's charts and
latents), KEY a hash of the graph's key, the strip pairs and the refinement's parameters, so a rerun reads them back
(rebuilding each curve on its graph path, :func:`agm.geodesic.paths.refine.curve_path`) instead of refining again. The
stage adds its own file and key only: the graphs' and the geodesics' keys do not depend on it, so a folder written
before this stage existed is reused as it is and only the refinement is computed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from agm.experiments.cache import array_key, param_key, read_json, write_json
from agm.experiments.reproduction.results import RefinedGeodesics
from agm.geodesic import GeodesicPath, refine_paths
from agm.geodesic.paths.refine import curve_path


def refined_key(graph_key: str, pairs: np.ndarray, n_test: int, steps: int, points: int) -> str:
    """The cache key of a model's refined strip pairs (the graph's key, the pairs, the refinement's parameters)."""
    return param_key(
        {"graph": graph_key, "pairs": array_key(pairs), "n_test": n_test, "refine_steps": steps, "points": points}
    )


def _ratios(graph: list[float | None], refined: list[float | None]) -> np.ndarray:
    return np.array(
        [r / g for g, r in zip(graph, refined) if g is not None and r is not None and g > 0], dtype=np.float64
    )


def _result(
    status: str, steps: int, points: int, graph: list[float | None], refined: list[float | None], seconds: float
) -> RefinedGeodesics:
    ratios = _ratios(graph, refined)
    shortened = [g is not None and r is not None and r < g for g, r in zip(graph, refined)]
    return RefinedGeodesics(
        status=status,
        steps=steps,
        points=points,
        graph_lengths=graph,
        refined_lengths=refined,
        shortened=shortened,
        median_ratio=float(np.median(ratios)) if ratios.size else None,
        min_ratio=float(ratios.min()) if ratios.size else None,
        max_ratio=float(ratios.max()) if ratios.size else None,
        seconds=seconds,
    )


def _curves_from(cached: Any, paths: list[GeodesicPath | None]) -> list[GeodesicPath | None] | None:
    """The saved curves rebuilt on their graph paths, or None when the file does not fit these paths."""
    curves = cached.get("curves") if isinstance(cached, dict) else None
    if not isinstance(curves, list) or len(curves) != len(paths):
        return None
    out: list[GeodesicPath | None] = []
    try:
        for path, c in zip(paths, curves):
            if (path is None) != (c is None):
                return None
            out.append(None if path is None else curve_path(path, c["latents"], c["charts"], c["length"]))
    except (KeyError, TypeError, ValueError):
        return None
    return out


def refined_stage(
    run_dir: Path,
    key: str,
    paths: list[GeodesicPath | None],
    *,
    steps: int,
    points: int,
    batch_size: int | None = None,
) -> tuple[RefinedGeodesics, list[GeodesicPath | None]]:
    """Refine the strip pairs' graph geodesics (all in one :func:`agm.geodesic.refine_paths` call), or read them
    back from ``run_dir / refined-KEY.json``.

    Args:
        run_dir: the model's folder.  key: :func:`refined_key` of these pairs and parameters.
        paths: the strip pairs' graph geodesics (None: unreachable).
        steps, points: the refinement's most Gauss-Newton evaluations (>= 1) and segments per curve (>= 2).
        batch_size: decoded points per forward call (None: refine's default).

    Returns:
        The record (lengths beside the graph's) and one curve per pair (None where unreachable).
    """
    file = run_dir / f"refined-{key}.json"
    graph = [None if p is None else float(p.length) for p in paths]
    cached = read_json(file)
    curves = _curves_from(cached, paths) if cached is not None else None
    if curves is not None and cached is not None:
        lengths = [None if c is None else float(c.length) for c in curves]
        return _result("loaded", steps, points, graph, lengths, float(cached.get("seconds", 0.0))), curves
    start = time.perf_counter()
    found = [p for p in paths if p is not None]
    options: dict[str, Any] = {} if batch_size is None else {"batch_size": batch_size}
    done = iter(refine_paths(found, steps=steps, points=points, **options) if found else [])
    curves = [None if p is None else next(done) for p in paths]
    seconds = time.perf_counter() - start
    saved = [
        None if c is None else {"length": c.length, "charts": c.charts.tolist(), "latents": c.latents.tolist()}
        for c in curves
    ]
    write_json(file, {"graph_lengths": graph, "curves": saved, "seconds": seconds})
    lengths = [None if c is None else float(c.length) for c in curves]
    return _result("computed", steps, points, graph, lengths, seconds), curves
