"""Graph statistics against the build: ``AtlasGraph.stats()`` (its budgeted hop diameter) vs building the graph.

Cases: k-NN graphs (k = 10) of uniform points in the unit square and cube built by ``agm._core.AtlasGraph``
directly (one chart, ids in random order), and the two-chart cylinder graph of ``geodesic.build_graph`` with the
exact ``CylinderAtlas`` decoder (k = 10, n_steps = 3: nearly every node's eccentricity is close to the diameter,
the hard case for eccentricity bounds). Sizes: 64k and 256k points (--quick: 4k). For each graph: the build time,
``stats()`` (diameter="auto": eccentricity bounds on the BFS-renumbered graph within ``default_diameter_budget``
BFS: the exact diameter or bounds), the time ``stats(diameter="exact")`` then adds, and the exact methods of
``agm._core.hop_diameter`` on the same CSR ("bounds": the previous method on the ids as given; "ifub": iFUB with
a 4-sweep start, only up to --ifub-max nodes because it is slow on these graphs), each with its number of BFS.
Correctness: every method gives the same diameter (at --quick also scipy's all-pairs BFS), and the default
stats' bounds hold it (equal exactly when stats() reports diameter_hops).

Usage: python benchmarks/bench_stats.py [--quick] [--out PATH] [--cases square:64000,cylinder:64000]
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
from _common import environment, load_average, parser, rng_for, write_json  # noqa: E402
from agm import _core  # noqa: E402

K = 10


def build_knn(kind: str, n: int, seed: int) -> tuple[Any, float]:
    """(native AtlasGraph, build seconds) of n uniform points in the unit square ("square") or cube ("cube")."""
    points = rng_for(seed, n, 2 if kind == "square" else 3).random((n, 2 if kind == "square" else 3))
    t0 = time.perf_counter()
    graph = _core.AtlasGraph([points], [np.arange(n, dtype=np.int64)], K, n_threads=0)
    return graph, time.perf_counter() - t0


def cylinder_graph(n: int, seed: int) -> Any:
    """The eager build_graph (k = K, n_steps = 3) of the exact cylinder model on n random points."""
    from agm import geodesic
    from agm.models.analytic import CylinderAtlas

    model = CylinderAtlas()
    g = torch.Generator().manual_seed(seed)
    data = model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g) * 2)
    return geodesic.build_graph(model, data, k=K, n_steps=3, weights="eager", progress=False)


def build_cylinder(n: int, seed: int) -> tuple[Any, float]:
    """(native AtlasGraph, build_graph seconds) of :func:`cylinder_graph`."""
    t0 = time.perf_counter()
    graph = cylinder_graph(n, seed)
    return graph.native, time.perf_counter() - t0


def scipy_diameter(indptr: np.ndarray, indices: np.ndarray) -> int:
    import scipy.sparse as sp
    from scipy.sparse.csgraph import shortest_path

    n = indptr.size - 1
    hops = shortest_path(sp.csr_array((np.ones(indices.size), indices, indptr), shape=(n, n)), unweighted=True)
    return int(hops[np.isfinite(hops)].max())


def run_case(kind: str, n: int, seed: int, ifub_max: int, oracle: bool) -> dict[str, Any]:
    graph, build_s = build_cylinder(n, seed) if kind == "cylinder" else build_knn(kind, n, seed)
    if not graph.has_weights:
        graph.set_weights(np.ones(graph.n_edges))
    indptr, indices, _ = graph.csr()
    t0 = time.perf_counter()
    stats = graph.stats()  # diameter="auto": the default budget of BFS (exact, or bounds)
    stats_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = graph.stats(diameter="exact")  # the exact diameter (lazy: what stats() left open)
    exact_s = time.perf_counter() - t0
    lower, upper = stats["diameter_lower"], stats["diameter_upper"]
    methods: dict[str, dict[str, Any]] = {}
    for method in ("auto", "bounds") + (("ifub",) if graph.n_nodes <= ifub_max else ()):
        t0 = time.perf_counter()
        diameter, n_bfs = _core.hop_diameter(indptr, indices, method, 0)
        methods[method] = {"diameter": diameter, "n_bfs": n_bfs, "seconds": time.perf_counter() - t0}
    diameters = {m["diameter"] for m in methods.values()} | {exact["diameter_hops"]}
    if oracle:
        diameters.add(scipy_diameter(indptr, indices))
    bounds_hold = all(lower <= d <= upper for d in diameters) and (lower < upper) != ("diameter_hops" in stats)
    case = {
        "kind": kind,
        "n_points": n,
        "n_nodes": graph.n_nodes,
        "n_edges": graph.n_edges,
        "diameter_hops": exact["diameter_hops"],
        "stats_diameter_lower": lower,
        "stats_diameter_upper": upper,
        "stats_exact": "diameter_hops" in stats,
        "diameter_budget": graph.default_diameter_budget,
        "build_s": build_s,
        "stats_s": stats_s,
        "ratio_stats_to_build": stats_s / build_s,
        "exact_after_stats_s": exact_s,
        "ratio_exact_to_build": (stats_s + exact_s) / build_s,
        "methods": methods,
        "ratio_bounds_to_auto": methods["bounds"]["seconds"] / methods["auto"]["seconds"],
        "load": load_average(),
        "correct": len(diameters) == 1 and bounds_hold,
    }
    bfs = ", ".join(f"{m} {r['n_bfs']} BFS {r['seconds']:.2f} s" for m, r in methods.items())
    print(
        f"{kind:8s} N={graph.n_nodes:7d} E={graph.n_edges:8d} D={exact['diameter_hops']:4d}  build {build_s:6.2f} s"
        f"  stats {stats_s:6.2f} s ({stats_s / build_s:.2f}x build; diameter in [{lower}, {upper}], budget "
        f"{graph.default_diameter_budget} BFS)  exact +{exact_s:.2f} s  [{bfs}]  load {case['load']}"
        + ("" if case["correct"] else "  DIAMETERS DISAGREE"),
        flush=True,
    )
    return case


def main() -> int:
    p = parser("bench_stats", __doc__.splitlines()[0])
    p.add_argument("--cases", default=None, help="comma-separated kind:n (kinds: square, cube, cylinder)")
    p.add_argument("--ifub-max", type=int, default=70_000, help="run iFUB only up to this many nodes")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.cases:
        grid = [(c.split(":")[0], int(c.split(":")[1])) for c in args.cases.split(",")]
    elif args.quick:
        grid = [("square", 4_000), ("cube", 4_000), ("cylinder", 2_000)]
    else:
        grid = [(kind, n) for n in (64_000, 256_000) for kind in ("square", "cube", "cylinder")]
    cases = [run_case(kind, n, args.seed, args.ifub_max, oracle=args.quick) for kind, n in grid]
    passed = all(c["correct"] for c in cases)
    write_json(
        args.out,
        {
            "benchmark": "bench_stats",
            "mode": "quick" if args.quick else "cases" if args.cases else "full",
            "seed": args.seed,
            "environment": environment(),
            "cases": cases,
            "correctness_passed": passed,
        },
    )
    print(f"correctness {'passed' if passed else 'FAILED'}; wrote {args.out}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
