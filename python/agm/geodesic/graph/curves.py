"""Decoded curve lengths of straight latent segments, batched on the model's device (the paper's eq. 10).

The length of the segment z_a -> z_b in chart y with n steps (eq. 10 of the paper, literally) is
    sum_{i=0}^{n-1} || G_y(g(t_i)) - G_y(g(t_{i+1})) ||,   g(t) = z_a + t (z_b - z_a),   t_i = i / n,  i = 0..n,
so ``n_steps = n`` means n segments and n - 1 interior decodings (n = 1 is the decoded chord). Its endpoints
G_y(z_a), G_y(z_b) are the decodings of graph nodes, computed once per node and shared by all the node's edges,
so a segment costs exactly n - 1 decodings. Every weight is therefore at least ||G_y(z_a) - G_y(z_b)||,
which makes the A* heuristic consistent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agm._progress import progress_bar
from agm.geodesic._support.checks import call_model, check_decoded

Decoder = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Decoded points per forward call when the caller does not choose and nothing was measured. Measured on the
#: 2-core CPU machine for the paper's h=48 conv decoder (one thread): 307 points/s at batch 16, 253 at 256, 177 at
#: 4096 (glibc malloc); a cheap decoder, on the other hand, is dominated by per-call overhead below thousands.
DEFAULT_CPU_BATCH = 256
DEFAULT_CUDA_BATCH = 16384


def interior_decodings(n_steps: int) -> int:
    """Decodings inside one segment of ``n_steps`` steps (eq. 10: t_i = i / n, the two endpoints excluded)."""
    return max(0, n_steps - 1)


def checked_decode(
    decode: Decoder, z: torch.Tensor, y: torch.Tensor, row_name: Callable[[int], str] | None = None
) -> torch.Tensor:
    """``decode(z, y)`` flattened to (B, D) float32; a failing call or a NaN/inf decoding is a clear error.

    Errors name the model method and what was passed (see :func:`agm.geodesic._support.checks.call_model`), or the chart
    and latent of the first non-finite decoding (:func:`agm.geodesic._support.checks.check_decoded`).
    """
    out = check_decoded(call_model("decode", decode, z, y), z, y, z.shape[0], row_name)
    return out.reshape(z.shape[0], -1).to(torch.float32)


def default_batch_size(device: torch.device) -> int:
    """Decoded points per forward call: small on the CPU (allocator-bound), large on CUDA."""
    return DEFAULT_CUDA_BATCH if device.type == "cuda" else DEFAULT_CPU_BATCH


def decode_points(
    decode: Decoder,
    z: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    device: torch.device,
    row_name: Callable[[int], str] | None = None,
) -> torch.Tensor:
    """Decode many latent points in batches.

    Args:
        decode: the model's ``decode(z, y)``.
        z: (N, d) float tensor (any device).
        y: (N,) int64 tensor of charts.
        batch_size: decoded points per forward call.
        device: where to run the decoder.
        row_name: names row i in the error raised for a NaN/inf decoding (e.g. the query point it belongs to).

    Returns:
        (N, D) float32 tensor on ``device``: the flattened decodings.
    """
    out: list[torch.Tensor] = []
    for start in range(0, z.shape[0], batch_size):
        zb = z[start : start + batch_size].to(device, torch.float32)
        yb = y[start : start + batch_size].to(device)
        name = None if row_name is None else (lambda r, s=start: row_name(s + r))
        out.append(checked_decode(decode, zb, yb, name))
    if not out:
        return torch.empty(0, 0, device=device)
    return torch.cat(out)


def edges_per_batch(batch_size: int, n_steps: int) -> int:
    """Segments per decoder call so that one call decodes at most ``batch_size`` interior points."""
    return max(1, batch_size // max(1, interior_decodings(n_steps)))


def chord_lengths(x_start: torch.Tensor, x_end: torch.Tensor) -> torch.Tensor:
    """(E,) float64 decoded chords ||x_end - x_start|| of (E, D) float32 decodings: every weight's lower bound."""
    chord: torch.Tensor = torch.linalg.vector_norm(x_end - x_start, dim=1).double()
    return chord


#: Bytes of decodings that :func:`indexed_chords` gathers per end at once. Measured (2-core Xeon, 130k edges of
#: (784,) decodings): 0.36 s wall in chunks of 64k edges (200 MB gathered per end), 0.085 s in 8 MB chunks (2,675
#: edges), whose temporaries stay in cache; 4-16 MB are alike.
CHORD_CHUNK_BYTES = 8 << 20


def chunk_rows(row_bytes: int) -> int:
    """Rows of ``row_bytes`` bytes each that one chunk of :data:`CHORD_CHUNK_BYTES` holds (at least 1): how many
    decodings a chunked gather takes at a time."""
    return max(1, CHORD_CHUNK_BYTES // max(1, int(row_bytes)))


def indexed_chords(positions: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """(E,) float64 decoded chords ||positions[ends[i]] - positions[starts[i]]|| of many segments between rows of
    one table, gathered in chunks of :data:`CHORD_CHUNK_BYTES` per end (bounded memory, and faster than one gather).

    Args:
        positions: (P, D) float32 decodings (any device).
        starts, ends: (E,) int64 row indices into ``positions``, on its device.

    Returns:
        (E,) float64 tensor on the device of ``positions``.
    """
    n = int(starts.shape[0])
    step = chunk_rows(int(positions.shape[1]) * positions.element_size())
    out = torch.empty(n, dtype=torch.float64, device=positions.device)
    for s in range(0, n, step):
        out[s : s + step] = chord_lengths(positions[starts[s : s + step]], positions[ends[s : s + step]])
    return out


def segment_lengths(
    decode: Decoder,
    z_start: torch.Tensor,
    z_end: torch.Tensor,
    charts: torch.Tensor,
    x_start: torch.Tensor,
    x_end: torch.Tensor,
    n_steps: int,
) -> torch.Tensor:
    """Decoded lengths of a batch of straight latent segments, one forward call.

    Args:
        decode: the model's ``decode(z, y)``.
        z_start, z_end: (E, d) float32 latent endpoints on the decoder's device.
        charts: (E,) int64 chart of each segment.
        x_start, x_end: (E, D) float32 decodings of the endpoints (flattened).
        n_steps: segments per curve (eq. 10's n), >= 1; n - 1 interior decodings per segment.

    Returns:
        (E,) float64 tensor of polyline lengths, on the decoder's device.
    """
    e = z_start.shape[0]
    inner_n = interior_decodings(n_steps)
    if inner_n == 0:
        return chord_lengths(x_start, x_end)
    t = torch.arange(1, n_steps, device=z_start.device, dtype=z_start.dtype) / n_steps
    z = z_start[:, None, :] + t[None, :, None] * (z_end - z_start)[:, None, :]  # (E, n-1, d)
    y = charts[:, None].expand(e, inner_n).reshape(-1)
    inner = checked_decode(decode, z.reshape(e * inner_n, -1), y).reshape(e, inner_n, -1)
    poly = torch.cat([x_start[:, None, :], inner, x_end[:, None, :]], dim=1)  # (E, n+1, D)
    lengths: torch.Tensor = torch.linalg.vector_norm(poly[:, 1:] - poly[:, :-1], dim=2).double().sum(dim=1)
    return lengths


@dataclass(frozen=True)
class PointTable:
    """Endpoints that segments index into: latents (P, d) float32, decodings (P, D) float32 and charts (P,)
    int64, all on the decoder's device."""

    latents: torch.Tensor
    positions: torch.Tensor
    charts: torch.Tensor


class PackedStream:
    """The interior points of many segments as one stream, decoded in calls of any size (:func:`packed_lengths`).

    The points run segment after segment, t_i = i / n for i = 1..n-1; :meth:`decode_next` decodes the next ``count``
    of them in one decoder call, across segment boundaries. Each point contributes its distance to the previous
    point of its segment (the start's decoding for i = 1, the last decoded point of the previous call where a
    segment crosses calls), and the last interior point also its distance to the end's decoding. So the lengths do
    not depend on how the stream was cut into calls, up to float32 rounding in the decoder: a decode policy can be
    chosen while the stream is decoded (:mod:`agm.geodesic.graph.measured_edges`).

    Args:
        decode: the model's ``decode(z, y)``.
        table: the endpoints.
        ends: (E, 2) int64 tensor on the decoder's device: rows of ``table`` (same chart) of each segment.
        n_steps: segments per curve (eq. 10's n), >= 2 (n = 1 has no interior point: use :func:`chord_lengths`).
    """

    def __init__(self, decode: Decoder, table: PointTable, ends: torch.Tensor, n_steps: int) -> None:
        self._decode, self._table, self._n_steps = decode, table, n_steps
        self._u, self._v = ends[:, 0], ends[:, 1]
        self._inner = interior_decodings(n_steps)
        self.total = int(ends.shape[0]) * self._inner
        self.done = 0
        #: (E,) float64 lengths on the decoder's device, complete once :attr:`remaining` is 0.
        self.lengths = torch.zeros(ends.shape[0], dtype=torch.float64, device=table.latents.device)
        self._carry: torch.Tensor | None = None  # last decoded point of the previous call

    @property
    def remaining(self) -> int:
        """Interior points not decoded yet."""
        return self.total - self.done

    def decode_next(self, count: int) -> tuple[int, int]:
        """Decode the next ``count`` points (fewer at the end) in one call; (points decoded, segments finished).

        The pieces are computed in few passes over the decodings (with a cheap decoder the stream's own work is
        2-10% of the decoder's, ``benchmarks/bench_packed_stream.py``): consecutive points of the call at once, then
        the rows that start a segment (against the start's decoding) and those that end one (against the end's),
        a seventh of the rows each at 15 steps. The
        decodings are checked through their pieces: a NaN or inf decoding makes its piece non-finite, and only
        then is the call's output searched for the row to name (:func:`check_decoded`)."""
        table, inner = self._table, self._inner
        stop = min(self.total, self.done + count)
        if stop <= self.done:
            return 0, 0
        n = stop - self.done
        p = torch.arange(self.done, stop, device=table.latents.device)
        edge, step = p // inner, p % inner + 1
        eu = self._u[edge]
        t = (step.to(table.latents.dtype) / self._n_steps)[:, None]
        za = table.latents[eu]
        z, y = za + t * (table.latents[self._v[edge]] - za), table.charts[eu]
        out = call_model("decode", self._decode, z, y)
        if out.ndim < 1 or out.shape[0] != n:
            check_decoded(out, z, y, n)  # raises, naming the shape
        x = out.reshape(n, -1).to(torch.float32)
        pieces = torch.empty(n, dtype=torch.float64, device=x.device)
        pieces[1:] = torch.linalg.vector_norm(x[1:] - x[:-1], dim=1).double()
        if self._carry is not None:  # the call starts inside a segment unless step[0] is 1 (fixed below)
            pieces[0] = torch.linalg.vector_norm(x[0] - self._carry[0]).double()
        first = torch.nonzero(step == 1).squeeze(1)
        pieces[first] = torch.linalg.vector_norm(x[first] - table.positions[eu[first]], dim=1).double()
        last = torch.nonzero(step == inner).squeeze(1)
        end_pieces = torch.linalg.vector_norm(table.positions[self._v[edge[last]]] - x[last], dim=1).double()
        pieces.index_add_(0, last, end_pieces)
        if not bool(torch.isfinite(pieces).all()):
            check_decoded(out, z, y, n)  # raises, naming the first non-finite decoding
        self.lengths.index_add_(0, edge, pieces)
        self._carry = x[-1:]
        self.done = stop
        return n, int(last.numel())


def packed_lengths(
    decode: Decoder,
    table: PointTable,
    ends: torch.Tensor,
    n_steps: int,
    batch_size: int,
    progress: bool = False,
    desc: str = "edge weights",
) -> torch.Tensor:
    """Curve lengths (eq. 10) of many segments with every decoder call holding exactly ``batch_size`` points.

    The interior points of all segments form one stream (:class:`PackedStream`); each decoder call takes the next
    ``batch_size`` of them, across segment boundaries, so only the last call is short. Segments of one chart
    should be consecutive (the build's edges are, chart after chart) so that calls are single-chart, as fast
    decoders want.

    Args:
        decode: the model's ``decode(z, y)``.
        table: the endpoints.
        ends: (E, 2) int64 tensor on the decoder's device: rows of ``table`` (same chart) of each segment.
        n_steps: segments per curve (eq. 10's n), >= 1 (1: the chord, nothing decoded).
        batch_size: decoded points per forward call; peak memory is set by it, not by E.
        progress: show a tqdm bar (in segments).

    Returns:
        (E,) float64 tensor of lengths on the decoder's device.
    """
    u, v = ends[:, 0], ends[:, 1]
    if interior_decodings(n_steps) == 0 or ends.shape[0] == 0:
        return chord_lengths(table.positions[u], table.positions[v])
    stream = PackedStream(decode, table, ends, n_steps)
    with progress_bar(progress, ends.shape[0], desc, "edge") as bar:
        while stream.remaining:
            bar.update(stream.decode_next(batch_size)[1])
    return stream.lengths


def edge_lengths(
    decode: Decoder,
    latents: torch.Tensor,
    positions: torch.Tensor,
    node_chart: torch.Tensor,
    edges: np.ndarray,
    n_steps: int,
    batch_size: int,
    progress: bool = False,
    desc: str = "edge weights",
) -> np.ndarray:
    """Curve-length weights of intra-chart graph edges in packed calls (:func:`packed_lengths`).

    Args:
        decode: the model's ``decode(z, y)``.
        latents: (N, d) float32 node latents on the decoder's device.
        positions: (N, D) float32 node decodings on the same device.
        node_chart: (N,) int64 node charts on the same device.
        edges: (E, 2) int64 numpy array of node pairs of the same chart.
        n_steps: segments per edge (eq. 10's n, >= 1).
        batch_size: decoded points per forward call (every call but the last holds exactly this many).
        progress: show a tqdm bar.

    Returns:
        (E,) float64 numpy array.
    """
    table = PointTable(latents, positions, node_chart)
    ends = torch.from_numpy(np.ascontiguousarray(edges, dtype=np.int64)).to(latents.device)
    return packed_lengths(decode, table, ends, n_steps, batch_size, progress, desc).cpu().numpy()
