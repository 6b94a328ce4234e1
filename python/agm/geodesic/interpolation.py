"""One call from two data points to the strip between them: graph (if needed) -> geodesic -> n decodings.

``agm.geodesic.interpolate(model, x0, x1, n=10)`` is what VAE libraries call interpolation (pythae's
``model.interpolate(start, end, granularity)``), but along the geodesic across charts instead of a straight
latent line, which is not even defined between two charts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from agm.geodesic.build import build_graph
from agm.geodesic.graph import GeodesicGraph
from agm.geodesic.inputs import check_int
from agm.geodesic.path import Interpolation
from agm.geodesic.search import shortest_path


def interpolate(
    model: Any,
    x0: torch.Tensor | np.ndarray,
    x1: torch.Tensor | np.ndarray,
    n: int = 10,
    graph: GeodesicGraph | None = None,
    *,
    data: Any = None,
    k: int = 20,
    eps: float = 0.05,
    n_steps: int = 15,
    refine: bool = False,
    **options: Any,
) -> Interpolation:
    """n decodings equidistant in decoded arc length along the geodesic from x0 to x1.

    The same as ``shortest_path(model, x0, x1, graph, **options).interpolate(n)`` (``.refine().interpolate(n)``
    with ``refine=True``), building the graph first when ``data`` is given.

    Args:
        model: an AGM (``agm.AtlasModel``).
        x0, x1: data points of shape S, float, finite (tensors or arrays).
        n: number of decodings, >= 2 (the ends included).
        graph: the graph to search; default the one built from ``data``, else the graph most recently built for
            ``model``.
        data: (N, *S) points or any torch data source: build the graph on them first (``build_graph(model,
            data, k, eps, n_steps)``, quiet); not together with ``graph``.
        k, eps, n_steps: the graph's parameters when it is built from ``data`` (ignored otherwise).
        refine: refine the graph geodesic into a smooth curve first (needs a differentiable ``decode``).
        **options: passed to :func:`agm.geodesic.shortest_path` (``method``, ``batch_size``, ``device``, ...).

    Returns:
        An :class:`agm.geodesic.Interpolation`: ``x`` (n, *S) float32 on the CPU, ``charts``, ``labels``,
        ``arc_length``, ``latents``.

    Raises:
        ValueError: n < 2, both ``graph`` and ``data``, no graph for the model, or what ``build_graph`` /
            ``shortest_path`` raise. agm.UnreachableError: x0 and x1 lie in different components.
    """
    n = check_int("n", n, minimum=2)
    if data is not None:
        if graph is not None:
            raise ValueError("interpolate takes graph= or data= (to build one), not both")
        graph = build_graph(model, data, k=k, eps=eps, n_steps=n_steps, progress=False)
    path = shortest_path(model, x0, x1, graph, **options)
    return (path.refine() if refine else path).interpolate(n)
