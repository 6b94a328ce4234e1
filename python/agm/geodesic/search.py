"""Algorithm 1, queries: geodesics between data points through the atlas graph (native A* search)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from agm._core import UnreachableError
from agm.geodesic._context import evaluating
from agm.geodesic.attach import Attachments, attach
from agm.geodesic.curves import default_batch_size
from agm.geodesic.graph import GeodesicGraph, latest_graph
from agm.geodesic.inputs import as_batch, check_model, check_positive_int
from agm.geodesic.path import GeodesicPath
from agm.models.protocol import model_device

Method = Literal["astar", "dijkstra"]
METHODS = ("astar", "dijkstra")


def _prepare(
    model: Any, graph: GeodesicGraph | None, method: str, batch_size: int | None, device: Any
) -> tuple[GeodesicGraph, torch.device, int]:
    check_model(model, need_encoder=False)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if graph is None:
        graph = latest_graph(model)
    elif not isinstance(graph, GeodesicGraph):
        raise TypeError(f"graph must be a GeodesicGraph; got {type(graph).__name__}")
    check_model(model, need_encoder=graph.nodes == "encoder")
    dev = torch.device(device) if device is not None else model_device(model)
    graph.check_model(model, dev)
    if batch_size is not None:
        batch = check_positive_int("batch_size", batch_size)
    else:
        batch = graph.batch_size or default_batch_size(dev)
    return graph, dev, batch


def _make_path(
    graph: GeodesicGraph,
    model: Any,
    device: torch.device,
    src: Attachments,
    dst: Attachments,
    b: int,
    nodes: np.ndarray,
    cost: float,
) -> GeodesicPath:
    native = graph.native
    node_chart = graph.node_chart[nodes]
    # main copy of x0 [, its copy in the first node's chart], nodes, [x1's copy in the last node's chart,] main copy
    first = sorted({int(src.copy_offsets[b]), src.copy_of(b, int(node_chart[0]))})
    last = sorted({int(dst.copy_offsets[b]), dst.copy_of(b, int(node_chart[-1]))}, reverse=True)
    latents = np.concatenate([src.copy_latent[first], graph.latents[nodes], dst.copy_latent[last]])
    charts = np.concatenate([src.copy_chart[first], node_chart, dst.copy_chart[last]]).astype(np.int64)
    return GeodesicPath(
        length=float(cost),
        charts=charts,
        latents=latents,
        nodes=nodes.astype(np.int64),
        data_indices=native.node_point[nodes],
        chart_changes=np.flatnonzero(charts[1:] != charts[:-1]).astype(np.int64),
        _model=model,
        _n_steps=graph.n_steps,
        _data_shape=graph.data_shape,
        _device=device,
    )


def shortest_path(
    model: Any,
    x0: torch.Tensor | np.ndarray,
    x1: torch.Tensor | np.ndarray,
    graph: GeodesicGraph | None = None,
    *,
    method: Method = "astar",
    batch_size: int | None = None,
    device: torch.device | str | None = None,
) -> GeodesicPath:
    """Geodesic between two data points through the charts of an AGM (Algorithm 1's query).

    x0 and x1 are encoded and attached to their k nearest nodes in every chart where psi > eps (curve-length
    weights), then the native A* finds the shortest path with the heuristic h(v) = ||G(v) - G(x1)||, which is
    consistent because every weight is at least the distance of its decoded endpoints.

    Args:
        model: the AGM the graph was built for.
        x0, x1: data points of shape S (the graph's ``data_shape``), float, finite.
        graph: a :class:`GeodesicGraph`; default the graph most recently built for ``model``.
        method: "astar" (default) or "dijkstra" (same result, no heuristic).
        batch_size: decoded points per forward call (default as in ``build_graph``).
        device: where the model runs; default the device of its parameters.

    Returns:
        A :class:`GeodesicPath` (length, charts, latents, chart_changes, decode(), interpolate(n)).

    Raises:
        ValueError: no graph for the model, a graph of another model, bad shapes or NaN/inf, bad method.
        agm.UnreachableError: x0 and x1 attach to different connected components (a ValueError).
    """
    graph, dev, batch = _prepare(model, graph, method, batch_size, device)
    a = as_batch("x0", x0, graph.data_shape, single=True)
    b = as_batch("x1", x1, graph.data_shape, single=True)
    path = _solve(model, graph, dev, batch, a, b, method, n_threads=1)[0]
    assert path is not None  # unreachable pairs raised
    return path


def shortest_paths(
    model: Any,
    X0: torch.Tensor | np.ndarray,
    X1: torch.Tensor | np.ndarray,
    graph: GeodesicGraph | None = None,
    *,
    method: Method = "astar",
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    n_threads: int = 0,
    raise_unreachable: bool = True,
) -> list[GeodesicPath | None]:
    """Geodesics for many pairs (X0[b], X1[b]) in one call: batched encoding and weights, one threaded native
    search.

    Args:
        X0, X1: (B, *S) float tensors or arrays.
        n_threads: native search threads; 0 means all cores.
        raise_unreachable: if False, a pair in different components gets None instead of raising.
        (other arguments as in :func:`shortest_path`)

    Returns:
        B :class:`GeodesicPath` objects (None for unreachable pairs when ``raise_unreachable`` is False), equal to
        B calls of :func:`shortest_path`.
    """
    graph, dev, batch = _prepare(model, graph, method, batch_size, device)
    a = as_batch("X0", X0, graph.data_shape, single=False)
    b = as_batch("X1", X1, graph.data_shape, single=False)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"X0 and X1 must hold the same number of points; got {a.shape[0]} and {b.shape[0]}")
    return _solve(model, graph, dev, batch, a, b, method, n_threads, raise_unreachable)


def _check_reachable(graph: GeodesicGraph, src: Attachments, dst: Attachments) -> None:
    """Raise UnreachableError naming the charts and components of the first pair that cannot be joined."""
    comp, sizes = graph.native.component, graph.native.component_sizes
    for b in range(len(src.offsets) - 1):
        cs = set(comp[src.nodes[src.offsets[b] : src.offsets[b + 1]]].tolist())
        ct = set(comp[dst.nodes[dst.offsets[b] : dst.offsets[b + 1]]].tolist())
        if cs.isdisjoint(ct):
            name = "x0 and x1" if len(src.offsets) == 2 else f"pair {b}: X0[{b}] and X1[{b}]"

            raise UnreachableError(
                f"{name} attach to different connected components of the graph: x0 in "
                f"{_describe(b, cs, src, sizes)}; x1 in {_describe(b, ct, dst, sizes)}. The graph has {len(sizes)} "
                "components; a larger k or more data joins them"
            )


def _describe(b: int, components: set[int], att: Attachments, sizes: np.ndarray) -> str:
    charts = att.copy_chart[att.copy_offsets[b] : att.copy_offsets[b + 1]].tolist()
    return f"charts {charts}, components " + ", ".join(f"{i} (size {sizes[i]})" for i in sorted(components))


def _solve(
    model: Any,
    graph: GeodesicGraph,
    dev: torch.device,
    batch: int,
    a: torch.Tensor,
    b: torch.Tensor,
    method: str,
    n_threads: int,
    raise_unreachable: bool = True,
) -> list[GeodesicPath | None]:
    with evaluating(model):  # both ends in one pass: fewer, fuller decoder batches
        both = attach(graph, model, torch.cat([a, b.to(a.device)]), batch, dev)
    src, dst = both.take(0, a.shape[0]), both.take(a.shape[0], 2 * a.shape[0])
    if raise_unreachable:
        _check_reachable(graph, src, dst)
    paths, costs = graph.native.search_many(
        src.offsets,
        src.nodes,
        src.costs,
        dst.offsets,
        dst.nodes,
        dst.costs,
        np.arange(a.shape[0] + 1, dtype=np.int64),
        dst.main_position(),
        method=method,
        n_threads=n_threads,
        raise_unreachable=raise_unreachable,
    )
    return [
        _make_path(graph, model, dev, src, dst, i, p, c) if np.isfinite(c) else None
        for i, (p, c) in enumerate(zip(paths, costs))
    ]
