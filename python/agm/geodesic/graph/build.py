"""Algorithm 1, graph construction: the multi-chart graph of an AGM with decoded curve-length weights.

This module computes what needs the model: the nodes (through the node mode, :mod:`agm.geodesic.graph.modes`), their
decodings (for the weights' endpoints and the A* heuristic) and the edge weights, streamed in torch batches on
the model's device; the native core builds the k-d trees, the candidate edges, the CSR adjacency and components.

Inside an initialised torch.distributed process group (:mod:`agm.geodesic._support.sharding`) the build is split across
ranks: every rank takes rank 0's nodes and decode policy (so that all ranks build the same structure), decodes a
contiguous share of the node decodings and, with ``weights="eager"``, of the intra-chart edges on its own device
(the model's), and the shares are gathered, so every rank holds the same graph, bitwise. The weights equal the
single-process build's to float32 rounding (about 1e-7 relative: a share's decoder calls hold other points than
one process's calls, and float32 kernels round differently with batch composition).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch

from agm._core import AtlasGraph
from agm._progress import decode_seconds, say, show
from agm.geodesic._support.checks import (
    DataSource,
    as_batch,
    check_choice,
    check_decode_shape,
    check_device,
    check_eps,
    check_model,
    check_positive_int,
)
from agm.geodesic._support.evaluating import evaluating
from agm.geodesic._support.sharding import broadcast, gather_rows, is_sharded, on_every_rank, share
from agm.geodesic.graph.curves import PointTable, decode_points, default_batch_size, interior_decodings, packed_lengths
from agm.geodesic.graph.edge_kinds import DecodeContext, GraphEdgeKind, evaluate
from agm.geodesic.graph.fingerprint import model_fingerprint, weight_versions
from agm.geodesic.graph.measured_decode import decode_nodes_measured
from agm.geodesic.graph.measured_edges import evaluate_edges_measured, expected_seconds, worth_revising
from agm.geodesic.graph.modes import DecoderNodes, NodeMode, NodeSettings, node_mode
from agm.geodesic.graph.node_decode_choice import MIN_NODES, gap_sample, prefer_on_demand, timed_sample
from agm.geodesic.graph.node_positions import adopt_positions, ensure_positions
from agm.geodesic.graph.node_trial import NodeTrial
from agm.geodesic.graph.nodes import ChartNodes
from agm.geodesic.graph.pending_nodes import BLOCKED, PendingNodes
from agm.geodesic.graph.policy import CUDA_BATCH, DecodePolicy, TrialResult, applied, check_policy, measure_policy
from agm.geodesic.graph.policy_cache import cached_policy, policy_key, remember_policy
from agm.geodesic.graph.record import ATTACH_RULES, AttachRule, GraphRecord
from agm.geodesic.graph.scales import record_data_gap
from agm.geodesic.graph.weights import GraphWeights, chord_weights
from agm.models.protocol import SemiAtlasModel, model_device

NodeModeName = Literal["auto", "encoder", "decoder"]
WeightMode = Literal["lazy", "eager"]
WEIGHT_MODES = ("lazy", "eager")
#: When the nodes are decoded: "build" (all of them, by the build), "on_demand" (by the queries that need them,
#: :mod:`agm.geodesic.graph.node_positions`) or "auto" (one of the two by the decoder's measured cost,
#: :mod:`agm.geodesic.graph.node_decode_choice`).
NodeDecodes = Literal["auto", "build", "on_demand"]
NODE_DECODES = ("auto", "build", "on_demand")


def assemble_graph(
    model: SemiAtlasModel,
    nodes: ChartNodes,
    *,
    k: int,
    n_steps: int,
    policy: DecodePolicy | None,
    device: torch.device,
    lazy: bool,
    progress: bool,
    timings: dict[str, float],
    policy_key: dict[str, Any] | None = None,
) -> tuple[AtlasGraph, np.ndarray, np.ndarray, np.ndarray, DecodePolicy]:
    """Native graph over given nodes with decoded positions and weights (call under ``evaluating``, outside any
    :func:`agm.geodesic.graph.policy.applied` block).

    With ``policy`` None the decode policy is chosen while the nodes are decoded
    (:func:`agm.geodesic.graph.measured_decode.decode_nodes_measured`: no probe decodes), in an eager build revised
    while the edges are decoded when they take long enough (:mod:`agm.geodesic.graph.measured_edges`), and, when
    the trial that chose it ran to its end, remembered under ``policy_key`` (:mod:`agm.geodesic.graph.policy_cache`).

    Cross-chart edges (nodes sharing a data point) weigh ||G_i(z_i) - G_j(z_j)||, the distance of the decodings.
    Intra-chart edges weigh their decoded chord (``lazy``: evaluated by the queries that need them,
    :mod:`agm.geodesic.query.lazysp`) or their curve length (eq. 10), decoded in packed calls of exactly
    ``policy.batch_size`` points.

    Returns:
        The native graph, the node latents (n_nodes, d) float32 and their decodings (n_nodes, D) float32 (both
        in native node order, chart after chart), so that nobody reads them back from the native graph, the
        (n_edges,) bool mask of exact weights, and the decode policy.
    """
    t0 = time.perf_counter()
    native = AtlasGraph(list(nodes.latents), list(nodes.point_ids), k)
    timings["knn_graph"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    latents_np = np.ascontiguousarray(np.concatenate(nodes.latents), dtype=np.float32)  # native node order
    counts = [len(lat) for lat in nodes.latents]
    charts = torch.from_numpy(np.repeat(np.asarray(nodes.charts, dtype=np.int64), counts)).to(device)
    latents = torch.from_numpy(latents_np).to(device)
    trial: TrialResult | None = None
    if policy is None:
        positions, trial = decode_nodes_measured(model, latents, charts, device)
        policy = trial.policy
    else:
        positions = decode_nodes(model, latents, charts, policy, device)
    timings["decode_nodes"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    n_intra = native.n_intra_edges
    positions_np = np.ascontiguousarray(positions.cpu().numpy())
    native.set_weights(chord_weights(native, positions))  # exact for cross-chart edges and for n_steps = 1
    native.set_positions(positions_np)
    native.check_heuristic()  # A*'s one O(E D) check here, in parallel, not on the first query
    evaluated = np.ones(native.n_edges, dtype=bool)
    evaluated[:n_intra] = interior_decodings(n_steps) == 0
    weights = GraphWeights(native, evaluated)
    if not lazy:
        table = PointTable(latents, positions, charts)
        if trial is not None:
            trial = _evaluate_revising(model, table, weights, n_steps, trial, progress)
            policy = trial.policy
        else:
            evaluate_edges_sharded(model, table, weights, np.arange(n_intra), n_steps, policy, progress=progress)
    timings["edge_weights"] = time.perf_counter() - t0
    if trial is not None and trial.complete and policy_key is not None:
        remember_policy(policy_key, policy)
    evaluated_intra = int(weights.evaluated[:n_intra].sum()) if interior_decodings(n_steps) else 0
    timings["decoded_points"] = float(native.n_nodes + evaluated_intra * interior_decodings(n_steps))
    return native, latents_np, positions_np, weights.evaluated, policy


def _evaluate_revising(
    model: SemiAtlasModel,
    table: PointTable,
    weights: GraphWeights,
    n_steps: int,
    node_trial: TrialResult,
    progress: bool,
) -> TrialResult:
    """Decode every intra-chart edge of an eager build whose policy was measured on its nodes (``node_trial``),
    revising the policy on the edges when they are expected to take long enough
    (:mod:`agm.geodesic.graph.measured_edges`); the trial that chose the build's policy: the edges' when it ran to
    its end, else the nodes' (call under ``evaluating``, outside any ``applied`` block)."""
    native = weights.native
    ids = np.arange(native.n_intra_edges)
    expected = expected_seconds(ids.size, n_steps, node_trial.policy)
    if is_sharded() or not worth_revising(expected):
        evaluate_edges_sharded(model, table, weights, ids, n_steps, node_trial.policy, progress=progress)
        return node_trial
    edge_trial = evaluate_edges_measured(model, GraphEdgeKind(table, native, weights), ids, n_steps, expected, progress)
    return edge_trial if edge_trial.complete else node_trial


def assemble_on_demand(
    nodes: ChartNodes, k: int, policy: DecodePolicy | None, device: torch.device, data_shape: tuple[int, ...]
) -> tuple[AtlasGraph, np.ndarray, np.ndarray, np.ndarray, DecodePolicy]:
    """Native graph over given nodes with no node decoded (``node_decodes="on_demand"``): every edge at
    :data:`agm.geodesic.graph.pending_nodes.BLOCKED` and unevaluated, positions 0 until a query decodes them
    (:mod:`agm.geodesic.graph.node_positions`). The decode policy is the known one, else torch's threads and the
    device's default batch until the queries' node decodes choose one (:mod:`agm.geodesic.graph.node_trial`).

    Returns:
        As :func:`assemble_graph`: the native graph, the node latents (n_nodes, d) float32, the positions
        (n_nodes, D) float32 (zeros), the (n_edges,) bool mask of exact weights (none) and the decode policy.
    """
    native = AtlasGraph(list(nodes.latents), list(nodes.point_ids), k)
    latents_np = np.ascontiguousarray(np.concatenate(nodes.latents), dtype=np.float32)
    native.set_weights(np.full(native.n_edges, BLOCKED))
    positions = np.zeros((native.n_nodes, int(np.prod(data_shape))), dtype=np.float32)
    evaluated = np.zeros(native.n_edges, dtype=bool)
    return (
        native,
        latents_np,
        positions,
        evaluated,
        policy or DecodePolicy(threads=None, batch_size=default_batch_size(device)),
    )


def _on_demand_refusal(weights: str, mode: NodeMode) -> str | None:
    """Why ``node_decodes="on_demand"`` cannot be (it needs lazy weights, encoder nodes and a single process), or
    None."""
    if weights != "lazy":
        return f"node_decodes='on_demand' needs weights='lazy'; got weights={weights!r}"
    if mode.name != "encoder":
        return f"node_decodes='on_demand' needs encoder nodes; got nodes={mode.name!r}"
    if is_sharded():
        return "node_decodes='on_demand' is not available inside a torch.distributed process group"
    return None


def _choose_on_demand(
    model: SemiAtlasModel,
    nodes: ChartNodes,
    k: int,
    policy: DecodePolicy | None,
    device: torch.device,
    timings: dict[str, float],
) -> tuple[np.ndarray, np.ndarray] | None:
    """``node_decodes="auto"`` where on demand is possible: the timed sample's node ids and decodings when decoding
    the nodes on demand pays (:mod:`agm.geodesic.graph.node_decode_choice`), else None, always on an accelerator
    (large node batches are cheap there) and below ``MIN_NODES`` nodes. Records the sample's seconds per node in
    ``timings``. Call under ``evaluating``, outside any ``applied`` block."""
    counts = [len(lat) for lat in nodes.latents]
    if sum(counts) < MIN_NODES or device.type != "cpu":
        return None
    latents = np.concatenate(nodes.latents).astype(np.float32, copy=False)
    charts = np.repeat(np.asarray(nodes.charts, dtype=np.int64), counts)
    sample, positions, per_node = timed_sample(
        model, latents, charts, policy or DecodePolicy(threads=None, batch_size=default_batch_size(device)), device
    )
    timings["seconds_per_node"] = per_node
    return (sample, positions) if prefer_on_demand(len(latents), k, per_node) else None


def _decoded_gap_sample(
    graph: GraphRecord, model: SemiAtlasModel, device: torch.device, policy: DecodePolicy
) -> np.ndarray:
    """The :func:`agm.geodesic.graph.node_decode_choice.gap_sample` of a graph with nodes decoded on demand, decoded
    now (those the build's "auto" choice decoded are not decoded again): what its data distance is measured on."""
    sample = gap_sample(graph.n_nodes)
    ensure_positions(graph, model, sample, device, policy)
    return sample


def decode_nodes(
    model: SemiAtlasModel, latents: torch.Tensor, charts: torch.Tensor, policy: DecodePolicy, device: torch.device
) -> torch.Tensor:
    """The decodings of the graph's nodes, split across ranks in a process group (call under ``evaluating``).

    Args:
        latents: (N, d) float32 node latents on ``device``; charts: (N,) int64 on ``device``.

    Returns:
        (N, D) float32 on ``device``; in a process group every rank decodes its contiguous share
        (:func:`agm.geodesic._support.sharding.share`) and receives the others' (the same bytes on every rank).
    """
    if not is_sharded():
        with applied(policy):
            return decode_points(model.decode, latents, charts, policy.batch_size, device)
    rows = share(latents.shape[0])

    def mine() -> np.ndarray:
        with applied(policy):
            return decode_points(model.decode, latents[rows], charts[rows], policy.batch_size, device).cpu().numpy()

    return torch.from_numpy(gather_rows(on_every_rank(mine))).to(device)


def evaluate_edges_sharded(
    model: SemiAtlasModel,
    table: PointTable,
    weights: GraphWeights,
    ids: np.ndarray,
    n_steps: int,
    policy: DecodePolicy,
    progress: bool = False,
) -> int:
    """Decode the exact weights of intra-chart edges ``ids``, split across ranks in a process group, and store
    them (call under ``evaluating``); without one this is
    :func:`agm.geodesic.graph.edge_kinds.evaluate` of the graph's edges.

    In a process group the edges pending on any rank (the union, so ranks whose lazy queries evaluated different
    edges end with the same complete set) are ordered by chart, as one process decodes them, split into
    contiguous shares, decoded in packed calls on each rank's device, gathered and stored on every rank.

    Args:
        table: the graph's node latents (N, d) float32, decodings (N, D) float32 and charts (N,) int64 on the
            decoder's device.
        ids: (n,) int64 edge ids; evaluated and cross-chart ones are skipped.

    Returns:
        The number of edges evaluated (all ranks together).
    """
    native = weights.native
    if not is_sharded():
        context = DecodeContext(model, table.latents.device, policy, n_steps)
        return evaluate(GraphEdgeKind(table, native, weights), ids, context, progress=progress)
    pending = weights.pending(ids)
    pending = np.unique(gather_rows(pending[pending < native.n_intra_edges]))
    pending = pending[np.argsort(weights.edge_chart[pending], kind="stable")]  # single-chart calls
    mine = pending[share(pending.size)]

    def decode() -> np.ndarray:
        if mine.size == 0:
            return np.zeros(0, dtype=np.float64)
        ends = torch.from_numpy(weights.edges[mine]).to(table.latents.device)
        with applied(policy):
            lengths = packed_lengths(model.decode, table, ends, n_steps, policy.batch_size, progress=progress)
        out: np.ndarray = lengths.cpu().numpy()
        return out

    lengths = gather_rows(on_every_rank(decode))
    if pending.size:
        weights.store(pending, lengths)
    return int(pending.size)


#: Latents the decode policy is measured on in a process group (standard normal, chart 0, fixed seed): a decoder's
#: cost does not depend on the values. Elsewhere the policy is measured on the node decodes themselves.
POLICY_PROBE_POINTS = 256


def choose_policy(
    model: SemiAtlasModel,
    device: torch.device,
    policy: DecodePolicy | None,
    key: dict[str, Any],
) -> DecodePolicy | None:
    """The decode policy of a build when it is known before the nodes: the given one, the one remembered for ``key``
    (:mod:`agm.geodesic.graph.policy_cache`), or on CUDA 16384 points; in a process group (all ranks need it before
    the nodes) one measured on ``POLICY_PROBE_POINTS`` seeded standard-normal latents of chart 0
    (:func:`agm.geodesic.graph.policy.measure_policy`; call under ``evaluating``). None: to be measured on the node
    decodes."""
    if policy is not None:
        return policy
    if device.type == "cuda":
        return DecodePolicy(threads=None, batch_size=CUDA_BATCH)
    remembered = cached_policy(key)
    if remembered is not None:
        return remembered
    if is_sharded():
        g = torch.Generator().manual_seed(0)
        sample = torch.randn(POLICY_PROBE_POINTS, int(model.latent_dim), generator=g)
        measured = measure_policy(model.decode, sample, 0, device)
        remember_policy(key, measured)
        return measured
    return None


@dataclass(frozen=True)
class BuildOptions:
    """The build's options beside its model, data, k, eps and n_steps (see :func:`agm.geodesic.build_graph`)."""

    nodes: NodeModeName | NodeMode = "auto"
    weights: WeightMode = "lazy"
    decode_policy: DecodePolicy | None = None
    device: torch.device | str | None = None
    attach: AttachRule = "all"
    skip_small_charts: bool = False
    progress: bool | None = None
    node_decodes: NodeDecodes = "auto"


def build_record(
    model: SemiAtlasModel,
    data: DataSource | None,
    k: int,
    eps: float,
    n_steps: int,
    options: BuildOptions = BuildOptions(),
) -> GraphRecord:
    """The record of the graph of Algorithm 1 for ``model``: :func:`agm.geodesic.build_graph` (arguments, errors)
    without the object around it."""
    nodes, weights, decode_policy, device = options.nodes, options.weights, options.decode_policy, options.device
    attach, skip_small_charts, progress = options.attach, options.skip_small_charts, options.progress
    mode = node_mode(nodes, model)
    check_model(model, need_encoder=mode.needs_encoder)
    k = check_positive_int("k", k)
    eps = check_eps(eps)
    n_steps = check_positive_int("n_steps", n_steps)
    if mode.needs_encoder and data is None:
        raise ValueError("data is required to build the graph of an AGM from its encoders (nodes='encoder')")
    x = as_batch("data", data, None, single=False) if data is not None else None
    dev = check_device(device if device is not None else model_device(model))
    check_choice("weights", weights, WEIGHT_MODES)
    node_decodes = check_choice("node_decodes", options.node_decodes, NODE_DECODES)
    refusal = _on_demand_refusal(weights, mode)
    if node_decodes == "on_demand" and refusal is not None:
        raise ValueError(refusal)
    check_choice("attach", attach, ATTACH_RULES)
    decode_policy = check_policy(decode_policy)
    if isinstance(mode, DecoderNodes) and mode.n_samples is None:  # default: as many samples as data points
        mode = replace(mode, n_samples=len(x) if x is not None else 2000)
    samples = mode.n_samples if isinstance(mode, DecoderNodes) and mode.n_samples else (len(x) if x is not None else 0)
    settings = NodeSettings(
        eps=eps,
        k=k,
        batch_size=decode_policy.batch_size if decode_policy else default_batch_size(dev),
        device=dev,
        skip_small_charts=bool(skip_small_charts),
        progress=bool(progress),  # resolved below, once the decode policy's rate is known
    )

    timings: dict[str, float] = {}
    start = time.perf_counter()
    with evaluating(model):
        if x is not None:
            check_decode_shape(model, tuple(x.shape[1:]), dev)
        t0 = time.perf_counter()
        key = policy_key(model, dev)
        known = broadcast(on_every_rank(lambda: choose_policy(model, dev, decode_policy, key)))
        timings["decode_policy"] = time.perf_counter() - t0
        rate = known.measured if known is not None else 0.0  # unknown until the node decodes measure it
        shown = show(progress, decode_seconds(_build_decodes(x, samples, k, n_steps, weights), rate))
        settings = replace(settings, progress=shown)
        t0 = time.perf_counter()
        with applied(known or DecodePolicy(threads=None, batch_size=1)):  # the encoder and psi: the decoder's threads
            chart_nodes, data_shape = broadcast(on_every_rank(lambda: mode.build(model, x, settings)))
        timings["nodes"] = time.perf_counter() - t0
        on_demand, sample = node_decodes == "on_demand", None
        if node_decodes == "auto" and refusal is None:
            sample = _choose_on_demand(model, chart_nodes, k, known, dev, timings)
            on_demand = sample is not None
        if on_demand:
            t0 = time.perf_counter()
            native, latents, positions, evaluated, policy = assemble_on_demand(chart_nodes, k, known, dev, data_shape)
            timings["knn_graph"] = time.perf_counter() - t0
        else:
            native, latents, positions, evaluated, policy = assemble_graph(
                model,
                chart_nodes,
                k=k,
                n_steps=n_steps,
                policy=known,
                device=dev,
                lazy=weights == "lazy",
                progress=shown,
                timings=timings,
                policy_key=key,
            )
        fingerprint = model_fingerprint(model, dev)
    timings["total"] = time.perf_counter() - start
    graph = GraphRecord(
        native,
        charts=chart_nodes.charts,
        eps=eps,
        k=k,
        n_steps=n_steps,
        data_shape=data_shape,
        fingerprint=fingerprint,
        nodes=mode,
        timings=timings,
        latents=latents,
        positions=positions,
        evaluated=evaluated,
        decode_policy=policy,
        attach=attach,
        pending_nodes=PendingNodes(native) if on_demand else None,
        policy_trial=NodeTrial(key) if on_demand and known is None else None,
    )
    graph.model_check.verified = weight_versions(model)
    graph.watch_policy = decode_policy is None
    if sample is not None:
        adopt_positions(graph, *sample)
    if x is not None:  # the scale of agm.geodesic.query.far's warning for queries far from the data
        record_data_gap(graph, x, _decoded_gap_sample(graph, model, dev, policy) if on_demand else None)
    say(f"agm: built a graph of {graph.n_nodes:,} nodes and {graph.n_edges:,} edges in {timings['total']:.1f}s", shown)
    return graph


def _build_decodes(x: torch.Tensor | None, n_samples: int, k: int, n_steps: int, weights: str) -> int:
    """A rough count of a build's decodes for the progress rule: one per data point (its nodes), plus k edges of
    ``interior_decodings(n_steps)`` per point when eager."""
    n = x.shape[0] if x is not None else n_samples
    return n * (1 + (k * interior_decodings(n_steps) if weights == "eager" else 0))
