"""Node decodings on demand (issue 19, item 6): decode a graph's nodes when a query first needs their positions.

A graph built with ``node_decodes="on_demand"`` (:func:`agm.geodesic.build_graph`) decodes no node at build time.
Its queries decode the nodes they need (:mod:`agm.geodesic.query.on_demand`): the nodes their query points attach
to and those a route could pass within its budget. Each decoding gives every edge whose ends are now both decoded
its chord: the exact weight of a cross-chart edge (and of every edge with ``n_steps = 1``), a lower bound of an
intra-chart edge's (evaluated later by LazySP, as on any lazy graph). Everything else that reads positions (the
exports, ``evaluate_all``, ``distances``, saving) decodes the rest first (:func:`complete_positions`); once every
node is decoded, the graph is a lazy graph like any other (positions handed to the native graph, A*'s consistency
computed).

On the paper decoder (h = 48, 8 charts, 2,000 MNIST points) the first exact geodesic decoded 0.18-0.21x the points
of a lazy build and query, in 0.38-0.44x the CPU time (``benchmarks/bench_nodes_on_demand.py``).

Floor: :mod:`agm.geodesic.graph` (the record, its weights, eq. 10's decoding and the decode policy).
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from agm._progress import decode_seconds, say, show
from agm.geodesic._support.evaluating import evaluating
from agm.geodesic.graph.curves import decode_points, default_batch_size, indexed_chords, interior_decodings
from agm.geodesic.graph.node_trial import chosen_policy, decode_timed, unfinished_policy
from agm.geodesic.graph.pending_nodes import BLOCKED, PendingNodes
from agm.geodesic.graph.policy import DecodePolicy, applied, threads_held
from agm.geodesic.graph.record import GraphRecord
from agm.models.protocol import SemiAtlasModel, model_device

#: Nodes per step of :func:`complete_positions`' bar.
COMPLETION_CHUNK = 4096

#: Fraction of the nodes decoded beyond which :func:`ensure_positions` decodes the rest at once: the queries then
#: search with A* on the native graph instead of certifying their routes round by round (as LazySP decodes the
#: remaining edges past :data:`agm.geodesic.query.lazysp.EAGER_SWITCH`).
COMPLETE_AT = 0.5


def ensure_positions(
    graph: GraphRecord,
    model: SemiAtlasModel,
    nodes: np.ndarray,
    device: torch.device,
    policy: DecodePolicy,
    measure: bool = False,
) -> int:
    """Decode the nodes among ``nodes`` (int64 ids, any shape, repeats allowed) that are not decoded yet (and all the
    others once :data:`COMPLETE_AT` of them are), give the edges they complete their chords, and finish the graph
    when no node is left; the number decoded (0 for a graph whose nodes are all decoded). Thread-safe: concurrent
    calls decode each node once. ``measure``: bulk work, whose decodes may feed the graph's decode policy trial
    (:mod:`agm.geodesic.graph.node_trial`; a query's own rounds do not: they are its first geodesic's time)."""
    pending = graph.pending_nodes
    if pending is None:
        return 0
    with pending.lock:
        if graph.pending_nodes is None:  # finished by another thread meanwhile
            return 0
        new = np.unique(np.asarray(nodes, dtype=np.int64).ravel())
        new = new[~pending.decoded[new]]
        if new.size:
            _decode(graph, model, new, device, policy, measure)
            _unblock(graph, pending, new)
        rest = np.flatnonzero(~pending.decoded)
        if 0 < rest.size <= (1.0 - COMPLETE_AT) * pending.decoded.size:
            _decode(graph, model, rest, device, policy, measure)
            _unblock(graph, pending, rest)
            new = np.concatenate([new, rest])
        if pending.decoded.all():
            _finish(graph)
        return int(new.size)


def adopt_positions(graph: GraphRecord, nodes: np.ndarray, positions: np.ndarray) -> None:
    """Take decodings the caller made of some nodes (the build's timed sample,
    :func:`agm.geodesic.graph.node_decode_choice.timed_sample`) as :func:`ensure_positions` would have made them.

    Args:
        nodes: (S,) int64 node ids, unique, not decoded yet.
        positions: (S, D) float32 their decodings (flattened).
    """
    pending = graph.pending_nodes
    if pending is None or nodes.size == 0:
        return
    with pending.lock:
        graph.positions[nodes] = positions
        pending.decoded[nodes] = True
        _unblock(graph, pending, nodes)
        if pending.decoded.all():
            _finish(graph)


def decode_blocked_ends(
    graph: GraphRecord, model: SemiAtlasModel, edges: np.ndarray, device: torch.device, policy: DecodePolicy
) -> int:
    """Decode the undecoded ends of those of ``edges`` (int64 ids) still blocked (a route found among the decoded
    nodes had to cross them: they join parts of the decoded nodes); the number decoded."""
    pending = graph.pending_nodes
    if pending is None or edges.size == 0:
        return 0
    blocked = edges[graph.edge_weights.values[edges] >= BLOCKED]
    ends = graph.edge_weights.edges[blocked].ravel()
    return ensure_positions(graph, model, ends[~pending.decoded[ends]], device, policy)


def complete_positions(
    graph: GraphRecord,
    model: SemiAtlasModel,
    device: torch.device | None = None,
    policy: DecodePolicy | None = None,
    progress: bool | None = None,
) -> int:
    """Decode every node not decoded yet (the decode estimate up front and a bar as ``progress`` says,
    :mod:`agm._progress`); the number decoded (0, doing nothing, for a graph whose nodes are all decoded). In the
    graph's own policy, these decodes choose it where it is still to be measured (:mod:`agm.geodesic.graph.node_trial`:
    read ``graph.decode_policy`` again afterwards).

    Args:
        device: where the model runs (default: its parameters' device).
        policy: the decoder's threads and batch (default: the graph's, else torch's threads and the device's batch).
    """
    pending = graph.pending_nodes
    if pending is None:
        return 0
    device = device if device is not None else model_device(model)
    policy = policy or graph.decode_policy or DecodePolicy(threads=None, batch_size=default_batch_size(device))
    todo = np.flatnonzero(~pending.decoded)
    seconds = decode_seconds(int(todo.size), policy.measured)
    shown = show(progress, seconds)
    say(f"agm: decoding the {todo.size:,} graph nodes not decoded yet (~{seconds:.0f} s)", shown)
    done = 0
    for start in tqdm(range(0, todo.size, COMPLETION_CHUNK), desc="graph nodes", disable=not shown, leave=False):
        done += ensure_positions(graph, model, todo[start : start + COMPLETION_CHUNK], device, policy, measure=True)
    return done


def _decode(
    graph: GraphRecord,
    model: SemiAtlasModel,
    nodes: np.ndarray,
    device: torch.device,
    policy: DecodePolicy,
    measure: bool,
) -> None:
    """Decode ``nodes`` into the record's positions and mark them decoded (under the pending lock); bulk work
    (``measure``) in the graph's own policy feeds its policy trial while it has one
    (:mod:`agm.geodesic.graph.node_trial`)."""
    pending = graph.pending_nodes
    if pending is None:
        raise AssertionError("no pending nodes")
    sel = torch.from_numpy(nodes)
    latents = torch.from_numpy(graph.latents)[sel].to(device)
    charts = torch.from_numpy(graph.node_chart)[sel].to(device)
    trial = graph.policy_trial
    with evaluating(model):
        if measure and trial is not None and not trial.ended and policy is graph.decode_policy and not threads_held():
            decoded = decode_timed(trial, model, latents, charts, device, policy)
            chosen = chosen_policy(trial)
            if chosen is not None:  # the trial stays on the record: evaluate_all may revise the choice on the edges
                graph.decode_policy = chosen
        else:
            with applied(policy):
                decoded = decode_points(model.decode, latents, charts, policy.batch_size, device)
    graph.positions[nodes] = decoded.reshape(nodes.size, -1).to("cpu", torch.float32).numpy()
    pending.decoded[nodes] = True


def _unblock(graph: GraphRecord, pending: PendingNodes, new: np.ndarray) -> None:
    """Chords for the edges of ``new`` whose other end is decoded: stored exact for cross-chart edges (and for every
    edge when ``n_steps = 1``), a lower bound of the others."""
    weights = graph.edge_weights
    ids = pending.incident(new)
    ends = weights.edges[ids]
    ids = ids[pending.decoded[ends[:, 0]] & pending.decoded[ends[:, 1]]]
    if ids.size == 0:
        return
    pos = graph.positions
    ends = weights.edges[ids]
    ends_t = torch.from_numpy(ends)
    chords = indexed_chords(torch.from_numpy(pos), ends_t[:, 0], ends_t[:, 1]).numpy()
    exact = ids >= graph.native.n_intra_edges
    if interior_decodings(graph.n_steps) == 0:
        exact[:] = True
    if exact.any():
        weights.store(ids[exact], chords[exact])
    if (~exact).any():
        weights.unblock(ids[~exact], chords[~exact])


def _finish(graph: GraphRecord) -> None:
    """Every node is decoded: hand the positions to the native graph (A*'s heuristic) and compute A*'s consistency
    verdict now, as a build does, and give an unfinished policy trial's best candidate, if any, to the graph; the graph
    is then like any lazy graph."""
    graph.native.set_positions(np.ascontiguousarray(graph.positions))
    graph.native.check_heuristic()
    trial = graph.policy_trial
    if trial is not None and not trial.ended and graph.decode_policy is not None:
        graph.decode_policy = unfinished_policy(trial, graph.decode_policy)
    graph.pending_nodes = None
