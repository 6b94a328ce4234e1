"""Bounds in ``shortest_paths``' LazySP (``agm.geodesic.query.lazysp.BOUND_FIRST``): on against off.

With the bounds on, an edge that a route uses goes up in bound levels, the polyline through its middle step (one
decoding), then through the middles of both halves (two more), and is decoded in full (the rest of its n_steps - 1
decodings, the kept ones reused) only if a route still needs it (:mod:`agm.geodesic.graph.bounds`). Both peers
answer the same pairs on fresh lazy graphs built alike (the decode policy of the first build passed to every later
one), in turn, ``--rounds`` times; recorded per peer: points decoded (counted at the decoder), rounds, wall and CPU
seconds of the ``shortest_paths`` call. The lengths must agree (rtol 2e-6, absolute floor 1e-6), else exit 1.

Workloads as in bench_lazy_distances.py: ``--checkpoint`` (a trained model, ``--points`` MNIST test points, k = 20,
eps = 0.05, 15 steps; pairs from the next ``--pairs`` test points) or ``--quick`` (the closed-form sphere).
``--full-round-s`` sets ``agm.geodesic.query.bound_levels.FULL_ROUND_S`` (a round whose edges decode in full within
it at the measured rate skips the levels: the sphere's rounds all do, so 0 measures the levels there).

Usage: python benchmarks/bench_bound_first.py --checkpoint runs/awae8/checkpoint.pt [--pairs 100] [--rounds 2]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, load_average, parser, write_json  # noqa: E402
from agm import geodesic  # noqa: E402
from agm.geodesic.query import bound_levels, lazysp  # noqa: E402
from bench_geodesic import DecodeCounter  # noqa: E402
from bench_lazy_distances import ATOL, RTOL, clocked, workload  # noqa: E402


def run_peer(
    model: Any, counter: DecodeCounter, data: torch.Tensor, kw: dict[str, Any], pairs: Any, on: bool
) -> dict[str, Any]:
    """Build a fresh lazy graph and answer the pairs with BOUND_FIRST = ``on``."""
    graph = geodesic.build_graph(model, data, **kw)
    lazysp.BOUND_FIRST = on
    stats = lazysp.LazyStats()
    counter.count = 0
    try:
        paths, wall, cpu = clocked(lambda: graph.shortest_paths(pairs[0], pairs[1], lazy_stats=stats, n_threads=1))
    finally:
        lazysp.BOUND_FIRST = True
    return {
        "bound_first": on,
        "decodes": counter.count,
        "wall_s": wall,
        "cpu_s": cpu,
        "rounds": stats.rounds,
        "graph_edges": stats.graph_edges,
        "attachment_edges": stats.attachment_edges,
        "bounded_edges": stats.bounded_edges,
        "lengths": [float(p.length) for p in paths],
        "load": load_average(),
        "policy": None if graph.decode_policy is None else graph.decode_policy.to_json(),
    }


def main() -> int:
    p = parser("bench_bound_first", __doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=None, help="a trained checkpoint.pt (not needed with --quick)")
    p.add_argument("--data-dir", default=None, help="folder of the MNIST files (default: the checkpoint's)")
    p.add_argument("--points", type=int, default=None, help="points in the graph (default 2000; --quick 600)")
    p.add_argument("--eps", type=float, default=0.05, help="the graph's eps (a checkpoint's; default 0.05)")
    p.add_argument("--pairs", type=int, default=None, help="query pairs (default 100; --quick 20)")
    p.add_argument("--rounds", type=int, default=None, help="round-robin rounds (default 2; --quick 1)")
    p.add_argument(
        "--full-round-s",
        type=float,
        default=bound_levels.FULL_ROUND_S,
        help="bound_levels.FULL_ROUND_S: rounds that decode in full within it skip the levels (0: never)",
    )
    args = p.parse_args()
    bound_levels.FULL_ROUND_S = args.full_round_s
    args.points = args.points or (600 if args.quick else 2000)
    n_pairs = args.pairs or (20 if args.quick else 100)
    rounds = args.rounds or (1 if args.quick else 2)
    torch.set_num_threads(1)
    full_points = args.points
    args.points = full_points + 2 * n_pairs
    model, everything, kw, name = workload(args)
    data = everything[:full_points]
    pairs = (everything[full_points : full_points + n_pairs], everything[full_points + n_pairs :])
    counter = DecodeCounter(model)
    first = geodesic.build_graph(model, data, **kw)  # the decode policy every peer's build then uses
    kw = {**kw, "decode_policy": first.decode_policy}
    rows = []
    for r in range(rounds):
        for on in (False, True):
            row = run_peer(model, counter, data, kw, pairs, on)
            rows.append({**row, "round": r})
            print(
                f"round {r} bound_first={on}: {row['decodes']} decodes, {row['rounds']} rounds, "
                f"{row['cpu_s']:.2f} s CPU, {row['wall_s']:.2f} s wall (load {row['load']})",
                flush=True,
            )
    off = [x for x in rows if not x["bound_first"]]
    on_ = [x for x in rows if x["bound_first"]]
    ok = all(np.allclose(a["lengths"], b["lengths"], rtol=RTOL, atol=ATOL) for a in rows for b in rows if a is not b)
    ratio = {
        key: float(np.median([x[key] for x in on_]) / np.median([x[key] for x in off]))
        for key in ("decodes", "cpu_s", "wall_s", "rounds")
    }
    print(f"{name}: on / off: {ratio}; lengths agree: {ok}", flush=True)
    payload = {
        "benchmark": "bench_bound_first",
        "mode": "quick" if args.quick else "full",
        "workload": name,
        "pairs": n_pairs,
        "full_round_s": args.full_round_s,
        "environment": environment(),
        "rows": rows,
        "on_over_off": ratio,
        "correctness_passed": ok,
    }
    if args.out:
        write_json(Path(args.out), payload)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
