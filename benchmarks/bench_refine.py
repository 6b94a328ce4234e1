"""Refined geodesics against the per-pair solvers, on the sphere, and the refinement on a trained decoder.

Sphere (issue 25's setting): ``SphereAtlas``, 2,000 uniform points, k = 20, eps = 0.05, n_steps = 15; 20 pairs of
great-circle distance 0.32-2.58 rad, 15 with both ends where chart 0 (stereographic, centred on the north pole) is
good (height > -0.3) and 5 with one end near its pole (height < -0.8). Methods, round-robin (every round runs each
method on all 20 pairs, in turn):

* agm graph path (``shortest_path``), then ``path.refine()`` one by one (also at each ``--tolerances`` value of
  ``refine(tolerance=...)``); the 20 graph paths in one call (``shortest_paths``), then ``refine_paths`` of them in
  one call; and the whole geodesic as issue 25 times it, graph path plus refinement, one by one and in one call
  (the graph is built once, lazily: its first round's queries decode the edges the later rounds reuse, as an eager
  build's setup would have; the median is of the rounds); the one-by-one graph paths also on a fresh lazy graph each
  round (each first query decodes its edges) and that total;
* agm's refine before this change (``--before REV``: refine.py of that git revision, L-BFGS), one by one and batched
  (skipped where that file no longer imports); ``--base DIR``: another revision's whole package (a ``python/`` tree
  with its built core, see ``_refine_base_worker.py``) in a fresh process per round, one by one and batched, and
  with it this checkout in the same kind of process ("now (fresh process)", the two in alternating order), so that
  the A/B compares like with like (agm in this process runs beside JAX and stochman);
* GEORCE (likely_geometry's ProbGEORCE with lambda = 0, T = 100, tol 1e-4, jit; JAX) in chart 0, when JAX is
  installed and a likely_geometry checkout is given (``--likely-geometry DIR``, it is not on PyPI);
* stochman 0.3.0 ``connecting_geodesic`` (cubic spline, Adam, library defaults) in chart 0, when installed.

For each: time per geodesic (wall and CPU, median over rounds), relative length error to arccos(<x, y>) and the
shape error: the largest angle between the curve's decoded points and the great circle through its ends. The
first-call overhead is measured in a fresh process: the first ``refine()`` minus the second, after a first decoding.

Trained decoder (``--checkpoint PATH``, e.g. an ``agm train --charts 8`` MNIST run): graph on test images, pairs of
graph paths refined before (``--before``) and now, one by one and batched: time per path, refined/graph length.

Usage: python benchmarks/bench_refine.py [--quick] [--likely-geometry DIR] [--checkpoint PATH] [--base DIR]
[--threads 1]
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, Timing, environment, parser, write_json  # noqa: E402
from agm import geodesic  # noqa: E402
from agm.models.analytic import SphereAtlas  # noqa: E402

N_POINTS, K, EPS, N_STEPS = 2000, 20, 0.05, 15
N_GOOD, N_POLE = 15, 5
#: Pairs in chart 0 and near its pole with ``--quick``.
QUICK_PAIRS = (4, 1)
BEFORE = "cbbd7c6"  # the last commit with the L-BFGS refine
#: The whole geodesic as issue 25 times it (its table: "graph path + refine()"), one by one and in one call.
ONE_TOTAL = "agm per geodesic, one by one: shortest_path + refine()"
BATCH_TOTAL = "agm per geodesic, {n} in one call: shortest_paths + refine_paths"
#: The graph paths on a fresh lazy graph each round (the first query of each pair decodes its edges), and the total.
COLD_PATH = "agm graph path, one by one, on a fresh lazy graph"
COLD_TOTAL = "agm per geodesic, one by one, fresh lazy graph: shortest_path + refine()"


def _before_module(rev: str) -> ModuleType | None:
    """refine.py of git revision ``rev`` as a module (None where git or the revision is missing)."""
    try:
        source = subprocess.run(
            ["git", "show", f"{rev}:python/agm/geodesic/refine.py"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(tempfile.mkdtemp()) / "refine_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("refine_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as err:  # the modules it imported have moved since
        print(f"--before {rev} skipped: its refine.py no longer imports ({err}); see --base")
        return None
    return module


def _worker_rounds(args: Any, task: str, round_: int) -> dict[str, dict[str, Any]]:
    """One round of every fresh-process peer (benchmarks/_refine_base_worker.py): ``--base DIR``'s refinement and,
    with ``--base``, this checkout's in the same kind of process ("now (fresh process)"), in alternating order
    (so that neither always runs first): {peer label: {method: row}}."""
    if args.base is None:
        return {}
    peers = [("--base", Path(args.base)), ("now (fresh process)", _now_tree())]
    out = {}
    for label, directory in peers if round_ % 2 == 0 else peers[::-1]:
        command = [sys.executable, str(Path(__file__).resolve().parent / "_refine_base_worker.py"), str(directory)]
        command += [task, str(args.seed)]
        if task == "trained":
            command += [str(args.checkpoint), str(args.trained_points), str(args.trained_pairs)]
        elif args.quick:
            command += [str(QUICK_PAIRS[0]), str(QUICK_PAIRS[1])]
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=3600)
        out[label] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


@functools.cache
def _now_tree() -> Path:
    """A copy of this checkout's ``python/`` tree with the installed native core beside it (made once), so that the
    worker runs this checkout exactly as it runs ``--base``."""
    return copy_checkout(Path(tempfile.mkdtemp(prefix="agm-now-")))


def copy_checkout(root: Path) -> Path:
    """``root`` holding this checkout's ``python/`` tree with the installed native core copied in: a DIR that
    ``_refine_base_worker.py`` (and ``--base``) takes."""
    import agm._core

    shutil.copytree(REPO / "python", root / "python", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    core = Path(agm._core.__file__)
    shutil.copy2(core, root / "python" / "agm" / core.name)
    return root


def _sphere_pairs(model: SphereAtlas, seed: int, n_good: int, n_pole: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, 3) x2 pair ends: n_good with both ends at height > -0.3, n_pole with one end below -0.8."""
    g = torch.Generator().manual_seed(seed + 1)
    good: list[tuple[torch.Tensor, torch.Tensor]] = []
    pole: list[tuple[torch.Tensor, torch.Tensor]] = []
    while len(good) < n_good or len(pole) < n_pole:
        a, b = model.points(torch.randn(1, 3, generator=g)), model.points(torch.randn(1, 3, generator=g))
        d = float(model.distance(a, b)[0])
        if not 0.32 <= d <= 2.58:
            continue
        h = sorted([float(a[0, 2]), float(b[0, 2])])
        if h[0] > -0.3 and len(good) < n_good:
            good.append((a, b))
        elif h[0] < -0.8 and h[1] > -0.8 and len(pole) < n_pole:
            pole.append((a, b))
    pairs = good + pole
    return torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])


def _deviation(unit: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Largest angle (rad) between points (n, 3) on the sphere and the great circle through a and b."""
    normal = np.cross(a, b)
    normal /= np.linalg.norm(normal)
    unit = unit / np.linalg.norm(unit, axis=1, keepdims=True)
    return float(np.arcsin(np.clip(np.abs(unit @ normal), 0, 1)).max())


def _summary(lengths: np.ndarray, deviations: np.ndarray, true: np.ndarray, n_good: int) -> dict[str, Any]:
    err = np.abs(lengths / true - 1)
    return {
        "length_error_median": float(np.median(err)),
        "length_error_max": float(err.max()),
        "length_error_max_in_chart_pairs": float(err[:n_good].max()),
        "deviation_rad_median": float(np.median(deviations)),
        "deviation_rad_max": float(deviations.max()),
        "deviation_rad_max_in_chart_pairs": float(deviations[:n_good].max()),
    }


def _agm_curves(model: SphereAtlas, paths: list[geodesic.GeodesicPath]) -> list[np.ndarray]:
    return [model.coordinates(p.decode()).double().numpy() for p in paths]


def _georce(directory: Path | None) -> tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], Callable[..., Any]] | None:
    """(geodesic(z0, z1) -> (T+1, 2) latents, the chart map f) of likely_geometry's ProbGEORCE, or None."""
    if directory is None:
        return None
    try:
        sys.path.insert(0, str(directory))
        import jax.numpy as jnp
        from jax import jit
        from jax_geometry.manifolds import nSphere
        from jax_geometry.prob_geodesics import ProbGEORCE
    except ImportError as err:
        print(f"GEORCE skipped: {err}")
        return None
    manifold = nSphere(dim=2, coordinates="stereographic")
    solver = ProbGEORCE(M=manifold, reg_fun=lambda z: jnp.zeros(()), lam=0.0, N=100, tol=1e-4, max_iter=1000)
    compiled = jit(solver)

    def run(z0: np.ndarray, z1: np.ndarray) -> np.ndarray:
        out = compiled(jnp.asarray(z0, dtype=jnp.float32), jnp.asarray(z1, dtype=jnp.float32))
        return np.asarray(out.block_until_ready())

    return run, manifold.f


def _stochman() -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """stochman's connecting_geodesic in chart 0 of the sphere: (z0, z1) -> (100, 3) points, or None."""
    try:
        from stochman.manifold import EmbeddedManifold
    except ImportError as err:
        print(f"stochman skipped: {err}")
        return None
    atlas = SphereAtlas()

    class Chart0(EmbeddedManifold):  # type: ignore[misc]
        def embed(self, points: torch.Tensor, jacobian: bool = False) -> torch.Tensor:
            flat = points.reshape(-1, 2)
            x = atlas.decode(flat, torch.zeros(flat.shape[0], dtype=torch.int64))
            return x.reshape(*points.shape[:-1], 3)

    manifold = Chart0()
    grid = torch.linspace(0, 1, 100)

    def run(z0: np.ndarray, z1: np.ndarray) -> np.ndarray:
        curve, _ = manifold.connecting_geodesic(torch.from_numpy(z0)[None], torch.from_numpy(z1)[None])
        with torch.no_grad():
            return manifold.embed(curve(grid)).reshape(-1, 3).double().numpy()

    return run


def sphere(args: Any, before: ModuleType | None) -> dict[str, Any]:
    model = SphereAtlas()
    g = torch.Generator().manual_seed(args.seed)
    data = model.points(torch.randn(N_POINTS, 3, generator=g))

    def build() -> geodesic.GeodesicGraph:
        return geodesic.build_graph(model, data, k=K, eps=EPS, n_steps=N_STEPS, progress=False)

    t0 = time.perf_counter()
    graph = build()
    build_s = time.perf_counter() - t0
    n_good, n_pole = QUICK_PAIRS if args.quick else (N_GOOD, N_POLE)
    q0, q1 = _sphere_pairs(model, args.seed, n_good, n_pole)
    true = model.distance(q0, q1).numpy()
    a, b = model.coordinates(q0).double().numpy(), model.coordinates(q1).double().numpy()
    z0, z1 = model.encode(q0)[:, 0].numpy(), model.encode(q1)[:, 0].numpy()
    n = q0.shape[0]
    timings: dict[str, Timing] = {}
    results: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def record(name: str, seconds: float, cpu: float, lengths: np.ndarray, curves: list[np.ndarray]) -> None:
        timing = timings.setdefault(name, Timing())
        timing.times.append(seconds / n)
        timing.cpu_times.append(cpu / n)
        results[name] = (lengths, np.array([_deviation(c, a[i], b[i]) for i, c in enumerate(curves)]))

    def clock(fn: Callable[[], Any]) -> tuple[Any, float, float]:
        c, t = time.process_time(), time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t, time.process_time() - c

    def record_workers(round_: int) -> None:
        for label, rows in _worker_rounds(args, "sphere", round_).items():
            for method, row in rows.items():
                what = method if method == "one by one" else f"{n} {method}"
                name = f"agm refine of {label}, {what}"
                timing = timings.setdefault(name, Timing())
                timing.times.append(row["wall_s_per_path"])
                timing.cpu_times.append(row["cpu_s_per_path"])
                results[name] = (np.array(row["lengths"]), np.array(row["deviations"]))

    georce = _georce(args.likely_geometry)
    setup: dict[str, float] = {"agm_build_s": build_s}
    if georce is not None:
        _, seconds, _ = clock(lambda: georce[0](z0[0], z1[0]))
        setup["georce_jit_s"] = seconds
    stochman = _stochman()
    geodesic.shortest_path(model, q0[0], q1[0], graph=graph).refine()  # the decoder's and torch's own first call
    for round_ in range(args.repeats):
        paths, seconds, cpu = clock(
            lambda: [geodesic.shortest_path(model, q0[i], q1[i], graph=graph) for i in range(n)]
        )
        record("agm graph path", seconds, cpu, np.array([p.length for p in paths]), _agm_curves(model, paths))
        path_s, path_cpu = seconds, cpu
        refined, seconds, cpu = clock(lambda paths=paths: [p.refine() for p in paths])
        lengths, curves = np.array([p.length for p in refined]), _agm_curves(model, refined)
        record("agm refine, one by one", seconds, cpu, lengths, curves)
        record(ONE_TOTAL, path_s + seconds, path_cpu + cpu, lengths, curves)
        refine_s, refine_cpu = seconds, cpu
        cold = build()  # a fresh lazy graph: the queries decode the edges they need (the rounds above reuse them)
        cold_paths, seconds, cpu = clock(
            lambda cold=cold: [geodesic.shortest_path(model, q0[i], q1[i], graph=cold) for i in range(n)]
        )
        record(COLD_PATH, seconds, cpu, np.array([p.length for p in cold_paths]), _agm_curves(model, cold_paths))
        record(COLD_TOTAL, seconds + refine_s, cpu + refine_cpu, lengths, curves)
        many, seconds, cpu = clock(lambda: geodesic.shortest_paths(model, q0, q1, graph=graph))
        record(
            f"agm graph paths, {n} in one call",
            seconds,
            cpu,
            np.array([p.length for p in many]),
            _agm_curves(model, many),
        )
        paths_s, paths_cpu = seconds, cpu
        for tolerance in args.tolerances:
            refined, seconds, cpu = clock(lambda paths=paths, tol=tolerance: [p.refine(tolerance=tol) for p in paths])
            record(
                f"agm refine, one by one, tolerance {tolerance:g}",
                seconds,
                cpu,
                np.array([p.length for p in refined]),
                _agm_curves(model, refined),
            )
        refined, seconds, cpu = clock(lambda many=many: geodesic.refine_paths(many))
        lengths, curves = np.array([p.length for p in refined]), _agm_curves(model, refined)
        record(f"agm refine_paths, {n} in one call", seconds, cpu, lengths, curves)
        record(BATCH_TOTAL.format(n=n), paths_s + seconds, paths_cpu + cpu, lengths, curves)
        if before is not None:
            refined, seconds, cpu = clock(lambda paths=paths: [before.refine_paths([p], eps=EPS)[0] for p in paths])
            record(
                "agm refine before, one by one",
                seconds,
                cpu,
                np.array([p.length for p in refined]),
                _agm_curves(model, refined),
            )
            refined, seconds, cpu = clock(lambda paths=paths: before.refine_paths(paths, eps=EPS))
            record(
                f"agm refine before, {n} in one call",
                seconds,
                cpu,
                np.array([p.length for p in refined]),
                _agm_curves(model, refined),
            )
        if georce is not None:
            run, f = georce
            out, seconds, cpu = clock(lambda run=run: [run(z0[i], z1[i]) for i in range(n)])
            curves = [np.stack([np.asarray(f(z)) for z in zi])[:, [1, 2, 0]].astype(np.float64) for zi in out]
            lengths = np.array([np.linalg.norm(np.diff(c, axis=0), axis=1).sum() for c in curves])
            record("GEORCE (ProbGEORCE, lambda 0), chart 0", seconds, cpu, lengths, curves)
        if stochman is not None:
            out, seconds, cpu = clock(lambda: [stochman(z0[i], z1[i]) for i in range(n)])
            lengths = np.array([np.linalg.norm(np.diff(c, axis=0), axis=1).sum() for c in out])
            record("stochman connecting_geodesic, chart 0", seconds, cpu, lengths, out)
        record_workers(round_)
    rows = {
        name: {"per_geodesic": timings[name].as_dict(), **_summary(*results[name], true, n_good)} for name in timings
    }
    graph_len = results["agm graph path"][0]
    one, batch = results["agm refine, one by one"][0], results[f"agm refine_paths, {n} in one call"][0]
    correct = {
        "refined_never_above_graph": bool((one <= graph_len).all() and (batch <= graph_len).all()),
        "fresh_graph_paths_equal": bool(np.allclose(results[COLD_PATH][0], graph_len, rtol=1e-5, atol=0)),
        "batched_equals_one_by_one": bool(np.allclose(one, batch, rtol=1e-5, atol=0)),
        "batched_paths_equal_one_by_one": bool(
            np.allclose(results[f"agm graph paths, {n} in one call"][0], graph_len, rtol=1e-5, atol=0)
        ),
    }
    fresh = results.get("agm refine of now (fresh process), one by one")
    if fresh is not None:  # this checkout in a fresh process refines the same curves
        correct["fresh_process_equals_in_process"] = bool(np.allclose(fresh[0], one, rtol=1e-5, atol=0))
    return {"n_pairs": n, "n_in_chart": n_good, "setup": setup, "methods": rows, "correct": correct}


def first_call_overhead() -> dict[str, float]:
    """Fresh process: first refine() minus second, after the decoder's own first call."""
    code = (
        "import time, torch\n"
        "from agm import geodesic\n"
        "from agm.models.analytic import SphereAtlas\n"
        "m = SphereAtlas(); g = torch.Generator().manual_seed(0)\n"
        "d = m.points(torch.randn(2000, 3, generator=g))\n"
        "gr = geodesic.build_graph(m, d, k=20, n_steps=15, progress=False)\n"
        "p = gr.shortest_path(d[0], d[1]); q = gr.shortest_path(d[2], d[3]); p.decode()\n"
        "t = time.perf_counter(); p.refine(); a = time.perf_counter() - t\n"
        "t = time.perf_counter(); q.refine(); b = time.perf_counter() - t\n"
        "print(a, b)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    first, second = map(float, out.stdout.split())
    return {"first_refine_s": first, "second_refine_s": second, "overhead_s": first - second}


def trained(args: Any, before: ModuleType | None) -> dict[str, Any]:
    from agm.data import load_dataset
    from agm.training import load_checkpoint

    model, config, _ = load_checkpoint(args.checkpoint, map_location="cpu")
    data = load_dataset(config.dataset, "test", data_dir=config.data_dir, n=args.trained_points, seed=args.seed).x
    t0 = time.perf_counter()
    graph = geodesic.build_graph(model, data, k=10, eps=EPS, n_steps=5, progress=False)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(args.seed)
    pairs = rng.choice(data.shape[0], size=(args.trained_pairs, 2), replace=False)
    paths = [
        p for p in geodesic.shortest_paths(model, data[pairs[:, 0]], data[pairs[:, 1]], graph=graph) if p is not None
    ]
    graph_len = np.array([p.length for p in paths])
    methods: dict[str, Callable[[], list[geodesic.GeodesicPath]]] = {
        "now, one by one": lambda: [p.refine() for p in paths],
        "now, all in one call": lambda: geodesic.refine_paths(paths),
    }
    if before is not None:
        methods["before, one by one"] = lambda: [before.refine_paths([p], eps=EPS)[0] for p in paths]
        methods["before, all in one call"] = lambda: before.refine_paths(paths, eps=EPS)
    timings = {name: Timing() for name in methods}
    ratio: dict[str, list[float]] = {}
    for round_ in range(args.trained_repeats):
        for name, fn in methods.items():
            refined = timings[name].record(fn)
            ratio[name] = [float(r.length / p) for r, p in zip(refined, graph_len)]
        for label, rows in _worker_rounds(args, "trained", round_).items():
            for method, row in rows.items():
                name = f"{label}, {method}"
                timings.setdefault(name, Timing()).times.append(row["wall_s_per_path"] * len(paths))
                timings[name].cpu_times.append(row["cpu_s_per_path"] * len(paths))
                ratio[name] = [r / p for r, p in zip(row["lengths"], row["graph_lengths"])]
    n = len(paths)
    return {
        "checkpoint": str(args.checkpoint),
        "model": config.model,
        "n_charts": int(model.n_charts),
        "latent_dim": int(model.latent_dim),
        "graph": {"points": int(data.shape[0]), "k": 10, "n_steps": 5, "eps": EPS, "build_s": build_s},
        "n_paths": n,
        "methods": {
            name: {
                "per_path_s": min(timings[name].times) / n,
                "per_path_cpu_s": min(timings[name].cpu_times) / n,
                "refined_over_graph_median": float(np.median(ratio[name])),
                "refined_over_graph_max": float(np.max(ratio[name])),
            }
            for name in timings
        },
    }


def main() -> None:
    p = parser("bench_refine", __doc__ or "")
    p.add_argument("--threads", type=int, default=1, help="torch (and XLA) threads")
    p.add_argument("--likely-geometry", type=Path, default=None, help="a checkout of FrederikMR/likely_geometry")
    p.add_argument("--checkpoint", type=Path, default=None, help="a trained model for the trained-decoder part")
    p.add_argument("--before", default=BEFORE, help="git revision of the refine to compare with ('' for none)")
    p.add_argument(
        "--base",
        type=Path,
        default=None,
        help="a folder with python/agm of another revision and its built _core (benchmarks/_refine_base_worker.py): "
        "its refine_paths one by one and in one call, in a fresh process per round",
    )
    p.add_argument(
        "--tolerances",
        type=lambda text: [float(v) for v in text.split(",") if v],
        default=[],
        help="comma-separated refine(tolerance=...) values also run one by one on the sphere (default: none)",
    )
    p.add_argument("--trained-points", type=int, default=1000)
    p.add_argument("--trained-pairs", type=int, default=10)
    p.add_argument("--trained-repeats", type=int, default=2)
    args = p.parse_args()
    args.repeats = args.repeats or (1 if args.quick else 3)
    torch.set_num_threads(args.threads)
    if args.threads == 1:
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    before = _before_module(args.before) if args.before else None
    payload: dict[str, Any] = {
        "benchmark": "bench_refine",
        "mode": "quick" if args.quick else "full",
        "seed": args.seed,
        "environment": environment(),
        "notes": __doc__,
        "threads": args.threads,
        "before": args.before or None,
        "sphere": sphere(args, before),
        "first_call": first_call_overhead(),
    }
    payload["correctness_passed"] = all(payload["sphere"]["correct"].values())
    if args.checkpoint is not None:
        payload["trained"] = trained(args, before)
    write_json(args.out, payload)
    s = payload["sphere"]
    print(f"sphere, {s['n_pairs']} pairs ({s['n_in_chart']} in chart 0), setup {s['setup']}")
    for name, row in s["methods"].items():
        t = row["per_geodesic"]
        print(
            f"  {name:<56s} {t['median_s'] * 1e3:8.2f} ms (cpu {t['cpu_median_s'] * 1e3:7.2f})  length err "
            f"{row['length_error_median']:.1e} / {row['length_error_max']:.1e}  deviation "
            f"{row['deviation_rad_median']:.1e} / {row['deviation_rad_max']:.1e} rad"
        )
    print(f"first call: {payload['first_call']}")
    if "trained" in payload:
        for name, row in payload["trained"]["methods"].items():
            print(
                f"  trained {name:<40s} {row['per_path_s'] * 1e3:9.1f} ms/path  refined/graph "
                f"{row['refined_over_graph_median']:.4f} (max {row['refined_over_graph_max']:.4f})"
            )


if __name__ == "__main__":
    main()
