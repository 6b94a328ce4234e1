"""bench_refine.py's peer: another agm's refinement (``--base DIR``), one round in this process, as JSON on stdout.

DIR is a ``python/`` tree of another revision with its built native core copied in (``git archive REV python |
tar -x -C DIR`` and ``cp <site-packages>/agm/_core*.so DIR/python/agm/``); it is imported instead of the
installed agm. The task is the one bench_refine.py runs in process, on the same seed: ``sphere`` (the 20 pairs)
or ``trained`` (a checkpoint's graph paths). Per method (one by one, all in one call): wall and CPU seconds per
path, the lengths, and on the sphere the largest angle of each curve to its great circle.

Usage: python benchmarks/_refine_base_worker.py DIR sphere SEED [N_GOOD N_POLE]
       python benchmarks/_refine_base_worker.py DIR trained SEED CHECKPOINT POINTS PAIRS
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def _use(directory: str) -> None:
    """Import agm from ``directory`` (the editable install's redirecting finder dropped)."""
    sys.meta_path[:] = [f for f in sys.meta_path if "Redirecting" not in type(f).__name__]
    sys.path.insert(0, directory)


def _clock(fn: Any) -> tuple[Any, float, float]:
    c, t = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def main() -> None:
    directory, task, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    _use(str(Path(directory) / "python"))
    import numpy as np
    import torch

    torch.set_num_threads(1)
    sys.path.insert(1, str(Path(__file__).resolve().parent))
    from agm import geodesic

    out: dict[str, Any] = {}
    if task == "sphere":
        from agm.models.analytic import SphereAtlas
        from bench_refine import EPS, N_GOOD, N_POINTS, N_POLE, N_STEPS, K, _deviation, _sphere_pairs

        model = SphereAtlas()
        g = torch.Generator().manual_seed(seed)
        data = model.points(torch.randn(N_POINTS, 3, generator=g))
        graph = geodesic.build_graph(model, data, k=K, eps=EPS, n_steps=N_STEPS, progress=False)
        n_good, n_pole = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (N_GOOD, N_POLE)
        q0, q1 = _sphere_pairs(model, seed, n_good, n_pole)
        a, b = model.coordinates(q0).double().numpy(), model.coordinates(q1).double().numpy()
        paths = [geodesic.shortest_path(model, q0[i], q1[i], graph=graph) for i in range(q0.shape[0])]
        paths[0].refine()  # the decoder's and torch's own first call
    else:
        from agm.data import load_dataset
        from agm.training import load_checkpoint

        checkpoint, n_points, n_pairs = sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
        model, config, _ = load_checkpoint(checkpoint, map_location="cpu")
        data = load_dataset(config.dataset, "test", data_dir=config.data_dir, n=n_points, seed=seed).x
        graph = geodesic.build_graph(model, data, k=10, eps=0.05, n_steps=5, progress=False)
        pairs = np.random.default_rng(seed).choice(data.shape[0], size=(n_pairs, 2), replace=False)
        found = geodesic.shortest_paths(model, data[pairs[:, 0]], data[pairs[:, 1]], graph=graph)
        paths = [p for p in found if p is not None]
    methods = {
        "one by one": lambda: [p.refine() for p in paths],
        "all in one call": lambda: geodesic.refine_paths(paths),
    }
    for name, fn in methods.items():
        refined, wall, cpu = _clock(fn)
        row: dict[str, Any] = {
            "wall_s_per_path": wall / len(paths),
            "cpu_s_per_path": cpu / len(paths),
            "lengths": [float(r.length) for r in refined],
            "graph_lengths": [float(p.length) for p in paths],
        }
        if task == "sphere":
            row["deviations"] = [
                _deviation(model.coordinates(r.decode()).double().numpy(), a[i], b[i]) for i, r in enumerate(refined)
            ]
        out[name] = row
    print(json.dumps(out))


if __name__ == "__main__":
    main()
