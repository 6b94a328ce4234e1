"""Chart transitions of graph and refined geodesics on the exact atlases (issue 22's setting), and their errors.

Atlases: ``CylinderAtlas`` (2 charts; heights in [0, 2]), ``SphereAtlas`` (2 stereographic charts) and the four-chart
flat torus ``agm.models.flat_torus.FlatTorusAtlas`` (radii 1, 0.5); 2,000 uniform points, k = 20, eps = 0.05,
n_steps = 15, 120 random pairs each (pairs whose geodesic is nearly ambiguous, an angle gap above 0.9 pi, are
skipped). For every pair: the graph path (``shortest_paths``) and the refined one (``refine_paths``, all pairs in one
call); relative length error to the closed form; the largest distance of the curve's points from the true geodesic
(the angle to the great circle on the sphere, the distance to the straight line of the flat chart on the cylinder
and the torus); chart switches against the fewest switches a curve along the true
geodesic needs while keeping psi_chart > eps at 512 points of it (a DP over charts), counted two ways: free ends, and
ends in the query points' most likely charts (where agm's curves start and end: a path whose end is held in another
chart needs a switch there). "Surplus" = switches above that count.

Usage: python benchmarks/bench_transitions.py [--quick] [--pairs N] [--threads 1]
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, parser, write_json  # noqa: E402
from agm import geodesic  # noqa: E402
from agm.models.analytic import CylinderAtlas, SphereAtlas  # noqa: E402
from agm.models.flat_torus import FlatTorusAtlas  # noqa: E402

N_POINTS, K, EPS, N_STEPS, SAMPLES = 2000, 20, 0.05, 15, 512


def _deviation(curve: np.ndarray, line: np.ndarray) -> float:
    """Largest distance from the points (n, D) of a curve to the polyline (S, D) of a densely sampled true geodesic
    (for small distances: the angle to the great circle on the unit sphere, the distance to the straight line in
    the flat chart on the cylinder and the torus, whose embeddings are isometric)."""
    a, b = line[:-1], line[1:]
    ab = b - a
    t = np.clip(((curve[:, None, :] - a[None]) * ab[None]).sum(2) / np.maximum((ab * ab).sum(1), 1e-300)[None], 0, 1)
    nearest = a[None] + t[:, :, None] * ab[None]
    return float(np.sqrt(((curve[:, None, :] - nearest) ** 2).sum(2)).min(axis=1).max())


def _fewest_switches(psi: np.ndarray, start: int | None, end: int | None) -> int:
    """Fewest chart switches along samples with partition values psi (S, m), keeping psi_chart > EPS."""
    allowed = psi > EPS
    cost = np.where(allowed[0], 0.0, np.inf)
    if start is not None:
        cost = np.where(np.arange(psi.shape[1]) == start, cost, cost + 1)
    for s in range(1, psi.shape[0]):
        cost = np.where(allowed[s], np.minimum(cost, cost.min() + 1), np.inf)
    if end is not None:
        cost = np.where(np.arange(psi.shape[1]) == end, cost, cost + 1)
    return int(cost.min())


def _sphere() -> tuple[Any, Callable[..., Any]]:
    model = SphereAtlas()

    def sample(g: torch.Generator, n: int) -> torch.Tensor:
        return model.points(torch.randn(n, 3, generator=g))

    def geodesic_points(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        a, b = model.coordinates(x0[None]).double()[0], model.coordinates(x1[None]).double()[0]
        omega = math.acos(float(torch.clamp(a @ b, -1, 1)))
        t = torch.linspace(0, 1, SAMPLES, dtype=torch.float64)[:, None]
        return model.points(((torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / math.sin(omega)).float())

    def ambiguous(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        return model.distance(x0, x1) > 0.9 * math.pi

    return model, lambda: (sample, geodesic_points, ambiguous, model.distance)


def _cylinder() -> tuple[Any, Callable[..., Any]]:
    model = CylinderAtlas()

    def sample(g: torch.Generator, n: int) -> torch.Tensor:
        return model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g) * 2)

    def geodesic_points(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        (t0, h0), (t1, h1) = model.cylindrical(x0[None]), model.cylindrical(x1[None])
        gap = torch.remainder(t1 - t0 + math.pi, 2 * math.pi) - math.pi
        t = torch.linspace(0, 1, SAMPLES)
        return model.points(t0 + t * gap, h0 + t * (h1 - h0))

    def ambiguous(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        gap = torch.remainder(model.cylindrical(x1)[0] - model.cylindrical(x0)[0], 2 * math.pi)
        return torch.minimum(gap, 2 * math.pi - gap) > 0.9 * math.pi

    def distance(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        (t0, h0), (t1, h1) = model.cylindrical(x0), model.cylindrical(x1)
        return model.distance(t0, h0, t1, h1).double()

    return model, lambda: (sample, geodesic_points, ambiguous, distance)


def _torus() -> tuple[Any, Callable[..., Any]]:
    model = FlatTorusAtlas()

    def sample(g: torch.Generator, n: int) -> torch.Tensor:
        return model.points(torch.rand(n, generator=g) * 2 * math.pi, torch.rand(n, generator=g) * 2 * math.pi)

    def geodesic_points(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        a0, a1 = model.angles(x0[None])[0], model.angles(x1[None])[0]
        gap = torch.remainder(a1 - a0 + math.pi, 2 * math.pi) - math.pi
        t = torch.linspace(0, 1, SAMPLES)[:, None]
        angle = a0[None] + t * gap[None]
        return model.points(angle[:, 0], angle[:, 1])

    def ambiguous(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        gap = torch.remainder(model.angles(x1) - model.angles(x0), 2 * math.pi)
        return (torch.minimum(gap, 2 * math.pi - gap) > 0.9 * math.pi).any(dim=1)

    return model, lambda: (sample, geodesic_points, ambiguous, model.distance)


def _atlas_case(name: str, factory: Callable[[], tuple[Any, Callable[..., Any]]], args: Any) -> dict[str, Any]:
    model, parts = factory()
    sample, geodesic_points, ambiguous, distance = parts()
    g = torch.Generator().manual_seed(args.seed)
    graph = geodesic.build_graph(model, sample(g, N_POINTS), k=K, eps=EPS, n_steps=N_STEPS, progress=False)
    q0, q1 = sample(g, 4 * args.pairs), sample(g, 4 * args.pairs)
    keep = torch.nonzero(~ambiguous(q0, q1))[:, 0][: args.pairs]
    q0, q1 = q0[keep], q1[keep]
    true = distance(q0, q1).numpy()
    t0 = time.perf_counter()
    paths = geodesic.shortest_paths(model, q0, q1, graph=graph)
    path_s = time.perf_counter() - t0
    found = [i for i, p in enumerate(paths) if p is not None]
    paths = [paths[i] for i in found]
    true = true[found]
    c0, t0 = time.process_time(), time.perf_counter()
    refined = geodesic.refine_paths(paths)
    refine_s, refine_cpu = time.perf_counter() - t0, time.process_time() - c0
    needed_free, needed_ends = [], []
    for i in found:
        psi = model.partition(geodesic_points(q0[i], q1[i])).double().numpy()
        start, end = int(np.argmax(psi[0])), int(np.argmax(psi[-1]))
        needed_free.append(_fewest_switches(psi, None, None))
        needed_ends.append(_fewest_switches(psi, start, end))
    free, ends = np.array(needed_free), np.array(needed_ends)
    lines = [geodesic_points(q0[i], q1[i]).double().numpy() for i in found]

    def report(rows: list[geodesic.GeodesicPath]) -> dict[str, Any]:
        err = np.abs(np.array([p.length for p in rows]) / true - 1)
        switches = np.array([p.chart_changes.size for p in rows])
        deviation = np.array([_deviation(p.decode().double().numpy(), line) for p, line in zip(rows, lines)])
        return {
            "deviation_median": float(np.median(deviation)),
            "deviation_max": float(deviation.max()),
            "length_error_median": float(np.median(err)),
            "length_error_max": float(err.max()),
            "surplus_free_ends": int((switches > free).sum()),
            "surplus_main_chart_ends": int((switches > ends).sum()),
            "switches_max": int(switches.max()),
            "worst_pairs": [int(i) for i in np.argsort(err)[-3:][::-1]],
        }

    never_above = all(r.length <= p.length for r, p in zip(refined, paths))
    return {
        "correct": {"refined_never_above_graph": never_above},
        "atlas": name,
        "n_charts": int(model.n_charts),
        "n_pairs": len(found),
        "graph": report(paths),
        "refined": report(refined),
        "refined_kept": int(sum(r is not p for r, p in zip(refined, paths))),
        "path_s": path_s,
        "refine_s": refine_s,
        "refine_cpu_s": refine_cpu,
    }


def main() -> None:
    p = parser("bench_transitions", __doc__ or "")
    p.add_argument("--pairs", type=int, default=None, help="pairs per atlas (default 120; --quick 12)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--atlases", default="cylinder,sphere,flat torus", help="comma-separated subset")
    args = p.parse_args()
    args.pairs = args.pairs or (12 if args.quick else 120)
    torch.set_num_threads(args.threads)
    cases = [
        _atlas_case(name, factory, args)
        for name, factory in (("cylinder", _cylinder), ("sphere", _sphere), ("flat torus", _torus))
        if name in args.atlases.split(",")
    ]
    write_json(
        args.out,
        {
            "benchmark": "bench_transitions",
            "mode": "quick" if args.quick else "full",
            "seed": args.seed,
            "environment": environment(),
            "notes": __doc__,
            "cases": cases,
            "correctness_passed": all(all(case["correct"].values()) for case in cases),
        },
    )
    for case in cases:
        gr, rf = case["graph"], case["refined"]
        wall, cpu = (case[key] / case["n_pairs"] * 1e3 for key in ("refine_s", "refine_cpu_s"))
        graph = (
            f"graph err {gr['length_error_median']:.2e} / {gr['length_error_max']:.2e}, deviation "
            f"{gr['deviation_max']:.1e}, surplus {gr['surplus_free_ends']} ({gr['surplus_main_chart_ends']})"
        )
        refined = (
            f"refined err {rf['length_error_median']:.2e} / {rf['length_error_max']:.2e}, deviation "
            f"{rf['deviation_median']:.1e} / {rf['deviation_max']:.1e}, surplus {rf['surplus_free_ends']} "
            f"({rf['surplus_main_chart_ends']})"
        )
        print(f"{case['atlas']:<10s} {case['n_pairs']} pairs: {graph}; {refined}; {wall:.1f} ms/path (cpu {cpu:.1f})")
    print("surplus: free ends (with the ends in the query points' main charts)")
    if not all(all(case["correct"].values()) for case in cases):
        print("correctness FAILED: a refined path is longer than its graph path")
        sys.exit(1)


if __name__ == "__main__":
    main()
