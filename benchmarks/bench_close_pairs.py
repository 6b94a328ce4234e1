"""How d(x, y) jumps when y leaves x's k-nearest range, and what ``path.refine()`` makes of it (issue 22, item 6).

The README's quick-start graph (CylinderAtlas, 2,000 uniform points, k = 20, eps = 0.05, n_steps = 15). For 12
points x and 12 directions each, y moves away from x along the direction at 25 distances from 0.002 to 0.3 (the
true distance is known exactly). While y is among x's k nearest (or x among y's) in a shared chart the two query
points are joined directly and d(x, y) is the exact length; beyond, the route runs through graph nodes and d is
the graph's polyline, longer than the truth. Reported: the ratio d / truth for direct and for graph routes
(median, max), the largest jump of the ratio between two consecutive distances of one (x, direction) and the
refined length of the worst pair (``path.refine()``, default settings). Correctness: direct routes at the true
length and no length below it (to 1e-4 relative + 2e-6, float32), the refined curve never longer than the graph
path.

Usage: python benchmarks/bench_close_pairs.py [--quick] [--out PATH] [--seed S]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timing, environment, parser, write_json  # noqa: E402
from agm import geodesic  # noqa: E402
from agm.models.analytic import CylinderAtlas  # noqa: E402


def main() -> int:
    args = parser("bench_close_pairs", __doc__ or "").parse_args()
    torch.set_num_threads(1)
    n, k, n_x, n_dir, n_dist = (500, 10, 4, 4, 12) if args.quick else (2000, 20, 12, 12, 25)
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(args.seed)
    theta, h = torch.rand(n, generator=g) * 6.28 - 3.14, torch.rand(n, generator=g)
    graph = geodesic.build_graph(model, model.points(theta, h), k=k, eps=0.05, n_steps=15, progress=False)
    th0 = torch.rand(n_x, generator=g) * 6.28 - 3.14
    h0 = 0.3 + 0.4 * torch.rand(n_x, generator=g)
    direction = torch.rand(n_x, n_dir, generator=g) * 2 * math.pi
    dist = torch.logspace(math.log10(0.002), math.log10(0.3), n_dist)
    # (n_x, n_dir, n_dist) pairs: y = x + t (cos a, sin a) in (angle, height), radius 1
    t = dist[None, None, :].expand(n_x, n_dir, n_dist)
    a = direction[:, :, None].expand_as(t)
    x_th, x_h = th0[:, None, None].expand_as(t), h0[:, None, None].expand_as(t)
    y_th, y_h = x_th + t * torch.cos(a), x_h + t * torch.sin(a)
    x0 = model.points(x_th.reshape(-1), x_h.reshape(-1))
    x1 = model.points(y_th.reshape(-1), y_h.reshape(-1))
    timing = Timing()
    paths = timing.record(lambda: geodesic.shortest_paths(model, x0, x1, graph, n_threads=1))
    truth = model.distance(x_th.reshape(-1), x_h.reshape(-1), y_th.reshape(-1), y_h.reshape(-1)).double().numpy()
    ratio = np.array([p.length for p in paths]) / truth
    direct = np.array([p.nodes.size == 0 for p in paths])
    r3 = ratio.reshape(n_x, n_dir, n_dist)
    jumps = r3[:, :, 1:] - r3[:, :, :-1]
    worst = int(np.argmax(ratio))
    refined = paths[worst].refine()
    out: dict[str, Any] = {
        "n": n,
        "k": k,
        "pairs": int(ratio.size),
        "direct_pairs": int(direct.sum()),
        "direct_ratio_median": float(np.median(ratio[direct])) if direct.any() else None,
        "direct_ratio_max": float(ratio[direct].max()) if direct.any() else None,
        "graph_ratio_median": float(np.median(ratio[~direct])),
        "graph_ratio_max": float(ratio[~direct].max()),
        "largest_direct_distance": float(truth[direct].max()) if direct.any() else None,
        "largest_jump": float(jumps.max()),
        "worst_pair": {
            "true_distance": float(truth[worst]),
            "graph_length": float(paths[worst].length),
            "refined_length": float(refined.length),
            "refined_ratio": float(refined.length / truth[worst]),
        },
        "timing": timing.as_dict(),
    }
    lengths = np.array([p.length for p in paths])
    slack = 1e-4 * truth + 2e-6  # float32 decodings of unit-size points: ~1e-7 absolute per segment
    correct = {
        "direct_exact": bool(not direct.any() or (abs(lengths - truth)[direct] <= slack[direct]).all()),
        "never_below_truth": bool((lengths >= truth - slack).all()),
        "refined_not_longer": bool(refined.length <= paths[worst].length * (1 + 1e-6)),
    }
    out["correct"] = correct
    print(
        f"{out['pairs']} pairs, {out['direct_pairs']} direct (up to {out['largest_direct_distance']:.3g} apart): "
        f"d / truth direct median {out['direct_ratio_median']:.5f}; through the graph median "
        f"{out['graph_ratio_median']:.4f}, max {out['graph_ratio_max']:.4f}; largest jump between consecutive "
        f"distances +{out['largest_jump']:.3f}; worst pair {out['worst_pair']['true_distance']:.4g} apart: graph "
        f"{out['worst_pair']['graph_length'] / out['worst_pair']['true_distance']:.4f}x, refined "
        f"{out['worst_pair']['refined_ratio']:.5f}x"
    )
    write_json(
        args.out,
        {
            "benchmark": "bench_close_pairs",
            "mode": "quick" if args.quick else "full",
            "seed": args.seed,
            "environment": environment(),
            "notes": "d(x, y) / true distance on the cylinder as y leaves x's k-nearest range",
            "cases": [out],
            "correctness_passed": all(correct.values()),
        },
    )
    return 0 if all(correct.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
