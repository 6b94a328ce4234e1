"""Algorithm 1, graph construction: the multi-chart graph of an AGM with decoded curve-length weights.

This module computes what needs the model: the nodes (through the node mode, :mod:`agm.geodesic.modes`), their
decodings (for the weights' endpoints and the A* heuristic) and the edge weights, streamed in torch batches on
the model's device; the native core builds the k-d trees, the candidate edges, the CSR adjacency and components.

Inside an initialised torch.distributed process group (:mod:`agm.geodesic.sharding`) the build is split across
ranks: every rank takes rank 0's nodes and decode policy (so that all ranks build the same structure), decodes a
contiguous share of the node decodings and, with ``weights="eager"``, of the intra-chart edges on its own device
(the model's), and the shares are gathered, so every rank holds the same graph, bitwise. The weights equal the
single-process build's to float32 rounding (about 1e-7 relative: a share's decoder calls hold other points than
one process's calls, and float32 kernels round differently with batch composition).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import torch

from agm._core import AtlasGraph
from agm._progress import decode_seconds, say, show
from agm.geodesic._context import evaluating
from agm.geodesic.curves import PointTable, decode_points, default_batch_size, interior_decodings, packed_lengths
from agm.geodesic.far import record_data_gap
from agm.geodesic.fingerprint import model_fingerprint, weight_versions
from agm.geodesic.graph import ATTACH_RULES, AttachRule, GeodesicGraph
from agm.geodesic.inputs import (
    as_batch,
    check_choice,
    check_decode_shape,
    check_device,
    check_eps,
    check_model,
    check_non_negative_int,
    check_positive_int,
)
from agm.geodesic.lazy import GraphWeights, chord_weights, evaluate_edges
from agm.geodesic.measured_decode import decode_nodes_measured
from agm.geodesic.modes import NodeSettings, node_mode
from agm.geodesic.nodes import ChartNodes
from agm.geodesic.policy import CUDA_BATCH, DecodePolicy, applied, check_policy, measure_policy
from agm.geodesic.policy_cache import cached_policy, policy_key, remember_policy
from agm.geodesic.registry import can_register, register_graph
from agm.geodesic.sharding import broadcast, gather_rows, is_sharded, on_every_rank, share
from agm.models.protocol import model_device

NodeModeName = Literal["auto", "encoder", "decoder"]
WeightMode = Literal["lazy", "eager"]
WEIGHT_MODES = ("lazy", "eager")


def assemble_graph(
    model: Any,
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
    :func:`agm.geodesic.policy.applied` block).

    With ``policy`` None the decode policy is chosen while the nodes are decoded
    (:func:`agm.geodesic.measured_decode.decode_nodes_measured`: no probe decodes) and, when that trial ran to
    its end, remembered under ``policy_key`` (:mod:`agm.geodesic.policy_cache`).

    Cross-chart edges (nodes sharing a data point) weigh ||G_i(z_i) - G_j(z_j)||, the distance of the decodings.
    Intra-chart edges weigh their decoded chord (``lazy``: evaluated by the queries that need them,
    :mod:`agm.geodesic.lazysp`) or their curve length (eq. 10), decoded in packed calls of exactly
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
    if policy is None:
        positions, trial = decode_nodes_measured(model, latents, charts, device)
        policy = trial.policy
        if trial.complete and policy_key is not None:
            remember_policy(policy_key, policy)
    else:
        positions = decode_nodes(model, latents, charts, policy, device)
    timings["decode_nodes"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    n_intra = native.n_intra_edges
    positions_np = np.ascontiguousarray(positions.cpu().numpy())
    native.set_weights(chord_weights(native, positions))  # exact for cross-chart edges and for n_steps = 1
    native.set_positions(positions_np)
    evaluated = np.ones(native.n_edges, dtype=bool)
    evaluated[:n_intra] = interior_decodings(n_steps) == 0
    weights = GraphWeights(native, evaluated)
    if not lazy:
        table = PointTable(latents, positions, charts)
        evaluate_edges_sharded(model, table, weights, np.arange(n_intra), n_steps, policy, progress=progress)
    timings["edge_weights"] = time.perf_counter() - t0
    evaluated_intra = int(weights.evaluated[:n_intra].sum()) if interior_decodings(n_steps) else 0
    timings["decoded_points"] = float(native.n_nodes + evaluated_intra * interior_decodings(n_steps))
    return native, latents_np, positions_np, weights.evaluated, policy


def decode_nodes(
    model: Any, latents: torch.Tensor, charts: torch.Tensor, policy: DecodePolicy, device: torch.device
) -> torch.Tensor:
    """The decodings of the graph's nodes, split across ranks in a process group (call under ``evaluating``).

    Args:
        latents: (N, d) float32 node latents on ``device``; charts: (N,) int64 on ``device``.

    Returns:
        (N, D) float32 on ``device``; in a process group every rank decodes its contiguous share
        (:func:`agm.geodesic.sharding.share`) and receives the others' (the same bytes on every rank).
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
    model: Any,
    table: PointTable,
    weights: GraphWeights,
    ids: np.ndarray,
    n_steps: int,
    policy: DecodePolicy,
    progress: bool = False,
) -> int:
    """Decode the exact weights of intra-chart edges ``ids``, split across ranks in a process group, and store
    them (call under ``evaluating``); without one this is :func:`agm.geodesic.lazy.evaluate_edges`.

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
        return evaluate_edges(model, table, native, weights, ids, n_steps, policy, progress=progress)
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
    model: Any, device: torch.device, policy: DecodePolicy | None, batch_size: int | None, key: dict[str, Any]
) -> DecodePolicy | None:
    """The decode policy of a build when it is known before the nodes: the given one, the given batch size with
    torch's threads, the one remembered for ``key`` (:mod:`agm.geodesic.policy_cache`), or on CUDA 16384 points;
    in a process group (all ranks need it before the nodes) one measured on ``POLICY_PROBE_POINTS`` seeded
    standard-normal latents of chart 0 (:func:`agm.geodesic.policy.measure_policy`; call under ``evaluating``).
    None: to be measured on the node decodes."""
    if policy is not None:
        if batch_size is not None and batch_size != policy.batch_size:
            raise ValueError(
                f"batch_size must match decode_policy.batch_size when both are given; got {batch_size} and "
                f"{policy.batch_size}"
            )
        return policy
    if batch_size is not None:
        return DecodePolicy(threads=None, batch_size=batch_size)
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


def build_graph(
    model: Any,
    data: torch.Tensor | np.ndarray | None = None,
    k: int = 20,
    eps: float = 0.05,
    n_steps: int = 15,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    *,
    nodes: NodeModeName = "auto",
    n_samples: int | None = None,
    refine_steps: int = 10,
    seed: int = 0,
    skip_small_charts: bool = False,
    progress: bool | None = None,
    weights: WeightMode = "lazy",
    decode_policy: DecodePolicy | None = None,
    attach: AttachRule = "all",
) -> GeodesicGraph:
    """Build the multi-chart graph of Algorithm 1 for an AGM (or, without encoders, a semi-AGM).

    For each chart y the points with psi_y(x) > eps are encoded with F_y; a k-NN graph is built in every chart
    (native k-d trees); each edge weighs the decoded length of its straight latent segment in ``n_steps`` steps
    (eq. 10: t_i = i / n_steps, so n_steps - 1 interior decodings); the nodes of one data point in charts i and
    j are joined with weight ||G_i F_i(x) - G_j F_j(x)||. The nodes' decodings are kept for the A* heuristic.
    With one chart this is Chen et al.'s graph exactly. The model runs in eval mode without gradients; its mode
    is restored.

    A model without ``encode`` (a semi-AGM such as InfoGAN), or ``nodes="decoder"``, takes the paper's
    encoder-free route (:mod:`agm.geodesic.semi`): prior samples decoded in each chart are the nodes, and a sample
    that also lies in U_y' is matched in chart y' by a latent search.

    Args:
        model: an AGM (``agm.AtlasModel``) or, for ``nodes="decoder"``, a semi-AGM (``agm.SemiAtlasModel``).
        data: (N, *S) float tensor or array of data points (any device; moved in batches to ``device``).
            Required for ``nodes="encoder"``; in "decoder" mode only its length sets the default ``n_samples``.
        k: neighbours per node inside its chart (each chart needs more than k nodes).
        eps: partition threshold in [0, 1): point x joins chart y when psi_y(x) > eps.
        n_steps: segments per edge (eq. 10's n, >= 1; 1 is the decoded chord).
        batch_size: points per encoder/decoder call (with torch's thread setting); default: the batch size of
            ``decode_policy``. Peak memory is set by it, not by the number of edges.
        device: where the model runs; default the device of its parameters.
        nodes: "encoder", "decoder" or "auto" ("encoder" when the model has ``encode``).
        n_samples: "decoder" mode: prior samples in all (split evenly over the charts); default len(data), or
            2000 without data.
        refine_steps: "decoder" mode: Levenberg-Marquardt iterations of the latent search
            (:func:`agm.geodesic.semi.refine`).
        seed: "decoder" mode: seed of the prior samples.
        skip_small_charts: leave out charts with k or fewer nodes instead of raising ValueError.
        progress: tqdm bars and the closing "agm: built ..." line. None (default): only when the build is
            estimated long (its decodes at the decode policy's measured rate, over :data:`agm._progress.LONG_S`)
            and stderr is a terminal or a notebook; True/False force them (the command line passes True).
        weights: "lazy" (default): the nodes, their decodings and the structure, with every intra-chart edge at
            its decoded chord (a lower bound of its weight); queries decode only the edges their paths need
            (LazySP, :mod:`agm.geodesic.lazysp`) and the graph keeps them. Lengths equal the eager graph's to
            float32 rounding. "eager": every edge decoded now (N + E (n_steps - 1) decodings); the same as a
            lazy graph after ``graph.evaluate_all(model)``. Why lazy is the default (measured on the loaded 2-core
            CPU, k = 20, n_steps = 15): the first exact geodesic needs only the node decodings (paper decoder
            h = 48, 8 charts, 2,000 points: 2,378 decodes instead of 432,002); 100 pairs decoded 0.4% of the
            edges there, 6% at 200 points (4.1x faster than eager in all); on briefly trained 4-chart demo
            models (MNIST, 300 points) they needed 50% or more of the edges, and took 0.87x eager's wall time
            (0.98x CPU) there. No edge is ever decoded twice, and past 30% of the edges the rest are decoded at
            once (:data:`agm.geodesic.lazysp.EAGER_SWITCH`), so a lazy graph never decodes more than an eager
            one. Use "eager" when every edge will be needed anyway (e.g. all-pairs distances).
        decode_policy: torch threads and batch size of the decoder (:class:`agm.geodesic.policy.DecodePolicy`);
            default: the policy remembered for this decoder architecture and machine
            (:mod:`agm.geodesic.policy_cache`; ``AGM_POLICY_CACHE=off`` keeps it to the process), else chosen by
            measurement on the node decodes themselves (:mod:`agm.geodesic.measured_decode`: no extra decodes);
            16384 points and torch's threads on CUDA. A known policy also runs the encoder and psi. Stored with
            the graph and used by its queries.
        attach: how the graph's queries attach a query point (stored with the graph; a query may override it):
            "all" (default) in every chart with psi > eps, "paper" only in its most likely chart, the paper's rule
            (z0, y0) (:mod:`agm.geodesic.attach`).

    Integer and real arguments may be Python or numpy scalars (bools are refused).

    Inside an initialised torch.distributed process group every rank must call ``build_graph`` with the same
    arguments: the node decodings and (``weights="eager"``) the intra-chart edges are split into contiguous shares
    decoded on each rank's device, and gathered, so every rank returns the same graph (bitwise), equal to the
    single-process build to float32 rounding (see the module docstring). With ``weights="lazy"`` only the node
    decodings are split; a lazy graph's edges are then decoded by the queries (:func:`agm.geodesic.shortest_paths`
    shares its pairs and gathers the edges each rank decoded).

    Returns:
        A :class:`GeodesicGraph`; it also becomes the default graph of ``model`` for ``shortest_path`` (unless the
        model cannot be weakly referenced: see :mod:`agm.geodesic.registry`).

    Raises:
        TypeError: ``model`` lacks the (semi-)atlas interface, or ``data`` is not a floating tensor/array.
        ValueError: bad shapes, NaN/inf in ``data``, eps outside [0, 1), k < 1, n_steps < 1, a chart with too few
            points, a device this machine does not have, or a model call that fails (naming the method and what
            was passed; the exception keeps the model's type where it can).
    """
    mode = node_mode(nodes, model)
    check_model(model, need_encoder=mode.needs_encoder)
    k = check_positive_int("k", k)
    eps = check_eps(eps)
    n_steps = check_positive_int("n_steps", n_steps)
    refine_steps = check_non_negative_int("refine_steps", refine_steps)
    seed = check_non_negative_int("seed", seed)
    if mode.needs_encoder and data is None:
        raise ValueError("data is required to build the graph of an AGM from its encoders (nodes='encoder')")
    x = as_batch("data", data, None, single=False) if data is not None else None
    dev = check_device(device if device is not None else model_device(model))
    if batch_size is not None:
        batch_size = check_positive_int("batch_size", batch_size)
    check_choice("weights", weights, WEIGHT_MODES)
    check_choice("attach", attach, ATTACH_RULES)
    decode_policy = check_policy(decode_policy)
    samples = check_positive_int(
        "n_samples", n_samples if n_samples is not None else (len(x) if x is not None else 2000)
    )
    settings = NodeSettings(
        eps=eps,
        k=k,
        batch_size=batch_size or (decode_policy.batch_size if decode_policy else default_batch_size(dev)),
        device=dev,
        skip_small_charts=bool(skip_small_charts),
        progress=bool(progress),  # resolved below, once the decode policy's rate is known
        n_samples=samples,
        refine_steps=refine_steps,
        seed=seed,
    )

    timings: dict[str, float] = {}
    start = time.perf_counter()
    with evaluating(model):
        if x is not None:
            check_decode_shape(model, tuple(x.shape[1:]), dev)
        t0 = time.perf_counter()
        key = policy_key(model, dev)
        known = broadcast(on_every_rank(lambda: choose_policy(model, dev, decode_policy, batch_size, key)))
        timings["decode_policy"] = time.perf_counter() - t0
        rate = known.measured if known is not None else 0.0  # unknown until the node decodes measure it
        shown = show(progress, decode_seconds(_build_decodes(x, samples, k, n_steps, weights), rate))
        settings = replace(settings, progress=shown)
        t0 = time.perf_counter()
        with applied(known or DecodePolicy(threads=None, batch_size=1)):  # the encoder and psi: the decoder's threads
            chart_nodes, data_shape = broadcast(on_every_rank(lambda: mode.build(model, x, settings)))
        timings["nodes"] = time.perf_counter() - t0
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
    graph = GeodesicGraph(
        native,
        charts=chart_nodes.charts,
        eps=eps,
        k=k,
        n_steps=n_steps,
        data_shape=data_shape,
        fingerprint=fingerprint,
        nodes=mode,
        refine_steps=refine_steps,
        timings=timings,
        latents=latents,
        positions=positions,
        evaluated=evaluated,
        decode_policy=policy,
        attach=attach,
    )
    graph.model_check.verified = weight_versions(model)
    if x is not None:
        record_data_gap(graph, x)  # the scale of agm.geodesic.far's warning for queries far from the data
    if can_register(model):
        register_graph(model, graph)
        graph.bind(model)  # graph.shortest_path(...) etc. keep working after a newer graph is built for the model
    say(f"agm: built {graph!r} in {timings['total']:.1f}s", shown)
    return graph


def _build_decodes(x: torch.Tensor | None, n_samples: int, k: int, n_steps: int, weights: str) -> int:
    """A rough count of a build's decodes for the progress rule: one per data point (its nodes), plus k edges of
    ``interior_decodings(n_steps)`` per point when eager."""
    n = x.shape[0] if x is not None else n_samples
    return n * (1 + (k * interior_decodings(n_steps) if weights == "eager" else 0))


def load_graph(path: str | os.PathLike[str], model: Any | None = None) -> GeodesicGraph:
    """Load a graph saved with :meth:`GeodesicGraph.save`.

    Args:
        path: the file.
        model: if given, the graph is checked against it (ValueError if it belongs to another model) and becomes
            its default graph.
    """
    graph = GeodesicGraph.load(path)
    if model is not None:
        register_graph(model, graph)
        if can_register(model):
            graph.bind(model)
    return graph
