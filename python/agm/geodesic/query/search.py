"""Algorithm 1, queries: geodesics between data points through the atlas graph (native A* search).

Inside an initialised torch.distributed process group :func:`shortest_paths` splits its pairs into contiguous
shares (:mod:`agm.geodesic._support.sharding`): each rank solves its share on its own device and every rank returns all
the paths. The edges a lazy graph's queries decoded on any rank are handed to every rank afterwards, so the ranks'
graphs stay the same. LazySP's rounds themselves run per rank, over that rank's pairs. :func:`shortest_path` (one
pair) is not split: each rank solves it alone, and the lazy edges it decodes stay in that rank's graph.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypedDict

import numpy as np
import torch

from agm._core import UnreachableError
from agm.geodesic._support.checks import (
    as_batch,
    check_choice,
    check_device,
    check_model,
    check_non_negative_int,
    check_non_negative_real,
)
from agm.geodesic._support.evaluating import evaluating
from agm.geodesic._support.sharding import gather_objects, gather_rows, is_sharded, on_every_rank, share
from agm.geodesic.graph.curves import default_batch_size, interior_decodings
from agm.geodesic.graph.edge_kinds import DecodeContext, evaluate
from agm.geodesic.graph.node_positions import complete_positions
from agm.geodesic.graph.policy import DecodePolicy, applied, check_policy
from agm.geodesic.graph.record import ATTACH_RULES, AttachRule, GraphRecord
from agm.geodesic.paths.path import GeodesicPath
from agm.geodesic.query.advice import joining_advice
from agm.geodesic.query.attach import AttachmentEdgeKind, Attachments, attach
from agm.geodesic.query.direct import PairEnds, direct_edges
from agm.geodesic.query.far import warn_far_queries
from agm.geodesic.query.layered import SWITCH_TOLERANCE
from agm.geodesic.query.lazy_progress import lazy_progress
from agm.geodesic.query.lazysp import LazyStats, QuerySet, lazy_routes
from agm.geodesic.query.routes import Route
from agm.models.protocol import SemiAtlasModel, model_device

Method = Literal["astar", "dijkstra"]

#: Attachment edges are decoded when attached where all of them take at most this long at the graph's measured
#: decode rate (seconds; see :func:`_cheap_attachments`).
EAGER_ATTACH_S = 2e-3


class PathOptions(TypedDict, total=False):
    """The options of a geodesic query, passed through by :func:`agm.geodesic.shortest_path` and
    :meth:`agm.geodesic.GeodesicGraph.shortest_path` (documented there)."""

    method: Method
    device: torch.device | str | None
    decode_policy: DecodePolicy | None
    lazy_stats: LazyStats | None
    switch_tolerance: float
    attach: AttachRule | None


METHODS = ("astar", "dijkstra")
#: how the sources and the targets are called in error messages: index -> name
Names = tuple[Callable[[int], str], Callable[[int], str]]


def prepare_query(
    model: SemiAtlasModel,
    graph: GraphRecord,
    method: str,
    device: torch.device | str | None,
    decode_policy: DecodePolicy | None,
) -> tuple[GraphRecord, torch.device, DecodePolicy]:
    """Check a query's arguments once: the graph built for this model, the search method, the device (default: the
    model's) and the decode policy (default: the graph's)."""
    check_model(model, need_encoder=False)
    check_choice("method", method, METHODS)
    if not isinstance(graph, GraphRecord):
        raise TypeError(f"graph must be a GraphRecord; got {type(graph).__name__}")
    check_model(model, need_encoder=graph.node_mode.needs_encoder)
    dev = check_device(device if device is not None else model_device(model))
    graph.check_model(model, dev)
    policy = check_policy(decode_policy)
    if policy is None:
        policy = graph.decode_policy or DecodePolicy(threads=None, batch_size=default_batch_size(dev))
    return graph, dev, policy


def shortest_path(
    model: SemiAtlasModel,
    x0: torch.Tensor | np.ndarray,
    x1: torch.Tensor | np.ndarray,
    graph: GraphRecord,
    *,
    method: Method = "astar",
    device: torch.device | str | None = None,
    decode_policy: DecodePolicy | None = None,
    lazy_stats: LazyStats | None = None,
    switch_tolerance: float = SWITCH_TOLERANCE,
    attach: AttachRule | None = None,
) -> GeodesicPath:
    """The geodesic from x0 to x1 on ``graph``: :func:`agm.geodesic.shortest_path` (arguments, errors, returns)."""
    graph, dev, policy = prepare_query(model, graph, method, device, decode_policy)
    rules = _rules(switch_tolerance, attach, graph)
    a = as_batch("x0", x0, graph.data_shape, single=True)
    b = as_batch("x1", x1, graph.data_shape, single=True)
    path = _solve(model, graph, dev, policy, a, b, method, n_threads=1, stats=lazy_stats, rules=rules)[0]
    if path is None:  # _check_reachable raised for every unreachable pair
        raise AssertionError("an unreachable pair was not reported")
    return path


def shortest_paths(
    model: SemiAtlasModel,
    X0: torch.Tensor | np.ndarray,
    X1: torch.Tensor | np.ndarray,
    graph: GraphRecord,
    *,
    method: Method = "astar",
    device: torch.device | str | None = None,
    n_threads: int = 0,
    raise_unreachable: bool = True,
    decode_policy: DecodePolicy | None = None,
    lazy_stats: LazyStats | None = None,
    switch_tolerance: float = SWITCH_TOLERANCE,
    attach: AttachRule | None = None,
    progress: bool | None = None,
) -> list[GeodesicPath | None]:
    """Geodesics of the pairs (X0[b], X1[b]) on ``graph``: :func:`agm.geodesic.shortest_paths` (None for an
    unreachable pair only with ``raise_unreachable=False``)."""
    graph, dev, policy = prepare_query(model, graph, method, device, decode_policy)
    rules = _rules(switch_tolerance, attach, graph)
    n_threads = check_non_negative_int("n_threads", n_threads)
    a = as_batch("X0", X0, graph.data_shape, single=False)
    b = as_batch("X1", X1, graph.data_shape, single=False)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"X0 and X1 must hold the same number of points; got {a.shape[0]} and {b.shape[0]}")
    names: Names = ("X0[{}]".format, "X1[{}]".format)
    if is_sharded():
        return _solve_sharded(
            model, graph, dev, policy, a, b, method, n_threads, raise_unreachable, lazy_stats, rules, progress
        )
    return _solve(
        model,
        graph,
        dev,
        policy,
        a,
        b,
        method,
        n_threads,
        raise_unreachable,
        names,
        lazy_stats,
        rules=rules,
        progress=progress,
    )


@dataclass(frozen=True)
class QueryRules:
    """A query's route rules: the switch tolerance tau and the attachment rule ("all" or "paper")."""

    switch_tolerance: float = SWITCH_TOLERANCE
    attach: str = "all"


def _rules(switch_tolerance: float, attach: str | None, graph: GraphRecord) -> QueryRules:
    """Check a query's switch tolerance (finite, >= 0) and attachment rule (None: the graph's)."""
    tau = check_non_negative_real("switch_tolerance", switch_tolerance)
    rule = graph.attach if attach is None else check_choice("attach", attach, ATTACH_RULES)
    return QueryRules(tau, rule)


def _solve_sharded(
    model: SemiAtlasModel,
    graph: GraphRecord,
    dev: torch.device,
    policy: DecodePolicy,
    a: torch.Tensor,
    b: torch.Tensor,
    method: Method,
    n_threads: int,
    raise_unreachable: bool,
    stats: LazyStats | None,
    rules: QueryRules,
    progress: bool | None = None,
) -> list[GeodesicPath | None]:
    """:func:`_solve` for this rank's contiguous share of the pairs; every rank returns all B paths (rank order).

    Errors name the pairs by their index in the whole batch; ``stats`` (if given) receives the ranks' counts
    summed (``rounds``: the most rounds any rank ran).
    """
    complete_positions(graph, model, dev, policy)  # nodes decoded on demand: every rank decodes the rest alike
    rows = share(a.shape[0])
    start = int(rows.start)
    names: Names = (lambda i: f"X0[{i + start}]", lambda i: f"X1[{i + start}]")
    before = graph.edge_weights.evaluated.copy()
    mine = LazyStats()  # this rank's counts

    def solve_share() -> list[GeodesicPath | None]:
        if rows.start == rows.stop:  # fewer pairs than ranks: this rank has none
            return []
        args = (method, n_threads, raise_unreachable, names, mine, start, rules, progress)
        return _solve(model, graph, dev, policy, a[rows], b[rows], *args)

    paths = on_every_rank(solve_share)
    _share_evaluated(graph, before)
    if stats is not None:
        _add_stats(stats, gather_objects(mine))
    fields = gather_objects(
        [None if p is None else (p.length, p.charts, p.latents, p.nodes, p.shortest_length) for p in paths]
    )
    return [None if f is None else _path(graph, model, dev, *f) for part in fields for f in part]


def _share_evaluated(graph: GraphRecord, before: np.ndarray) -> None:
    """Store on every rank the edge weights any rank decoded since ``before`` ((n_edges,) bool, the evaluated
    mask then); where several ranks decoded an edge, the lowest rank's value is kept on all."""
    weights = graph.edge_weights
    new = np.flatnonzero(weights.evaluated & ~before)
    ids, values = gather_rows(new), gather_rows(weights.values[new])
    if ids.size:
        unique, first = np.unique(ids, return_index=True)  # rank order: the first occurrence is the lowest rank's
        weights.store(unique, values[first])


def _add_stats(stats: LazyStats, ranks: list[LazyStats]) -> None:
    """Add the ranks' lazy-query counts to ``stats`` (rounds: the maximum; per-round edges summed by round)."""
    stats.rounds += max(r.rounds for r in ranks)
    stats.graph_edges += sum(r.graph_edges for r in ranks)
    stats.attachment_edges += sum(r.attachment_edges for r in ranks)
    stats.direct_edges += sum(r.direct_edges for r in ranks)
    per_round = [0] * max(len(r.per_round) for r in ranks)
    for r in ranks:
        for i, n in enumerate(r.per_round):
            per_round[i] += n
    stats.per_round.extend(per_round)


def _check_reachable(ends: PairEnds, first: int | None = None) -> None:
    """Raise UnreachableError naming the charts and components of the first pair that cannot be joined
    (``first``: index of pair 0 in the whole batch when these pairs are one rank's share)."""
    graph, src, dst, direct = ends.graph, ends.src, ends.dst, ends.direct
    comp, sizes = graph.native.component, graph.native.component_sizes
    for b in range(src.n_queries):
        if len(direct.of(b)) > 0:
            continue
        cs = set(comp[src.nodes[src.offsets[b] : src.offsets[b + 1]]].tolist())
        ct = set(comp[dst.nodes[dst.offsets[b] : dst.offsets[b + 1]]].tolist())
        if cs.isdisjoint(ct):
            if first is None and src.n_queries == 1:
                name = "x0 and x1"
            else:
                q = b + (first or 0)
                name = f"pair {q}: X0[{q}] and X1[{q}]"
            raise UnreachableError(
                f"{name} attach to different connected components of the graph: x0 in "
                f"{_describe(b, cs, src, sizes)}; x1 in {_describe(b, ct, dst, sizes)}. The graph has {len(sizes)} "
                f"components; {joining_advice(graph, cs, ct)}"
            )


def _describe(b: int, components: set[int], att: Attachments, sizes: np.ndarray) -> str:
    charts = att.copy_chart[att.copy_offsets[b] : att.copy_offsets[b + 1]].tolist()
    return f"charts {charts}, components " + ", ".join(f"{i} (size {sizes[i]})" for i in sorted(components))


def _cheap_attachments(graph: GraphRecord, att: Attachments) -> int:
    """The points that decoding every pending attachment edge of ``att`` when attached takes, where that is at most
    :data:`EAGER_ATTACH_S` at the graph's measured decode rate (a cheap decoder), else 0. Each LazySP round that
    would decode some of them lazily costs a search and its bookkeeping: on the sphere (2,000 points, k = 20, 15
    steps) a query took 5.8 ms in about 5 rounds, 2.9 ms in one with its attachments decoded up front in one call. An
    expensive
    decoder (a trained conv decoder: ~1,400 points/s) keeps its attachments lazy (issue 12)."""
    rate = graph.decode_policy.measured if graph.decode_policy is not None else 0.0
    points = int((~att.evaluated).sum()) * interior_decodings(graph.n_steps)
    return points if 0 < points <= EAGER_ATTACH_S * rate else 0


def _attach_unique(
    model: SemiAtlasModel,
    graph: GraphRecord,
    dev: torch.device,
    policy: DecodePolicy,
    a: torch.Tensor,
    b: torch.Tensor,
    names: Names,
    rule: str,
) -> QuerySet:
    """Attachments of the sources and targets; bitwise-equal query points are encoded once (so identically)."""
    both = torch.cat([a, b.to(a.device)])
    unique, inverse = torch.unique(both.reshape(both.shape[0], -1), dim=0, return_inverse=True)
    inv = inverse.cpu().numpy()
    first = np.unique(inv, return_index=True)[1]  # the first query that is each unique point

    def label(u: int) -> str:
        q = int(first[u])
        return names[0](q) if q < a.shape[0] else names[1](q - a.shape[0])

    with evaluating(model), applied(policy):  # all ends in one pass: fewer, fuller decoder batches
        att = attach(graph, model, unique.reshape(-1, *both.shape[1:]), policy.batch_size, dev, label, rule)
        points = _cheap_attachments(graph, att)
        if points:  # in one decoder call (at most EAGER_ATTACH_S of decoding)
            one_call = dataclasses.replace(policy, batch_size=max(policy.batch_size, points))
            context = DecodeContext(model, dev, one_call, graph.n_steps)
            evaluate(AttachmentEdgeKind(graph, att), np.arange(att.nodes.size), context)
    warn_far_queries(graph, unique, att, label)
    return QuerySet.of(att, inv[: a.shape[0]], inv[a.shape[0] :])


def _solve(
    model: SemiAtlasModel,
    graph: GraphRecord,
    dev: torch.device,
    policy: DecodePolicy,
    a: torch.Tensor,
    b: torch.Tensor,
    method: Method,
    n_threads: int,
    raise_unreachable: bool = True,
    names: Names = ("x0".format, "x1".format),
    stats: LazyStats | None = None,
    first: int | None = None,
    rules: QueryRules = QueryRules(),
    progress: bool | None = False,
) -> list[GeodesicPath | None]:
    """The exact routes of the pairs (a[b], b[b]) made into paths; a bar over the pairs made exact as ``progress``
    says (:mod:`agm.geodesic.query.lazy_progress`; False, the default, for the single-pair query)."""
    qs = _attach_unique(model, graph, dev, policy, a, b, names, rules.attach)
    src, dst = qs.sides()
    direct = direct_edges(graph, src, dst)
    if raise_unreachable:
        _check_reachable(PairEnds(graph, src, dst, direct), first)
    pending_att = int((~qs.unique.evaluated).sum())
    what = f"{src.n_queries} geodesics"
    with (
        lazy_progress(graph, policy, pending_att, src.n_queries, "shortest_paths", what, progress) as advance,
        evaluating(model),
    ):
        on_demand = graph.pending_nodes is not None  # no positions in the native graph yet: no A* heuristic
        routes, src, dst, direct = lazy_routes(
            graph,
            model,
            dev,
            policy,
            qs,
            direct,
            "dijkstra" if on_demand else method,
            n_threads,
            stats,
            rules.switch_tolerance,
            advance,
        )
    return [None if r is None else _make_path(graph, model, dev, src, dst, i, r) for i, r in enumerate(routes)]


def _make_path(
    graph: GraphRecord,
    model: SemiAtlasModel,
    device: torch.device,
    src: Attachments,
    dst: Attachments,
    b: int,
    route: Route,
) -> GeodesicPath:
    # main copy of x0 [, its copy in the chart it leaves in], nodes, [x1's copy in the chart it is reached in,]
    # main copy of x1
    first = sorted({int(src.copy_offsets[b]), src.copy_of(b, route.leave_chart)})
    last = sorted({int(dst.copy_offsets[b]), dst.copy_of(b, route.arrive_chart)}, reverse=True)
    nodes = route.nodes
    latents = np.concatenate([src.copy_latent[first], graph.latents[nodes], dst.copy_latent[last]])
    charts = np.concatenate([src.copy_chart[first], graph.node_chart[nodes], dst.copy_chart[last]]).astype(np.int64)
    path = _path(graph, model, device, float(route.cost), charts, latents, nodes, float(route.shortest))
    if graph.pending_nodes is not None:  # nodes decoded on demand: some rows of graph.positions are not decodings
        return path
    node_positions = graph.positions[nodes].astype(np.float32, copy=False)
    positions = np.concatenate([src.copy_position[first], node_positions, dst.copy_position[last]])
    return dataclasses.replace(path, _positions=positions)


def _path(
    graph: GraphRecord,
    model: SemiAtlasModel,
    device: torch.device,
    length: float,
    charts: np.ndarray,
    latents: np.ndarray,
    nodes: np.ndarray,
    shortest: float,
) -> GeodesicPath:
    """The GeodesicPath of a route: (L,) int64 charts, (L, d) float32 latents, (N,) int64 graph nodes visited,
    the length of the pair's shortest route."""
    return GeodesicPath(
        length=length,
        charts=charts,
        latents=latents,
        nodes=nodes,
        data_indices=graph.node_point[nodes].astype(np.int64),
        chart_changes=np.flatnonzero(charts[1:] != charts[:-1]).astype(np.int64),
        _model=model,
        _n_steps=graph.n_steps,
        _data_shape=graph.data_shape,
        _device=device,
        _check=graph.model_check,
        _eps=graph.eps,
        _batch_size=graph.decode_policy.batch_size if graph.decode_policy else default_batch_size(device),
        _decode_rate=graph.decode_policy.measured if graph.decode_policy else 0.0,
        shortest_length=shortest,
    )
