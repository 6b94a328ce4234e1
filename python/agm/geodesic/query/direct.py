"""The direct edges between the two query points of a geodesic (Chen et al.: both points are added to the graph).

Added to the graph, x0 and x1 are candidates of each other's k nearest neighbours in every chart c they share:
x1 is a neighbour of x0's copy in chart c when it is within the k nearest of that copy among the chart's nodes
plus x1's copy, or vice versa (the k-NN graph is symmetrised), i.e. when ||F_c(x0) - F_c(x1)|| is at most the
larger of the two copies' distances to their k-th nearest node. The edge has the curve-length weight of eq. 10.

A simple path that uses the edge x0 - x1 is that edge alone, so the geodesic is the shorter of the graph search's
path and the cheapest direct route jump(main0 -> copy0_c) + length(copy0_c -> copy1_c) + jump(copy1_c -> main1)
(:mod:`agm.geodesic.query.search`). Two bitwise-equal copies are joined at length exactly 0, so d(x, x) = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from agm.geodesic.graph.curves import PointTable, interior_decodings
from agm.geodesic.graph.record import GraphRecord
from agm.geodesic.query.attach import Attachments


@dataclass(frozen=True)
class DirectEdges:
    """Direct edges of B query pairs, ragged.

    Attributes:
        offsets: (B+1,) int64; the direct edges of pair b are ``offsets[b]:offsets[b+1]``.
        source_copy, target_copy: (E,) int64 copy index (into the source / target attachments) of each edge's ends.
        chart: (E,) int64 model chart of each edge.
        length: (E,) float64 curve length of each edge (eq. 10), 0 for bitwise-equal latents, where
            ``evaluated``; its decoded chord (a lower bound) elsewhere.
        evaluated: (E,) bool.
    """

    offsets: np.ndarray
    source_copy: np.ndarray
    target_copy: np.ndarray
    chart: np.ndarray
    length: np.ndarray
    evaluated: np.ndarray

    def of(self, b: int) -> range:
        """The direct edges of pair b."""
        return range(int(self.offsets[b]), int(self.offsets[b + 1]))

    def route_costs(self, src: Attachments, dst: Attachments, edges: np.ndarray) -> np.ndarray:
        """(n,) float64 the cost of the direct route through each of ``edges`` ((n,) int64): the jump from the source
        query's main copy to its copy in the edge's chart, the edge's length (its bound while unevaluated) and the
        jump from the target's copy to its main copy."""
        out: np.ndarray = (
            src.copy_jump[self.source_copy[edges]] + self.length[edges] + dst.copy_jump[self.target_copy[edges]]
        )
        return out


def _candidates(src: Attachments, dst: Attachments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets and copy pairs of the shared charts in which the two queries are each other's k-NN candidates."""
    offsets, pairs_s, pairs_t = [0], [], []
    for b in range(src.n_queries):
        for i in src.copies(b):
            for j in dst.copies(b):
                if src.copy_chart[i] != dst.copy_chart[j]:
                    continue
                gap = float(np.linalg.norm(src.copy_latent[i].astype(np.float64) - dst.copy_latent[j]))
                if gap <= max(float(src.copy_reach[i]), float(dst.copy_reach[j])):
                    pairs_s.append(i)
                    pairs_t.append(j)
        offsets.append(len(pairs_s))
    return np.asarray(offsets, dtype=np.int64), np.asarray(pairs_s, dtype=np.int64), np.asarray(pairs_t, dtype=np.int64)


def direct_edges(graph: GraphRecord, src: Attachments, dst: Attachments) -> DirectEdges:
    """The direct edges of the pairs (src query b, dst query b), at their decoded chords (lower bounds; exact for
    n_steps = 1 and 0 for bitwise-equal latents): :class:`DirectEdgeKind` decodes the ones a route needs."""
    offsets, si, ti = _candidates(src, dst)
    same = np.all(src.copy_latent[si] == dst.copy_latent[ti], axis=1) if si.size else np.zeros(0, dtype=bool)
    chord = torch.linalg.vector_norm(
        torch.from_numpy(src.copy_position[si]) - torch.from_numpy(dst.copy_position[ti]), dim=1
    ).double()
    length = np.where(same, 0.0, chord.numpy())
    evaluated = same | (interior_decodings(graph.n_steps) == 0)
    return DirectEdges(
        offsets=offsets, source_copy=si, target_copy=ti, chart=src.copy_chart[si], length=length, evaluated=evaluated
    )


@dataclass(frozen=True)
class PairEnds:
    """What one round of a call's queries joins: the graph, the source and target attachments (row b: pair b) and
    the pairs' direct edges. The one record the route choice and LazySP pass instead of their four arrays."""

    graph: GraphRecord
    src: Attachments
    dst: Attachments
    direct: DirectEdges


@dataclass(frozen=True)
class DirectEdgeKind:
    """The direct edges of ``direct`` (between the copies of ``src`` and ``dst``) as an
    :class:`~agm.geodesic.graph.edge_kinds.EdgeKind`, stored in ``direct`` in place."""

    src: Attachments
    dst: Attachments
    direct: DirectEdges

    def pending(self, edges: np.ndarray) -> np.ndarray:
        """The edges not evaluated yet."""
        return np.asarray(edges[~self.direct.evaluated[edges]])

    def charts(self, edges: np.ndarray) -> np.ndarray:
        """The chart each edge lies in."""
        return np.asarray(self.direct.chart[edges])

    def ends(self, edges: np.ndarray, device: torch.device) -> tuple[PointTable, torch.Tensor]:
        """A table of the edges' source copies then their target copies, and each edge's (i, E + i)."""
        a, b = self.direct.source_copy[edges], self.direct.target_copy[edges]
        src, dst = self.src, self.dst
        table = PointTable(
            latents=torch.from_numpy(np.concatenate([src.copy_latent[a], dst.copy_latent[b]])).to(device),
            positions=torch.from_numpy(np.concatenate([src.copy_position[a], dst.copy_position[b]])).to(device),
            charts=torch.from_numpy(np.concatenate([src.copy_chart[a], dst.copy_chart[b]])).to(device),
        )
        n = edges.size
        return table, torch.stack([torch.arange(n), torch.arange(n, 2 * n)], dim=1).to(device)

    def store(self, edges: np.ndarray, lengths: np.ndarray) -> None:
        """Lengths and evaluated flags of ``direct``."""
        self.direct.length[edges] = lengths
        self.direct.evaluated[edges] = True

    def raise_bounds(self, edges: np.ndarray, bounds: np.ndarray) -> None:
        """Lengths of ``direct`` raised to the bounds where higher; the edges stay unevaluated."""
        self.direct.length[edges] = np.maximum(self.direct.length[edges], bounds)
