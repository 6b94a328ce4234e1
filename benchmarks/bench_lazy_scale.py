"""LazySP at scale: a 100-edge ``update_weights`` and the first lazy query on large graphs, peers round-robin.

A LazySP round hands the weights it decoded to the native graph (``AtlasGraph.update_weights``) and searches
again; issue 19 measured 1.3 / 34 / 175 ms for 100 edges on 1.1M / 4.4M / 17.7M edges (the whole weight array
copied per round) and a first lazy query growing as N^1.4. Case: the lazy ``build_graph`` of the exact
``CylinderAtlas`` (radius 0.7, 2 charts, k = 20, n_steps = 5, a fixed decode policy) on N uniform points;
timed: the first ``shortest_path`` between two fixed random points (wall and CPU), a second one, and
``update_weights`` of 100 random intra-chart edges to their current weights (median of 15 calls, wall and the
calling thread's CPU time: on a loaded machine the wall time mostly measures waiting), plus
``memory_bytes() / n_edges``. Correctness: the first query's length equals the eager length of its route, i.e.
every edge on the returned path is evaluated (checked with the graph's own weights).

Peers (``--peer name=PYTHONPATH``, e.g. an install of the base commit with ``pip install --target``; ``name=``
for this checkout) run in their own processes, in turn, ``--repeats`` times each; the ratios to the first peer
are printed. The case of one process: ``--case N``.

Usage: python benchmarks/bench_lazy_scale.py [--sizes 200000,1000000] [--peer base=/tmp/base-site --peer new=]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, load_average, parser, run_in_peer, write_json  # noqa: E402

K, N_STEPS, UPDATE_EDGES, UPDATE_REPEATS = 20, 5, 100, 15


def run_case(n: int, seed: int) -> dict[str, Any]:
    """One process: build the lazy cylinder graph of n points, time the queries and update_weights."""
    import torch

    from agm import geodesic
    from agm.geodesic.graph.policy import DecodePolicy
    from agm.models.analytic import CylinderAtlas

    torch.set_num_threads(1)
    model = CylinderAtlas(radius=0.7, ambient_shape=(6,))
    g = torch.Generator().manual_seed(seed)

    def points(m: int) -> torch.Tensor:
        return model.points(torch.rand(m, generator=g) * 2 * math.pi - math.pi, torch.rand(m, generator=g) * 2)

    data, ends = points(n), points(4)
    policy = DecodePolicy(threads=1, batch_size=4096)
    t0 = time.perf_counter()
    graph = geodesic.build_graph(model, data, k=K, n_steps=N_STEPS, progress=False, decode_policy=policy)
    build_s = time.perf_counter() - t0
    native = graph.native
    queries = []
    for a, b in ((0, 1), (2, 3)):
        w0, c0 = time.perf_counter(), time.process_time()
        path = geodesic.shortest_path(model, ends[a], ends[b], graph)
        queries.append({"wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0, "length": path.length})
    rng = np.random.default_rng(seed)
    weights = np.asarray(native.weights)
    times, cpu_times = [], []
    for _ in range(UPDATE_REPEATS):
        ids = np.sort(rng.choice(native.n_intra_edges, size=UPDATE_EDGES, replace=False)).astype(np.int64)
        w = np.ascontiguousarray(weights[ids])
        t0, c0 = time.perf_counter(), time.thread_time()
        native.update_weights(ids, w)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.thread_time() - c0)
    return {
        "n_points": n,
        "n_nodes": int(native.n_nodes),
        "n_edges": int(native.n_edges),
        "build_s": build_s,
        "first_query": queries[0],
        "second_query": queries[1],
        "update_weights_100_median_s": float(np.median(times)),
        "update_weights_100_median_cpu_s": float(np.median(cpu_times)),
        "bytes_per_edge": native.memory_bytes() / native.n_edges,
        "evaluated_fraction": float(graph.weights_evaluated),
    }


def run_peer(python_path: str, n: int, seed: int) -> dict[str, Any]:
    """run_case in a fresh process whose PYTHONPATH starts with ``python_path`` ("" = this checkout)."""
    return run_in_peer(python_path, __file__, ["--case", str(n), "--seed", str(seed)])


def main() -> None:
    p = parser("bench_lazy_scale", __doc__ or "")
    p.add_argument("--sizes", default="200000,1000000")
    p.add_argument("--peer", action="append", default=[], help="name=PYTHONPATH (empty: this checkout)")
    p.add_argument("--case", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case is not None:
        print(json.dumps(run_case(args.case, args.seed)))
        return
    peers = [tuple(spec.split("=", 1)) for spec in (args.peer or ["new="])]
    cases: list[dict[str, Any]] = []
    for n in [2000] if args.quick else [int(s) for s in args.sizes.split(",")]:
        for r in range(args.repeats or 1):
            for name, path in peers:
                load = load_average()
                result = run_peer(path, n, args.seed)
                result.update(peer=name, repeat=r, load_before=load)
                cases.append(result)
                print(
                    f"{name:>6s} N={n:>8d} edges={result['n_edges']:>9d} build {result['build_s']:6.1f}s  "
                    f"first query {result['first_query']['wall_s']:7.3f}s (cpu {result['first_query']['cpu_s']:.3f})  "
                    f"second {result['second_query']['wall_s']:7.3f}s  update_weights(100) "
                    f"{result['update_weights_100_median_s'] * 1e3:8.3f} ms "
                    f"(cpu {result['update_weights_100_median_cpu_s'] * 1e3:.3f})  "
                    f"{result['bytes_per_edge']:.1f} B/edge  "
                    f"load {load}",
                    flush=True,
                )
    lengths_agree = all(
        math.isclose(a["first_query"]["length"], b["first_query"]["length"], rel_tol=1e-6, abs_tol=1e-9)
        for a in cases
        for b in cases
        if a["n_points"] == b["n_points"]
    )
    print(f"first-query lengths agree across peers and repeats: {lengths_agree}")
    payload = {
        "benchmark": "bench_lazy_scale",
        "mode": "quick" if args.quick else "full",
        "seed": args.seed,
        "environment": environment(),
        "peers": dict(peers),
        "cases": cases,
        "correctness_passed": lengths_agree,
    }
    write_json(args.out, payload)


if __name__ == "__main__":
    main()
