"""The native cost of one LazySP round: store a few newly evaluated edge weights, then run an A* search.

A LazySP round (query/lazysp.py) decodes the unevaluated edges of the paths found, hands their exact weights to
the graph (``GraphWeights.store``) and searches again. This script times that store + search on a graph shaped
like the trained 8-chart MNIST graph of issue 12 (837 nodes, about 11k intra-chart edges, k = 20, D = 784
float32 decodings as A* positions), with no decoder: the "exact" weights are the chords times a random factor in
[1, 1.4] (so the heuristic stays consistent). Per round ``EDGES_PER_ROUND`` unevaluated intra-chart edges are
stored, then ``N_PAIRS`` A* node pairs are searched in one ``shortest_paths`` call (the first search after a store
re-checks the heuristic's consistency).

Timed, per round (median over the rounds): ``store`` alone, the first search after it, and both; and the native
calls alone: ``set_weights`` with the full array vs ``update_weights`` with the changed entries (when the build
has it). Correctness: the costs after every round equal scipy's Dijkstra on the same weights (rtol 1e-9).

Usage: python benchmarks/bench_lazy_rounds.py [--quick] [--out PATH]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, parser, rng_for, write_json  # noqa: E402
from agm import _core  # noqa: E402
from agm.geodesic.graph.weights import GraphWeights  # noqa: E402

K = 20
EDGES_PER_ROUND = 7  # issue 12: a median of 7 edges evaluated per query
N_PAIRS = 1
RTOL = 1e-9


def build(n_points: int, n_charts: int, dim: int, seed: int) -> tuple[_core.AtlasGraph, np.ndarray]:
    """An n_charts-chart graph (every point in about 2.8 charts) with chord weights; returns it and the factors."""
    rng = rng_for(seed, n_points, n_charts)
    latents: list[NDArray[np.float32] | NDArray[np.float64]] = []
    ids: list[NDArray[np.int64]] = []
    for _ in range(n_charts):
        members = np.sort(rng.choice(n_points, size=max(K + 2, int(n_points * 2.8 / n_charts)), replace=False))
        latents.append(rng.normal(size=(members.size, 2)).astype(np.float32))
        ids.append(members.astype(np.int64))
    graph = _core.AtlasGraph(latents, ids, K, n_threads=1)
    positions = rng.normal(size=(graph.n_nodes, dim)).astype(np.float32)
    point_pos = rng.normal(size=(n_points, dim)).astype(np.float32)
    positions[:] = point_pos[graph.node_point] + 0.3 * positions  # copies of a point decode close to each other
    e = graph.edges
    chords = np.linalg.norm(positions[e[:, 0]].astype(np.float64) - positions[e[:, 1]], axis=1)
    graph.set_weights(chords * (1.0 + 1e-6))  # float32 positions: keep w >= ||P[u] - P[v]|| through rounding
    graph.set_positions(positions)
    factors = 1.0 + 0.4 * rng.random(graph.n_edges)
    return graph, factors


def run(n_points: int, n_charts: int, dim: int, rounds: int, seed: int) -> dict[str, Any]:
    graph, factors = build(n_points, n_charts, dim, seed)
    rng = rng_for(seed, 1)
    weights = GraphWeights(graph, np.zeros(graph.n_edges, dtype=bool))
    chords = weights.values.copy()
    n_intra = graph.n_intra_edges
    pairs = rng.integers(0, graph.n_nodes, size=(rounds, N_PAIRS, 2)).astype(np.int64)
    store_s, search_s, correct = [], [], True
    indptr, indices, _ = graph.csr()
    order = rng.permutation(n_intra)
    for r in range(rounds):
        ids = np.sort(order[r * EDGES_PER_ROUND : (r + 1) * EDGES_PER_ROUND]).astype(np.int64)
        t0 = time.perf_counter()
        weights.store(ids, chords[ids] * factors[ids])
        t1 = time.perf_counter()
        _, costs = graph.shortest_paths(pairs[r, :, 0], pairs[r, :, 1], "astar", 1, False)
        t2 = time.perf_counter()
        store_s.append(t1 - t0)
        search_s.append(t2 - t1)
        if r % max(1, rounds // 5) == 0:  # scipy on the same weights
            data = graph.csr()[2]
            matrix = sp.csr_array((data, indices, indptr), shape=(graph.n_nodes, graph.n_nodes))
            ref = np.array([dijkstra(matrix, indices=int(s))[int(t)] for s, t in pairs[r]])
            correct &= bool(np.allclose(costs, ref, rtol=RTOL))
    native: dict[str, float] = {}
    full = weights.values.copy()
    ids = np.sort(order[:EDGES_PER_ROUND]).astype(np.int64)

    def median_of(fn: Any, repeats: int = 20) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            graph.shortest_paths(pairs[0, :, 0], pairs[0, :, 1], "astar", 1, False)  # forces the A* check
            times.append(time.perf_counter() - t0)
        return float(np.median(times))

    native["set_weights_full_plus_search_s"] = median_of(lambda: graph.set_weights(full))
    if hasattr(graph, "update_weights"):
        native["update_weights_plus_search_s"] = median_of(lambda: graph.update_weights(ids, full[ids]))
    return {
        "n_nodes": graph.n_nodes,
        "n_edges": graph.n_edges,
        "n_intra_edges": n_intra,
        "dim": dim,
        "rounds": rounds,
        "edges_per_round": EDGES_PER_ROUND,
        "n_pairs": N_PAIRS,
        "store_median_s": float(np.median(store_s)),
        "first_search_median_s": float(np.median(search_s)),
        "round_median_s": float(np.median(np.add(store_s, search_s))),
        "native": native,
        "correct": correct,
    }


def main() -> None:
    args = parser("bench_lazy_rounds", __doc__ or "").parse_args()
    n_points, rounds = (120, 10) if args.quick else (300, 60)
    case = run(n_points, 8, 784, rounds, args.seed)
    for key in ("store_median_s", "first_search_median_s", "round_median_s"):
        print(f"{key:<28s} {case[key] * 1e3:9.3f} ms")
    for key, value in case["native"].items():
        print(f"{key:<34s} {value * 1e3:9.3f} ms")
    print(
        f"graph: {case['n_nodes']} nodes, {case['n_edges']} edges ({case['n_intra_edges']} intra); "
        f"correct: {case['correct']}"
    )
    payload = {
        "benchmark": "bench_lazy_rounds",
        "mode": "quick" if args.quick else "full",
        "seed": args.seed,
        "environment": environment(),
        "notes": "per LazySP round: GraphWeights.store of a few edges + the first A* search after it",
        "cases": [case],
        "correctness_passed": bool(case["correct"]),
    }
    write_json(args.out, payload)


if __name__ == "__main__":
    main()
