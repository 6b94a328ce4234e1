"""Point-to-point shortest paths on a symmetric k=20 Euclidean kNN graph (weights = Euclidean edge lengths,
A* positions = the points themselves, so h(v) = ||P[v] - P[target]|| is consistent).

Per N in {2k, 20k, 200k} (Gaussian points, d=7 by default) and 100 random node pairs of the largest component:
agm ``shortest_path`` with A* and with Dijkstra (early exit), scipy ``csgraph.dijkstra(indices=source)`` (full
single source: scipy has no target), networkx ``astar_path`` with the same Euclidean heuristic (up to 20k nodes and
on the first 20 pairs only: it is pure python), then 1000 pairs in one ``shortest_paths`` call with 1 and 2 threads.
Also: graph build time and memory_bytes per edge. Correctness: all costs equal scipy's (rtol 1e-9); batched
results equal the one-by-one ones.

Usage: python benchmarks/bench_paths.py [--quick] [--out PATH] [--dim D]
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, parser, print_table, rng_for, timeit, write_json  # noqa: E402
from agm import _core  # noqa: E402

try:
    import networkx as nx
except ImportError:
    nx = None

K = 20
N_PAIRS = 100
N_BATCH = 1000
NX_MAX_N = 20_000
NX_PAIRS = 20
RTOL = 1e-9


def build_graph(points: np.ndarray) -> tuple[_core.AtlasGraph, float]:
    """One-chart AtlasGraph with Euclidean weights and the points as positions; returns it and its build time."""
    t0 = time.perf_counter()
    graph = _core.AtlasGraph([points], [np.arange(points.shape[0], dtype=np.int64)], K)
    e = graph.edges
    graph.set_weights(np.linalg.norm(points[e[:, 0]] - points[e[:, 1]], axis=1))
    graph.set_positions(points)
    return graph, time.perf_counter() - t0


def random_pairs(rng: np.random.Generator, graph: _core.AtlasGraph, count: int) -> np.ndarray:
    """(count, 2) int64 node pairs inside the largest connected component."""
    largest = int(np.argmax(graph.component_sizes))
    nodes = np.flatnonzero(graph.component == largest)
    return rng.choice(nodes, size=(count, 2)).astype(np.int64)


def run_case(n: int, dim: int, seed: int, repeats: int, with_networkx: bool) -> dict[str, Any]:
    rng = rng_for(seed, n, dim)
    points = rng.normal(size=(n, dim))
    graph, build_s = build_graph(points)
    pairs = random_pairs(rng, graph, N_PAIRS)
    indptr, indices, data = graph.csr()
    matrix = sp.csr_array((data, indices, indptr), shape=(n, n))
    timings: dict[str, Any] = {}
    correct: dict[str, bool] = {}
    rows = []

    def scipy_costs() -> np.ndarray:
        return np.array([dijkstra(matrix, directed=True, indices=int(s))[int(t)] for s, t in pairs])

    timing, reference = timeit(scipy_costs, repeats=1, warmup=0)
    timings["scipy dijkstra single source"] = {**timing.as_dict(), "queries": N_PAIRS}
    correct["scipy dijkstra single source"] = bool(np.all(np.isfinite(reference)))
    rows.append(("scipy dijkstra single source", timing.best / N_PAIRS, "baseline"))
    for method in ("astar", "dijkstra"):
        name = f"agm shortest_path {method}"

        def agm_costs(m: str = method) -> np.ndarray:
            return np.array([graph.shortest_path(int(s), int(t), method=m)[1] for s, t in pairs])

        timing, costs = timeit(agm_costs, repeats=repeats)
        timings[name] = {**timing.as_dict(), "queries": N_PAIRS}
        correct[name] = bool(np.allclose(costs, reference, rtol=RTOL, atol=0.0))
        rows.append((name, timing.best / N_PAIRS, "" if correct[name] else "WRONG COSTS"))
    if with_networkx:
        name = f"networkx astar_path (first {NX_PAIRS} pairs)"
        t0 = time.perf_counter()
        nxg = nx.Graph()
        nxg.add_weighted_edges_from(zip(*graph.edges.T.tolist(), graph.weights.tolist()))
        nx_build_s = time.perf_counter() - t0
        pos = [tuple(p) for p in points.tolist()]

        def nx_costs() -> np.ndarray:
            heuristic = lambda u, v: math.dist(pos[u], pos[v])  # noqa: E731
            return np.array(
                [
                    nx.astar_path_length(nxg, int(s), int(t), heuristic=heuristic, weight="weight")
                    for s, t in pairs[:NX_PAIRS]
                ]
            )

        timing, costs = timeit(nx_costs, repeats=1, warmup=0)
        timings[name] = {**timing.as_dict(), "queries": NX_PAIRS, "graph_build_s": nx_build_s}
        correct[name] = bool(np.allclose(costs, reference[:NX_PAIRS], rtol=RTOL, atol=0.0))
        rows.append((name, timing.best / NX_PAIRS, "" if correct[name] else "WRONG COSTS"))
    baseline = timings["scipy dijkstra single source"]["min_s"] / N_PAIRS
    print_table(f"point-to-point N={n} d={dim} k={K}, per query (ratio: time / scipy)", rows, baseline)

    batch = random_pairs(rng, graph, N_BATCH)
    batch_sources, batch_targets = np.ascontiguousarray(batch[:, 0]), np.ascontiguousarray(batch[:, 1])
    one_by_one = np.array([graph.shortest_path(int(s), int(t), method="astar")[1] for s, t in batch])
    batch_rows = []
    for n_threads in (1, 2):
        name = f"agm shortest_paths astar x{N_BATCH} n_threads={n_threads}"
        timing, (_, costs) = timeit(
            lambda nt=n_threads: graph.shortest_paths(batch_sources, batch_targets, method="astar", n_threads=nt),
            repeats=repeats,
        )
        timings[name] = {**timing.as_dict(), "queries": N_BATCH}
        correct[name] = bool(np.array_equal(costs, one_by_one))
        batch_rows.append((name, timing.best, "" if correct[name] else "DIFFERS FROM ONE-BY-ONE"))
    batch_base = timings[f"agm shortest_paths astar x{N_BATCH} n_threads=1"]["min_s"]
    print_table(f"batched {N_BATCH} pairs (ratio: time / 1 thread)", batch_rows, batch_base)
    per_query = {name: t["min_s"] / t["queries"] for name, t in timings.items()}
    scipy_per_query = per_query["scipy dijkstra single source"]
    n_edges = graph.n_edges  # not graph.stats(): its exact diameter is a BFS from every node, O(N E)
    memory = graph.memory_bytes()
    print(f"  graph: {n_edges} edges, build {build_s:.2f} s, {memory / n_edges:.1f} bytes/edge (positions included)")
    return {
        "n": n,
        "d": dim,
        "k": K,
        "n_pairs": N_PAIRS,
        "n_batch": N_BATCH,
        "graph": {
            "build_s": build_s,
            "n_edges": n_edges,
            "n_components": len(graph.component_sizes),
            "memory_bytes": memory,
            "bytes_per_edge": memory / n_edges,
            "bytes_per_edge_without_positions": (memory - points.nbytes) / n_edges,
        },
        "timings": timings,
        "per_query_s": per_query,
        "ratio_to_scipy": {name: s / scipy_per_query for name, s in per_query.items()},
        "batch_speedup_2_threads": batch_base / timings[f"agm shortest_paths astar x{N_BATCH} n_threads=2"]["min_s"],
        "correct": correct,
    }


def main() -> None:
    p = parser("bench_paths", __doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=7, help="dimension of the points (default 7)")
    args = p.parse_args()
    env = environment()
    sizes = [2_000] if args.quick else [2_000, 20_000, 200_000]
    notes = [
        f"networkx only for N <= {NX_MAX_N} and on the first {NX_PAIRS} pairs (pure python, slow)",
        "scipy computes a full single-source Dijkstra per pair (it has no target / early exit)",
    ]
    if nx is None:
        notes.append("networkx not installed: its rows were skipped")
    cases = []
    for n in sizes:
        repeats = args.repeats or (3 if n <= 20_000 else 1)
        cases.append(run_case(n, args.dim, args.seed, repeats, with_networkx=nx is not None and n <= NX_MAX_N))
    passed = all(all(c["correct"].values()) for c in cases)
    write_json(
        args.out,
        {
            "benchmark": "bench_paths",
            "mode": "quick" if args.quick else "full",
            "seed": args.seed,
            "environment": env,
            "notes": notes,
            "cases": cases,
            "correctness_passed": passed,
        },
    )
    print(f"\ncorrectness {'passed' if passed else 'FAILED'}; wrote {args.out}")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
