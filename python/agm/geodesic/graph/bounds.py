"""Lower bounds of unevaluated edges in levels whose decodings are kept and reused by the next level.

An edge's weight (eq. 10) is the length of the polyline through its decodings at t_i = i / n, i = 0..n. The polyline
through any subset of those points (the two ends always in) is shorter (triangle inequality), so each subset gives a
lower bound, at least the chord, and a larger subset a tighter one. Level 1 is the middle step m = n // 2 (one
decoding: the two-piece polyline), level 2 adds the middles of both halves, m // 2 and m + (n - m) // 2 (two more),
and the full weight decodes the rest: every level decodes only the steps the one below did not, so an edge that is
bounded twice and then evaluated costs its n - 1 decodings and no more, and one refuted on a bound costs 1 or 3.
Where the decoded curve bends away from the chord (the edges whose chords mislead LazySP most: a trained decoder's
weight/chord reaches 3.6) the bounds find most of the gap. A bound's decodings are eq. 10's (same latent arithmetic)
up to the float32 rounding of another batch, which a relative margin of :data:`MARGIN` covers. :class:`KeptPoints`
holds the decodings of the levels' steps between rounds of one query, within a byte budget (beyond it an edge's next
level decodes its steps again: the same values, more decodings).

Measured (benchmarks/README.md, "Issue 19, bounds in levels": the trained 8-chart AWAE of the README, 2,000 MNIST
points, 200 x 200 ``distances``, decodings counted): 0.311 of ``evaluate_all``'s decodings at eps = 0.05 (0.352 with
midpoint bounds decoded again in full), 0.122 at eps = 1e-9, a graph of the issue's size (0.136). A simulation on
the exact weights of the first graph put the middle's reuse alone at 0.319 and a third level (7 steps) at 0.298
against 0.301 with two: not worth its rounds.

Floor: :mod:`agm.geodesic.graph`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from agm.geodesic.graph.curves import Decoder, PointTable, checked_decode, chunk_rows, interior_decodings

#: Relative margin taken off every bound (float32 rounding of the decodings is ~1e-7 relative).
MARGIN = 1e-6

#: Bytes of decodings one query keeps for the next level of its edges' bounds (at 784 float32 values per decoding,
#: 256 MB hold ~85,000 decodings: the level-1 points of every bounded edge of a 200 x 200 matrix on a graph of 16,000
#: nodes, measured 32,000).
KEPT_BYTES = 256 << 20

#: Interior decodings below which an edge has no second level (with 5 or fewer the second level's 3 steps are most
#: of the edge).
SECOND_LEVEL_MIN_INTERIOR = 6


def level_steps(n_steps: int, level: int) -> tuple[int, ...]:
    """The steps i (t_i = i / n_steps) decoded up to bound ``level`` (1 or 2), ascending; the full weight decodes
    all of 1..n_steps - 1. With n_steps < 2 level 1 has none (its polyline is the chord, the weight)."""
    m = n_steps // 2
    if level == 1:
        return (m,) if n_steps >= 2 else ()
    if level == 2:
        return (m // 2, m, m + (n_steps - m) // 2)
    raise ValueError(f"level must be 1 or 2; got {level!r}")


def top_level(n_steps: int) -> int:
    """The level at which an edge is decoded in full: 1 (no bounds) when a bound saves nothing (2 or fewer
    interior decodings), 2 with one bound level, 3 with two."""
    inner = interior_decodings(n_steps)
    if inner <= 2:
        return 1
    return 3 if inner >= SECOND_LEVEL_MIN_INTERIOR else 2


class KeptBytes:
    """A byte budget shared by the :class:`KeptPoints` of one query (``left``: bytes not used yet)."""

    def __init__(self, budget: int | None = None) -> None:
        self.left = int(KEPT_BYTES if budget is None else budget)


class KeptPoints:
    """Per edge of one kind (ids 0..n_edges - 1): the bound level reached in this query (0: the chord or a bound of
    an earlier query) and the decodings of its level's steps where they were kept.

    Args:
        n_edges: the kind's number of edges.
        budget: the bytes of decodings that may be kept (shared with the query's other kinds).
    """

    def __init__(self, n_edges: int, budget: KeptBytes) -> None:
        self.level = np.zeros(n_edges, dtype=np.int8)
        self._points: dict[int, torch.Tensor] = {}
        self._budget = budget

    def known(self, edges: np.ndarray, n_known: int) -> np.ndarray:
        """(E,) bool: whether each edge's ``n_known`` decodings are kept."""
        return np.fromiter(
            (e in self._points and self._points[e].shape[0] == n_known for e in edges.tolist()),
            dtype=bool,
            count=edges.size,
        )

    def take(self, edges: np.ndarray) -> torch.Tensor:
        """(E, k, D) float32 the kept decodings of ``edges`` (all kept, with the same k), dropped from the store."""
        out = torch.stack([self._points.pop(e) for e in edges.tolist()])
        self._budget.left += out.numel() * out.element_size()
        return out

    def room(self, per_edge: int) -> int:
        """How many more edges' decodings of ``per_edge`` bytes each the budget holds."""
        return max(0, self._budget.left // max(1, int(per_edge)))

    def keep(self, edges: np.ndarray, points: torch.Tensor) -> None:
        """Keep ``points`` (k, s, D) float32, the decodings of the first k of ``edges`` (see :meth:`room`), each in its
        own copy (a view would hold the whole batch alive until its last edge is taken: more than the budget counts)."""
        for i, e in enumerate(edges[: points.shape[0]].tolist()):
            self._points[e] = points[i].clone()
            self._budget.left -= int(points[i].numel() * points.element_size())


def polylines(
    decode: Decoder,
    table: PointTable,
    ends: torch.Tensor,
    n_steps: int,
    steps: tuple[int, ...],
    known: tuple[tuple[int, ...], torch.Tensor] | None,
    batch_size: int,
    keep: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lengths of the polylines through the ends of segments and their decodings at ``steps``, decoding only the
    steps whose decodings are not ``known``; in chunks of segments (bounded memory).

    Args:
        decode: the model's ``decode(z, y)``.
        table: the endpoints.  ends: (E, 2) int64 rows of ``table`` (one chart each) on the decoder's device.
        n_steps: eq. 10's n.  steps: ascending steps in 1..n - 1 through which the polylines run.
        known: (known steps, a subset of ``steps``; their (E, k, D) float32 decodings) or None.
        batch_size: decoded points per decoder call.
        keep: the decodings at ``steps`` of the first ``keep`` segments are returned.

    Returns:
        (E,) float64 lengths on the decoder's device (the weights when ``steps`` are all of 1..n - 1, lower bounds
        otherwise) and (keep, len(steps), D) float32 decodings.
    """
    e, d_out, device = int(ends.shape[0]), int(table.positions.shape[1]), table.latents.device
    known_steps, known_points = known if known is not None else ((), None)
    missing = [s for s in steps if s not in known_steps]
    lengths = torch.zeros(e, dtype=torch.float64, device=device)
    kept = torch.empty(min(keep, e), len(steps), d_out, dtype=torch.float32, device=device)
    t = torch.tensor(missing, dtype=table.latents.dtype, device=device) / n_steps  # as PackedStream's
    step = _chunk_segments(len(steps) + 2, len(missing), d_out, batch_size)
    decoded_at = [steps.index(m) + 1 for m in missing]  # columns of ``points`` (0 and -1: the ends)
    known_at = [steps.index(k) + 1 for k in known_steps]
    for s in range(0, e, step):
        u, v = ends[s : s + step, 0], ends[s : s + step, 1]
        points = torch.empty(u.shape[0], len(steps) + 2, d_out, dtype=torch.float32, device=device)
        points[:, 0], points[:, -1] = table.positions[u], table.positions[v]
        if missing:
            decoded = _decoded_steps(decode, table, u, v, t, batch_size)
            points[:, decoded_at] = decoded.reshape(u.shape[0], len(missing), d_out)
        if known_points is not None:
            points[:, known_at] = known_points[s : s + step]
        lengths[s : s + step] = torch.linalg.vector_norm(points[:, 1:] - points[:, :-1], dim=2).double().sum(dim=1)
        if s < kept.shape[0]:
            kept[s : s + step] = points[: kept.shape[0] - s, 1:-1]
    return lengths, kept


def _chunk_segments(n_points: int, n_missing: int, d_out: int, batch_size: int) -> int:
    """Segments per chunk of :func:`polylines`: their ``n_points`` decodings of ``d_out`` float32 values in about
    :data:`agm.geodesic.graph.curves.CHORD_CHUNK_BYTES` (up to 4x that), holding whole decoder calls of their
    ``n_missing`` decoded steps each where that fits, else at least one call's worth (a large batch, e.g. on CUDA,
    stays whole)."""
    segments = chunk_rows(n_points * d_out * 4)
    if n_missing == 0:
        return segments
    whole = batch_size // math.gcd(batch_size, n_missing)  # segments whose steps fill whole calls
    if whole <= 4 * segments:
        return max(whole, segments // whole * whole)
    return max(1, max(1, segments * n_missing // batch_size) * batch_size // n_missing)


def _decoded_steps(
    decode: Decoder, table: PointTable, u: torch.Tensor, v: torch.Tensor, t: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """(E k, D) float32 decodings of the segments u -> v (rows of ``table``) at the k fractions ``t``, segment
    after segment, ``batch_size`` per call (the lerp as :class:`agm.geodesic.graph.curves.PackedStream` has it)."""
    za = table.latents[u]
    z = (za[:, None, :] + t[None, :, None] * (table.latents[v] - za)[:, None, :]).reshape(-1, za.shape[1])
    y = table.charts[u].repeat_interleave(int(t.shape[0]))
    calls = range(0, int(z.shape[0]), batch_size)
    return torch.cat([checked_decode(decode, z[i : i + batch_size], y[i : i + batch_size]) for i in calls])


def bound_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """Lower bounds from polylines through some of an edge's steps: a relative :data:`MARGIN` off (the decodings of
    another batch round differently in float32)."""
    return lengths * (1.0 - MARGIN)
