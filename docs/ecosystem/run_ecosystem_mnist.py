"""agm's scikit-learn estimators on a trained MNIST atlas model, beside scikit-learn's own: Isomap across charts vs
``sklearn.manifold.Isomap`` on the pixels, geodesic k-medoids vs k-means on the latents (and on the pixels).

Usage (the numbers of docs/ecosystem/README.md):
    python docs/ecosystem/run_ecosystem_mnist.py CHECKPOINT --data-dir DIR --out docs/ecosystem/mnist
        [--n 600] [--n-new 200] [--k 10] [--eps 0.05] [--n-steps 8]

Fits on ``--n`` MNIST test images (seeded subset), places ``--n-new`` other test images with ``transform`` /
``predict`` (no refit). Every stage is timed (wall and process CPU seconds, the 1-minute load at its end); writes
``ecosystem.json`` and the PNGs into --out.

Scores: purity (the share of points whose cluster's majority label is theirs) for the clusterings; for the 2-D
embeddings the leave-one-out 5-nearest-neighbour label accuracy inside the embedding (how well digit classes stay
together), fitted and new points separately.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.cluster import KMeans
from sklearn.manifold import Isomap
from sklearn.neighbors import KNeighborsClassifier

from agm import geodesic
from agm.data import load_dataset
from agm.estimators import AtlasIsomap, GeodesicKMedoids
from agm.training import load_checkpoint

TIMES: dict[str, dict[str, float]] = {}


@contextmanager
def timed(name: str) -> Iterator[None]:
    """Record the block's wall and process CPU seconds (and the 1-minute load average at its end) as ``name``."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    TIMES[name] = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    TIMES[name]["load_1min"] = os.getloadavg()[0]
    print(f"{name}: {TIMES[name]}", flush=True)


def purity(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Share of points whose cluster's most frequent label is their own (points labelled -1 count as wrong)."""
    hits = sum(int(np.bincount(labels[clusters == c]).max()) for c in np.unique(clusters) if c >= 0)
    return hits / labels.size


def knn_accuracy(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray | None, test_labels: Any) -> float:
    """5-NN label accuracy in an embedding: leave-one-out on ``train`` (test None), else of ``test`` against it."""
    if test is None:
        clf = KNeighborsClassifier(n_neighbors=6).fit(train, train_labels)
        neighbours = clf.kneighbors(train, return_distance=False)[:, 1:]  # drop the point itself
        votes = train_labels[neighbours]
        predicted = np.array([np.bincount(v, minlength=10).argmax() for v in votes])
        return float((predicted == train_labels).mean())
    return float(KNeighborsClassifier(n_neighbors=5).fit(train, train_labels).score(test, test_labels))


def cpu_model() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def plot_embeddings(panels: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]], path: Path) -> None:
    """Side-by-side 2-D embeddings coloured by digit: fitted points as dots, new (transformed) points as crosses."""
    fig = Figure(figsize=(5.2 * len(panels), 5.0))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, fit, fit_labels, new, new_labels) in zip(axes, panels):
        scatter = ax.scatter(fit[:, 0], fit[:, 1], c=fit_labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=9)
        ax.scatter(new[:, 0], new[:, 1], c=new_labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=22, marker="x")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(scatter, ax=list(axes), ticks=range(10), label="digit", shrink=0.8)
    fig.savefig(path, dpi=110)


def plot_medoids(centres: np.ndarray, sizes: np.ndarray, majority: list[int], path: Path) -> None:
    """The geodesic medoids as images, titled with their cluster's size and majority digit."""
    fig = Figure(figsize=(1.1 * len(centres) + 0.2, 1.6))
    axes = fig.subplots(1, len(centres), squeeze=False)[0]
    for ax, image, size, digit in zip(axes, centres, sizes, majority):
        ax.imshow(image.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{digit} ({size})", fontsize=8)
        ax.axis("off")
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=600, help="fitted test images")
    p.add_argument("--n-new", type=int, default=200, help="further test images placed by transform / predict")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--eps", type=float, default=0.05)
    p.add_argument("--n-steps", type=int, default=8)
    p.add_argument("--clusters", type=int, default=10)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: steadiest on a shared machine)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    model, config, _ = load_checkpoint(args.checkpoint)
    data = load_dataset("mnist", "test", n=args.n + args.n_new, seed=0, data_dir=args.data_dir)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))
    fit_idx, new_idx = order[: args.n], order[args.n :]
    X, X_new = data.x[fit_idx], data.x[new_idx]
    y, y_new = data.labels[fit_idx].numpy(), data.labels[new_idx].numpy()
    pixels, pixels_new = X.reshape(len(X), -1).numpy(), X_new.reshape(len(X_new), -1).numpy()
    graph_options = {"k": args.k, "eps": args.eps, "n_steps": args.n_steps}

    with timed("agm_isomap_fit"):  # graph + all-pairs geodesic distances + classical MDS
        isomap = AtlasIsomap(model, n_components=2, data_shape=(1, 28, 28), **graph_options).fit(pixels)
    with timed("agm_isomap_transform_new"):
        agm_new = isomap.transform(pixels_new)
    with timed("sklearn_isomap_fit"):
        sk_isomap = Isomap(n_neighbors=args.k, n_components=2).fit(pixels)
    with timed("sklearn_isomap_transform_new"):
        sk_new = sk_isomap.transform(pixels_new)
    stats = isomap.graph_.stats()

    with timed("agm_kmedoids_fit"):  # a second graph and distance matrix: each estimator fits on its own
        kmedoids = GeodesicKMedoids(
            model, n_clusters=args.clusters, data_shape=(1, 28, 28), random_state=0, **graph_options
        ).fit(pixels)
    with timed("agm_kmedoids_predict_new"):
        medoid_new = kmedoids.predict(pixels_new)
    with torch.no_grad():
        z, psi = model.encode(X), model.partition(X)
    chart = psi.argmax(dim=1)
    latents = z[torch.arange(len(X)), chart].numpy()  # each point's latent in its most likely chart
    with torch.no_grad():
        z_new, chart_new = model.encode(X_new), model.partition(X_new).argmax(dim=1)
    latents_new = z_new[torch.arange(len(X_new)), chart_new].numpy()
    with timed("sklearn_kmeans_latents_fit"):
        km_latent = KMeans(n_clusters=args.clusters, n_init=10, random_state=0).fit(latents)
    with_chart = np.concatenate([latents, 10.0 * np.eye(model.n_charts)[chart.numpy()]], axis=1)
    km_chart = KMeans(n_clusters=args.clusters, n_init=10, random_state=0).fit(with_chart)
    with timed("sklearn_kmeans_pixels_fit"):
        km_pixels = KMeans(n_clusters=args.clusters, n_init=10, random_state=0).fit(pixels)
    euclid = np.linalg.norm(pixels[:, None, :] - pixels[None, :, :], axis=2)
    pam_pixels = geodesic.k_medoids(euclid, args.clusters, seed=0)

    results = {
        "checkpoint": os.path.basename(args.checkpoint),
        "model": {"family": config.model, "n_charts": int(model.n_charts), "epochs": config.epochs},
        "n_fit": args.n,
        "n_new": args.n_new,
        "graph": {**graph_options, **{k: int(v) for k, v in stats.items()}},
        "embedding_5nn_accuracy": {
            "agm_isomap": {"fit": knn_accuracy(isomap.embedding_, y, None, None)},
            "sklearn_isomap_pixels": {"fit": knn_accuracy(sk_isomap.embedding_, y, None, None)},
        },
        "purity": {
            "agm_geodesic_kmedoids": {"fit": purity(kmedoids.labels_, y), "new": purity(medoid_new, y_new)},
            "sklearn_kmeans_latents": {
                "fit": purity(km_latent.labels_, y),
                "new": purity(km_latent.predict(latents_new), y_new),
            },
            "sklearn_kmeans_latents_with_chart": {"fit": purity(km_chart.labels_, y)},
            "sklearn_kmeans_pixels": {
                "fit": purity(km_pixels.labels_, y),
                "new": purity(km_pixels.predict(pixels_new), y_new),
            },
            "pam_kmedoids_pixels_euclidean": {"fit": purity(pam_pixels.labels, y)},
        },
        "new_points_unassigned_by_kmedoids": int((medoid_new < 0).sum()),
        "times": TIMES,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": args.threads,
    }
    acc = results["embedding_5nn_accuracy"]
    acc["agm_isomap"]["new"] = knn_accuracy(isomap.embedding_, y, agm_new, y_new)
    acc["sklearn_isomap_pixels"]["new"] = knn_accuracy(sk_isomap.embedding_, y, sk_new, y_new)
    (args.out / "ecosystem.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: results[k] for k in ("graph", "embedding_5nn_accuracy", "purity")}, indent=2))

    plot_embeddings(
        [
            (f"agm AtlasIsomap ({model.n_charts}-chart model, geodesic)", isomap.embedding_, y, agm_new, y_new),
            ("scikit-learn Isomap (pixels)", sk_isomap.embedding_, y, sk_new, y_new),
        ],
        args.out / "isomap_agm_vs_sklearn.png",
    )
    sizes = np.bincount(kmedoids.labels_, minlength=args.clusters)
    majority = [int(np.bincount(y[kmedoids.labels_ == c], minlength=10).argmax()) for c in range(args.clusters)]
    plot_medoids(kmedoids.cluster_centers_, sizes, majority, args.out / "geodesic_medoids.png")


if __name__ == "__main__":
    main()
