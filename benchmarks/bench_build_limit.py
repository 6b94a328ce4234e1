"""Eager ``build_graph`` against the decoder limit and the minimum decodes, peers in their own processes, in turn.

The minimum decodes of an eager graph are one per node plus n_steps - 1 per intra-chart edge (eq. 10); the decoder
limit is that many points at the decoder's best measured throughput: a sweep over torch's thread counts (1 and
torch's setting) and batch sizes (single-chart batches of seeded normal latents, median of 3 runs). The build runs
as a user gets it (decode policy chosen by the build; ``AGM_POLICY_CACHE=off``, so nothing is remembered from an
earlier run), and every point it decodes is counted (bench_geodesic's ``DecodeCounter``; the model fingerprint's
n_charts x 4 probe decodes included). Reported per model: build wall / limit wall, build CPU / limit CPU, decodes
/ minimum. Models (initial weights, data of random values: the cost does not depend on them; psi of initial
weights is nearly uniform, so at eps = 0.05 every point is in every chart): "mlp", an AWAE-GAN with MLP networks
(4 charts, d = 7, hidden 256, data (784,)), 2,000 points, k = 20, 15 steps; "paper", the paper's conv decoder
(8 charts, h = 48, (1, 28, 28)), ``--paper-points`` points (default 300), k = 20, 15 steps.

Peers: ``--peer name=PYTHONPATH`` (empty: this checkout), as in bench_lazy_scale.py.

Usage: python benchmarks/bench_build_limit.py [--models mlp,paper] [--peer base=/tmp/base-site --peer new=]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, load_average, parser, run_in_peer, write_json  # noqa: E402

K, N_STEPS, SIZES = 20, 15, (16, 64, 256, 1024, 4096, 16384)


def best_rate(model: Any, budget_points: int) -> tuple[float, float, dict[str, float]]:
    """The best points per wall second and per CPU second over threads x batch sizes (median of 3 runs)."""
    import torch

    from agm.geodesic.graph.policy import DecodePolicy, applied

    rates: dict[str, float] = {}
    best_wall, best_cpu = 0.0, 0.0
    current = torch.get_num_threads()
    for threads in sorted({1, current}):
        with torch.no_grad(), applied(DecodePolicy(threads=threads, batch_size=1)):
            for size in SIZES:
                z = torch.randn(size, int(model.latent_dim), generator=torch.Generator().manual_seed(size))
                y = torch.zeros(size, dtype=torch.int64)
                reps = max(1, budget_points // size)
                walls, cpus = [], []
                for _ in range(3):
                    w0, c0 = time.perf_counter(), time.process_time()
                    for _ in range(reps):
                        model.decode(z, y)
                    walls.append(time.perf_counter() - w0)
                    cpus.append(time.process_time() - c0)
                wall = reps * size / statistics.median(walls)
                rates[f"{threads}x{size}"] = wall
                best_wall = max(best_wall, wall)
                best_cpu = max(best_cpu, reps * size / max(statistics.median(cpus), 1e-9))
    return best_wall, best_cpu, rates


def run_case(name: str, n_points: int, seed: int) -> dict[str, Any]:
    """One process: the decoder limit, then the eager build of ``name`` on ``n_points`` points."""
    import torch

    from agm import geodesic
    from agm.models.registry import build_model
    from bench_geodesic import DecodeCounter

    torch.manual_seed(seed)
    if name == "mlp":
        model = build_model("awae", 4, (784,), hidden=256).eval()
    else:
        model = build_model("awae", 8, (1, 28, 28), hidden=48).eval()
    data = torch.rand(n_points, *model.data_shape, generator=torch.Generator().manual_seed(seed))
    budget = 256 if n_points <= 200 else (2048 if name == "paper" else 65536)  # --quick: a smoke test
    rate_wall, rate_cpu, rates = best_rate(model, budget)
    counter = DecodeCounter(model)
    w0, c0 = time.perf_counter(), time.process_time()
    graph = geodesic.build_graph(model, data, k=K, n_steps=N_STEPS, progress=False, weights="eager")
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    minimum = graph.native.n_nodes + graph.native.n_intra_edges * (N_STEPS - 1)
    return {
        "model": name,
        "n_points": n_points,
        "n_nodes": int(graph.native.n_nodes),
        "n_intra_edges": int(graph.native.n_intra_edges),
        "build_wall_s": wall,
        "build_cpu_s": cpu,
        "decoded": counter.count,
        "minimum_decodes": minimum,
        "decodes_ratio": counter.count / minimum,
        "limit_wall_s": minimum / rate_wall,
        "limit_cpu_s": minimum / rate_cpu,
        "wall_ratio": wall / (minimum / rate_wall),
        "cpu_ratio": cpu / (minimum / rate_cpu),
        "rates": rates,
        "decode_policy": graph.decode_policy.to_json(),
        "timings": dict(graph.timings),
    }


def run_peer(python_path: str, name: str, n_points: int, seed: int) -> dict[str, Any]:
    """run_case in a fresh process whose PYTHONPATH starts with ``python_path`` ("" = this checkout)."""
    args = ["--case", name, "--points", str(n_points), "--seed", str(seed)]
    return run_in_peer(python_path, __file__, args, env={"AGM_POLICY_CACHE": "off"})


def main() -> None:
    p = parser("bench_build_limit", __doc__ or "")
    p.add_argument("--models", default="mlp,paper")
    p.add_argument("--paper-points", type=int, default=300)
    p.add_argument("--peer", action="append", default=[], help="name=PYTHONPATH (empty: this checkout)")
    p.add_argument("--case", default=None, help=argparse.SUPPRESS)
    p.add_argument("--points", type=int, default=2000, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case is not None:
        print(json.dumps(run_case(args.case, args.points, args.seed)))
        return
    peers = [tuple(spec.split("=", 1)) for spec in (args.peer or ["new="])]
    cases: list[dict[str, Any]] = []
    for name in args.models.split(","):
        points = 200 if args.quick else (args.paper_points if name == "paper" else 2000)
        for r in range(args.repeats or 1):
            for peer, path in peers:
                load = load_average()
                result = run_peer(path, name, points, args.seed)
                result.update(peer=peer, repeat=r, load_before=load)
                cases.append(result)
                print(
                    f"{peer:>6s} {name:>5s} N={points}: build {result['build_wall_s']:7.1f}s wall "
                    f"({result['wall_ratio']:.2f}x limit), {result['build_cpu_s']:7.1f}s CPU "
                    f"({result['cpu_ratio']:.2f}x); decodes {result['decoded']} = "
                    f"{result['decodes_ratio']:.4f}x minimum; policy {result['decode_policy']}; load {load}",
                    flush=True,
                )
    write_json(
        args.out,
        {"benchmark": "bench_build_limit", "seed": args.seed, "environment": environment(), "cases": cases},
    )


if __name__ == "__main__":
    main()
