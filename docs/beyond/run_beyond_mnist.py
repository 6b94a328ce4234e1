"""Beyond the paper on a trained MNIST atlas model: geodesic distances, medoid, k-medoids, Fréchet means and
refined geodesics (agm.geodesic), each stage timed (wall and process CPU seconds) and written as it finishes.

Usage (the numbers of docs/beyond/README.md):
    python docs/beyond/run_beyond_mnist.py CHECKPOINT GRAPH --data-dir DIR --out DIR [--n 150] [--pairs 20]

CHECKPOINT: an ``agm reproduce`` / ``agm train`` checkpoint; GRAPH: its saved graph (``graph-KEY.agmg`` next to the
checkpoint), loaded instead of built. Writes ``beyond.json`` and PNGs (medoids, Fréchet means, strips) into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from agm import geodesic
from agm.data import load_dataset
from agm.experiments.figures import StripRow, plot_strips
from agm.training import load_checkpoint

TIMES: dict[str, dict[str, float]] = {}


@contextmanager
def timed(name: str) -> Iterator[None]:
    """Record the block's wall and process CPU seconds (and the 1-minute load average at its end) as ``name``."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    TIMES[name] = {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "load_1min": os.getloadavg()[0],
    }
    print(f"{name}: {TIMES[name]}", flush=True)


def save_images(images: list[torch.Tensor], titles: list[str], path: Path) -> None:
    """A row of (1, 28, 28) images with titles, as a small PNG."""
    fig = Figure(figsize=(1.1 * len(images) + 0.2, 1.5))
    axes = fig.subplots(1, len(images), squeeze=False)[0]
    for ax, img, title in zip(axes, images, titles):
        ax.imshow(img.reshape(28, 28).clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.savefig(path, dpi=80, bbox_inches="tight")


def purity(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Fraction of points whose cluster's majority digit is their own digit."""
    hits = sum(int(np.bincount(labels[clusters == c]).max()) for c in np.unique(clusters))
    return hits / labels.size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("graph")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--mean-digits", type=int, nargs="*", default=[0, 1, 7])
    ap.add_argument("--mean-points", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--refine-steps",
        type=int,
        default=20,
        help="most Gauss-Newton evaluations of every refinement (refine_paths steps)",
    )
    ap.add_argument("--mean-iter", type=int, default=4, help="Karcher iterations of each Frechet mean")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"checkpoint": args.checkpoint, "graph": args.graph, "n": args.n}

    def write() -> None:
        result["times"] = TIMES
        (out / "beyond.json").write_text(json.dumps(result, indent=2))

    with timed("load"):
        model, config, _ = load_checkpoint(args.checkpoint)
        graph = geodesic.load_graph(args.graph, model)
        test = load_dataset("mnist", "test", data_dir=args.data_dir, n=args.n, seed=args.seed)
        x, labels = test.x, test.labels.numpy()
    atlas: Any = model  # an AGM: n_charts and latent_dim are plain ints
    result["model"] = {"charts": int(atlas.n_charts), "latent_dim": int(atlas.latent_dim), "graph": graph.stats()}

    with timed("distances"):
        D = geodesic.distances(model, x, graph=graph)
    np.save(out / "distances.npy", D)
    finite = D[np.isfinite(D) & ~np.eye(args.n, dtype=bool)]
    result["distances"] = {
        "shape": list(D.shape),
        "unreachable_pairs": int((~np.isfinite(D)).sum()),
        "median": float(np.median(finite)),
        "symmetric_max_gap": float(np.nanmax(np.abs(np.where(np.isfinite(D), D - D.T, 0.0)))),
        "zero_diagonal": bool((np.diag(D) == 0).all()),
    }
    with timed("medoid"):
        med = geodesic.medoid(D)
    with timed("k_medoids"):
        clustering = geodesic.k_medoids(D, 10, seed=args.seed)
    result["medoid"] = {"index": med, "digit": int(labels[med])}
    result["k_medoids"] = {
        "k": 10,
        "medoid_digits": [int(labels[i]) for i in clustering.medoids],
        "sizes": np.bincount(clustering.labels, minlength=10).tolist(),
        "purity": purity(labels, clustering.labels),
        "cost": clustering.cost,
        "swaps": clustering.swaps,
    }
    save_images(
        [x[med]] + [x[i] for i in clustering.medoids],
        ["medoid"] + [f"c{c}: {int(labels[i])}" for c, i in enumerate(clustering.medoids)],
        out / "medoids.png",
    )
    write()

    rng = np.random.default_rng(args.seed)
    n_pairs = min(args.pairs, args.n // 2)
    idx = rng.choice(args.n, size=(n_pairs, 2), replace=False)
    with timed("graph_paths"):
        paths = geodesic.shortest_paths(model, x[idx[:, 0]], x[idx[:, 1]], graph=graph, raise_unreachable=False)
    found = [p for p in paths if p is not None]
    with timed("refine"):
        refined = geodesic.refine_paths(found, steps=args.refine_steps, points=16)
    g_len = np.array([p.length for p in found])
    r_len = np.array([p.length for p in refined])
    result["refined"] = {
        "pairs": len(found),
        "unreachable": n_pairs - len(found),
        "steps": args.refine_steps,
        "points": 16,
        "graph_lengths": g_len.tolist(),
        "refined_lengths": r_len.tolist(),
        "ratio_median": float(np.median(r_len / g_len)),
        "ratio_min": float((r_len / g_len).min()),
        "ratio_max": float((r_len / g_len).max()),
        "shortened": int((r_len < g_len).sum()),
        "mean_chart_changes_graph": float(np.mean([p.chart_changes.size for p in found])),
        "mean_chart_changes_refined": float(np.mean([p.chart_changes.size for p in refined])),
    }
    rows = []
    for i in range(min(3, len(found))):
        for p, kind in ((found[i], "graph"), (refined[i], "refined")):
            inter = p.interpolate(10)
            labels_1 = ["/".join(str(int(c) + 1) for c in lab.split("/")) for lab in inter.labels]
            rows.append(StripRow(inter.x, labels_1, f"pair {i} {kind}: length {p.length:.3g}"))
    plot_strips(rows, out / "strips_graph_vs_refined.png", title="graph geodesic, then its refined curve")
    write()

    means = []
    result["frechet"] = []
    for digit in args.mean_digits:
        members = np.flatnonzero(labels == digit)[: args.mean_points]
        with timed(f"frechet_{digit}"):
            mean = geodesic.frechet_mean(
                model,
                x[members],
                graph=graph,
                refine_steps=args.refine_steps,
                warm_steps=max(1, args.refine_steps // 2),
                max_iter=args.mean_iter,
            )
        sub = D[np.ix_(members, members)]
        result["frechet"].append(
            {
                "digit": digit,
                "points": members.tolist(),
                "variance": mean.variance,
                "medoid_variance_graph": float((sub[mean.medoid] ** 2).mean()),
                "iterations": mean.iterations,
                "refinements": mean.refinements,
                "step_norm": mean.step_norm,
                "chart": mean.chart,
            }
        )
        means.append((digit, members, mean))
        write()
    images, titles = [], []
    for digit, members, mean in means:
        images += [x[i] for i in members] + [mean.point]
        titles += [str(digit)] * len(members) + [f"mean {digit}"]
    save_images(images, titles, out / "frechet_means.png")
    write()


if __name__ == "__main__":
    main()
