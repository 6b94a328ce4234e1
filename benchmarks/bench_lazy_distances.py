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
from agm.geodesic.query.lazysp import LazyStats  # noqa: E402
from agm.models.analytic import SphereAtlas  # noqa: E402
from agm.training import load_checkpoint  # noqa: E402
from bench_geodesic import DecodeCounter  # noqa: E402

RTOL, ATOL = 2e-6, 1e-6


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
    args = p.parse_args()
    args.points = args.points or (600 if args.quick else 2000)
    args.n = args.n or (30 if args.quick else 200)
    env = {**environment(), "load_average_at_start": load_average()}
    model, data, kw, source = workload(args)
    counter = DecodeCounter(model)
    lazy, build_s, build_cpu = clocked(lambda: geodesic.build_graph(model, data, **kw))
    assert lazy.weights_evaluated == 0.0, "the benchmark needs a lazy graph"
    other = geodesic.build_graph(model, data, decode_policy=lazy.decode_policy, **kw)
    X = data[: args.n]

    counter.count = 0
    stats = LazyStats()
    D, lazy_s, lazy_cpu = clocked(lambda: lazy.distances(X, lazy_stats=stats))
    lazy_decodes = counter.count

    counter.count = 0
    _, all_s, all_cpu = clocked(lambda: other.evaluate_all(progress=False))
    all_decodes = counter.count
    counter.count = 0
    E, after_s, after_cpu = clocked(lambda: other.distances(X))
    after_decodes = counter.count

    same = bool(np.allclose(D, E, rtol=RTOL, atol=ATOL) and np.array_equal(np.isinf(D), np.isinf(E)))
    finite = np.isfinite(D) & (E > 0)
    worst = float(np.max(np.abs(D[finite] - E[finite]) / E[finite])) if finite.any() else 0.0
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
        "max_rel_diff": worst,
        "matrices_agree": same,
        "correctness_passed": same,
    }
    write_json(args.out, result)
    r = result["ratios"]
    print(
        f"lazy {args.n}x{args.n}: {lazy_decodes:,} decodes, {lazy_s:.1f} s wall, {lazy_cpu:.1f} s CPU, "
        f"{lazy.weights_evaluated:.1%} of the edges, {stats.rounds} rounds; evaluate_all: {all_decodes:,} decodes, "
        f"{all_s:.1f} s wall, {all_cpu:.1f} s CPU; ratios decodes {r['decodes']:.3f}, wall {r['wall']:.3f}, "
        f"CPU {r['cpu']:.3f}; matrices agree: {same} (max rel {worst:.1e})",
        flush=True,
    )
    return 0 if same else 1


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    raise SystemExit(main())
