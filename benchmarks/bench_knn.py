"""kNN graph of a point set: build an index and query the k=20 nearest other points of every point.

Peers: agm ``ChartIndex(points).query_self`` and ``_knn_graph.knn_graph`` (the former ``agm.knn``, kept here as a
peer; tree / brute / auto), scipy ``cKDTree`` (workers=1 and -1), pykdtree (if installed; it threads with OpenMP,
OMP_NUM_THREADS, all cores when unset) and a
numpy brute force (BLAS-threaded, blocked) for N <= 20k. Cases: d=7 with N in {2k, 20k, 200k}; d=16 and d=32
with N in {2k, 20k} for the tree-vs-brute crossover. Gaussian float64 points. Correctness: every peer's sorted
distances equal scipy's (rtol 1e-9 in float64, 1e-5 for the float32 agm row). Second part: ``ChartIndex.query``
of fresh queries in random order, visited in input order vs sorted by leaf (``order=``), N = Q in {20k, 200k}.

Usage: python benchmarks/bench_knn.py [--quick] [--out PATH]
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timing, environment, load_average, parser, print_table, rng_for, write_json  # noqa: E402
from agm import _core  # noqa: E402

try:
    from _knn_graph import knn_graph
except ImportError:  # written by the native engineer; the rows are skipped without it
    knn_graph = None
try:
    from pykdtree.kdtree import KDTree as PyKDTree
except ImportError:
    PyKDTree = None

K = 20
BRUTE_MAX_N = 20_000
KnnResult = tuple[np.ndarray, np.ndarray]


def numpy_brute(points: np.ndarray, k: int, block: int = 2048) -> KnnResult:
    """k nearest other points by blocked ||a||^2 + ||b||^2 - 2 a.b, argpartition, exact re-computation."""
    n = points.shape[0]
    sq = np.einsum("ij,ij->i", points, points)
    ids = np.empty((n, k), dtype=np.int64)
    dists = np.empty((n, k))
    for lo in range(0, n, block):
        q = points[lo : lo + block]
        d2 = sq[lo : lo + block, None] + sq[None, :] - 2.0 * (q @ points.T)
        d2[np.arange(q.shape[0]), np.arange(lo, lo + q.shape[0])] = np.inf
        part = np.argpartition(d2, k, axis=1)[:, :k]
        exact = np.linalg.norm(q[:, None, :] - points[part], axis=2)
        order = np.argsort(exact, axis=1)
        ids[lo : lo + block] = np.take_along_axis(part, order, axis=1)
        dists[lo : lo + block] = np.take_along_axis(exact, order, axis=1)
    return ids, dists


def scipy_knn(points: np.ndarray, workers: int) -> KnnResult:
    dists, ids = cKDTree(points).query(points, k=K + 1, workers=workers)
    return ids[:, 1:].astype(np.int64), dists[:, 1:]


def pykdtree_knn(points: np.ndarray) -> KnnResult:
    dists, ids = PyKDTree(points).query(points, k=K + 1)
    return ids[:, 1:].astype(np.int64), dists[:, 1:].astype(np.float64)


def peers(points: np.ndarray) -> dict[str, tuple[Callable[[], KnnResult], float, str]]:
    """name -> (callable, distance rtol vs scipy, note)."""
    n = points.shape[0]
    p32 = np.ascontiguousarray(points.astype(np.float32))
    out: dict[str, tuple[Callable[[], KnnResult], float, str]] = {
        "scipy cKDTree workers=1": (lambda: scipy_knn(points, 1), 0.0, "baseline"),
        "scipy cKDTree workers=-1": (lambda: scipy_knn(points, -1), 1e-9, ""),
        "agm ChartIndex f64 n_threads=1": (lambda: _core.ChartIndex(points).query_self(K, n_threads=1), 1e-9, ""),
        "agm ChartIndex f64 n_threads=0": (lambda: _core.ChartIndex(points).query_self(K, n_threads=0), 1e-9, ""),
        "agm ChartIndex f32 n_threads=0": (lambda: _core.ChartIndex(p32).query_self(K, n_threads=0), 1e-5, ""),
    }
    if knn_graph is not None:
        for method in ("tree", "auto") + (("brute",) if n <= BRUTE_MAX_N else ()):
            out[f"agm knn_graph method={method}"] = (
                lambda m=method: knn_graph(points, K, method=m, n_threads=0),
                1e-9,
                "",
            )
    if PyKDTree is not None:
        out["pykdtree (OpenMP)"] = (lambda: pykdtree_knn(points), 1e-9, "threads: OMP_NUM_THREADS")
    if n <= BRUTE_MAX_N:
        out["numpy brute force (BLAS)"] = (lambda: numpy_brute(points, K), 1e-9, "")
    return out


def run_case(n: int, d: int, seed: int, repeats: int) -> dict[str, Any]:
    """Time every peer round-robin (one run of each per round, so that a change of the machine's load hits all
    peers alike), one untimed warm-up round when repeats > 1; check each result against scipy's distances."""
    points = rng_for(seed, n, d).normal(size=(n, d))
    table = peers(points)
    runs: dict[str, Timing] = {name: Timing() for name in table}
    results: dict[str, KnnResult] = {}
    for round_ in range(repeats + (1 if repeats > 1 else 0)):
        for name, (fn, _, _) in table.items():
            if repeats == 1 or round_ > 0:
                results[name] = runs[name].record(fn)
            else:
                results[name] = fn()
    timings: dict[str, Any] = {}
    correct: dict[str, bool] = {}
    reference = results["scipy cKDTree workers=1"][1]
    rows = []
    for name, (_, rtol, note) in table.items():
        ids, dists = results[name]
        dists = np.asarray(dists, dtype=np.float64)
        ok = dists.shape == (n, K) and bool(np.allclose(np.sort(dists, axis=1), reference, rtol=rtol, atol=1e-12))
        ok = ok and not np.any(np.asarray(ids) == np.arange(n)[:, None])
        correct[name] = ok
        timings[name] = runs[name].as_dict()
        cpu = f"cpu {min(runs[name].cpu_times) * 1e3:.0f} ms  "
        rows.append((name, runs[name].best, cpu + note + ("" if ok else "  WRONG DISTANCES")))
    baseline = timings["scipy cKDTree workers=1"]["min_s"]
    print_table(f"kNN graph N={n} d={d} k={K} (ratio: time / scipy cKDTree workers=1)", rows, baseline)
    ratios = {name: t["min_s"] / baseline for name, t in timings.items()}
    return {"n": n, "d": d, "k": K, "timings": timings, "ratio_to_scipy_workers1": ratios, "correct": correct}


def run_query_order(n: int, d: int, seed: int, repeats: int) -> dict[str, Any]:
    """``ChartIndex.query`` of n fresh Gaussian queries (random order) against n indexed points, k = K: visited in
    input order (order="input", what query did before) vs sorted by leaf (order="auto"), round-robin with one
    warm-up round when repeats > 1, 1 and all threads. Correctness: the orders agree bit for bit and the distances
    equal scipy's (rtol 1e-9)."""
    points = rng_for(seed, n, d, 1).normal(size=(n, d))
    queries = rng_for(seed, n, d, 2).normal(size=(n, d))
    index = _core.ChartIndex(points)

    def query(order: Literal["input", "auto"], threads: int) -> Callable[[], KnnResult]:
        return lambda: index.query(queries, K, n_threads=threads, order=order)

    table = {
        f"agm query order={order} n_threads={threads}": query(order, threads)
        for threads in (1, 0)
        for order in ("input", "auto")
    }
    runs = {name: Timing() for name in table}
    results: dict[str, KnnResult] = {}
    for round_ in range(repeats + (1 if repeats > 1 else 0)):
        for name, fn in table.items():
            results[name] = runs[name].record(fn) if repeats == 1 or round_ > 0 else fn()
    reference = cKDTree(points).query(queries, k=K)[0]
    first = results["agm query order=input n_threads=1"]
    correct = {
        name: bool(np.array_equal(r[0], first[0]) and np.array_equal(r[1], first[1]))
        and bool(np.allclose(r[1], reference, rtol=1e-9, atol=1e-12))
        for name, r in results.items()
    }
    rows = [(name, runs[name].best, f"cpu {min(runs[name].cpu_times) * 1e3:.0f} ms") for name in table]
    baseline = runs["agm query order=auto n_threads=1"].best
    print_table(f"ChartIndex.query N=Q={n} d={d} k={K} (ratio: time / order=auto n_threads=1)", rows, baseline)
    speedup = {
        str(t): runs[f"agm query order=input n_threads={t}"].best / runs[f"agm query order=auto n_threads={t}"].best
        for t in (1, 0)
    }
    return {
        "n": n,
        "d": d,
        "k": K,
        "timings": {name: runs[name].as_dict() for name in table},
        "ratio_input_to_sorted_by_threads": speedup,
        "correct": correct,
        "load": load_average(),
    }


def main() -> None:
    p = parser("bench_knn", __doc__.splitlines()[0])
    p.add_argument("--cases", default=None, help="comma-separated N:d pairs instead of the default grid")
    args = p.parse_args()
    env = environment()
    if args.cases:
        grid = [(int(c.split(":")[0]), int(c.split(":")[1])) for c in args.cases.split(",")]
    elif args.quick:
        grid = [(2_000, 7), (2_000, 16), (2_000, 32)]
    else:
        grid = [(2_000, 7), (20_000, 7), (200_000, 7), (2_000, 16), (20_000, 16), (2_000, 32), (20_000, 32)]
    notes = []
    if knn_graph is None:
        notes.append("_knn_graph.knn_graph not importable: its rows were skipped")
    if PyKDTree is None:
        notes.append("pykdtree not installed: its rows were skipped (pip install pykdtree)")
    notes.append(f"numpy brute force only for N <= {BRUTE_MAX_N}; agm knn_graph method=brute likewise")
    cases = []
    for n, d in grid:
        repeats = args.repeats or (5 if n <= 2_000 else 3 if n <= 20_000 else 1)
        cases.append(run_case(n, d, args.seed, repeats))
    order_grid = [(2_000, 7)] if args.quick else [(20_000, 7), (200_000, 7)]
    query_order = [run_query_order(n, d, args.seed, args.repeats or (3 if n <= 20_000 else 2)) for n, d in order_grid]
    passed = all(all(c["correct"].values()) for c in cases + query_order)
    write_json(
        args.out,
        {
            "benchmark": "bench_knn",
            "mode": "quick" if args.quick else "cases" if args.cases else "full",
            "seed": args.seed,
            "environment": env,
            "notes": notes,
            "cases": cases,
            "query_order": query_order,
            "correctness_passed": passed,
        },
    )
    print(f"\ncorrectness {'passed' if passed else 'FAILED'}; wrote {args.out}")
    for note in notes:
        print(f"note: {note}")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
