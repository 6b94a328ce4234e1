"""``node_decodes="auto"``: decode every node at build time, or only those the queries need, by the decoder's cost.

A graph whose nodes are decoded on demand (:mod:`agm.geodesic.graph.node_positions`) spares the node decodes a
query does not need, but each LazySP round then searches over every edge to find the nodes a route could pass
(:mod:`agm.geodesic.query.on_demand`). Measured (``benchmarks/bench_nodes_on_demand*.py``, 2-core Xeon): on the paper
decoder (about 3 ms a node) the first exact geodesic took 0.45x the CPU time of decoding every node; on a trained
h = 13 model (about 0.3 ms a node) 0.61x; on the closed-form cylinder (microseconds a node) 2.6-3.3x, the searches
costing 1.0-1.3 us per edge (:data:`SEARCH_S_PER_EDGE`). So the build decodes a sample of the nodes first
(:func:`timed_sample`: it is the far-query scale's sample, :data:`GAP_SAMPLE`, so on demand nothing is decoded twice)
and chooses on demand when decoding all nodes would cost at least :data:`MARGIN` times the searches it adds and at
least :data:`MIN_NODE_S` (:func:`prefer_on_demand`). On demand needs lazy weights, encoder nodes and one process;
elsewhere, on accelerators (large node batches are cheap there) and for graphs under :data:`MIN_NODES` nodes,
"auto" is "build" without a sample.

Floor: :mod:`agm.geodesic.graph`.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from agm.geodesic.graph.curves import decode_points
from agm.geodesic.graph.policy import DecodePolicy, applied
from agm.models.protocol import SemiAtlasModel

#: Nodes (evenly strided) decoded first: the far-query scale's sample of an on-demand graph
#: (:func:`agm.geodesic.graph.scales.record_data_gap`) and the decoder's cost for "auto".
GAP_SAMPLE = 32
#: Search seconds per candidate edge that decoding nodes on demand adds to a first query (the frontier searches of
#: its LazySP rounds; closed-form cylinder, 20k and 100k points: 1.0-1.3 us).
SEARCH_S_PER_EDGE = 1.3e-6
#: On demand only when decoding every node would cost this many times the searches it adds...
MARGIN = 4.0
#: ...and at least this many seconds.
MIN_NODE_S = 0.5
#: Graphs with fewer nodes decode them all ("auto" does not sample them).
MIN_NODES = 4 * GAP_SAMPLE


def gap_sample(n_nodes: int) -> np.ndarray:
    """(<= GAP_SAMPLE,) int64 evenly strided node ids of a graph of ``n_nodes`` nodes, sorted, unique."""
    if n_nodes == 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.linspace(0, n_nodes - 1, min(GAP_SAMPLE, n_nodes)).astype(np.int64))


def timed_sample(
    model: SemiAtlasModel,
    latents: np.ndarray,
    charts: np.ndarray,
    policy: DecodePolicy,
    device: torch.device,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Decode the :func:`gap_sample` of the nodes in two calls and time them (call under ``evaluating``, outside
    any ``applied`` block).

    Args:
        latents: (N, d) float32 node latents (native node order); charts: (N,) int64 their charts.

    Returns:
        The sample's node ids (S,) int64, their decodings (S, D) float32 (numpy, CPU) and the process CPU seconds
        per node of the faster call (CPU time: a busy machine's preemptions do not make a cheap decoder look
        expensive; the first call of a process pays for allocations).
    """
    sample = gap_sample(latents.shape[0])
    z = torch.from_numpy(np.ascontiguousarray(latents[sample])).to(device)
    y = torch.from_numpy(np.ascontiguousarray(charts[sample], dtype=np.int64)).to(device)
    parts, per_node = [], float("inf")
    with applied(policy):
        for z_half, y_half in zip(z.tensor_split(2), y.tensor_split(2), strict=True):
            count = int(z_half.shape[0])
            if count == 0:
                continue
            started = time.process_time()
            parts.append(decode_points(model.decode, z_half, y_half, count, device).cpu())
            per_node = min(per_node, (time.process_time() - started) / count)
    return sample, torch.cat(parts).numpy(), per_node


def prefer_on_demand(n_nodes: int, k: int, seconds_per_node: float) -> bool:
    """Whether decoding ``n_nodes`` nodes at ``seconds_per_node`` each costs at least ``MIN_NODE_S`` and ``MARGIN``
    times the searches on demand adds over the graph's candidate edges (at most ``n_nodes * k``)."""
    node_s = n_nodes * seconds_per_node
    search_s = n_nodes * k * SEARCH_S_PER_EDGE
    return node_s >= MIN_NODE_S and node_s >= MARGIN * search_s
