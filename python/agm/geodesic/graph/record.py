"""The graph of Algorithm 1 for one model: the record that queries read (built by :mod:`agm.geodesic.graph.build`).

The native core (``agm._core.AtlasGraph``) holds the per-chart k-d trees, the candidate edges, the CSR adjacency
and the searches; this record adds what needs the model: which model it belongs to (fingerprint), how nodes were
made (node mode), the build parameters, and in-memory copies of the node latents and decodings read once.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from agm._core import AtlasGraph
from agm.geodesic.graph.fingerprint import ModelCheck
from agm.geodesic.graph.modes import MODES, NodeMode
from agm.geodesic.graph.node_trial import NodeTrial
from agm.geodesic.graph.pending_nodes import PendingNodes
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.graph.policy_watch import PolicyWatch
from agm.geodesic.graph.weights import GraphWeights
from agm.models.protocol import SemiAtlasModel, model_device

#: How a query point is attached (:mod:`agm.geodesic.query.attach`): "all": in every chart with psi > eps (the
#: package's default, which can only shorten paths); "paper": only in its most likely chart, the paper's (z0, y0).
AttachRule = Literal["all", "paper"]
ATTACH_RULES: tuple[str, ...] = ("all", "paper")


class GraphRecord:
    """The graph of Algorithm 1 for one model: what the queries read (the user holds it in a
    :class:`agm.geodesic.GraphRecord`, beside its model).

    Attributes:
        native: the ``agm._core.AtlasGraph`` (nodes, edges, weights, decoded positions, searches).
        latents: (n_nodes, d) float32, the latent point of every node in its chart.
        node_chart: (n_nodes,) int64, the model chart of every node.
        charts: model chart of each native chart (charts with too few points may be skipped).
        eps, k, n_steps: the build parameters (``n_steps``: segments per edge, eq. 10).
        node_mode: how nodes were made and query points are located (:mod:`agm.geodesic.graph.modes`).
        search_steps: iterations of the decoder mode's latent search (its ``node_mode``; 0 for encoder nodes).
        decode_policy: how the decoder runs (threads, batch size; :mod:`agm.geodesic.graph.policy`), chosen at build
            time (on a graph whose nodes are decoded on demand, by its queries' node decodes:
            :mod:`agm.geodesic.graph.node_trial`) and stored in the graph file; None for a file written before
            policies were stored.
        edge_weights: the edge weights and which are exact (:mod:`agm.geodesic.graph.weights`; all for an eager graph).
        data_shape: S, the shape of one data point.
        fingerprint: identifies the model the graph was built for (see ``agm.geodesic.graph.fingerprint``).
        timings: seconds spent in each build stage (empty for a loaded graph).
        attach: the query points' attachment rule of the graph's queries, "all" or "paper" (:data:`AttachRule`).
        pending_nodes: while some nodes of a graph built with ``node_decodes="on_demand"`` are not decoded, which
            are (:mod:`agm.geodesic.graph.pending_nodes`); None once every node is decoded (every other graph).
        policy_trial: the trial that is to choose the decode policy of a graph built with nodes decoded on demand and
            no known policy (:mod:`agm.geodesic.graph.node_trial`); None once it has chosen (every other graph).
        watch_policy: whether bulk edge decodes watch the decode policy (:mod:`agm.geodesic.graph.policy_watch`):
            True unless the build was given it (kept in the graph file).
        policy_watch: the watch of the decode policy once bulk edge decodes made one (in memory only), else None.
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
        nodes: str | NodeMode = "encoder",
        timings: dict[str, float] | None = None,
        latents: np.ndarray | None = None,
        positions: np.ndarray | None = None,
        evaluated: np.ndarray | None = None,
        decode_policy: DecodePolicy | None = None,
        attach: str = "all",
        pending_nodes: PendingNodes | None = None,
        policy_trial: NodeTrial | None = None,
    ) -> None:
        if attach not in ATTACH_RULES:
            raise ValueError(f"attach must be one of {ATTACH_RULES}; got {attach!r}")
        self.attach = attach
        self.native = native
        self.node_mode: NodeMode = MODES[nodes] if isinstance(nodes, str) else nodes
        self.decode_policy = decode_policy
        self.edge_weights = GraphWeights(native, evaluated)
        self.charts = tuple(int(c) for c in charts)
        self.eps, self.k, self.n_steps = float(eps), int(k), int(n_steps)
        self.data_shape = tuple(int(s) for s in data_shape)
        self.model_check = ModelCheck(fingerprint)
        self.timings = dict(timings or {})
        self._native_chart = {c: i for i, c in enumerate(self.charts)}
        self._native_of_model = np.full(max(self.charts) + 1, -1, dtype=np.int64)  # model chart -> native chart
        self._native_of_model[list(self.charts)] = np.arange(len(self.charts))
        # The native properties return copies: read each once (or take the builder's), queries gather from these.
        self.latents: np.ndarray = np.asarray(native.latents if latents is None else latents, dtype=np.float32)
        self._native_node_chart = native.node_chart
        self.node_chart: np.ndarray = np.asarray(self.charts, dtype=np.int64)[self._native_node_chart]
        self.node_point: np.ndarray = native.node_point
        self._positions: np.ndarray | None = positions
        self.pending_nodes: PendingNodes | None = pending_nodes
        self.policy_trial: NodeTrial | None = policy_trial
        self.watch_policy = True
        self.policy_watch: PolicyWatch | None = None
        self._node_of: np.ndarray | None = None
        self._points: np.ndarray = np.empty(0, dtype=np.int64)

    @property
    def search_steps(self) -> int:
        """Iterations of the decoder mode's latent search (0 for encoder nodes)."""
        return int(self.node_mode.search_steps)

    @property
    def nodes(self) -> str:
        """The node mode's name: "encoder" (encoded data points) or "decoder" (matched prior samples)."""
        return self.node_mode.name

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
        """(n_nodes, D) float32: the decoding of every node (the A* heuristic's positions; read once, cached). While
        ``pending_nodes`` is set, only its ``decoded`` rows are decodings (the others are 0)."""
        if self._positions is None:
            self._positions = np.asarray(self.native.positions)
        return self._positions

    def native_chart(self, chart: int) -> int | None:
        """Index of a model chart among the graph's charts (None when the chart was skipped)."""
        return self._native_chart.get(int(chart))

    def node_at(self, points: np.ndarray, charts: np.ndarray) -> np.ndarray:
        """Node ids (int64, -1 where none) of data points ``points`` in model charts ``charts`` (same shape)."""
        # Sorted keys (point rank, native chart) -> node: O(n_nodes) memory whatever the point ids (a table
        # indexed by point id would be as large as the largest id, which a graph file may state as 2**62).
        if self._node_of is None:
            self._points = np.unique(self.node_point)
            keys = np.searchsorted(self._points, self.node_point) * len(self.charts) + self._native_node_chart
            order = np.argsort(keys, kind="stable")
            self._node_of = np.stack([keys[order], order.astype(np.int64)])
        flat_charts = np.ravel(charts).astype(np.int64)
        known = (flat_charts >= 0) & (flat_charts < self._native_of_model.size)
        native = np.where(known, self._native_of_model[np.where(known, flat_charts, 0)], -1)
        flat_points = np.ravel(points).astype(np.int64)
        rank = np.minimum(np.searchsorted(self._points, flat_points), max(self._points.size - 1, 0))
        ok = (native >= 0) & (self._points.size > 0) & (self._points[rank] == flat_points)
        key = rank * len(self.charts) + native
        at = np.minimum(np.searchsorted(self._node_of[0], key), max(self._node_of.shape[1] - 1, 0))
        ok &= self._node_of[0][at] == key
        out = np.full(flat_points.shape, -1, dtype=np.int64)
        out[ok] = self._node_of[1][at[ok]]
        return out.reshape(np.shape(points))

    def edge_weight(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Weights (float64, inf where there is no edge) of the node pairs (u[i], v[i]), any shape, -1 allowed."""
        ids = self.edge_weights.edge_ids(u, v)
        return np.where(ids >= 0, self.edge_weights.values[np.maximum(ids, 0)], np.inf)

    @property
    def weights_evaluated(self) -> float:
        """Fraction of intra-chart edge weights decoded: 1.0 for an eager graph, grows with a lazy one's queries."""
        return self.edge_weights.fraction_evaluated

    def stats(self, diameter: Literal["auto", "exact"] = "auto") -> dict[str, int]:
        """Table 1's statistics: nodes, edges (intra and cross-chart), components, largest component, the hop
        diameter, plus the charts kept.

        Args:
            diameter: "auto" bounds the hop diameter with a budget of breadth-first searches
                (``native.default_diameter_budget``, a fraction of the graph build's cost): exact for graphs of
                the paper's size and most others, bounds only on large graphs whose eccentricities are nearly all
                close to the diameter. "exact" computes it whatever it costs (cached in the graph).

        Returns:
            n_nodes, n_edges, n_intra_edges, n_cross_edges, n_components, largest_component, n_charts;
            diameter_lower <= diameter_upper (hops), and diameter_hops, the exact diameter, when they are equal
            (always with ``diameter="exact"``).

        Raises:
            ValueError: ``diameter`` is neither "auto" nor "exact".
        """
        out = dict(self.native.stats(diameter=diameter))
        out["n_charts"] = len(self.charts)
        return out

    def __repr__(self) -> str:
        return (
            f"GraphRecord(charts={len(self.charts)}, n_nodes={self.n_nodes}, n_edges={self.n_edges}, "
            f"k={self.k}, eps={self.eps}, n_steps={self.n_steps}, node_mode={self.nodes!r}, attach={self.attach!r}, "
            f"data_shape={self.data_shape})"
        )

    # -- model check ---------------------------------------------------------------------------------------
    def check_model(self, model: SemiAtlasModel, device: torch.device | None = None) -> None:
        """Raise ValueError unless ``model`` is (behaviourally) the model the graph was built for.

        The full fingerprint is recomputed only when the model's weights may have changed since the last check.
        """
        if not self.model_check.matches(model, device or model_device(model)):
            raise ValueError(
                f"this graph was built for another model ({self.fingerprint.get('class')}, "
                f"{self.fingerprint.get('n_charts')} charts), or the model's weights changed since; "
                "rebuild it with agm.geodesic.build_graph(model, data)"
            )

    @property
    def fingerprint(self) -> dict[str, Any]:
        """The fingerprint of the model the graph was built for (see ``agm.geodesic.graph.fingerprint``)."""
        return self.model_check.fingerprint
