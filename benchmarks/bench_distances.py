"""Geodesic distance matrices: ``agm.geodesic.distances`` against n * m ``shortest_paths`` pairs and scipy.

On the exact cylinder model (agm.models.analytic.CylinderAtlas, two charts) with N data points and an eager graph
(k = 10, n_steps = 5), for n = m data points of the graph (200 x 200 = 40,000 pairs; --quick: 300 points, 20 x 20):

* ``distances(model, X, Y)``: one multi-source Dijkstra per row over the graph with the queries as virtual ends;
* ``shortest_paths(model, X0, X1)`` on the n * m pairs (one native A* search per pair, threaded);
* scipy ``dijkstra(graph.to_scipy(), indices=...)`` from the main-chart nodes of X (node-to-node: the raw search).

Correctness: the three agree (rtol 1e-5: float32 encodings in different batches; a data point's attachments are
its own node's edges, so node-to-node distances are the query distances). Wall and CPU time, with the load.

Usage: python benchmarks/bench_distances.py [--quick] [--out PATH] [--repeats R]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.sparse.csgraph import dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, load_average, parser, print_table, timeit, write_json  # noqa: E402
from agm import geodesic  # noqa: E402
from agm.models.analytic import CylinderAtlas  # noqa: E402

RTOL = 1e-5


def main() -> int:
    args = parser("bench_distances", __doc__.splitlines()[0]).parse_args()
    n_points, n = (300, 20) if args.quick else (2000, 200)
    repeats = args.repeats or 1
    torch.manual_seed(args.seed)
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(args.seed)
    data = model.points(
        torch.rand(n_points, generator=g) * 2 * math.pi - math.pi, torch.rand(n_points, generator=g) * 2
    )
    graph = geodesic.build_graph(model, data, k=10, n_steps=5, weights="eager", progress=False)
    X, Y = data[:n], data[n : 2 * n]
    load_start = load_average()

    t_dist, D = timeit(lambda: geodesic.distances(model, X, Y, graph=graph), repeats)
    a, b = X.repeat_interleave(n, 0), Y.repeat(n, 1)
    t_pairs, paths = timeit(lambda: geodesic.shortest_paths(model, a, b, graph=graph), repeats, warmup=0)
    L = np.array([p.length if p is not None else np.inf for p in paths]).reshape(n, n)
    with torch.no_grad():
        main_chart = model.partition(data).argmax(1).numpy()
    idx = np.arange(2 * n)
    nodes = graph.node_at(idx, main_chart[idx])
    adjacency = graph.to_scipy()
    t_scipy, S = timeit(lambda: dijkstra(adjacency, indices=nodes[:n]), repeats)
    S = S[:, nodes[n:]]
    load_end = load_average()

    correct = bool(np.allclose(D, L, rtol=RTOL, atol=1e-9) and np.allclose(D, S, rtol=RTOL, atol=1e-9))
    rows = [
        ("distances (n rows)", t_dist.best, ""),
        (f"shortest_paths ({n * n} pairs)", t_pairs.best, ""),
        ("scipy dijkstra(indices=X)", t_scipy.best, "node-to-node"),
    ]
    print_table(f"{n} x {n} geodesic distances, {n_points} points, load {load_start}", rows, t_dist.best)
    print(f"agree: {correct}; max |D - L| = {np.abs(D - L).max():.3g}, max |D - S| = {np.abs(D - S).max():.3g}")
    result: dict[str, Any] = {
        "benchmark": "bench_distances",
        "mode": "quick" if args.quick else "full",
        "n_points": n_points,
        "n": n,
        "m": n,
        "graph": graph.stats(),
        "timings": {"distances": t_dist.as_dict(), "shortest_paths": t_pairs.as_dict(), "scipy": t_scipy.as_dict()},
        "ratio_shortest_paths_to_distances": t_pairs.best / t_dist.best,
        "ratio_scipy_to_distances": t_scipy.best / t_dist.best,
        "load_start": load_start,
        "load_end": load_end,
        "correct": correct,
        "environment": environment(),
    }
    write_json(args.out, result)
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
