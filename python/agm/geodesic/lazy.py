"""Lazy edge weights of a geodesic graph: exact where evaluated, the decoded chord (a lower bound) elsewhere.

Every intra-chart edge weighs at least its decoded chord ||G(z_u) - G(z_v)|| (the polyline of eq. 10 is never
shorter than the straight line between its ends), and the chord needs no decoding beyond the nodes'. A graph
built with ``weights="lazy"`` starts with every intra-chart edge at its chord (cross-chart edges are exact from
the start: their weight is the chord) and evaluates edges only when a query's path needs them (LazySP,
:mod:`agm.geodesic.lazysp`). Evaluated weights are kept here, handed to the native graph, and saved with the
graph (the file stores which edges are evaluated); ``GeodesicGraph.evaluate_all`` gives the eager graph.

Thread-safe: :meth:`GraphWeights.store` merges new weights under a lock and hands only the changed entries to the
native graph (``AtlasGraph.update_weights``: a new weights block swapped in, the A* consistency re-checked at those
edges only); components do not depend on the weights.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch

from agm._core import AtlasGraph
from agm.geodesic.curves import PointTable, chord_lengths, packed_lengths
from agm.geodesic.policy import DecodePolicy, applied


class GraphWeights:
    """The weights of a graph's candidate edges and which of them are exact.

    Attributes:
        values: (n_edges,) float64, exact where ``evaluated``, the decoded chord elsewhere (do not mutate).
        evaluated: (n_edges,) bool.
    """

    def __init__(self, native: AtlasGraph, evaluated: np.ndarray | None) -> None:
        self.native = native
        self.values: np.ndarray = native.weights
        n = self.values.shape[0]
        self.evaluated: np.ndarray = np.ones(n, dtype=bool) if evaluated is None else np.asarray(evaluated, bool)
        if self.evaluated.shape != (n,):
            raise ValueError(f"evaluated must have shape ({n},); got {self.evaluated.shape}")
        self._lock = threading.Lock()
        self.edges: np.ndarray = native.edges
        self.edge_chart: np.ndarray = native.node_chart[self.edges[:, 0]]
        edges = self.edges
        keys = edges[:, 0] * native.n_nodes + edges[:, 1]
        self._order = np.argsort(keys, kind="stable")
        self._keys = keys[self._order]

    @property
    def complete(self) -> bool:
        """Whether every edge is evaluated (the eager graph)."""
        return bool(self.evaluated.all())

    @property
    def fraction_evaluated(self) -> float:
        """Fraction of the intra-chart edges whose weight has been decoded (1.0 for an eager graph)."""
        n_intra = self.native.n_intra_edges
        return 1.0 if n_intra == 0 else float(self.evaluated[:n_intra].mean())

    def edge_ids(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Edge ids (int64, -1 where there is no edge) of the node pairs (u[i], v[i]), any shape, -1 allowed."""
        n = self.native.n_nodes
        a, b = np.minimum(u, v).astype(np.int64), np.maximum(u, v).astype(np.int64)
        if self._keys.size == 0:
            return np.full(a.shape, -1, dtype=np.int64)
        want = a * n + b
        pos = np.clip(np.searchsorted(self._keys, want), 0, self._keys.size - 1)
        found = (a >= 0) & (a != b) & (self._keys[pos] == want)
        return np.where(found, self._order[pos], -1).astype(np.int64)

    def pending(self, ids: np.ndarray) -> np.ndarray:
        """The edges among ``ids`` (int64, -1 ignored) that are not evaluated, unique and sorted."""
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        ids = ids[ids >= 0]
        out: np.ndarray = ids[~self.evaluated[ids]]
        return out

    def store(self, ids: np.ndarray, weights: np.ndarray) -> None:
        """Record exact weights of edges ``ids`` and hand those entries to the native graph.

        Args:
            ids: (n,) edge ids (any integer dtype), unique, in [0, n_edges).
            weights: (n,) their exact weights (any float dtype; stored as float64), finite, >= 0.
        """
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        with self._lock:
            values = self.values.copy()
            values[ids] = weights
            evaluated = self.evaluated.copy()
            evaluated[ids] = True
            self.native.update_weights(ids, np.ascontiguousarray(values[ids]))
            self.values, self.evaluated = values, evaluated


def chord_weights(native: AtlasGraph, positions: torch.Tensor) -> np.ndarray:
    """(n_edges,) float64 decoded chords of every candidate edge, from (n_nodes, D) float32 node decodings."""
    ends = torch.from_numpy(native.edges).to(positions.device)
    out = np.empty(ends.shape[0], dtype=np.float64)
    step = 65536  # bounded memory: 64k edges x D floats at a time
    for s in range(0, ends.shape[0], step):
        e = ends[s : s + step]
        out[s : s + e.shape[0]] = chord_lengths(positions[e[:, 0]], positions[e[:, 1]]).cpu().numpy()
    return out


def evaluate_edges(
    model: Any,
    table: PointTable,
    native: AtlasGraph,
    weights: GraphWeights,
    ids: np.ndarray,
    n_steps: int,
    policy: DecodePolicy,
    progress: bool = False,
) -> int:
    """Decode the exact weights of intra-chart edges ``ids`` (packed calls) and store them (under ``evaluating``).

    Args:
        table: the graph's node latents, decodings and charts on the decoder's device.
        ids: edge ids (unevaluated ones; evaluated or cross-chart ones are skipped).

    Returns:
        The number of edges evaluated.
    """
    ids = weights.pending(ids)
    ids = ids[ids < native.n_intra_edges]
    if ids.size == 0:
        return 0
    ids = ids[np.argsort(weights.edge_chart[ids], kind="stable")]  # single-chart calls
    ends = torch.from_numpy(weights.edges[ids]).to(table.latents.device)
    with applied(policy):
        lengths = packed_lengths(model.decode, table, ends, n_steps, policy.batch_size, progress=progress)
    weights.store(ids, lengths.cpu().numpy())
    return int(ids.size)
