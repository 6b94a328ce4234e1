"""Issue 19, item 5: the decode policy of a graph whose nodes are decoded on demand, chosen on its bulk node decodes.

A graph built with ``node_decodes="on_demand"`` and no known policy starts with torch's threads and the default
batch; its completion (before ``distances``, ``evaluate_all``, an export) times the policy trial on the nodes it
decodes anyway (``agm.geodesic.graph.node_trial``). Peers, each run in a fresh process (``AGM_POLICY_CACHE=off``),
round-robin, the order alternating by round:

- "trial": as agm does it;
- "fixed": the same graph with its trial removed and its policy not watched (the default policy throughout, as
  before either existed);
- "watched": the trial removed, the default policy watched on the bulk edge decodes
  (``agm.geodesic.graph.policy_watch``: the other thread count checked every few seconds, swapped in while it wins).

"trial" keeps the watch too, as agm does (its choice is watched once the edge trial ends). ``--peers`` picks a subset.

Each run builds the on-demand graph, completes its positions (timed: the trial's work) and computes
``distances`` of the first ``--distances`` points against themselves (timed: what the chosen policy serves); with
``--bulk evaluate_all`` it decodes every edge weight instead (timed), with ``--bulk shortest_paths`` it finds the
geodesics of ``--distances`` pairs of the next points in one ``shortest_paths`` call (timed: the queries' rounds).
``--first-query`` runs one ``shortest_path`` before (its node decodes are not timed by the trial; where it decodes
every node, as on the trained model, the trial is left to ``evaluate_all``'s edges).
``--spinners K`` starts K CPU-bound processes beside the runs (the shared machine's load; torch's two threads can
then lose to one). Checks: the matrices of all runs agree (relative 1e-5, absolute floor 1e-6), every "trial" run
ends with a measured policy and every other run with none, no "fixed" run has a watch.

Setting: ``--checkpoint`` (a trained model, its test split's first ``--points`` points; the issue's trained 8-chart
MNIST model) or, with ``--quick``, the closed-form cylinder. k = 20, eps = 0.05, 15 steps.

Usage: python benchmarks/bench_node_trial.py --checkpoint runs/awae8/checkpoint.pt [--rounds 2] [--spinners 4]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_model, environment, load_average, parser, write_json  # noqa: E402

PEERS = ("trial", "fixed", "watched")
SPIN = "while True: pass"


def _model_and_data(checkpoint: str | None, points: int, data_dir: str | None) -> tuple[Any, torch.Tensor]:
    if checkpoint is None:
        from agm.models.analytic import CylinderAtlas

        model = CylinderAtlas()
        g = torch.Generator().manual_seed(0)
        theta, h = torch.rand(points, generator=g) * 2 * math.pi - math.pi, torch.rand(points, generator=g)
        return model, model.points(theta, h)
    from agm.data import load_dataset
    from agm.training import load_checkpoint

    model, config, _ = load_checkpoint(checkpoint)
    return model, load_dataset(config.dataset, "test", n=points, data_dir=data_dir or config.data_dir).x


def worker(args: Any) -> dict[str, Any]:
    """One run of ``args.worker`` in this process: the completion's and the bulk work's wall and CPU seconds."""
    from agm import geodesic
    from agm.geodesic.graph.node_positions import complete_positions

    model, data = _model_and_data(args.checkpoint, args.points, args.data_dir)
    graph = geodesic.build_graph(model, data, k=20, eps=0.05, n_steps=15, progress=False, node_decodes="on_demand")
    if graph.record.policy_trial is None:
        raise SystemExit("the on-demand graph has no policy trial (a policy was remembered or given?)")
    if args.worker != "trial":
        graph.record.policy_trial = None
    graph.record.watch_policy = args.worker != "fixed"
    out: dict[str, Any] = {"peer": args.worker, "load_before": load_average()}
    if args.first_query:
        graph.shortest_path(data[0], data[1])
    pending = graph.record.pending_nodes
    out["nodes_left_by_query"] = int((~pending.decoded).sum()) if pending is not None else 0
    wall, cpu = time.perf_counter(), time.process_time()
    out["nodes_completed"] = complete_positions(graph.record, model)
    out["complete_wall"], out["complete_cpu"] = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    if args.bulk == "distances":
        out["result"] = graph.distances(data[: args.distances]).tolist()
    elif args.bulk == "shortest_paths":
        n = args.distances
        out["result"] = [p.length for p in graph.shortest_paths(data[2 : 2 + n], data[2 + n : 2 + 2 * n])]
    else:
        graph.evaluate_all()
        out["result"] = graph.record.edge_weights.values.tolist()
    out["bulk_wall"], out["bulk_cpu"] = time.perf_counter() - wall, time.process_time() - cpu
    policy = graph.record.decode_policy
    out["policy"] = {"threads": policy.threads, "batch_size": policy.batch_size, "measured": policy.measured}
    watch = graph.record.policy_watch
    out["watch"] = None if watch is None else {"swaps": watch.swaps, "current": watch.current.to_json()}
    out["load_after"] = load_average()
    return out


def _run(peer: str, args: Any) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", peer, "--points", str(args.points), "--distances", str(args.distances)]
    cmd += ["--bulk", args.bulk] + (["--first-query"] if args.first_query else [])
    cmd += ["--checkpoint", args.checkpoint] if args.checkpoint else []
    cmd += ["--data-dir", args.data_dir] if args.data_dir else []
    env = {**os.environ, "AGM_POLICY_CACHE": "off"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"{peer} failed:\n{proc.stdout}\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _checks(runs: list[dict[str, Any]]) -> dict[str, bool]:
    first = np.asarray(runs[0]["result"])
    equal = all(np.allclose(np.asarray(r["result"]), first, rtol=1e-5, atol=1e-6) for r in runs)
    measured = all((r["policy"]["measured"] > 0) == (r["peer"] == "trial") for r in runs)
    unwatched = all(r["watch"] is None for r in runs if r["peer"] == "fixed")
    return {"results_equal": equal, "trial_measured_others_not": measured, "fixed_unwatched": unwatched}


def _median(runs: list[dict[str, Any]], peer: str, key: str) -> float:
    return statistics.median(r[key] for r in runs if r["peer"] == peer)


def main() -> None:
    p = parser("bench_node_trial", __doc__ or "")
    p.add_argument("--checkpoint", default=None, help="a trained model's checkpoint (default: the cylinder)")
    p.add_argument("--data-dir", default=None, help="the data folder (default: the checkpoint's)")
    p.add_argument("--points", type=int, default=2000)
    p.add_argument(
        "--distances", type=int, default=30, help="distances of the first N points, N x N (shortest_paths: N pairs)"
    )
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--spinners", type=int, default=0, help="CPU-bound processes beside the runs")
    p.add_argument(
        "--bulk", choices=("distances", "evaluate_all", "shortest_paths"), default="distances", help="the timed work"
    )
    p.add_argument("--first-query", action="store_true", help="one shortest_path before the completion")
    p.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS), help="the peers to run (fixed first)")
    p.add_argument("--worker", choices=PEERS, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    if args.quick:
        args.points, args.distances, args.rounds = 800, 6, 1
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.spinners)]
    runs: list[dict[str, Any]] = []
    try:
        for r in range(args.rounds):
            for peer in args.peers if r % 2 == 0 else args.peers[::-1]:
                runs.append(_run(peer, args))
                row = runs[-1]
                print(
                    f"round {r} {peer:5s} completion {row['nodes_completed']} nodes {row['complete_wall']:.2f} s wall "
                    f"{row['complete_cpu']:.2f} s CPU | {args.bulk} {row['bulk_wall']:.2f} s wall "
                    f"{row['bulk_cpu']:.2f} s CPU | policy {row['policy']} watch {row['watch']} | "
                    f"load {row['load_before']}",
                    flush=True,
                )
    finally:
        for s in spinners:
            s.kill()
    checks = _checks(runs)
    ratios = {
        f"{peer}/fixed {key}": _median(runs, peer, key) / max(_median(runs, "fixed", key), 1e-12)
        for peer in args.peers
        if peer != "fixed" and "fixed" in args.peers
        for key in ("complete_wall", "complete_cpu", "bulk_wall", "bulk_cpu")
    }
    print("peer / fixed (medians):", {k: round(v, 3) for k, v in ratios.items()}, "checks:", checks)
    for row in runs:
        row.pop("result")
    payload = {
        "environment": environment(),
        "cpu_model": cpu_model(),
        "spinners": args.spinners,
        "checkpoint": args.checkpoint,
        "points": args.points,
        "bulk": args.bulk,
        "first_query": args.first_query,
        "distances": args.distances,
        "runs": runs,
        "ratios": ratios,
        "checks": checks,
    }
    write_json(args.out, payload)
    if not all(checks.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
