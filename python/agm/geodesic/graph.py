"""Algorithm 1, graph construction: the multi-chart graph of an AGM with decoded curve-length weights.

The native core (``agm._core.AtlasGraph``) holds the per-chart k-d trees, the candidate edges, the CSR adjacency
and the searches; this module computes what needs the model: the nodes (encodings), their decodings (for the
weights' endpoints and the A* heuristic) and the edge weights, streamed in torch batches on the model's device.
"""

from __future__ import annotations

import json
import os
import time
import weakref
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from agm._core import AtlasGraph
from agm.geodesic._context import evaluating
from agm.geodesic.curves import decode_points, default_batch_size, edge_lengths, tune_batch_size
from agm.geodesic.fingerprint import fingerprints_match, model_fingerprint, weight_versions
from agm.geodesic.inputs import as_batch, check_eps, check_model, check_non_negative_int, check_positive_int
from agm.geodesic.nodes import ChartNodes, encode_atlas, select_nodes
from agm.geodesic.semi import prior_nodes
from agm.models.protocol import model_device

FORMAT = "agm.geodesic.graph/1"


class GeodesicGraph:
    """The graph of Algorithm 1 for one model, ready for geodesic queries.

    Attributes:
        native: the ``agm._core.AtlasGraph`` (nodes, edges, weights, decoded positions, searches).
        latents: (n_nodes, d) float32, the latent point of every node in its chart.
        node_chart: (n_nodes,) int64, the model chart of every node.
        charts: model chart of each native chart (charts with too few points may be skipped).
        eps, k, n_steps: the build parameters.
        nodes: "encoder" (nodes are encoded data points) or "decoder" (nodes are prior samples matched across
            charts by search, for semi-AGMs; see ``agm.geodesic.semi``).
        refine_steps: iterations of the latent search of the "decoder" mode (also used to locate query points).
        batch_size: decoded points per forward call chosen at build time (the queries' default; None when loaded).
        data_shape: S, the shape of one data point.
        fingerprint: identifies the model the graph was built for (see ``agm.geodesic.fingerprint``).
        timings: seconds spent in each build stage (empty for a loaded graph).
    """

    def __init__(
        self,
        native: AtlasGraph,
        *,
        charts: tuple[int, ...],
        eps: float,
        k: int,
        n_steps: int,
        data_shape: tuple[int, ...],
        fingerprint: dict[str, Any],
        nodes: str = "encoder",
        refine_steps: int = 0,
        batch_size: int | None = None,
        timings: dict[str, float] | None = None,
    ) -> None:
        self.native = native
        self.nodes, self.refine_steps = nodes, int(refine_steps)
        self.batch_size = batch_size
        self.charts = tuple(int(c) for c in charts)
        self.eps, self.k, self.n_steps = float(eps), int(k), int(n_steps)
        self.data_shape = tuple(int(s) for s in data_shape)
        self.fingerprint = fingerprint
        self.timings = dict(timings or {})
        self._native_chart = {c: i for i, c in enumerate(self.charts)}
        self._verified: tuple[int, ...] | None = None
        # The native properties return copies: read each once (queries gather rows from these).
        self.latents: np.ndarray = np.asarray(native.latents, dtype=np.float32)
        self.node_chart: np.ndarray = np.asarray(self.charts, dtype=np.int64)[native.node_chart]
        self._positions: np.ndarray | None = None

    # -- structure -----------------------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        """Number of nodes (data points times the charts they belong to)."""
        return self.native.n_nodes

    @property
    def n_edges(self) -> int:
        """Number of undirected edges (intra-chart k-NN edges plus cross-chart edges)."""
        return self.native.n_edges

    @property
    def positions(self) -> np.ndarray:
        """(n_nodes, D) float32: the decoding of every node (the A* heuristic's positions; read once, cached)."""
        if self._positions is None:
            self._positions = np.asarray(self.native.positions)
        return self._positions

    @property
    def node_point(self) -> np.ndarray:
        """(n_nodes,) int64: the index, in the data given to ``build_graph``, of every node's data point."""
        return self.native.node_point

    def native_chart(self, chart: int) -> int | None:
        """Index of a model chart among the graph's charts (None when the chart was skipped)."""
        return self._native_chart.get(int(chart))

    def stats(self) -> dict[str, int]:
        """Table 1's statistics: nodes, edges (intra and cross-chart), components, largest component, diameter
        in hops, plus the charts kept."""
        out = dict(self.native.stats())
        out["n_charts"] = len(self.charts)
        return out

    def __repr__(self) -> str:
        return (
            f"GeodesicGraph(charts={len(self.charts)}, nodes={self.n_nodes}, edges={self.n_edges}, "
            f"k={self.k}, eps={self.eps}, n_steps={self.n_steps}, nodes={self.nodes!r}, data_shape={self.data_shape})"
        )

    # -- model check ---------------------------------------------------------------------------------------
    def check_model(self, model: Any, device: torch.device | None = None) -> None:
        """Raise ValueError unless ``model`` is (behaviourally) the model the graph was built for.

        The full fingerprint is recomputed only when the model's weights may have changed since the last check.
        """
        sig = weight_versions(model)
        if sig is not None and sig == self._verified:
            return
        fp = model_fingerprint(model, device or model_device(model))
        if not fingerprints_match(fp, self.fingerprint):
            raise ValueError(
                f"this graph was built for another model ({self.fingerprint['class']}, "
                f"{self.fingerprint['n_charts']} charts), or the model's weights changed since; "
                "rebuild it with agm.geodesic.build_graph(model, data)"
            )
        self._verified = sig

    # -- persistence ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the graph (all native arrays, decoded positions and build parameters) to one file."""
        meta = {
            "format": FORMAT,
            "charts": list(self.charts),
            "eps": self.eps,
            "k": self.k,
            "n_steps": self.n_steps,
            "data_shape": list(self.data_shape),
            "fingerprint": self.fingerprint,
            "nodes": self.nodes,
            "refine_steps": self.refine_steps,
        }
        self.native.save(os.fspath(path), json.dumps(meta))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GeodesicGraph:
        """Read a graph written by :meth:`save`; ValueError for a file that is not one."""
        native = AtlasGraph.load(os.fspath(path))
        try:
            meta = json.loads(native.metadata)
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}")
            return cls(
                native,
                charts=tuple(meta["charts"]),
                eps=meta["eps"],
                k=meta["k"],
                n_steps=meta["n_steps"],
                data_shape=tuple(meta["data_shape"]),
                fingerprint=meta["fingerprint"],
                nodes=meta["nodes"],
                refine_steps=meta["refine_steps"],
            )
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{os.fspath(path)} is an agm graph file but not a geodesic graph ({err})") from err


# The graph most recently built for each model (weak keys: a graph never keeps its model alive).
_LATEST: weakref.WeakKeyDictionary[Any, GeodesicGraph] = weakref.WeakKeyDictionary()


def latest_graph(model: Any) -> GeodesicGraph:
    """The graph most recently built (or registered) for ``model``; ValueError if there is none."""
    try:
        return _LATEST[model]
    except (KeyError, TypeError):
        raise ValueError(
            f"no graph has been built for this {type(model).__name__}; call agm.geodesic.build_graph(model, data) "
            "or pass graph=..."
        ) from None


def register_graph(model: Any, graph: GeodesicGraph) -> None:
    """Make ``graph`` the one used for ``model`` when no graph is passed (e.g. after :meth:`GeodesicGraph.load`)."""
    graph.check_model(model)
    try:
        _LATEST[model] = graph
    except TypeError:  # not weak-referenceable: callers must pass graph=
        pass


def assemble_graph(
    model: Any,
    nodes: ChartNodes,
    *,
    k: int,
    n_steps: int,
    batch_size: int,
    device: torch.device,
    progress: bool,
    timings: dict[str, float],
) -> AtlasGraph:
    """Native graph over given nodes with decoded positions and curve-length weights (call under ``evaluating``).

    Cross-chart edges (nodes sharing a data point) weigh ||G_i(z_i) - G_j(z_j)||, the distance of the decodings.
    """
    t0 = time.perf_counter()
    native = AtlasGraph(list(nodes.latents), list(nodes.point_ids), k)
    timings["knn_graph"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    charts = torch.as_tensor(nodes.charts, dtype=torch.int64)[torch.from_numpy(native.node_chart)].to(device)
    latents = torch.from_numpy(np.asarray(native.latents, dtype=np.float32)).to(device)
    positions = decode_points(model.decode, latents, charts, batch_size, device)
    timings["decode_nodes"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    edges = native.edges
    n_intra = native.n_intra_edges
    weights = np.empty(edges.shape[0], dtype=np.float64)
    weights[:n_intra] = edge_lengths(
        model.decode, latents, positions, charts, edges[:n_intra], n_steps, batch_size, progress=progress
    )
    cross = torch.from_numpy(edges[n_intra:]).to(device)
    weights[n_intra:] = (
        torch.linalg.vector_norm(positions[cross[:, 0]] - positions[cross[:, 1]], dim=1).double().cpu().numpy()
    )
    timings["edge_weights"] = time.perf_counter() - t0
    timings["decoded_points"] = float(native.n_nodes + n_intra * n_steps)

    native.set_weights(weights)
    native.set_positions(np.ascontiguousarray(positions.cpu().numpy()))
    return native


NodeMode = Literal["auto", "encoder", "decoder"]


def build_graph(
    model: Any,
    data: torch.Tensor | np.ndarray | None = None,
    k: int = 20,
    eps: float = 0.05,
    n_steps: int = 15,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    *,
    nodes: NodeMode = "auto",
    n_samples: int | None = None,
    refine_steps: int = 10,
    seed: int = 0,
    skip_small_charts: bool = False,
    progress: bool = True,
) -> GeodesicGraph:
    """Build the multi-chart graph of Algorithm 1 for an AGM (or, without encoders, a semi-AGM).

    For each chart y the points with psi_y(x) > eps are encoded with F_y; a k-NN graph is built in every chart
    (native k-d trees); each edge weighs the decoded length of its straight latent segment with ``n_steps``
    intermediate points (eq. 10); the nodes of one data point in charts i and j are joined with weight
    ||G_i F_i(x) - G_j F_j(x)||. The nodes' decodings are kept for the A* heuristic. With one chart this is
    Chen et al.'s graph exactly. The model runs in eval mode without gradients; its mode is restored.

    A model without ``encode`` (a semi-AGM such as InfoGAN), or ``nodes="decoder"``, takes the paper's
    encoder-free route (:mod:`agm.geodesic.semi`): prior samples decoded in each chart are the nodes, and a sample
    that also lies in U_y' is matched in chart y' by a latent search.

    Args:
        model: an AGM (``agm.AtlasModel``) or, for ``nodes="decoder"``, a semi-AGM (``agm.SemiAtlasModel``).
        data: (N, *S) float tensor or array of data points (any device; moved in batches to ``device``).
            Required for ``nodes="encoder"``; in "decoder" mode only its length sets the default ``n_samples``.
        k: neighbours per node inside its chart (each chart needs more than k nodes).
        eps: partition threshold in [0, 1): point x joins chart y when psi_y(x) > eps.
        n_steps: intermediate decodings per edge (>= 0).
        batch_size: points per encoder/decoder call; default: chosen by measurement on the CPU
            (:func:`agm.geodesic.curves.tune_batch_size`), 16384 on CUDA. Peak memory is set by it, not by the
            number of edges.
        device: where the model runs; default the device of its parameters.
        nodes: "encoder", "decoder" or "auto" ("encoder" when the model has ``encode``).
        n_samples: "decoder" mode: prior samples in all (split evenly over the charts); default len(data), or
            2000 without data.
        refine_steps: "decoder" mode: Levenberg-Marquardt iterations of the latent search
            (:func:`agm.geodesic.semi.refine`).
        seed: "decoder" mode: seed of the prior samples.
        skip_small_charts: leave out charts with k or fewer nodes instead of raising ValueError.
        progress: show tqdm progress bars.

    Returns:
        A :class:`GeodesicGraph`; it also becomes the default graph of ``model`` for ``shortest_path``.

    Raises:
        TypeError: ``model`` lacks the (semi-)atlas interface, or ``data`` is not a floating tensor/array.
        ValueError: bad shapes, NaN/inf in ``data``, eps outside [0, 1), k < 1, a chart with too few points.
    """
    if nodes not in ("auto", "encoder", "decoder"):
        raise ValueError(f"nodes must be 'auto', 'encoder' or 'decoder'; got {nodes!r}")
    mode = ("encoder" if hasattr(model, "encode") else "decoder") if nodes == "auto" else nodes
    check_model(model, need_encoder=mode == "encoder")
    check_positive_int("k", k)
    eps = check_eps(eps)
    check_non_negative_int("n_steps", n_steps)
    check_non_negative_int("refine_steps", refine_steps)
    if mode == "encoder" and data is None:
        raise ValueError("data is required to build the graph of an AGM from its encoders (nodes='encoder')")
    x = as_batch("data", data, None, single=False) if data is not None else None
    dev = torch.device(device) if device is not None else model_device(model)
    if batch_size is not None:
        check_positive_int("batch_size", batch_size)
    batch = batch_size or default_batch_size(dev)
    samples = check_positive_int(
        "n_samples", n_samples if n_samples is not None else (len(x) if x is not None else 2000)
    )

    timings: dict[str, float] = {}
    start = time.perf_counter()
    with evaluating(model):
        t0 = time.perf_counter()
        if mode == "encoder":
            assert x is not None
            psi, z = encode_atlas(model, x, batch, dev, progress)
            chart_nodes = select_nodes(psi, z, eps, k, skip_small_charts)
            data_shape = tuple(x.shape[1:])
        else:
            chart_nodes = prior_nodes(
                model,
                max(1, samples // model.n_charts),
                eps,
                k,
                batch,
                dev,
                refine_steps=refine_steps,
                seed=seed,
                skip_small_charts=skip_small_charts,
                progress=progress,
            )
            z0 = torch.zeros(1, model.latent_dim, device=dev)
            data_shape = tuple(model.decode(z0, torch.zeros(1, dtype=torch.int64, device=dev)).shape[1:])
        timings["nodes"] = time.perf_counter() - t0
        if batch_size is None:  # choose by measurement: the best batch depends on the decoder and the machine
            sample = torch.from_numpy(np.concatenate(chart_nodes.latents)[:256])
            charts_of = np.repeat(chart_nodes.charts, [len(lat) for lat in chart_nodes.latents])[:256]
            batch = tune_batch_size(model.decode, sample, torch.from_numpy(charts_of), dev)
        native = assemble_graph(
            model,
            chart_nodes,
            k=k,
            n_steps=n_steps,
            batch_size=batch,
            device=dev,
            progress=progress,
            timings=timings,
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
        batch_size=batch,
        timings=timings,
    )
    graph._verified = weight_versions(model)
    register_graph(model, graph)
    if progress:
        tqdm.write(f"agm: built {graph!r} in {timings['total']:.1f}s")
    return graph


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
    return graph
