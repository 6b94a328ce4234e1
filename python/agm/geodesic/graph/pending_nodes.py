"""Which nodes of a graph built with ``node_decodes="on_demand"`` are decoded yet, and the edges each one touches.

Such a graph starts with no node decoded (:mod:`agm.geodesic.graph.node_positions` decodes them as queries need
them). An edge with an undecoded end has no chord yet: the native graph, which takes finite weights only, holds it
at :data:`BLOCKED`, so that its searches go round it while any route through decoded nodes exists; a query never
trusts such a weight as a bound, and certifies its routes instead (:mod:`agm.geodesic.query.on_demand`).

Floor: :mod:`agm.geodesic.graph` (numpy and the native graph only).
"""

from __future__ import annotations

import threading

import numpy as np

from agm._core import AtlasGraph

#: The native weight of an edge with an undecoded end (no route of a real graph comes near it).
BLOCKED = 1e30


class PendingNodes:
    """The decoded-node mask of a graph whose nodes are decoded on demand, with its node -> edge incidence.

    Attributes:
        decoded: (n_nodes,) bool, written under ``lock`` by :func:`agm.geodesic.graph.node_positions.ensure_positions`.
        offsets: (n_nodes + 1,) int64; the edges of node v are ``edge_of[offsets[v]:offsets[v + 1]]``.
        edge_of: (2 n_edges,) int64 edge ids, grouped by node.
        other_end: (2 n_edges,) int64, the other end of each of those edges.
        lock: serialises decodings (concurrent queries decode each node once).
    """

    def __init__(self, native: AtlasGraph) -> None:
        edges = native.edges
        n, e = int(native.n_nodes), int(edges.shape[0])
        ends = np.concatenate([edges[:, 0], edges[:, 1]])
        order = np.argsort(ends, kind="stable")
        self.decoded: np.ndarray = np.zeros(n, dtype=bool)
        self.offsets: np.ndarray = np.searchsorted(ends[order], np.arange(n + 1)).astype(np.int64)
        self.edge_of: np.ndarray = np.tile(np.arange(e, dtype=np.int64), 2)[order]
        self.other_end: np.ndarray = np.concatenate([edges[:, 1], edges[:, 0]])[order].astype(np.int64)
        self.lock = threading.Lock()

    def _rows(self, nodes: np.ndarray) -> np.ndarray:
        """Positions in ``edge_of`` / ``other_end`` of every edge of ``nodes`` (int64, in node order)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        starts, stops = self.offsets[nodes], self.offsets[nodes + 1]
        counts = stops - starts
        if counts.sum() == 0:
            return np.zeros(0, dtype=np.int64)
        base = np.repeat(starts - np.cumsum(counts) + counts, counts)
        out: np.ndarray = base + np.arange(int(counts.sum()), dtype=np.int64)
        return out

    def incident(self, nodes: np.ndarray) -> np.ndarray:
        """(m,) int64 unique ids of the edges with an end in ``nodes``."""
        return np.unique(self.edge_of[self._rows(nodes)])

    def undecoded_neighbours(self, nodes: np.ndarray) -> np.ndarray:
        """(m,) int64 unique undecoded nodes joined to ``nodes`` by an edge."""
        other = self.other_end[self._rows(nodes)]
        return np.unique(other[~self.decoded[other]])

    def has_undecoded_neighbour(self, nodes: np.ndarray) -> np.ndarray:
        """(len(nodes),) bool."""
        nodes = np.asarray(nodes, dtype=np.int64)
        rows = self._rows(nodes)
        owner = np.repeat(np.arange(nodes.size), self.offsets[nodes + 1] - self.offsets[nodes])
        out = np.zeros(nodes.size, dtype=bool)
        out[owner[~self.decoded[self.other_end[rows]]]] = True
        return out
