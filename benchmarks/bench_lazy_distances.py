"""Issue 19's distance target: a 200 x 200 ``distances`` matrix on a lazy graph against completing the graph.

A trained checkpoint (``--checkpoint``, e.g. ``agm train --model awae --charts 8 --dataset mnist --preset cpu``) and
``--points`` MNIST test points (as the README's "Use your trained model" snippet: k = 20, eps = 0.05, n_steps = 15).
Two fresh lazy graphs are built (same arguments, same decode policy: the first build's, passed to the second), then

* ``lazy``: ``graph.distances(data[:n])`` on the first (one-to-many LazySP, :mod:`agm.geodesic.query.lazy_distances`);
* ``evaluate_all``: ``graph.evaluate_all()`` on the second (what ``distances`` ran before issue 19, before its
  own attachments and searches), then the same ``distances`` on the now eager graph.

Recorded for each: points decoded (counted by wrapping ``model.decode``), wall and CPU seconds.
Targets: lazy decodes <= 0.1x evaluate_all's and lazy time <= 0.1x evaluate_all's. Correctness: the two matrices
agree (rtol 2e-6 with an absolute floor of 1e-6: float32 decodings in other batches), else exit 1.

Usage: python benchmarks/bench_lazy_distances.py --checkpoint runs/awae8/checkpoint.pt [--points 2000] [--n 200]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, load_average, parser, write_json  # noqa: E402
from agm import geodesic  # noqa: E402
from agm.data import load_dataset  # noqa: E402
from agm.training import load_checkpoint  # noqa: E402
from bench_geodesic import DecodeCounter  # noqa: E402

RTOL, ATOL = 2e-6, 1e-6


def clocked(fn: Any) -> tuple[Any, float, float]:
    """(fn(), wall seconds, process CPU seconds)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> int:
    p = parser("bench_lazy_distances", __doc__ or "")
    p.add_argument("--checkpoint", required=True, help="a trained checkpoint.pt")
    p.add_argument("--data-dir", default=None, help="folder of the MNIST files (default: the checkpoint's)")
    p.add_argument("--points", type=int, default=2000, help="test points in the graph")
    p.add_argument("--n", type=int, default=200, help="rows (and columns) of the distance matrix")
    args = p.parse_args()
    env = {**environment(), "load_average_at_start": load_average()}
    model, config, _ = load_checkpoint(args.checkpoint)
    data = load_dataset(config.dataset, "test", n=args.points, data_dir=args.data_dir or config.data_dir).x
    counter = DecodeCounter(model)
    kw: dict[str, Any] = {"k": 20, "eps": 0.05, "n_steps": 15, "progress": False}
    lazy, build_s, build_cpu = clocked(lambda: geodesic.build_graph(model, data, **kw))
    other = geodesic.build_graph(model, data, decode_policy=lazy.decode_policy, **kw)
    X = data[: args.n]

    counter.count = 0
    D, lazy_s, lazy_cpu = clocked(lambda: lazy.distances(X, model=model))
    lazy_decodes = counter.count

    counter.count = 0
    _, all_s, all_cpu = clocked(lambda: other.evaluate_all(progress=False))
    all_decodes = counter.count
    counter.count = 0
    E, after_s, after_cpu = clocked(lambda: other.distances(X, model=model))
    after_decodes = counter.count

    same = bool(np.allclose(D, E, rtol=RTOL, atol=ATOL) and np.array_equal(np.isinf(D), np.isinf(E)))
    finite = np.isfinite(D) & (E > 0)
    worst = float(np.max(np.abs(D[finite] - E[finite]) / E[finite])) if finite.any() else 0.0
    result = {
        "environment": env,
        "checkpoint": args.checkpoint,
        "graph": lazy.stats(),
        "decode_policy": lazy.decode_policy.to_json() if lazy.decode_policy else None,
        "build_s": build_s,
        "build_cpu_s": build_cpu,
        "lazy": {
            "decodes": lazy_decodes,
            "wall_s": lazy_s,
            "cpu_s": lazy_cpu,
            "weights_evaluated": lazy.weights_evaluated,
        },
        "evaluate_all": {"decodes": all_decodes, "wall_s": all_s, "cpu_s": all_cpu},
        "distances_after_evaluate_all": {"decodes": after_decodes, "wall_s": after_s, "cpu_s": after_cpu},
        "ratios": {
            "decodes": lazy_decodes / max(all_decodes, 1),
            "wall": lazy_s / all_s,
            "cpu": lazy_cpu / all_cpu,
            "wall_vs_evaluate_all_plus_distances": lazy_s / (all_s + after_s),
        },
        "max_rel_diff": worst,
        "matrices_agree": same,
    }
    write_json(args.out, result)
    r = result["ratios"]
    print(
        f"lazy {args.n}x{args.n}: {lazy_decodes:,} decodes, {lazy_s:.1f} s wall, {lazy_cpu:.1f} s CPU, "
        f"{lazy.weights_evaluated:.1%} of the edges; evaluate_all: {all_decodes:,} decodes, "
        f"{all_s:.1f} s wall, {all_cpu:.1f} s CPU; ratios decodes {r['decodes']:.3f}, wall {r['wall']:.3f}, "
        f"CPU {r['cpu']:.3f}; matrices agree: {same} (max rel {worst:.1e})",
        flush=True,
    )
    return 0 if same else 1


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    raise SystemExit(main())
