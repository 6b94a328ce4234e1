"""Chart switches of graph geodesics against the switches the geometry needs, on exact atlases (issue 22).

Per atlas (CylinderAtlas: 2 charts; SphereAtlas: the two stereographic charts; FlatTorusAtlas: 4 charts), 2,000
uniform points, k = 20, eps = 0.05, n_steps = 15 (an eager graph, so every variant sees the same weights), 120
random pairs. "Needed" is the fewest chart switches of a curve along the true geodesic (1,000 samples) that
starts in x0's most likely chart, ends in x1's, and is at every sample in a chart whose psi > eps (a dynamic
programme over the charts; a switch happens at a sample where both charts qualify). Variants, run round-robin on
the same graph and pairs:

* ``search``: the graph search's own shortest path (or the direct edge), the layered search switched off;
* ``tau=T``: ``shortest_paths(..., switch_tolerance=T)``, the fewest switches among routes within 1 + T of the
  shortest (T = 0: float32 ties only).

Reported per variant: pairs with surplus switches (more than needed) and with fewer than needed, the length
cost over the shortest route (``path.length_excess``: median, max), the graph length's relative error against
the true distance (median), and wall / CPU time of the query call (one torch thread). Correctness: every length is
within 1 + T of the shortest, the shortest is the same in every variant, and a larger T never has more switches.

Usage: python benchmarks/bench_switches.py [--quick] [--out PATH] [--seed S]
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timing, environment, parser, write_json  # noqa: E402
from agm import geodesic  # noqa: E402
from agm.geodesic.query import routes  # noqa: E402
from agm.models.analytic import CylinderAtlas, SphereAtlas  # noqa: E402
from agm.models.flat_torus import FlatTorusAtlas  # noqa: E402

TAUS = (0.0, 1e-3, 3e-3, 1e-2, 2e-2, 3e-2)
SAMPLES = 1000


def _wrap(a: torch.Tensor) -> torch.Tensor:
    return torch.remainder(a + math.pi, 2 * math.pi) - math.pi


class Case:
    """An atlas with its uniform sampler, its true geodesic curve and its true distance."""

    def __init__(
        self,
        name: str,
        model: Any,
        sample: Callable[[torch.Generator, int], torch.Tensor],
        curve: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
        distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> None:
        self.name, self.model, self.sample, self.curve, self.distance = name, model, sample, curve, distance


def _cylinder() -> Case:
    m = CylinderAtlas()

    def sample(g: torch.Generator, n: int) -> torch.Tensor:
        return m.points(
            torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi - math.pi, torch.rand(n, generator=g)
        )

    def curve(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        (a0, h0), (a1, h1) = m.cylindrical(x0[None]), m.cylindrical(x1[None])
        return m.points(a0 + t * _wrap(a1 - a0), h0 + t * (h1 - h0))

    def distance(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        (a0, h0), (a1, h1) = m.cylindrical(x0), m.cylindrical(x1)
        return m.distance(a0, h0, a1, h1)

    return Case("cylinder (2 charts)", m, sample, curve, distance)


def _sphere() -> Case:
    m = SphereAtlas()

    def sample(g: torch.Generator, n: int) -> torch.Tensor:
        u = torch.randn(n, 3, generator=g, dtype=torch.float64)
        return m.points((u / u.norm(dim=1, keepdim=True)).float())

    def curve(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        u0, u1 = m.coordinates(x0[None]).double()[0], m.coordinates(x1[None]).double()[0]
        omega = torch.arccos(torch.clamp(u0 @ u1, -1.0, 1.0))
        if float(omega) < 1e-9:
            return m.points(u0.expand(t.numel(), 3).float())
        td = t.double()[:, None]
        u = (torch.sin((1 - td) * omega) * u0 + torch.sin(td * omega) * u1) / torch.sin(omega)
        return m.points(u.float())

    return Case("sphere (2 stereographic charts)", m, sample, curve, m.distance)


def _torus() -> Case:
    m = FlatTorusAtlas(radii=(1.0, 1.0))  # the unit flat torus the README's figures were measured on

    def sample(g: torch.Generator, n: int) -> torch.Tensor:
        a, b = torch.rand(2, n, generator=g) * 2 * math.pi - math.pi
        return m.points(a, b)

    def curve(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        (a0, b0), (a1, b1) = m.angles(x0[None])[0], m.angles(x1[None])[0]
        return m.points(a0 + t * _wrap(a1 - a0), b0 + t * _wrap(b1 - b0))

    return Case("flat torus (4 charts)", m, sample, curve, m.distance)


def needed_switches(psi: np.ndarray, eps: float) -> int:
    """Fewest switches of a chart sequence over samples (S, m) of psi: start in the first sample's most likely
    chart, end in the last's, every sample in a chart with psi > eps (a switch at a sample where both qualify)."""
    allowed = psi > eps
    start, end = int(psi[0].argmax()), int(psi[-1].argmax())
    cost = np.full(psi.shape[1], np.inf)
    cost[start] = 0.0
    for ok in allowed:
        cost = np.where(ok, cost, np.inf)  # carry on in a chart that still qualifies
        best = cost.min()
        cost = np.where(ok, np.minimum(cost, best + 1.0), np.inf)  # or switch here between qualifying charts
    return int(cost[end])


def run_case(case: Case, n: int, k: int, n_pairs: int, seed: int, eps: float) -> dict[str, Any]:
    g = torch.Generator().manual_seed(seed)
    data = case.sample(g, n).float()
    graph = geodesic.build_graph(case.model, data, k=k, eps=eps, n_steps=15, weights="eager", progress=False)
    ends = case.sample(g, 2 * n_pairs).float()
    x0, x1 = ends[:n_pairs], ends[n_pairs:]
    t = torch.linspace(0.0, 1.0, SAMPLES)
    with torch.no_grad():
        needed = np.array(
            [needed_switches(case.model.partition(case.curve(x0[i], x1[i], t)).numpy(), eps) for i in range(n_pairs)]
        )
        truth = case.distance(x0, x1).double().numpy()
    variants: dict[str, Callable[[], list[Any]]] = {"search": lambda: _search_only(case.model, x0, x1, graph)}
    for tau in TAUS:
        variants[f"tau={tau:g}"] = lambda tau=tau: geodesic.shortest_paths(
            case.model, x0, x1, graph, switch_tolerance=tau, n_threads=1
        )
    timings = {name: Timing() for name in variants}
    found: dict[str, list[Any]] = {}
    for _ in range(2):  # round-robin: every variant once per round, the last round's paths kept
        for name, fn in variants.items():
            found[name] = timings[name].record(fn)
    out: dict[str, Any] = {"atlas": case.name, "n": n, "k": k, "eps": eps, "pairs": n_pairs, "variants": {}}
    shortest = np.array([p.length for p in found["tau=0"]])
    correct = {}
    for name, paths in found.items():
        switches = np.array([p.chart_changes.size for p in paths])
        lengths = np.array([p.length for p in paths])
        excess = lengths / shortest - 1.0
        out["variants"][name] = {
            "surplus_pairs": int((switches > needed).sum()),
            "fewer_than_needed_pairs": int((switches < needed).sum()),
            "most_switches": int(switches.max()),
            "median_length_cost": float(np.median(excess)),
            "max_length_cost": float(excess.max()),
            "median_error_vs_truth": float(np.median(lengths / truth - 1.0)),
            "timing": timings[name].as_dict(),
        }
        tau = 0.0 if name == "search" else float(name.split("=")[1])
        correct[name] = bool(excess.max() <= max(tau, 1e-6) + 1e-6 and excess.min() >= -1e-6)
    order = [np.array([p.chart_changes.size for p in found[f"tau={tau:g}"]]) for tau in TAUS]
    correct["monotone_in_tau"] = all(bool((a >= b).all()) for a, b in zip(order[:-1], order[1:]))
    out["needed_histogram"] = np.bincount(needed).tolist()
    out["correct"] = correct
    return out


def _search_only(model: Any, x0: torch.Tensor, x1: torch.Tensor, graph: geodesic.GeodesicGraph) -> list[Any]:
    saved = routes._layered
    routes._layered = lambda *args: None  # type: ignore[assignment]
    try:
        return geodesic.shortest_paths(model, x0, x1, graph, switch_tolerance=0.0, n_threads=1)
    finally:
        routes._layered = saved  # type: ignore[assignment]


def main() -> int:
    p = parser("bench_switches", __doc__ or "")
    args = p.parse_args()
    torch.set_num_threads(1)
    n, k, n_pairs = (300, 10, 20) if args.quick else (2000, 20, 120)
    cases = [run_case(c, n, k, n_pairs, args.seed, 0.05) for c in (_cylinder(), _sphere(), _torus())]
    for c in cases:
        print(f"\n{c['atlas']}: needed switches histogram {c['needed_histogram']}")
        for name, v in c["variants"].items():
            print(
                f"  {name:<10s} surplus {v['surplus_pairs']:3d}/{c['pairs']}  fewer {v['fewer_than_needed_pairs']:2d}"
                f"  cost median {v['median_length_cost'] * 100:.4f}% max {v['max_length_cost'] * 100:.3f}%"
                f"  error vs truth median {v['median_error_vs_truth'] * 100:.3f}%"
                f"  {v['timing']['min_s']:.2f} s wall {v['timing']['cpu_min_s']:.2f} s CPU"
            )
    ok = all(all(c["correct"].values()) for c in cases)
    write_json(
        args.out,
        {
            "benchmark": "bench_switches",
            "mode": "quick" if args.quick else "full",
            "seed": args.seed,
            "environment": environment(),
            "notes": "surplus = graph path switches > the fewest a curve along the true geodesic needs (psi > eps)",
            "cases": cases,
            "correctness_passed": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
