"""Which nodes a query must decode on a graph whose nodes are decoded on demand, so that its routes are exact.

On such a graph (:mod:`agm.geodesic.graph.node_positions`) the searches see only the decoded nodes: an edge with an
undecoded end weighs :data:`agm.geodesic.graph.pending_nodes.BLOCKED`. LazySP (:mod:`agm.geodesic.query.lazysp`)
asks :func:`frontier_nodes` at the start of each round, with each pending pair's shortest length under the round's
weights: the nodes u of K with g_K(u) + ||G(u) - G(x1)|| below the pair's budget (its shortest length S times
1 + tau, the fewest-switch rule's, so that the rule also sees every competitor) that have an undecoded neighbour
(a bounded Dijkstra per pair from its virtual source, scipy). Any route that leaves K at such a node u costs at
least g_K(u) + ||G(u) - G(x1)||, its cost to u through K plus the straight line to x1's main copy (every edge weighs
at least its chord, attachments and jumps included); so when no such node is left, the pair's route among K is the
graph's. The round decodes their undecoded neighbours and searches again before any edge is decoded. A pair
finishes in a round whose check found nothing with its exact length; nodes decoded later for other pairs lie
outside the set that check certified, so its route stays the graph's.

Floor: :mod:`agm.geodesic.query` (the record and the query's attachments; below LazySP).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from agm.geodesic.graph.record import GraphRecord
from agm.geodesic.query.attach import Attachments

#: Relative margin on a pair's budget (float32 decodings: chords and the heuristic round at ~1e-7).
MARGIN = 1e-5


def frontier_nodes(
    graph: GraphRecord, src: Attachments, dst: Attachments, pairs: np.ndarray, costs: np.ndarray, tolerance: float
) -> np.ndarray:
    """(m,) int64 undecoded nodes that a route of pairs ``pairs`` within its budget could pass (empty: every route
    found among the decoded nodes is the graph's); see the module docstring.

    Args:
        src, dst: the source and target attachments of all pairs (all attached nodes decoded).
        pairs: (P,) int64 the pairs to look at.
        costs: (P,) float64 their shortest lengths among the decoded nodes, exact (a pair's last round) or lower
            bounds (a LazySP round's: the budget is then smaller than the final one, and a later check decodes the
            rest); inf: skipped.
        tolerance: tau, the fewest-switch rule's relative budget.
    """
    pending = graph.pending_nodes
    keep = np.isfinite(costs)
    pairs, costs = np.asarray(pairs, dtype=np.int64)[keep], costs[keep]
    if pending is None or pairs.size == 0:
        return np.zeros(0, dtype=np.int64)
    n = graph.n_nodes
    matrix = _augmented(graph, src, pairs.tolist())
    out: list[np.ndarray] = []
    for row, (b, shortest) in enumerate(zip(pairs.tolist(), costs.tolist())):
        budget = float(shortest) * (1.0 + tolerance) * (1.0 + MARGIN)
        dist = dijkstra(matrix, indices=n + row, limit=budget)[:n]
        reached = np.flatnonzero(np.isfinite(dist) & pending.decoded)
        goal = dst.copy_position[dst.copy_offsets[b]].astype(np.float64)
        h = np.linalg.norm(graph.positions[reached].astype(np.float64) - goal, axis=1)
        inside = reached[dist[reached] + h < budget]
        boundary = inside[pending.has_undecoded_neighbour(inside)]
        if boundary.size:
            out.append(pending.undecoded_neighbours(boundary))
    return np.unique(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)


def _augmented(graph: GraphRecord, src: Attachments, pairs: list[int]) -> sp.csr_array:
    """The graph's current weights (blocked edges included: the budgets stop short of them) plus one virtual source
    per pair (row n + i for ``pairs[i]``) with an edge to each of its attachment nodes at its cost."""
    n = graph.n_nodes
    edges = graph.edge_weights.edges
    w = np.maximum(graph.edge_weights.values, 1e-300)  # scipy drops explicit zeros: d(x, x) = 0 edges stay edges
    rows = [edges[:, 0], edges[:, 1]]
    cols = [edges[:, 1], edges[:, 0]]
    data = [w, w]
    for i, b in enumerate(pairs):
        e = np.arange(src.offsets[b], src.offsets[b + 1])
        rows.append(np.full(e.size, n + i, dtype=np.int64))
        cols.append(src.nodes[e].astype(np.int64))
        data.append(np.maximum(src.costs[e], 1e-300))
    size = n + len(pairs)
    coo = sp.coo_array((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size))
    return coo.tocsr()
