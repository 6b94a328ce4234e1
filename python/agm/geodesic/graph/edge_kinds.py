"""Edges whose weights are decoded when a query needs them, of any kind: one protocol and one evaluator.

A lazy query decodes three kinds of edges: the graph's intra-chart edges (:class:`GraphEdgeKind`, here), the attachment
edges of query points (:mod:`agm.geodesic.query.attach`) and the direct edges between two query points
(:mod:`agm.geodesic.query.direct`). Each kind says which of some edges are still pending, the chart of each, their
two ends (latent, decoding, chart) and where the decoded lengths go (:class:`EdgeKind`); :func:`evaluate` does the
rest the same way for all of them: eq. 10 in packed single-chart decoder calls under the decode policy. A kind that
can also hold a tighter lower bound than the chord (:class:`BoundedEdgeKind`) goes up the bound levels of
:mod:`agm.geodesic.graph.bounds` by :func:`raise_level` the same way, and :func:`evaluate_kept` decodes its weight
reusing the levels' decodings.

Floor: :mod:`agm.geodesic.graph`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from agm._core import AtlasGraph
from agm.geodesic.graph.bounds import KeptPoints, bound_lengths, level_steps, polylines
from agm.geodesic.graph.curves import PointTable, packed_lengths
from agm.geodesic.graph.node_trial import EdgeFeed
from agm.geodesic.graph.policy import DecodePolicy, applied
from agm.geodesic.graph.policy_watch import WatchOf, watched_lengths
from agm.geodesic.graph.weights import GraphWeights
from agm.models.protocol import SemiAtlasModel


@dataclass(frozen=True)
class DecodeContext:
    """How a query's edges are decoded: the model, its device, the decode policy and eq. 10's segments per edge;
    ``trial``: the graph's decode policy trial that the edge decodes feed (:mod:`agm.geodesic.graph.node_trial`), or
    None; ``watch``: the watch of the policy the edges are decoded in (:mod:`agm.geodesic.graph.policy_watch`), or
    None."""

    model: SemiAtlasModel
    device: torch.device
    policy: DecodePolicy
    n_steps: int
    trial: EdgeFeed | None = None
    watch: WatchOf | None = None


class EdgeKind(Protocol):
    """A kind of edge with lazily decoded lengths (edges are int64 ids of that kind)."""

    def pending(self, edges: np.ndarray) -> np.ndarray:
        """The edges of ``edges`` (unique, int64) not evaluated yet (and of this kind's decodable ones)."""
        ...

    def charts(self, edges: np.ndarray) -> np.ndarray:
        """(E,) the chart each edge is decoded in."""
        ...

    def ends(self, edges: np.ndarray, device: torch.device) -> tuple[PointTable, torch.Tensor]:
        """The end points of ``edges``: a table of points and (E, 2) int64 rows into it, on ``device``."""
        ...

    def store(self, edges: np.ndarray, lengths: np.ndarray) -> None:
        """Keep the decoded lengths (E,) float64 of ``edges`` (they become evaluated)."""
        ...


class BoundedEdgeKind(EdgeKind, Protocol):
    """An edge kind whose unevaluated edges can hold a lower bound above the chord."""

    def raise_bounds(self, edges: np.ndarray, bounds: np.ndarray) -> None:
        """Raise the lower bounds of ``edges`` to ``bounds`` (E,) float64 where higher (they stay unevaluated)."""
        ...


def evaluate(kind: EdgeKind, edges: np.ndarray, context: DecodeContext, progress: bool = False) -> int:
    """Decode the lengths of the pending ones of ``edges`` (any int array of ``kind``'s ids) in packed single-chart
    calls and store them (call under ``evaluating``); the number decoded. ``progress``: a tqdm bar over the calls."""
    todo = ordered_pending(kind, edges)
    if todo.size == 0:
        return 0
    table, ends = kind.ends(todo, context.device)
    decode, n_steps = context.model.decode, context.n_steps
    if context.trial is not None:
        lengths = context.trial.lengths(decode, table, ends, n_steps, context.policy, progress, context.watch)
    elif context.watch is not None:
        watch = context.watch(context.policy)
        lengths = watched_lengths(decode, table, ends, n_steps, context.policy, watch, progress)
    else:
        with applied(context.policy):
            lengths = packed_lengths(
                context.model.decode, table, ends, context.n_steps, context.policy.batch_size, progress=progress
            )
    kind.store(todo, lengths.cpu().numpy())
    return int(todo.size)


def ordered_pending(kind: EdgeKind, edges: np.ndarray) -> np.ndarray:
    """The pending ones of ``edges`` (any int array of ``kind``'s ids), unique, ordered by chart (stable) so that
    decoder calls are single-chart: (P,) int64."""
    return _by_chart(kind, kind.pending(_unique(edges)))


def _unique(edges: np.ndarray) -> np.ndarray:
    """(U,) int64: the distinct ids of ``edges``, ascending."""
    out: np.ndarray = np.unique(np.asarray(edges, dtype=np.int64))
    return out


def _by_chart(kind: EdgeKind, ids: np.ndarray) -> np.ndarray:
    """``ids`` ordered by their edges' chart (stable), so that decoder calls are single-chart."""
    ordered: np.ndarray = ids[np.argsort(kind.charts(ids), kind="stable")]
    return ordered


def raise_level(kind: BoundedEdgeKind, edges: np.ndarray, level: int, context: DecodeContext, kept: KeptPoints) -> int:
    """Raise the bounds of the pending ones of ``edges`` ((n,) int array of ``kind``'s ids, all at bound level
    ``level`` - 1 in ``kept``) to the polyline through the steps of ``level`` (1 or 2,
    :func:`agm.geodesic.graph.bounds.level_steps`), decoding only the steps the level below did not keep (on
    ``context.device``, under its policy); their decodings, (s, D) float32 per edge, kept while ``kept``'s budget
    allows (call under ``evaluating``). The number of edges raised."""
    todo = _by_chart(kind, kind.pending(_unique(edges)))
    if todo.size == 0:
        return 0
    steps = level_steps(context.n_steps, level)
    below = level_steps(context.n_steps, level - 1) if level > 1 else ()
    policy = context.trial.current(context.policy) if context.trial is not None else context.policy
    has = kept.known(todo, len(below)) if below else np.zeros(todo.size, dtype=bool)
    for group, known_steps in ((todo[has], below), (todo[~has], ())):
        if group.size == 0:
            continue
        table, ends = kind.ends(group, context.device)
        known = (known_steps, kept.take(group)) if known_steps else None
        room = kept.room(len(steps) * int(table.positions.shape[1]) * 4)
        with applied(policy):
            lengths, points = polylines(
                context.model.decode, table, ends, context.n_steps, steps, known, policy.batch_size, keep=room
            )
        kind.raise_bounds(group, bound_lengths(lengths).cpu().numpy())
        kept.keep(group, points)
    kept.level[todo] = level
    return int(todo.size)


def evaluate_kept(kind: EdgeKind, edges: np.ndarray, context: DecodeContext, kept: KeptPoints) -> int:
    """Decode the lengths of the pending ones of ``edges`` ((n,) int array of ``kind``'s ids) and store them
    ((P,) float64), as :func:`evaluate` does, reusing the decodings ``kept`` holds of their bound levels (the rest
    of the steps decoded); edges with none go to :func:`evaluate`, and all of them while the graph's decode policy
    trial runs (it times the edge stream of :func:`evaluate`: the kept decodings are not used until it has chosen).
    The number of edges evaluated."""
    todo = ordered_pending(kind, edges)
    if todo.size == 0 or (context.trial is not None and context.trial.running):
        return evaluate(kind, todo, context) if todo.size else 0
    every = tuple(range(1, context.n_steps))
    policy = context.trial.current(context.policy) if context.trial is not None else context.policy
    reused = np.zeros(todo.size, dtype=bool)
    for level in (1, 2):
        steps = level_steps(context.n_steps, level)
        at = kept.level[todo] == level
        at[at] = kept.known(todo[at], len(steps))
        group = todo[at]
        if group.size == 0:
            continue
        table, ends = kind.ends(group, context.device)
        with applied(policy):
            lengths, _ = polylines(
                context.model.decode, table, ends, context.n_steps, every, (steps, kept.take(group)), policy.batch_size
            )
        kind.store(group, lengths.cpu().numpy())
        reused |= at
    rest = todo[~reused]
    return int(reused.sum()) + (evaluate(kind, rest, context) if rest.size else 0)


@dataclass(frozen=True)
class GraphEdgeKind:
    """The graph's intra-chart edges (ids of ``native``), decoded from ``table`` (the nodes on the decoder's
    device: :func:`agm.geodesic.graph.completion.node_table`) into ``weights``."""

    table: PointTable
    native: AtlasGraph
    weights: GraphWeights

    def pending(self, edges: np.ndarray) -> np.ndarray:
        """Unevaluated intra-chart edges (cross-chart edges are exact from the start)."""
        ids = self.weights.pending(edges)
        return ids[ids < self.native.n_intra_edges]

    def charts(self, edges: np.ndarray) -> np.ndarray:
        """The chart of each edge."""
        return np.asarray(self.weights.edge_chart[edges])

    def ends(self, edges: np.ndarray, device: torch.device) -> tuple[PointTable, torch.Tensor]:
        """The node table and the edges' node pairs."""
        return self.table, torch.from_numpy(self.weights.edges[edges]).to(device)

    def store(self, edges: np.ndarray, lengths: np.ndarray) -> None:
        """Into the graph's weights (and its native copy)."""
        self.weights.store(edges, lengths)

    def raise_bounds(self, edges: np.ndarray, bounds: np.ndarray) -> None:
        """Into the graph's weights (:meth:`GraphWeights.raise_bounds`)."""
        self.weights.raise_bounds(edges, bounds)
