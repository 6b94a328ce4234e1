"""Geodesic distance matrices: ``agm.geodesic.distances`` against n * m ``shortest_paths`` pairs and scipy.

On the exact cylinder model (agm.models.analytic.CylinderAtlas, two charts) with N data points and an eager graph
(k = 10, n_steps = 5), for n = m data points of the graph (200 x 200 = 40,000 pairs; --quick: 300 points, 20 x 20):

* ``distances(model, X, Y, n_threads=1|2)``: attachments, then one native Dijkstra per row with the queries as
  virtual ends (``AtlasGraph.distances_many``);
* the row searches alone: native ``distances_many`` (1 and 2 threads) against scipy
  ``dijkstra(augmented, indices=...)`` on the explicitly augmented graph (what distances ran before);
* ``shortest_paths(model, X0, X1)`` on the n * m pairs (one native A* search per pair, threaded; timed once);
* scipy ``dijkstra(graph.to_scipy(), indices=...)`` from the main-chart nodes of X (node-to-node: the raw search).

The first four rows run interleaved round-robin (one call of each per round). Correctness: all agree (rtol 1e-5:
float32 encodings in different batches; a data point's attachments are its own node's edges, so node-to-node
distances are the query distances; native vs scipy row searches: rtol 1e-12, same float64 weights). Wall and CPU
time, with the load.

Usage: python benchmarks/bench_distances.py [--quick] [--out PATH] [--repeats R]
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.sparse.csgraph import dijkstra

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timing, environment, load_average, parser, print_table, timeit, write_json  # noqa: E402
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
    a_pairs, b_pairs = X.repeat_interleave(n, 0), Y.repeat(n, 1)
    load_start = load_average()

    from agm.geodesic.query.distances import _attach_all, _graph_distances, augmented_csr
    from agm.geodesic.query.search import prepare_query

    g_, dev, policy = prepare_query(model, graph.record, "dijkstra", None, None)
    src, dst = _attach_all(model, g_, dev, policy, X, Y)
    augmented = augmented_csr(g_, src, dst)
    nn = g_.n_nodes
    table: dict[str, Callable[[], np.ndarray]] = {
        "distances n_threads=1": lambda: geodesic.distances(model, X, Y, graph=graph, n_threads=1),
        "distances n_threads=2": lambda: geodesic.distances(model, X, Y, graph=graph, n_threads=2),
        "rows: native distances_many n_threads=1": lambda: _graph_distances(g_, src, dst, 1),
        "rows: native distances_many n_threads=2": lambda: _graph_distances(g_, src, dst, 2),
        "rows: scipy dijkstra(augmented, indices)": lambda: dijkstra(
            augmented, directed=True, indices=np.arange(nn, nn + n)
        )[:, nn + n :],
    }
    runs = {name: Timing() for name in table}
    out: dict[str, np.ndarray] = {}
    for round_ in range(repeats + 1):
        for name, fn in table.items():
            out[name] = runs[name].record(fn) if round_ > 0 else fn()  # round 0: warm-up
    D = out["distances n_threads=1"]
    t_pairs, paths = timeit(lambda: geodesic.shortest_paths(model, a_pairs, b_pairs, graph=graph), 1, warmup=0)
    L = np.array([p.shortest_length if p is not None else np.inf for p in paths]).reshape(n, n)  # the distance
    with torch.no_grad():
        main_chart = model.partition(data).argmax(1).numpy()
    idx = np.arange(2 * n)
    nodes = graph.record.node_at(idx, main_chart[idx])
    adjacency = graph.to_scipy()
    t_scipy, S = timeit(lambda: dijkstra(adjacency, indices=nodes[:n]), repeats)
    S = S[:, nodes[n:]]
    load_end = load_average()

    rows_native = out["rows: native distances_many n_threads=1"]
    correct = bool(
        np.allclose(D, L, rtol=RTOL, atol=1e-9)
        and np.allclose(D, S, rtol=RTOL, atol=1e-9)
        and np.allclose(D, out["distances n_threads=2"], rtol=1e-12, atol=0.0)
        and np.allclose(rows_native, out["rows: scipy dijkstra(augmented, indices)"], rtol=1e-12, atol=0.0)
        and np.array_equal(rows_native, out["rows: native distances_many n_threads=2"])
    )
    base = runs["distances n_threads=1"].best
    rows = [(name, runs[name].best, f"cpu {min(runs[name].cpu_times) * 1e3:.0f} ms") for name in table]
    rows += [(f"shortest_paths ({n * n} pairs)", t_pairs.best, f"cpu {min(t_pairs.cpu_times) * 1e3:.0f} ms")]
    rows += [("scipy dijkstra(indices=X)", t_scipy.best, "node-to-node")]
    print_table(f"{n} x {n} geodesic distances, {n_points} points, load {load_start}", rows, base)
    print(f"agree: {correct}; max |D - L| = {np.abs(D - L).max():.3g}, max |D - S| = {np.abs(D - S).max():.3g}")
    scipy_rows = runs["rows: scipy dijkstra(augmented, indices)"]
    result: dict[str, Any] = {
        "benchmark": "bench_distances",
        "mode": "quick" if args.quick else "full",
        "n_points": n_points,
        "n": n,
        "m": n,
        "graph": graph.stats(),
        "timings": {
            **{name: runs[name].as_dict() for name in table},
            "shortest_paths": t_pairs.as_dict(),
            "scipy": t_scipy.as_dict(),
        },
        "ratio_shortest_paths_to_distances": t_pairs.best / base,
        "ratio_scipy_to_distances": t_scipy.best / base,
        "ratio_scipy_rows_to_native_rows": {
            str(t): scipy_rows.best / runs[f"rows: native distances_many n_threads={t}"].best for t in (1, 2)
        },
        "ratio_scipy_rows_to_native_rows_cpu": {
            str(t): min(scipy_rows.cpu_times) / min(runs[f"rows: native distances_many n_threads={t}"].cpu_times)
            for t in (1, 2)
        },
        "load_start": load_start,
        "load_end": load_end,
        "correct": correct,
        "environment": environment(),
    }
    write_json(args.out, result)
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
