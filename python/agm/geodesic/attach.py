"""Query points of a geodesic: encode them and attach them to their k nearest nodes in each of their charts.

A query point x is not a graph node. Like a data point of the graph, it gets one copy per chart y of the graph
with psi_y(x) > eps: the latent F_y(x) and the decoding G_y(F_y(x)). Each copy is joined to its k nearest nodes
of chart y with the same curve-length weight as graph edges, and the copies are joined to each other with the
cross-chart weight ||G_i F_i(x) - G_j F_j(x)||. The query point itself is its *main* copy, the one in its most
likely chart argmax_y psi_y(x) (always kept), so graph distances between query points are symmetric and obey the
triangle inequality, exactly as between data points of the graph.

For the native search a query point is a virtual node: its attachment to node u of chart y costs the curve length
from its copy in y to u, plus the cross-chart jump from the main copy to the copy in y. The shared graph is never
mutated, so concurrent queries are safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agm.geodesic.curves import decode_points, segment_lengths
from agm.geodesic.graph import GeodesicGraph
from agm.geodesic.nodes import encode_atlas, partition_points
from agm.geodesic.semi import locate


@dataclass(frozen=True)
class Attachments:
    """Copies and attachment edges of B query points, as ragged (CSR-style) arrays.

    Attributes:
        copy_offsets: (B+1,) int64; the copies of query b are ``copy_offsets[b]:copy_offsets[b+1]``, its main
            copy (most likely chart) first.
        copy_chart: (C,) int64 model chart of each copy.
        copy_latent: (C, d) float32 latent of each copy in its chart.
        copy_position: (C, D) float32 decoding of each copy (the goals of the A* heuristic).
        offsets: (B+1,) int64; the attachment edges of query b are ``offsets[b]:offsets[b+1]``.
        nodes: (A,) int64 graph node of each attachment edge.
        costs: (A,) float64 cost of each attachment edge: the curve length from the copy to the node plus the
            jump from the main copy to that copy.
    """

    copy_offsets: np.ndarray
    copy_chart: np.ndarray
    copy_latent: np.ndarray
    copy_position: np.ndarray
    offsets: np.ndarray
    nodes: np.ndarray
    costs: np.ndarray

    def copy_of(self, b: int, chart: int) -> int:
        """Index of query b's copy in a model chart."""
        lo, hi = self.copy_offsets[b], self.copy_offsets[b + 1]
        return int(lo + np.flatnonzero(self.copy_chart[lo:hi] == chart)[0])

    def take(self, lo: int, hi: int) -> Attachments:
        """The attachments of queries lo..hi-1 (offsets rebased to 0)."""
        c0, c1 = self.copy_offsets[lo], self.copy_offsets[hi]
        a0, a1 = self.offsets[lo], self.offsets[hi]
        return Attachments(
            copy_offsets=self.copy_offsets[lo : hi + 1] - c0,
            copy_chart=self.copy_chart[c0:c1],
            copy_latent=self.copy_latent[c0:c1],
            copy_position=self.copy_position[c0:c1],
            offsets=self.offsets[lo : hi + 1] - a0,
            nodes=self.nodes[a0:a1],
            costs=self.costs[a0:a1],
        )

    def main_position(self) -> np.ndarray:
        """(B, D) float32: the decodings of the main copies (the A* goals of target queries)."""
        return np.ascontiguousarray(self.copy_position[self.copy_offsets[:-1]])


def _choose_charts(graph: GeodesicGraph, psi: torch.Tensor) -> list[list[int]]:
    """The graph charts of each query point: its most likely chart first, then the others with psi > eps."""
    kept = torch.as_tensor(graph.charts)
    choice = []
    for row in psi[:, kept]:
        main = int(kept[row.argmax()])
        choice.append([main] + [c for c in kept[row > graph.eps].tolist() if c != main])
    return choice


def attach(graph: GeodesicGraph, model: Any, x: torch.Tensor, batch_size: int, device: torch.device) -> Attachments:
    """Encode B query points and compute their attachment edges (call under ``evaluating``).

    Args:
        graph: the graph to attach to.
        model: the AGM it was built for.
        x: (B, *S) float tensor of validated query points.
        batch_size: decoded points per forward call.
        device: the model's device.
    """
    native = graph.native
    k = graph.k
    if graph.nodes == "encoder":
        psi, z = encode_atlas(model, x, batch_size, device)
    else:
        psi = partition_points(model, x, batch_size, device).cpu()
    charts = _choose_charts(graph, psi)
    counts = np.array([len(c) for c in charts], dtype=np.int64)
    copy_offsets = np.concatenate([[0], np.cumsum(counts)])
    copy_chart = np.fromiter((c for cs in charts for c in cs), dtype=np.int64, count=int(counts.sum()))
    query_of_copy = np.repeat(np.arange(len(charts)), counts)
    if graph.nodes == "encoder":
        copy_latent = np.ascontiguousarray(z[torch.from_numpy(query_of_copy), torch.from_numpy(copy_chart)].numpy())
    else:  # no encoder: search each copy's latent from the nearest decoded node of its chart
        copy_latent = locate(
            model,
            x[torch.from_numpy(query_of_copy)].to(device, torch.float32),
            copy_chart,
            graph.latents,
            graph.positions,
            graph.node_chart,
            steps=graph.refine_steps,
            batch_size=batch_size,
        )

    # k nearest nodes of every copy, chart by chart in the native k-d trees.
    neighbours = np.empty((copy_chart.size, k), dtype=np.int64)
    offsets = native.chart_offsets
    for chart in np.unique(copy_chart):
        c = graph.native_chart(int(chart))
        rows = np.flatnonzero(copy_chart == chart)
        ids, _ = native.chart_index(c).query(np.ascontiguousarray(copy_latent[rows]), k)
        neighbours[rows] = ids + offsets[c]

    # Curve lengths of the attachment segments: copy decoding -> node decoding, n_steps decodings in between.
    latent_t = torch.from_numpy(copy_latent).to(device)
    chart_t = torch.from_numpy(copy_chart).to(device)
    copy_position = decode_points(model.decode, latent_t, chart_t, batch_size, device)
    main_of_copy = torch.from_numpy(copy_offsets[query_of_copy]).to(device)
    jump = torch.linalg.vector_norm(copy_position - copy_position[main_of_copy], dim=1).double().cpu().numpy()
    nodes = neighbours.reshape(-1)
    owner = np.repeat(np.arange(copy_chart.size), k)
    node_latents = torch.from_numpy(graph.latents[nodes]).to(device)
    node_positions = torch.from_numpy(graph.positions[nodes]).to(device, torch.float32)
    owner_t = torch.from_numpy(owner).to(device)
    costs = np.empty(nodes.size, dtype=np.float64)
    per_batch = max(1, batch_size // max(1, graph.n_steps))
    for s in range(0, nodes.size, per_batch):
        o = owner_t[s : s + per_batch]
        costs[s : s + o.shape[0]] = (
            segment_lengths(
                model.decode,
                latent_t[o],
                node_latents[s : s + per_batch],
                chart_t[o],
                copy_position[o],
                node_positions[s : s + per_batch],
                graph.n_steps,
            )
            .cpu()
            .numpy()
        )
    costs += jump[owner]
    return Attachments(
        copy_offsets=copy_offsets,
        copy_chart=copy_chart,
        copy_latent=copy_latent,
        copy_position=np.ascontiguousarray(copy_position.cpu().numpy()),
        offsets=copy_offsets * k,
        nodes=nodes,
        costs=costs,
    )
