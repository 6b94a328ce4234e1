"""Query points of a geodesic: encode them and attach them to their k nearest nodes in each of their charts.

As in Chen et al., the two query points are added to the graph. Like a data point of the graph, a query point x
gets one copy per chart y of the graph with psi_y(x) > eps: the latent F_y(x) and the decoding G_y(F_y(x)). Each
copy is joined to its k nearest nodes of chart y with the same curve-length weight as graph edges, and the copies
are joined to x's *main* copy, the one in its most likely chart argmax_y psi_y(x) (always kept), with the
cross-chart weight ||G_i F_i(x) - G_j F_j(x)||. The two query points of one geodesic are also candidates of each
other's k nearest neighbours in every chart they share (see :mod:`agm.geodesic.query.direct`).

Distances are symmetric and d(x, x) = 0. Each query adds only its own two points, so different queries are
measured in different graphs: routes through graph nodes obey the triangle inequality (one graph, virtual ends),
but with direct edges a triple of close points can violate it, e.g. a - b and b - c joined directly while a and
c, further apart, are not each other's neighbours (measured on the cylinder, k = 10, 1000 points: 176 of 300
collinear triples spaced 0.03-0.15 apart, the worst by 52% of d(a, c); triples of random points: none).

Two extensions of the paper's rule, both of which can only shorten paths: a query point is attached in *every*
chart with psi > eps (the paper attaches it where it is encoded, its most likely chart: ``attach="paper"`` on
``build_graph`` or on a query gives that rule), and it keeps all k nearest graph nodes even when
the other query point is nearer than the k-th of them (the graph's own edges are never removed by a query).

Attachment weights are lazy (issue 12, section 2): every attachment edge starts at its decoded chord
||G(copy) - G(node)||, a lower bound of its curve length that needs no decoding beyond the copy's, and is decoded
(``AttachmentEdgeKind`` through :func:`agm.geodesic.graph.edge_kinds.evaluate`) only when a search's path uses
it; the queries repeat the search until every edge of the path found is exact (:mod:`agm.geodesic.query.lazysp`),
so the result equals the eager search's.

For the native search a query point is a virtual node: its attachment to node u of chart y costs the curve length
from its copy in y to u, plus the cross-chart jump from the main copy to the copy in y. The shared graph is never
mutated, so concurrent queries are safe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agm.geodesic.graph.curves import PointTable, chord_lengths, chunk_rows, decode_points, interior_decodings
from agm.geodesic.graph.node_positions import ensure_positions
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.graph.record import GraphRecord
from agm.models.protocol import SemiAtlasModel


@dataclass(frozen=True)
class Attachments:
    """Copies and attachment edges of B query points, as ragged (CSR-style) arrays.

    Attributes:
        copy_offsets: (B+1,) int64; the copies of query b are ``copy_offsets[b]:copy_offsets[b+1]``, its main
            copy (most likely chart) first.
        copy_chart: (C,) int64 model chart of each copy.
        copy_latent: (C, d) float32 latent of each copy in its chart.
        copy_position: (C, D) float32 decoding of each copy (the goals of the A* heuristic).
        copy_jump: (C,) float64 cross-chart weight from the query's main copy to each copy (0 for the main copy).
        copy_reach: (C,) float64 latent distance from each copy to its k-th nearest node of its chart (another
            query point's copy nearer than this is one of its k nearest neighbours).
        offsets: (B+1,) int64; the attachment edges of query b are ``offsets[b]:offsets[b+1]``.
        nodes: (A,) int64 graph node of each attachment edge.
        segments: (A,) float64 curve length of each attachment edge (copy -> node, eq. 10) where ``evaluated``,
            its decoded chord (a lower bound) elsewhere; updated in place when evaluated (:class:`AttachmentEdgeKind`).
        costs: (A,) float64 cost of each attachment edge from the main copy: ``segments`` plus the jump from the
            main copy to the edge's copy.
        evaluated: (A,) bool, whether ``segments`` holds the curve length.
    """

    copy_offsets: np.ndarray
    copy_chart: np.ndarray
    copy_latent: np.ndarray
    copy_position: np.ndarray
    copy_jump: np.ndarray
    copy_reach: np.ndarray
    offsets: np.ndarray
    nodes: np.ndarray
    segments: np.ndarray
    costs: np.ndarray
    evaluated: np.ndarray

    @property
    def n_queries(self) -> int:
        """B, the number of query points."""
        return int(self.copy_offsets.shape[0] - 1)

    def copies(self, b: int) -> range:
        """Indices of query b's copies (its main copy first)."""
        return range(int(self.copy_offsets[b]), int(self.copy_offsets[b + 1]))

    def copy_of(self, b: int, chart: int) -> int:
        """Index of query b's copy in a model chart (ValueError when it has none there)."""
        lo, hi = self.copy_offsets[b], self.copy_offsets[b + 1]
        found = np.flatnonzero(self.copy_chart[lo:hi] == chart)
        if found.size == 0:
            raise ValueError(f"query {b} has no copy in chart {chart}")
        return int(lo + found[0])

    def main_chart(self, b: int) -> int:
        """The most likely chart of query b (the chart of its main copy)."""
        return int(self.copy_chart[self.copy_offsets[b]])

    def select(self, rows: np.ndarray) -> Attachments:
        """The attachments of queries ``rows`` (any order, repeats allowed), as a new ragged set."""
        rows = np.asarray(rows, dtype=np.int64)
        copy_offsets, copy_idx = _ragged_take(self.copy_offsets, rows)
        offsets, edge_idx = _ragged_take(self.offsets, rows)
        return Attachments(
            copy_offsets=copy_offsets,
            copy_chart=self.copy_chart[copy_idx],
            copy_latent=self.copy_latent[copy_idx],
            copy_position=self.copy_position[copy_idx],
            copy_jump=self.copy_jump[copy_idx],
            copy_reach=self.copy_reach[copy_idx],
            offsets=offsets,
            nodes=self.nodes[edge_idx],
            segments=self.segments[edge_idx],
            costs=self.costs[edge_idx],
            evaluated=self.evaluated[edge_idx],
        )

    def edge_index(self, rows: np.ndarray) -> np.ndarray:
        """(A',) int64: for :meth:`select` (rows), the index in this set of each attachment edge of the result."""
        return _ragged_take(self.offsets, np.asarray(rows, dtype=np.int64))[1]

    def main_position(self) -> np.ndarray:
        """(B, D) float32: the decodings of the main copies (the A* goals of target queries)."""
        return np.ascontiguousarray(self.copy_position[self.copy_offsets[:-1]])


def _ragged_take(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and element indices of the groups ``rows`` of a ragged array with ``offsets``."""
    counts = offsets[rows + 1] - offsets[rows]
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    starts = np.repeat(offsets[rows] - new_offsets[:-1], counts)
    return new_offsets, (starts + np.arange(int(new_offsets[-1]), dtype=np.int64)).astype(np.int64)


def _choose_charts(graph: GraphRecord, psi: torch.Tensor, rule: str) -> list[list[int]]:
    """The graph charts of each query point: its most likely chart first, then ("all") the others with
    psi > eps; "paper": the most likely chart only."""
    kept = torch.as_tensor(graph.charts)
    choice = []
    for row in psi[:, kept]:
        main = int(kept[row.argmax()])
        others = [c for c in kept[row > graph.eps].tolist() if c != main] if rule == "all" else []
        choice.append([main] + others)
    return choice


def attach(
    graph: GraphRecord,
    model: SemiAtlasModel,
    x: torch.Tensor,
    batch_size: int,
    device: torch.device,
    label: Callable[[int], str] = "query point {}".format,
    rule: str | None = None,
) -> Attachments:
    """Encode B query points and compute their attachment edges (call under ``evaluating``).

    Args:
        graph: the graph to attach to.
        model: the AGM it was built for.
        x: (B, *S) float tensor of validated query points (any device).
        batch_size: decoded points per forward call.
        device: the model's device.
        label: names query point b in error messages (e.g. "x0", "X1[3]").
        rule: "all" or "paper" (:data:`agm.geodesic.graph.record.AttachRule`); None: the graph's ``attach``.

    Raises:
        ValueError: a model call fails or gives NaN/inf (naming the method, the query point and the chart).
    """
    k = graph.k
    psi, copy_latent_of = graph.node_mode.locate(graph, model, x, batch_size, device)
    charts = _choose_charts(graph, psi, graph.attach if rule is None else rule)
    counts = np.array([len(c) for c in charts], dtype=np.int64)
    copy_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    copy_chart = np.fromiter((c for cs in charts for c in cs), dtype=np.int64, count=int(counts.sum()))
    query_of_copy = np.repeat(np.arange(len(charts)), counts)
    copy_latent = np.ascontiguousarray(copy_latent_of(query_of_copy, copy_chart), dtype=np.float32)

    def name_copy(row: int) -> str:
        return f"{label(int(query_of_copy[row]))}'s copy in chart {int(copy_chart[row])}"

    neighbours, reach = _nearest_nodes(graph, copy_latent, copy_chart)

    # Decoded chords of the attachment segments (copy decoding -> node decoding): lower bounds, exact for n = 1.
    latent_t = torch.from_numpy(copy_latent).to(device)
    chart_t = torch.from_numpy(copy_chart).to(device)
    copy_position = decode_points(model.decode, latent_t, chart_t, batch_size, device, row_name=name_copy)
    main_of_copy = torch.from_numpy(copy_offsets[query_of_copy]).to(device)
    jump = torch.linalg.vector_norm(copy_position - copy_position[main_of_copy], dim=1).double().cpu().numpy()
    nodes = neighbours.reshape(-1)
    owner = np.repeat(np.arange(copy_chart.size), k)
    # nodes decoded on demand: these ones now (in the caller's decode policy: threads None keeps its threads)
    ensure_positions(graph, model, nodes, device, DecodePolicy(threads=None, batch_size=batch_size))
    segments = _attachment_chords(copy_position, owner, graph.positions, nodes)
    evaluated = np.full(nodes.size, interior_decodings(graph.n_steps) == 0)
    costs = segments + jump[owner]
    _check_finite(costs, owner, name_copy)
    return Attachments(
        copy_offsets=copy_offsets,
        copy_chart=copy_chart,
        copy_latent=copy_latent,
        copy_position=np.ascontiguousarray(copy_position.cpu().numpy()),
        copy_jump=jump,
        copy_reach=reach,
        offsets=copy_offsets * k,
        nodes=nodes,
        segments=segments,
        costs=costs,
        evaluated=evaluated,
    )


@dataclass(frozen=True)
class AttachmentEdgeKind:
    """The attachment edges of ``att`` (ids: ``copy * k + j``) as an :class:`~agm.geodesic.graph.edge_kinds.EdgeKind`:
    decoded between the query copies and the graph's nodes, stored in ``att`` in place."""

    graph: GraphRecord
    att: Attachments

    def pending(self, edges: np.ndarray) -> np.ndarray:
        """The edges not evaluated yet."""
        return np.asarray(edges[~self.att.evaluated[edges]])

    def charts(self, edges: np.ndarray) -> np.ndarray:
        """The chart of each edge's query copy."""
        return np.asarray(self.att.copy_chart[edges // self.graph.k])

    def ends(self, edges: np.ndarray, device: torch.device) -> tuple[PointTable, torch.Tensor]:
        """A table of the edges' query copies then their nodes, and each edge's (copy row, node row)."""
        att, graph = self.att, self.graph
        copies, copy_row = np.unique(edges // graph.k, return_inverse=True)
        used, node_row = np.unique(att.nodes[edges], return_inverse=True)
        table = PointTable(
            latents=torch.from_numpy(np.concatenate([att.copy_latent[copies], graph.latents[used]])).to(device),
            positions=torch.from_numpy(
                np.concatenate([att.copy_position[copies], graph.positions[used].astype(np.float32)])
            ).to(device),
            charts=torch.from_numpy(np.concatenate([att.copy_chart[copies], graph.node_chart[used]])).to(device),
        )
        rows = np.stack([copy_row, copies.size + node_row], axis=1).astype(np.int64)
        return table, torch.from_numpy(rows).to(device)

    def store(self, edges: np.ndarray, lengths: np.ndarray) -> None:
        """Segments, costs (segment plus the copy's jump) and evaluated flags of ``att``; NaN/inf refused."""
        att, owner = self.att, edges // self.graph.k
        att.segments[edges] = lengths
        att.costs[edges] = lengths + att.copy_jump[owner]
        att.evaluated[edges] = True
        _check_finite(att.costs[edges], owner, lambda row: f"query copy {row} in chart {int(att.copy_chart[row])}")

    def raise_bounds(self, edges: np.ndarray, bounds: np.ndarray) -> None:
        """Segments and costs of ``att`` raised to the bounds where higher; the edges stay unevaluated."""
        att = self.att
        higher = np.maximum(att.segments[edges], bounds)
        att.segments[edges] = higher
        att.costs[edges] = higher + att.copy_jump[edges // self.graph.k]


def _attachment_chords(
    copy_position: torch.Tensor, owner: np.ndarray, node_positions: np.ndarray, nodes: np.ndarray
) -> np.ndarray:
    """(A,) float64 decoded chords ||node_positions[nodes[i]] - copy_position[owner[i]]|| of the attachment edges,
    gathered in chunks (:func:`~agm.geodesic.graph.curves.chunk_rows`; all at once, 10,000 query points in
    8 charts with k = 20 would gather 5 GB of (784,) decodings per end). copy_position: (C, D) float32 on the
    decoder's device; owner (A,) int64 rows of it; node_positions (n_nodes, D) float on the host; nodes (A,) int64.

    Not :func:`~agm.geodesic.graph.curves.indexed_chords` over one table of the copies and the nodes used: building
    that table (a unique and a concatenation) made a pair's attachment 60 us slower (490 against 430 us on the
    sphere, whose whole graph path takes 2.3 ms)."""
    device = copy_position.device
    step = chunk_rows(int(copy_position.shape[1]) * copy_position.element_size())
    out = np.empty(nodes.size, dtype=np.float64)
    for s in range(0, nodes.size, step):
        node_x = torch.from_numpy(node_positions[nodes[s : s + step]]).to(device, torch.float32)
        copy_x = copy_position[torch.from_numpy(owner[s : s + step]).to(device)]
        out[s : s + step] = chord_lengths(copy_x, node_x).cpu().numpy()
    return out


def _nearest_nodes(graph: GraphRecord, latents: np.ndarray, charts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest nodes (C, k) global ids of every copy in its chart, and the distance to the k-th (C,)."""
    k = graph.k
    native = graph.native
    neighbours = np.empty((charts.size, k), dtype=np.int64)
    reach = np.empty(charts.size, dtype=np.float64)
    offsets = native.chart_offsets
    for chart in np.unique(charts):
        c = graph.native_chart(int(chart))
        if c is None:  # _choose_charts keeps only the graph's charts
            raise AssertionError(f"chart {int(chart)} is not in the graph")
        rows = np.flatnonzero(charts == chart)
        ids, dist = native.chart_index(c).query(np.ascontiguousarray(latents[rows]), k)
        neighbours[rows] = ids + offsets[c]
        reach[rows] = dist[:, -1]
    return neighbours, reach


def _check_finite(costs: np.ndarray, owner: np.ndarray, name_copy: Callable[[int], str]) -> None:
    """Attachment costs must be finite: name the query point and chart whose decodings cannot be measured."""
    bad = ~np.isfinite(costs)
    if bool(bad.any()):
        row = int(owner[np.flatnonzero(bad)[0]])
        raise ValueError(
            f"{name_copy(row)}: model.decode gives decodings too large to measure (curve length inf); "
            "the point is far off the data manifold of the model"
        )
