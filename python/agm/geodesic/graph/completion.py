"""A lazy graph made eager: every edge weight not yet evaluated decoded, in packed calls of the decode policy.

Floor: :mod:`agm.geodesic.graph` (imports the record, its weights, eq. 10 and the decode policy; nothing above).
"""

from __future__ import annotations

import numpy as np
import torch

from agm._progress import decode_seconds, say, show
from agm.geodesic._support.checks import check_device
from agm.geodesic._support.evaluating import evaluating
from agm.geodesic._support.sharding import is_sharded
from agm.geodesic.graph.curves import PointTable, default_batch_size, interior_decodings
from agm.geodesic.graph.edge_kinds import DecodeContext, GraphEdgeKind, evaluate
from agm.geodesic.graph.node_positions import complete_positions
from agm.geodesic.graph.node_trial import EdgeFeed
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.graph.policy_watch import GraphWatch, WatchOf
from agm.geodesic.graph.record import GraphRecord
from agm.models.protocol import SemiAtlasModel, model_device


def node_table(graph: GraphRecord, device: torch.device) -> PointTable:
    """The graph's node latents, decodings and model charts on ``device`` (the endpoints of its edges)."""
    return PointTable(
        torch.from_numpy(graph.latents).to(device),
        torch.from_numpy(np.asarray(graph.positions, dtype=np.float32)).to(device),
        torch.from_numpy(graph.node_chart).to(device),
    )


def evaluate_all(
    graph: GraphRecord, model: SemiAtlasModel, device: torch.device | str | None = None, progress: bool | None = None
) -> int:
    """Decode every unevaluated edge weight of ``graph`` (packed calls of its decode policy); the number decoded.

    The decode estimate is printed up front and a bar shown when ``progress`` says so (None: only when the estimate
    is long and stderr is a terminal or a notebook, :mod:`agm._progress`).
    """
    graph.check_model(model)
    dev = check_device(device) if device is not None else model_device(model)
    complete_positions(graph, model, dev, progress=progress)  # nodes decoded on demand: the rest first
    policy = graph.decode_policy or DecodePolicy(threads=None, batch_size=default_batch_size(dev))  # as they chose
    ids = np.flatnonzero(~graph.edge_weights.evaluated[: graph.native.n_intra_edges])
    if ids.size == 0:
        return 0
    decodes = int(ids.size) * interior_decodings(graph.n_steps)
    seconds = decode_seconds(decodes, policy.measured)
    shown = show(progress, seconds)
    say(
        f"agm: decoding {ids.size:,} edge weights of a graph of {graph.n_nodes:,} nodes: ~{decodes:,} decodings "
        f"(~{seconds:.0f} s)",
        shown,
    )
    table = node_table(graph, dev)
    with evaluating(model):
        edges = GraphEdgeKind(table, graph.native, graph.edge_weights)
        context = DecodeContext(model, dev, policy, graph.n_steps, edge_feed(graph, policy), graph_watch(graph, dev))
        return evaluate(edges, ids, context, progress=shown)


def edge_feed(graph: GraphRecord, policy: DecodePolicy) -> EdgeFeed | None:
    """The graph's decode policy trial for edge decodes in ``policy`` (:mod:`agm.geodesic.graph.node_trial`): when
    the graph is still to choose its policy (nodes decoded on demand, no policy given or remembered) and ``policy`` is
    its own, in one process; else None. When the trial ends its choice becomes the graph's policy."""
    trial = graph.policy_trial
    if trial is None or policy is not graph.decode_policy or is_sharded():
        return None

    def chosen(choice: DecodePolicy) -> None:
        if graph.policy_trial is trial:
            graph.decode_policy, graph.policy_trial = choice, None

    return EdgeFeed(trial, chosen)


def graph_watch(graph: GraphRecord, device: torch.device) -> WatchOf | None:
    """Where the graph's edge decodes watch its decode policy (:mod:`agm.geodesic.graph.policy_watch`): on the CPU, in
    one process, unless the build was given the policy (:class:`agm.geodesic.graph.policy_watch.GraphWatch`); else
    None."""
    if device.type != "cpu" or not graph.watch_policy or is_sharded():
        return None
    return GraphWatch(graph)
