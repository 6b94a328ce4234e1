"""Lazy edge weights of a geodesic graph: exact where evaluated, the decoded chord (a lower bound) elsewhere.

Every intra-chart edge weighs at least its decoded chord ||G(z_u) - G(z_v)|| (the polyline of eq. 10 is never
shorter than the straight line between its ends), and the chord needs no decoding beyond the nodes'. A graph
built with ``weights="lazy"`` starts with every intra-chart edge at its chord (cross-chart edges are exact from
the start: their weight is the chord) and evaluates edges only when a query's path needs them (LazySP,
:mod:`agm.geodesic.query.lazysp`). Evaluated weights are kept here, handed to the native graph, and saved with the
graph (the file stores which edges are evaluated); ``GraphRecord.evaluate_all`` gives the eager graph.

Thread-safe: :meth:`GraphWeights.store` merges new weights under a lock and hands only the changed entries to the
native graph (``AtlasGraph.update_weights``: a new weights block that shares every page the change does not touch,
the A* consistency re-checked at those edges only); components do not depend on the weights. A store costs
O(changed edges): ``values`` and ``evaluated`` are written in place (a LazySP round on a 17.7M-edge graph used to
copy both, 150 MB, besides the native copy), and the count of evaluated edges is kept, so ``complete`` and
``fraction_evaluated`` are O(1). A reader that needs the mask as of an earlier moment takes ``version`` then and
asks :meth:`GraphWeights.pending` with ``as_of``: ``stamp`` records the store (version) that evaluated each edge.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from agm._core import AtlasGraph
from agm.geodesic.graph.curves import indexed_chords
from agm.geodesic.graph.pending_nodes import BLOCKED


class GraphWeights:
    """The weights of a graph's candidate edges and which of them are exact.

    Attributes:
        values: (n_edges,) float64, exact where ``evaluated``, the decoded chord elsewhere (written in place by
            :meth:`store`, under its lock; do not mutate).
        evaluated: (n_edges,) bool (written in place by :meth:`store`; do not mutate).
        stamp: (n_edges,) uint32: the ``version`` whose store evaluated the edge (0: before any store, or never:
            see ``evaluated``).
        version: the number of stores so far.
    """

    def __init__(self, native: AtlasGraph, evaluated: np.ndarray | None) -> None:
        self.native = native
        self.values: np.ndarray = native.weights
        n = self.values.shape[0]
        mask = np.ones(n, dtype=bool) if evaluated is None else np.array(evaluated, dtype=bool)  # our own copy
        if mask.shape != (n,):
            raise ValueError(f"evaluated must have shape ({n},); got {mask.shape}")
        self.evaluated: np.ndarray = mask
        self.stamp: np.ndarray = np.zeros(n, dtype=np.uint32)
        self.version = 0
        #: (n_edges,) bool: unevaluated edges whose chord was raised to a tighter bound (:meth:`raise_bounds`).
        self.bounded: np.ndarray = np.zeros(n, dtype=bool)
        n_intra = native.n_intra_edges
        self._n_evaluated = int(np.count_nonzero(mask))
        self._n_intra_evaluated = int(np.count_nonzero(mask[:n_intra]))
        self._lock = threading.Lock()
        self.edges: np.ndarray = native.edges
        self.edge_chart: np.ndarray = native.node_chart[self.edges[:, 0]]
        edges = self.edges
        keys = edges[:, 0] * native.n_nodes + edges[:, 1]
        self._order = np.argsort(keys, kind="stable")
        self._keys = keys[self._order]

    @property
    def complete(self) -> bool:
        """Whether every edge is evaluated (the eager graph); O(1)."""
        return self._n_evaluated == int(self.evaluated.shape[0])

    @property
    def fraction_evaluated(self) -> float:
        """Fraction of the intra-chart edges whose weight has been decoded (1.0 for an eager graph); O(1)."""
        n_intra = self.native.n_intra_edges
        return 1.0 if n_intra == 0 else self._n_intra_evaluated / n_intra

    @property
    def intra_pending(self) -> int:
        """Intra-chart edges not evaluated yet; O(1)."""
        return int(self.native.n_intra_edges) - self._n_intra_evaluated

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

    def pending(self, ids: np.ndarray, as_of: int | None = None) -> np.ndarray:
        """The edges among ``ids`` (int64, -1 ignored) that are not evaluated, unique and sorted; with ``as_of``
        (a ``version`` read earlier), those that were not evaluated then (evaluated by a later store included)."""
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        ids = ids[ids >= 0]
        waiting = ~self.evaluated[ids]
        if as_of is not None:
            waiting |= self.stamp[ids] > as_of
        out: np.ndarray = ids[waiting]
        return out

    def exact_as_of(self, ids: np.ndarray, as_of: int) -> np.ndarray:
        """(len(ids),) bool: whether each edge of ``ids`` (int64, in range) was evaluated by store ``as_of`` (a
        ``version`` read before a search: the native weights that search read are exact on those edges, since a
        store hands its weights to the native graph before it publishes its version)."""
        exact: np.ndarray = self.evaluated[ids] & (self.stamp[ids] <= as_of)
        return exact

    def store(self, ids: np.ndarray, weights: np.ndarray) -> None:
        """Record exact weights of edges ``ids`` and hand those entries to the native graph; O(len(ids)).

        Args:
            ids: (n,) edge ids (any integer dtype), unique, in [0, n_edges).
            weights: (n,) their exact weights (any float dtype; stored as float64), finite, >= 0.
        """
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        exact = np.ascontiguousarray(weights, dtype=np.float64)
        with self._lock:
            self.native.update_weights(ids, exact)  # checks ids and weights before anything here changes
            fresh = ids[~self.evaluated[ids]]
            self.version += 1
            self.values[ids] = exact
            self.evaluated[ids] = True
            self.stamp[fresh] = self.version
            self._n_evaluated += int(fresh.size)
            self._n_intra_evaluated += int(np.count_nonzero(fresh < self.native.n_intra_edges))

    def raise_bounds(self, ids: np.ndarray, bounds: np.ndarray) -> None:
        """Raise the lower bounds of unevaluated edges ``ids`` to ``bounds`` where higher (evaluated edges and lower
        bounds are left as they are) and hand them to the native graph; marks them ``bounded``. Not a store: the
        edges stay unevaluated and ``version`` is unchanged (a search on either bound is still a search on lower
        bounds, so the LazySP argument holds whichever it read).

        Args:
            ids: (n,) edge ids, unique, in [0, n_edges).
            bounds: (n,) valid lower bounds of their weights (float), finite, >= 0.
        """
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        bounds = np.ascontiguousarray(bounds, dtype=np.float64)
        with self._lock:
            keep = ~self.evaluated[ids]
            ids, bounds = ids[keep], bounds[keep]
            higher = bounds > self.values[ids]
            self.bounded[ids] = True
            ids, bounds = ids[higher], bounds[higher]
            if ids.size:
                self.native.update_weights(ids, bounds)
                self.values[ids] = bounds

    def unblock(self, ids: np.ndarray, chords: np.ndarray) -> None:
        """Give unevaluated edges ``ids`` still at :data:`agm.geodesic.graph.pending_nodes.BLOCKED` their chords (both
        ends now decoded; a graph with nodes decoded on demand) and hand them to the native graph. Not a store: the
        edges stay unevaluated and ``version`` is unchanged.

        Args:
            ids: (n,) edge ids, unique, in [0, n_edges).
            chords: (n,) float, the decoded chords ||G(z_u) - G(z_v)||, finite, >= 0.
        """
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        chords = np.ascontiguousarray(chords, dtype=np.float64)
        with self._lock:
            keep = ~self.evaluated[ids] & (self.values[ids] >= BLOCKED)
            ids, chords = ids[keep], chords[keep]
            if ids.size:
                self.native.update_weights(ids, chords)
                self.values[ids] = chords


def chord_weights(native: AtlasGraph, positions: torch.Tensor) -> np.ndarray:
    """(n_edges,) float64 decoded chords of every candidate edge, from (n_nodes, D) float32 node decodings."""
    ends = torch.from_numpy(native.edges).to(positions.device)
    out: np.ndarray = indexed_chords(positions, ends[:, 0], ends[:, 1]).cpu().numpy()
    return out
