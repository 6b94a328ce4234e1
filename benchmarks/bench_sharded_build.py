"""Graph edge weights across torch.distributed ranks: 2 ranks x 1 torch thread against 1 rank x 1 thread.

``build_graph(weights="eager")`` inside a process group splits the node decodings and the intra-chart edge
decodes into contiguous shares, one per rank, and gathers them (``agm.geodesic._support.sharding``). This script builds
the same graph in one process (no process group) and in a gloo group of ``--ranks`` processes, each with one torch
thread, interleaved (1 rank, N ranks, 1 rank, ...), and reports per stage the wall time (the slowest rank: a rank
waits for the others at the gather) and the CPU time (all ranks together), and their ratios. Process start-up and
imports are not timed: every rank builds its model and data, meets the others at a barrier, then is timed.

Model: the paper's 8-chart AWAE-GAN decoder (h = 48, d = 7) with its initial weights and the fixed sharp partition
of :mod:`bench_geodesic` (each point in one chart, one in ten in two). Data: MNIST training images when
$AGM_DATA_DIR has them, random images otherwise (the cost does not depend on it). The decode policy is fixed
(1 thread, 256 points per call, the CPU default) so that both builds decode in the same calls per rank.

Correctness (exit 1 otherwise): the ranks' graphs are bitwise the same, and their weights and node decodings equal
the one-process build's to rel 1e-5 (float32 decodings in other batches round differently, ~1e-7 relative).
"""

from __future__ import annotations

import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.multiprocessing.spawn import start_processes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_model, environment, load_average, parser, write_json  # noqa: E402
from agm import geodesic  # noqa: E402
from agm.geodesic.graph import build as build_module  # noqa: E402
from agm.geodesic.graph.policy import DecodePolicy  # noqa: E402
from agm.models import AWAEGAN  # noqa: E402
from bench_geodesic import AssignedCharts, DecodeCounter, load_images  # noqa: E402

REL = 1e-5  # float32 decodings computed in other batches (see the module docstring)
#: the build stages timed on every rank (wall and CPU): functions of agm.geodesic.graph.build wrapped by the benchmark
STAGES = ("decode_nodes", "evaluate_edges_sharded")


def timed_stages(record: dict[str, list[float]]) -> None:
    """Wrap the build's stage functions so that each call appends (wall s, CPU s of this process) to ``record``."""
    for name in STAGES:
        inner = getattr(build_module, name)

        def wrapper(*args: Any, _inner: Any = inner, _name: str = name, **kwargs: Any) -> Any:
            c0, t0 = time.process_time(), time.perf_counter()
            out = _inner(*args, **kwargs)
            record[_name] = [time.perf_counter() - t0, time.process_time() - c0]
            return out

        setattr(build_module, name, wrapper)


def rank_main(rank: int, world: int, config: dict[str, Any], init_file: str, out_dir: str) -> None:
    """One rank: model and data, barrier, a timed eager build; writes its timings and graph arrays."""
    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(config["seed"])
    inner = AWAEGAN(8, (1, 28, 28), hidden=config["hidden"]).eval()
    data, source = load_images(config["points"], config["seed"])
    model = AssignedCharts(inner, data.shape[0], config["seed"])
    model.remember(data)
    counter = DecodeCounter(model)
    stages: dict[str, list[float]] = {}
    timed_stages(stages)
    policy = DecodePolicy(threads=1, batch_size=256)
    if world > 1:
        dist.barrier()
    load = load_average()
    c0, t0 = time.process_time(), time.perf_counter()
    graph = geodesic.build_graph(
        model,
        data,
        k=config["k"],
        n_steps=config["n_steps"],
        weights="eager",
        decode_policy=policy,
        skip_small_charts=True,
        progress=False,
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if world > 1:
        dist.destroy_process_group()
    result = {
        "wall_s": wall,
        "cpu_s": cpu,
        "stages": stages,
        "decoded": counter.count,
        "load_at_start": load,
        "data": source,
        "n_nodes": graph.n_nodes,
        "n_intra_edges": graph.native.n_intra_edges,
        "weights": graph.edge_weights.values,
        "positions": np.asarray(graph.positions),
        "edges": graph.native.edges,
    }
    (Path(out_dir) / f"rank{rank}.pkl").write_bytes(pickle.dumps(result))


def run_build(world: int, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Start ``world`` rank processes (fork on Linux: the parent holds no torch state), one build; their results."""
    method = "fork" if sys.platform == "linux" else "spawn"
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "rendezvous")
        start = (rank_main, (world, config, init_file, tmp), world)
        start_processes(*start, join=True, start_method=method)  # type: ignore[no-untyped-call]
        return [pickle.loads((Path(tmp) / f"rank{r}.pkl").read_bytes()) for r in range(world)]


def summary(runs: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Median over runs of the build and stage wall (slowest rank) and CPU (all ranks) times."""

    def med(values: list[float]) -> float:
        return float(statistics.median(values))

    out: dict[str, Any] = {
        "build_wall_s": med([max(r["wall_s"] for r in run) for run in runs]),
        "build_cpu_s": med([sum(r["cpu_s"] for r in run) for run in runs]),
        "build_wall_all_s": [max(r["wall_s"] for r in run) for run in runs],
        "load_at_start": [run[0]["load_at_start"] for run in runs],
        "decoded_per_rank": [r["decoded"] for r in runs[0]],
    }
    for name in STAGES:
        out[f"{name}_wall_s"] = med([max(r["stages"][name][0] for r in run) for run in runs])
        out[f"{name}_cpu_s"] = med([sum(r["stages"][name][1] for r in run) for run in runs])
        out[f"{name}_cpu_max_rank_s"] = med([max(r["stages"][name][1] for r in run) for run in runs])
        # cores this stage got on average, all ranks together (1 rank on a free core: 1.0)
        out[f"{name}_cores_used"] = [
            sum(r["stages"][name][1] for r in run) / max(r["stages"][name][0] for r in run) for run in runs
        ]
    return out


def check(one: list[dict[str, Any]], many: list[dict[str, Any]]) -> dict[str, bool]:
    """The correctness checks: ranks bitwise equal, and equal to one process to float32 rounding."""
    ref = one[0]
    return {
        "ranks_bitwise_equal": all(
            r["weights"].tobytes() == many[0]["weights"].tobytes()
            and r["positions"].tobytes() == many[0]["positions"].tobytes()
            for r in many
        ),
        "edges_equal": bool(np.array_equal(many[0]["edges"], ref["edges"])),
        "weights_rel_1e-5": bool(np.allclose(many[0]["weights"], ref["weights"], rtol=REL, atol=0)),
        "positions_rel_1e-5": bool(np.allclose(many[0]["positions"], ref["positions"], rtol=REL, atol=1e-6)),
    }


def main() -> None:
    p = parser("bench_sharded_build", __doc__.split("\n")[0])
    p.add_argument("--points", type=int, default=160, help="data points in the graph")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--n-steps", type=int, default=8)
    p.add_argument("--ranks", type=int, default=2, help="processes of the sharded build")
    args = p.parse_args()
    hidden = 48
    if args.quick:
        args.points, args.k, args.n_steps, hidden = 48, 3, 3, 8
    repeats = args.repeats or (1 if args.quick else 2)
    config = {"seed": args.seed, "hidden": hidden, "points": args.points, "k": args.k, "n_steps": args.n_steps}
    env = environment()
    one_runs: list[list[dict[str, Any]]] = []
    many_runs: list[list[dict[str, Any]]] = []
    for rep in range(repeats):  # interleaved, alternating which goes first, so that load drifts hit both alike
        order = (1, args.ranks) if rep % 2 == 0 else (args.ranks, 1)
        for world in order:
            (one_runs if world == 1 else many_runs).append(run_build(world, config))
            last = (one_runs if world == 1 else many_runs)[-1]
            edge_wall = max(r["stages"]["evaluate_edges_sharded"][0] for r in last)
            edge_cpu = [round(r["stages"]["evaluate_edges_sharded"][1], 2) for r in last]
            print(
                f"{world} rank(s) x 1 thread: build {max(r['wall_s'] for r in last):.2f}s wall, "
                f"{sum(r['cpu_s'] for r in last):.2f}s CPU; edges {edge_wall:.2f}s wall, CPU by rank {edge_cpu} "
                f"({sum(edge_cpu) / edge_wall:.2f} cores used; load {[round(v, 1) for v in last[0]['load_at_start']]})",
                flush=True,
            )
    one, many = summary(one_runs), summary(many_runs)
    correct = check(one_runs[0], many_runs[0])
    edge = "evaluate_edges_sharded"
    ratios = {
        "edge_weights_wall": one[f"{edge}_wall_s"] / many[f"{edge}_wall_s"],
        "edge_weights_cpu": one[f"{edge}_cpu_s"] / many[f"{edge}_cpu_s"],
        # the wall-time speed-up when every rank has a core to itself: the work of the slowest rank's share
        "edge_weights_cpu_bound": one[f"{edge}_cpu_s"] / many[f"{edge}_cpu_max_rank_s"],
        "node_decodings_wall": one["decode_nodes_wall_s"] / many["decode_nodes_wall_s"],
        "build_wall": one["build_wall_s"] / many["build_wall_s"],
        "build_cpu": one["build_cpu_s"] / many["build_cpu_s"],
    }
    graph = {"n_nodes": one_runs[0][0]["n_nodes"], "n_intra_edges": one_runs[0][0]["n_intra_edges"]}
    print(
        f"graph {graph}; CPU {cpu_model()}; speed-up of {args.ranks} ranks (1 = equal; wall: higher is faster, "
        f"CPU: below 1 means more CPU in all): "
        + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items())
        + f"; correct {correct}"
    )
    write_json(
        args.out,
        {
            "benchmark": "bench_sharded_build",
            "mode": "quick" if args.quick else "full",
            "seed": args.seed,
            "environment": env,
            "config": {**config, "ranks": args.ranks, "repeats": repeats, "data": one_runs[0][0]["data"]},
            "notes": (
                "wall: the slowest rank; CPU: all ranks; median over interleaved runs; each rank 1 torch thread; "
                "load_at_start per run (the machine is shared); edge_weights_cpu_bound: one rank's CPU time over "
                "the busiest rank's, the wall speed-up where each rank has a free core; *_cores_used: CPU over "
                "wall per run (how much of the machine the build got)"
            ),
            "graph": graph,
            "one_rank": one,
            "sharded": many,
            "ratios": ratios,
            "correct": correct,
            "correctness_passed": all(correct.values()),
        },
    )
    if not all(correct.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
