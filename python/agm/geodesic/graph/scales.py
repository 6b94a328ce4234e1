"""The graph's own scales: its median edge weight and how far its data lie from their own nodes' decodings.

They set when a query point counts as far from the graph (:mod:`agm.geodesic.query.far`). The data distance is
recorded when the graph is built from data, in this process.

Floor: :mod:`agm.geodesic.graph`.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch

from agm.geodesic.graph.curves import chunk_rows
from agm.geodesic.graph.pending_nodes import BLOCKED
from agm.geodesic.graph.record import GraphRecord

#: Intra-chart edge weights whose median is the edge scale (evenly strided over the edge list beyond this: the
#: median of 17M weights cost ~1 s of a 1M-point graph's first query; a warning threshold needs no exact median).
SCALE_SAMPLE = 65536

_EDGE_SCALES: weakref.WeakKeyDictionary[GraphRecord, float] = weakref.WeakKeyDictionary()
_DATA_GAPS: weakref.WeakKeyDictionary[GraphRecord, float] = weakref.WeakKeyDictionary()


def edge_scale(graph: GraphRecord) -> float:
    """The median intra-chart edge weight (float; 0.0 for a graph without intra-chart edges), computed once per
    graph (a lazy graph's unevaluated edges count with their decoded chords, a lower bound); of at most
    :data:`SCALE_SAMPLE` edges evenly strided over the edge list."""
    scale = _EDGE_SCALES.get(graph)
    if scale is None:
        n_intra = graph.native.n_intra_edges
        intra = graph.edge_weights.values[: n_intra : max(1, n_intra // SCALE_SAMPLE)]
        if graph.pending_nodes is not None:  # nodes decoded on demand: the edges with a chord so far, not cached
            intra = graph.edge_weights.values[:n_intra]
            intra = intra[intra < BLOCKED]
            return float(np.median(intra)) if intra.size else 0.0
        scale = float(np.median(intra)) if intra.size else 0.0
        _EDGE_SCALES[graph] = scale
    return scale


def record_data_gap(graph: GraphRecord, data: torch.Tensor, nodes: np.ndarray | None = None) -> None:
    """Remember the median distance from the graph's data points to the nearest decoding of their own nodes.

    Args:
        graph: a graph built from ``data`` with encoder nodes (others are left alone).
        data: (N, *S) float, the points the graph was built on (any device).
        nodes: (M,) int64 decoded nodes to measure (default: all; a graph whose nodes are decoded on demand
            measures a sample).
    """
    if graph.nodes != "encoder" or graph.n_nodes == 0:
        return
    every = np.arange(graph.n_nodes) if nodes is None else np.asarray(nodes, dtype=np.int64)
    flat = data.reshape(data.shape[0], -1)
    positions = torch.from_numpy(graph.positions)  # (n_nodes, D) float32 on the host
    step = chunk_rows(int(positions.shape[1]) * positions.element_size())
    gaps = np.full(data.shape[0], np.inf)
    for start in range(0, every.size, step):
        chunk = every[start : start + step]
        points = graph.node_point[chunk]
        rows = flat[torch.from_numpy(points).to(flat.device)].detach().to("cpu", torch.float32)
        gap = torch.linalg.vector_norm(rows - positions[torch.from_numpy(chunk)], dim=1).double().numpy()
        np.minimum.at(gaps, points, gap)
    finite = gaps[np.isfinite(gaps)]
    _DATA_GAPS[graph] = float(np.median(finite)) if finite.size else 0.0


def far_scale(graph: GraphRecord) -> float | None:
    """max(median edge weight, median data distance), or None where no data distance was recorded."""
    gap = _DATA_GAPS.get(graph)
    return None if gap is None else max(edge_scale(graph), gap)
