"""Issue 19's distance target: a 200 x 200 ``distances`` matrix on a lazy graph against completing the graph.

A trained checkpoint (``--checkpoint``, e.g. ``agm train --model awae --charts 8 --dataset mnist --preset cpu``) and
``--points`` MNIST test points (as the README's "Use your trained model" snippet: k = 20, eps = 0.05, n_steps = 15;
``--eps`` another eps: a smaller one puts more points in more charts, a larger graph of the same model).
Two fresh lazy graphs are built (same arguments, nodes decoded by the build, same decode policy: the first build's,
measured on its nodes and passed to the second), then

* ``lazy``: ``graph.distances(data[:n])`` on the first (one-to-many LazySP, :mod:`agm.geodesic.query.lazy_distances`);
* ``evaluate_all``: ``graph.evaluate_all()`` on the second (what ``distances`` ran before issue 19, before its
  own attachments and searches), then the same ``distances`` on the now eager graph.

Recorded for each: points decoded (counted by wrapping ``model.decode``), wall and CPU seconds, and the lazy call's
rounds and edges decoded per round (``LazyStats``).
Targets: lazy decodes <= 0.1x evaluate_all's and lazy time <= 0.1x evaluate_all's. Correctness: the two matrices
agree (rtol 2e-6 with an absolute floor of 1e-6: float32 decodings in other batches), else exit 1.

``--floor``: also the floor of any exact method on this graph and these pairs. Every edge of one shortest route of
each pair must be decoded in full to know the pair's length, so the union of the exact routes' graph and
attachment edges, (n_steps - 1) decodings each, is a lower bound on any exact method's decodes (ties aside). The
routes are read where the lazy call settles them (a hook on ``lazy_distances._pending``, its private helper), and
each route's cost, summed from the final exact weights, must equal the matrix entry (else exit 1).
``--no-evaluate-all``: skip the completed graph (1,400 s on a graph of the issue's size); its decodes are counted
by formula (every intra-chart edge, n_steps - 1 each, the nodes being decoded by the build) and the matrices are
not compared (use with ``--floor``, whose route check remains).

``--quick`` needs no checkpoint: the closed-form sphere (:class:`agm.models.analytic.SphereAtlas`, 600 points,
k = 10, n_steps = 8) and a 30 x 30 matrix, a smoke test of the same two paths (its figures say nothing about a
trained decoder's bounds).

Usage: python benchmarks/bench_lazy_distances.py --checkpoint runs/awae8/checkpoint.pt [--points 2000] [--n 200]
       python benchmarks/bench_lazy_distances.py --quick
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, load_average, parser, write_json  # noqa: E402
from agm import geodesic  # noqa: E402
from agm.data import load_dataset  # noqa: E402
from agm.geodesic.query import distances as distances_module  # noqa: E402
from agm.geodesic.query import lazy_distances  # noqa: E402
from agm.geodesic.query.lazysp import LazyStats  # noqa: E402
from agm.models.analytic import SphereAtlas  # noqa: E402
from agm.training import load_checkpoint  # noqa: E402
from bench_geodesic import DecodeCounter  # noqa: E402

RTOL, ATOL = 2e-6, 1e-6


class FloorRoutes:
    """The exact routes of a lazy ``distances`` call, captured where it settles them (a hook on the private
    ``lazy_distances._pending``): the union of their graph and attachment edges, and each route's cost from the
    final exact weights, checked against the call's matrix."""

    def __init__(self) -> None:
        self.graph_edges: set[int] = set()
        self.attachment_edges: set[int] = set()
        self.routes: dict[tuple[int, int], tuple[np.ndarray, int, int]] = {}  # (source, target): graph ids, att ids
        self.att: Any = None
        self.rows: tuple[np.ndarray, np.ndarray] | None = None
        self.out: np.ndarray | None = None

    def install(self) -> None:
        """Wrap ``_pending`` (the routes) and ``lazy_graph_distances`` as ``distances`` calls it (rows, matrix)."""
        pending_fn, call_fn = lazy_distances._pending, distances_module.lazy_graph_distances

        def pending(graph: Any, lookup: Any, as_of: int, att: Any, levels: Any, src: np.ndarray, dst: np.ndarray,
                    offsets: np.ndarray, nodes: np.ndarray) -> Any:  # fmt: skip
            exact, g_ids, a_ids = pending_fn(graph, lookup, as_of, att, levels, src, dst, offsets, nodes)
            for pair in np.flatnonzero(exact):
                route = nodes[offsets[pair] : offsets[pair + 1]]
                s, t = int(src[pair // dst.size]), int(dst[pair % dst.size])
                ids = graph.edge_weights.edge_ids(route[:-1], route[1:])
                first = int(lookup.of(np.array([s]), route[:1])[0])
                last = int(lookup.of(np.array([t]), route[-1:])[0])
                self.graph_edges.update(ids.tolist())
                self.attachment_edges.update((first, last))
                self.routes[(s, t)] = (ids, first, last)
            return exact, g_ids, a_ids

        def call(graph: Any, model: Any, device: Any, policy: Any, att: Any, rows: Any, *rest: Any) -> np.ndarray:
            self.att, self.rows = att, rows
            self.out = call_fn(graph, model, device, policy, att, rows, *rest)
            return self.out

        lazy_distances._pending = pending
        distances_module.lazy_graph_distances = call

    def worst_cost_error(self, values: np.ndarray) -> float:
        """The largest relative difference between a captured route's cost (graph edge ``values`` + its two
        attachment costs) and the call's matrix entry for its pair."""
        assert self.out is not None and self.rows is not None and self.routes, "no lazy distances call was captured"
        row_of = {int(q): r for r, q in enumerate(self.rows[0])}
        col_of = {int(q): c for c, q in enumerate(self.rows[1])}
        worst = 0.0
        for (s, t), (ids, first, last) in self.routes.items():
            cost = float(values[ids].sum()) + float(self.att.costs[first]) + float(self.att.costs[last])
            want = float(self.out[row_of[s], col_of[t]])
            worst = max(worst, abs(cost - want) / max(want, 1e-12))
        return worst


def clocked(fn: Any) -> tuple[Any, float, float]:
    """(fn(), wall seconds, process CPU seconds)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def workload(args: Any) -> tuple[Any, torch.Tensor, dict[str, Any], str]:
    """(model, data, build_graph keywords, its name): the checkpoint's MNIST points, or in --quick the sphere."""
    if args.quick:
        model = SphereAtlas(ambient_shape=(5,))
        unit = torch.randn(args.points, 3, generator=torch.Generator().manual_seed(args.seed))
        data = model.points(unit / unit.norm(dim=1, keepdim=True))
        return model, data, {"k": 10, "eps": 0.05, "n_steps": 8, "progress": False}, "SphereAtlas (closed form)"
    if args.checkpoint is None:
        raise SystemExit("--checkpoint is required without --quick")
    model, config, _ = load_checkpoint(args.checkpoint)
    data = load_dataset(config.dataset, "test", n=args.points, data_dir=args.data_dir or config.data_dir).x
    kw = {"k": 20, "eps": args.eps, "n_steps": 15, "progress": False, "node_decodes": "build"}
    return model, data, kw, args.checkpoint


def main() -> int:
    p = parser("bench_lazy_distances", __doc__ or "")
    p.add_argument("--checkpoint", default=None, help="a trained checkpoint.pt (not needed with --quick)")
    p.add_argument("--data-dir", default=None, help="folder of the MNIST files (default: the checkpoint's)")
    p.add_argument("--points", type=int, default=None, help="points in the graph (default 2000; --quick 600)")
    p.add_argument("--eps", type=float, default=0.05, help="the graph's eps (a checkpoint's; default 0.05)")
    p.add_argument("--n", type=int, default=None, help="rows (and columns) of the matrix (default 200; --quick 30)")
    p.add_argument("--floor", action="store_true", help="also the floor of any exact method (the exact routes' edges)")
    p.add_argument("--no-evaluate-all", action="store_true", help="count evaluate_all's decodes by formula only")
    args = p.parse_args()
    args.points = args.points or (600 if args.quick else 2000)
    args.n = args.n or (30 if args.quick else 200)
    env = {**environment(), "load_average_at_start": load_average()}
    model, data, kw, source = workload(args)
    counter = DecodeCounter(model)
    lazy, build_s, build_cpu = clocked(lambda: geodesic.build_graph(model, data, **kw))
    assert lazy.weights_evaluated == 0.0, "the benchmark needs a lazy graph"
    other = None if args.no_evaluate_all else geodesic.build_graph(model, data, decode_policy=lazy.decode_policy, **kw)
    X = data[: args.n]
    floor = FloorRoutes() if args.floor else None
    if floor is not None:
        floor.install()
    n_inner = kw["n_steps"] - 1
    n_intra = int(lazy.record.native.n_intra_edges)

    counter.count = 0
    stats = LazyStats()
    D, lazy_s, lazy_cpu = clocked(lambda: lazy.distances(X, lazy_stats=stats))
    lazy_decodes = counter.count

    floor_result = None
    if floor is not None:
        intra = sum(1 for e in floor.graph_edges if e < n_intra)
        route_error = floor.worst_cost_error(lazy.record.edge_weights.values)
        floor_result = {
            "graph_edges": len(floor.graph_edges),
            "intra_chart_edges": intra,
            "attachment_edges": len(floor.attachment_edges),
            "decodes": (intra + len(floor.attachment_edges)) * n_inner,
            "routes": len(floor.routes),
            "worst_route_cost_error": route_error,
        }

    if other is None:  # every intra-chart edge, the nodes decoded by the build
        all_decodes, all_s, all_cpu = n_intra * n_inner, float("nan"), float("nan")
        after_decodes, after_s, after_cpu = 0, float("nan"), float("nan")
        same, worst = True, float("nan")
    else:
        counter.count = 0
        _, all_s, all_cpu = clocked(lambda: other.evaluate_all(progress=False))
        all_decodes = counter.count
        counter.count = 0
        E, after_s, after_cpu = clocked(lambda: other.distances(X))
        after_decodes = counter.count
        same = bool(np.allclose(D, E, rtol=RTOL, atol=ATOL) and np.array_equal(np.isinf(D), np.isinf(E)))
        finite = np.isfinite(D) & (E > 0)
        worst = float(np.max(np.abs(D[finite] - E[finite]) / E[finite])) if finite.any() else 0.0
    routes_ok = floor_result is None or floor_result["worst_route_cost_error"] <= 1e-6
    result = {
        "benchmark": "bench_lazy_distances",
        "mode": "quick" if args.quick else "full",
        "seed": args.seed,
        "environment": env,
        "model": source,
        "points": args.points,
        "n": args.n,
        "graph": lazy.stats(),
        "decode_policy": lazy.decode_policy.to_json() if lazy.decode_policy else None,
        "build_s": build_s,
        "build_cpu_s": build_cpu,
        "lazy": {
            "decodes": lazy_decodes,
            "wall_s": lazy_s,
            "cpu_s": lazy_cpu,
            "weights_evaluated": lazy.weights_evaluated,
            "rounds": stats.rounds,
            "graph_edges": stats.graph_edges,
            "attachment_edges": stats.attachment_edges,
            "bounded_edges": stats.bounded_edges,
            "edges_per_round": stats.per_round,
        },
        "evaluate_all": {"decodes": all_decodes, "wall_s": all_s, "cpu_s": all_cpu},
        "distances_after_evaluate_all": {"decodes": after_decodes, "wall_s": after_s, "cpu_s": after_cpu},
        "ratios": {
            "decodes": lazy_decodes / max(all_decodes, 1),
            "wall": lazy_s / all_s,
            "cpu": lazy_cpu / all_cpu,
            "wall_vs_evaluate_all_plus_distances": lazy_s / (all_s + after_s),
        },
        "floor": floor_result
        and {**floor_result, "ratio_to_evaluate_all": floor_result["decodes"] / max(all_decodes, 1)},
        "max_rel_diff": worst,
        "matrices_agree": same if other is not None else None,
        "correctness_passed": same and routes_ok,
    }
    write_json(args.out, result)
    r = result["ratios"]
    print(
        f"lazy {args.n}x{args.n}: {lazy_decodes:,} decodes, {lazy_s:.1f} s wall, {lazy_cpu:.1f} s CPU, "
        f"{lazy.weights_evaluated:.1%} of the edges, {stats.rounds} rounds; evaluate_all: {all_decodes:,} decodes, "
        f"{all_s:.1f} s wall, {all_cpu:.1f} s CPU; ratios decodes {r['decodes']:.3f}, wall {r['wall']:.3f}, "
        f"CPU {r['cpu']:.3f}; matrices agree: {same if other is not None else 'not compared'} (max rel {worst:.1e})",
        flush=True,
    )
    if floor_result is not None:
        print(
            f"floor: {floor_result['routes']:,} exact routes use {floor_result['intra_chart_edges']:,} intra-chart and "
            f"{floor_result['attachment_edges']:,} attachment edges: {floor_result['decodes']:,} decodes, "
            f"{result['floor']['ratio_to_evaluate_all']:.3f} of evaluate_all's; route costs equal the matrix "
            f"(max rel {floor_result['worst_route_cost_error']:.1e})",
            flush=True,
        )
    return 0 if same and routes_ok else 1


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    raise SystemExit(main())
