"""Node decodes on demand over many pairs: ``node_decodes="on_demand"`` and ``"auto"`` against ``"build"``.

The peers build a fresh lazy graph (the same decode policy: the first build's), answer one pair (the user's first
geodesic) and then ``--pairs`` more in one ``shortest_paths`` call, in turn, ``--rounds`` times. Recorded per peer:
CPU seconds and decodes to the first geodesic and in all, wall seconds, the nodes decoded at the end. The lengths
of every pair must agree (rtol 2e-6, absolute floor 1e-6), else exit 1.

Workload: ``--checkpoint`` (e.g. the CPU reproduction's 8-chart AWAE) on ``--points`` MNIST test points, k = 20,
eps = 0.05, 15 steps, pairs from the next test points; ``--cylinder``: the closed-form cylinder (a decoder that
costs nearly nothing) on ``--points`` points, k = 20, 5 steps, batches of 4096; ``--quick``: the closed-form sphere
(a smoke test).

Usage: python benchmarks/bench_nodes_on_demand_pairs.py --checkpoint runs/awae8/checkpoint.pt [--pairs 100]
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, load_average, parser, write_json  # noqa: E402
from agm import geodesic  # noqa: E402
from agm.geodesic.graph.policy import DecodePolicy  # noqa: E402
from agm.models.analytic import CylinderAtlas  # noqa: E402
from bench_geodesic import DecodeCounter  # noqa: E402
from bench_lazy_distances import ATOL, RTOL, workload  # noqa: E402

#: The peers: every node decoded at build time, on demand, and the default's choice (a timed sample).
MODES = ("build", "on_demand", "auto")


def run_peer(
    model: Any, counter: DecodeCounter, data: torch.Tensor, kw: dict[str, Any], pairs: Any, mode: str
) -> dict[str, Any]:
    """Build with ``node_decodes=mode``, answer the first pair, then all pairs."""
    counter.count = 0
    w0, c0 = time.perf_counter(), time.process_time()
    graph = geodesic.build_graph(model, data, node_decodes=mode, **kw)
    on_demand = graph.record.pending_nodes is not None
    first = graph.shortest_path(pairs[0][0], pairs[1][0])
    first_cpu, first_decodes = time.process_time() - c0, counter.count
    paths = graph.shortest_paths(pairs[0], pairs[1], n_threads=1)
    pending = graph.record.pending_nodes
    return {
        "mode": mode,
        "built_on_demand": on_demand,
        "seconds_per_node": graph.timings.get("seconds_per_node"),
        "first_cpu_s": first_cpu,
        "first_decodes": first_decodes,
        "first_length": float(first.length),
        "cpu_s": time.process_time() - c0,
        "wall_s": time.perf_counter() - w0,
        "decodes": counter.count,
        "nodes_decoded": graph.n_nodes if pending is None else int(pending.decoded.sum()),
        "n_nodes": graph.n_nodes,
        "lengths": [float(p.length) for p in paths],
        "load": load_average(),
    }


def cylinder_workload(n: int, seed: int) -> tuple[Any, torch.Tensor, dict[str, Any], str]:
    """(model, n points, build_graph keywords, its name) of the closed-form cylinder."""
    model = CylinderAtlas(radius=0.7, ambient_shape=(6,))
    g = torch.Generator().manual_seed(seed)
    data = model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g) * 2)
    kw = {"k": 20, "eps": 0.05, "n_steps": 5, "progress": False, "decode_policy": DecodePolicy(1, 4096)}
    return model, data, kw, "CylinderAtlas (closed form)"


def main() -> int:
    p = parser("bench_nodes_on_demand_pairs", __doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=None, help="a trained checkpoint.pt (not needed with --quick)")
    p.add_argument("--data-dir", default=None, help="folder of the MNIST files (default: the checkpoint's)")
    p.add_argument("--points", type=int, default=None, help="points in the graph (default 2000; --quick 600)")
    p.add_argument("--pairs", type=int, default=None, help="query pairs (default 100; --quick 10)")
    p.add_argument("--rounds", type=int, default=None, help="round-robin rounds (default 2; --quick 1)")
    p.add_argument("--cylinder", action="store_true", help="the closed-form cylinder instead of a checkpoint")
    args = p.parse_args()
    n_points = args.points or (600 if args.quick else 2000)
    n_pairs = args.pairs or (10 if args.quick else 100)
    rounds = args.rounds or (1 if args.quick else 2)
    torch.set_num_threads(1)
    args.points = n_points + 2 * n_pairs
    model, everything, kw, name = cylinder_workload(args.points, args.seed) if args.cylinder else workload(args)
    data = everything[:n_points]
    pairs = (everything[n_points : n_points + n_pairs], everything[n_points + n_pairs :])
    counter = DecodeCounter(model)
    if "decode_policy" not in kw:
        kw = {**kw, "decode_policy": geodesic.build_graph(model, data, node_decodes="build", **kw).decode_policy}
    rows = []
    for r in range(rounds):
        for mode in MODES:
            row = {**run_peer(model, counter, data, kw, pairs, mode), "round": r}
            rows.append(row)
            print(
                f"round {r} {mode} ({'on demand' if row['built_on_demand'] else 'built'}): "
                f"first {row['first_cpu_s']:.2f} s CPU, {row['first_decodes']} decodes; all "
                f"{row['cpu_s']:.2f} s CPU, {row['wall_s']:.2f} s wall, {row['decodes']} decodes, "
                f"{row['nodes_decoded']} of {row['n_nodes']} nodes (load {row['load']})",
                flush=True,
            )
    ok = all(
        np.allclose(a["lengths"] + [a["first_length"]], b["lengths"] + [b["first_length"]], rtol=RTOL, atol=ATOL)
        for a in rows
        for b in rows
    )
    med = {
        mode: {
            key: float(np.median([x[key] for x in rows if x["mode"] == mode]))
            for key in ("first_cpu_s", "first_decodes", "cpu_s", "wall_s", "decodes")
        }
        for mode in MODES
    }
    ratio = {mode: {key: med[mode][key] / med["build"][key] for key in med["build"]} for mode in MODES[1:]}
    print(f"{name}: over build (medians): {ratio}; lengths agree: {ok}", flush=True)
    payload = {
        "benchmark": "bench_nodes_on_demand_pairs",
        "mode": "quick" if args.quick else "full",
        "workload": name,
        "pairs": n_pairs,
        "environment": environment(),
        "rows": rows,
        "over_build": ratio,
        "correctness_passed": ok,
    }
    if args.out:
        write_json(Path(args.out), payload)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
