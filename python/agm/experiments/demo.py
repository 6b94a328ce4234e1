"""``agm demo``: one chart must tear a loop, an atlas need not; shown with geodesics on the rotating-glyph loop.

Pipeline (embedded data, no download): train a WAE-GAN (one chart) and an AWAE-GAN (``charts`` charts) with a
one-dimensional latent space on the glyph loop (or the circle in R^D), locate the one-chart model's tear (largest
jump of its encoding along the loop), build both graphs (Algorithm 1), compute geodesics between pairs of glyphs
``gap`` degrees apart around the loop, the first pair straddling the tear, and write ``report.md`` with figures.
A circle does not embed in R^1, so the one-chart model must cut it somewhere; the atlas covers it with charts.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from agm.data import angular_distance, load_dataset, random_embedding, render_glyph
from agm.evaluation import plot_chart_samples, reconstruction_errors
from agm.experiments.cache import write_json
from agm.experiments.figures import StripRow, plot_length_bars, plot_loop_coverage, plot_strips
from agm.experiments.geodesics import geodesics, path_lengths, path_summary, strip_row
from agm.experiments.lengths import (
    angle_travelled,
    encode_most_likely,
    glyph_arc_lengths,
    straight_latent_lengths,
    track_on_loop,
)
from agm.experiments.pairs import loop_pairs
from agm.experiments.report import write_demo_report
from agm.experiments.runs import train_or_load
from agm.geodesic import build_graph
from agm.training import make_config

DEMO_DATASETS = ("glyph-loop", "circle")


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo (the defaults take about 2-3 minutes on 2 CPU cores; :data:`QUICK` takes seconds).

    Attributes:
        charts: m of the atlas model.  latent_dim: d of both models (1: a loop cannot be embedded in R^1).
        n_train: training points.  epochs: training epochs.  hidden: width h (None: the cpu preset's, 8 for
        images and 32 for flat data).  batch_size: training batch.
        lr_milestones: epochs after which the learning rates (the cpu preset's) are halved; pinned here so that
        the demo does not change when the preset does.  graph_points: training points encoded as graph nodes.
        k, eps, n_steps: graph parameters (Algorithm 1); k must be large enough that the k-NN graph of random points
        on the loop has no gaps (k = 8 with 600 points leaves gaps of ~5 degrees unbridged).  n_pairs: pairs around
        the loop.
        gap_deg: angular distance of each pair.  strip_steps: images per interpolation strip.
        track_steps: points per geodesic located on the loop (angle travelled, distance to the loop).
    """

    charts: int = 4
    latent_dim: int = 1
    n_train: int = 2048
    epochs: int = 8
    hidden: int | None = None
    batch_size: int = 32
    lr_milestones: tuple[int, ...] = (2, 4)
    graph_points: int = 500
    k: int = 16
    eps: float = 0.05
    n_steps: int = 8
    n_pairs: int = 12
    gap_deg: float = 90.0
    strip_steps: int = 12
    track_steps: int = 48


FULL = DemoSettings()
QUICK = DemoSettings(
    n_train=192,
    epochs=1,
    hidden=4,
    lr_milestones=(1,),
    graph_points=96,
    k=4,
    n_steps=2,
    n_pairs=3,
    strip_steps=6,
    track_steps=8,
)


def loop_points(dataset: str, angles: torch.Tensor) -> torch.Tensor:
    """Points of the demo data set at given loop angles (radians): rotated glyphs (N, 1, 28, 28) or circle points
    (N, 2) under the data set's embedding."""
    if dataset == "glyph-loop":
        return render_glyph(angles.to(torch.float64))
    nat = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1).to(torch.float32)
    return nat @ random_embedding(2, 2, 0)


def _true_lengths(dataset: str, theta: np.ndarray) -> np.ndarray:
    if dataset == "glyph-loop":
        return glyph_arc_lengths(theta[:, 0], theta[:, 1])
    return angular_distance(torch.from_numpy(theta[:, 0]), torch.from_numpy(theta[:, 1])).numpy().astype(np.float64)


def _tear(latent: torch.Tensor, angles_deg: np.ndarray) -> float:
    """Loop angle (degrees) of the largest jump of the encoding between neighbouring angles (cyclic)."""
    jumps = torch.linalg.vector_norm(latent.roll(-1, 0) - latent, dim=1).numpy()
    i = int(np.argmax(jumps))
    nxt = angles_deg[(i + 1) % len(angles_deg)] + (360.0 if i + 1 == len(angles_deg) else 0.0)
    return float((angles_deg[i] + nxt) / 2.0 % 360.0)


def run_demo(
    out: str | os.PathLike[str],
    *,
    quick: bool = False,
    seed: int = 0,
    device: str = "auto",
    dataset: str = "glyph-loop",
    settings: DemoSettings | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the demo and write ``report.md``, the PNG figures and ``results.json`` into ``out``.

    Args:
        out: output folder (created). Model checkpoints go to ``out/models/`` and are reused by a second run.
        quick: tiny sizes (:data:`QUICK`) for tests: seconds, meaningless numbers.
        seed: seed of the data, the weights and the samples.
        device: "auto", "cpu" or "cuda".
        dataset: "glyph-loop" (images, conv backbone) or "circle" (points in R^2, MLP backbone).
        settings: explicit sizes (overrides ``quick``).
        progress: show progress bars and stage messages.

    Returns:
        The results (also written to ``results.json``).

    Raises:
        ValueError: unknown dataset or bad settings.
    """
    if dataset not in DEMO_DATASETS:
        raise ValueError(f"dataset: expected one of {DEMO_DATASETS}, got {dataset!r}")
    s = settings if settings is not None else (QUICK if quick else FULL)
    if s.charts < 2:
        raise ValueError(f"settings.charts: the atlas needs at least 2 charts, got {s.charts}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    say = tqdm.write if progress else (lambda _msg: None)
    start_wall, start_cpu = time.perf_counter(), time.process_time()

    t0 = time.perf_counter()
    train = load_dataset(dataset, "train", n=s.n_train, seed=seed)
    test = load_dataset(dataset, "test", n=max(64, s.n_train // 4), seed=seed)
    timings["data"] = time.perf_counter() - t0

    specs = [("one_chart", "wae", 1, "one chart (WAE-GAN)"), ("atlas", "awae", s.charts, f"atlas ({s.charts} charts)")]
    models: dict[str, Any] = {}
    info: dict[str, dict[str, Any]] = {}
    for tag, name, m, label in specs:
        say(f"agm demo: training the {label} model")
        t0 = time.perf_counter()
        config = make_config(
            "cpu",
            name,
            m,
            dataset,
            epochs=s.epochs,
            n_train=s.n_train,
            latent_dim=s.latent_dim,
            hidden=s.hidden,
            batch_size=s.batch_size,
            lr_milestones=s.lr_milestones,
            seed=seed,
            device=device,
        )
        model, run = train_or_load(config, out / "models" / tag, train.x, progress=progress)
        models[tag] = model
        rec = reconstruction_errors(model, test.x)
        plot_chart_samples(model, out / f"samples_{tag}.png", n_samples=12, seed=seed)
        timings[f"train_{tag}"] = time.perf_counter() - t0
        info[tag] = {
            "label": label,
            "model": name,
            "n_charts": m,
            "latent_dim": model.latent_dim,
            "run": run.status,
            "epochs": run.epochs,
            "reconstruction_error": rec.mean_error,
            "chart_usage": [int(c) for c in rec.charts.bincount(minlength=m)],
        }

    # where does each model put the loop? (dense angles; the one-chart model's largest jump is its tear)
    angles_deg = np.arange(0.0, 360.0, 1.0)
    loop = loop_points(dataset, torch.from_numpy(np.deg2rad(angles_deg)))
    coverage = {tag: encode_most_likely(model, loop) for tag, model in models.items()}
    tear = _tear(coverage["one_chart"][0], angles_deg)
    plot_loop_coverage(
        angles_deg,
        [
            (
                f"{info[t]['label']}: encoding of the loop (most likely chart)",
                coverage[t][0][:, 0].numpy(),
                coverage[t][1].numpy(),
            )
            for t in models
        ],
        out / "loop_coverage.png",
        tears=[tear, None],
    )

    graphs = {}
    for tag, model in models.items():
        say(f"agm demo: building the graph of the {info[tag]['label']} model")
        t0 = time.perf_counter()
        graphs[tag] = build_graph(
            model,
            train.x[: s.graph_points],
            k=s.k,
            eps=s.eps,
            n_steps=s.n_steps,
            skip_small_charts=True,
            progress=progress,
        )
        timings[f"graph_{tag}"] = time.perf_counter() - t0
        info[tag]["graph"] = graphs[tag].stats()

    t0 = time.perf_counter()
    centres = np.deg2rad(tear + 360.0 * np.arange(s.n_pairs) / s.n_pairs)
    theta = loop_pairs(centres, math.radians(s.gap_deg))
    x0 = loop_points(dataset, torch.from_numpy(theta[:, 0]))
    x1 = loop_points(dataset, torch.from_numpy(theta[:, 1]))
    paths = {
        tag: geodesics(models[tag], x0, x1, graphs[tag], progress=progress, desc=f"geodesics ({tag})") for tag in models
    }
    lengths = {tag: path_lengths(p) for tag, p in paths.items()}
    true = _true_lengths(dataset, theta)
    straight = straight_latent_lengths(models["one_chart"], x0, x1)
    ref_angles = torch.arange(720, dtype=torch.float64) * (math.pi / 360)
    reference = loop_points(dataset, ref_angles)
    tracks: dict[str, list[dict[str, float | None]]] = {}
    for tag, plist in paths.items():
        tracks[tag] = []
        for p in plist:
            if p is None:
                tracks[tag].append({"angle_travelled_deg": None, "mean_distance_to_loop": None})
                continue
            ang, dist = track_on_loop(p.interpolate(s.track_steps).x, reference, ref_angles)
            tracks[tag].append(
                {"angle_travelled_deg": math.degrees(angle_travelled(ang)), "mean_distance_to_loop": float(dist.mean())}
            )
    timings["geodesics"] = time.perf_counter() - t0

    names = [f"{(math.degrees(c)) % 360:.0f}°" for c in centres]
    pairs = []
    for i in range(s.n_pairs):
        pairs.append(
            {
                "centre_deg": float(math.degrees(centres[i]) % 360),
                "theta0_deg": float(np.degrees(theta[i, 0])),
                "theta1_deg": float(np.degrees(theta[i, 1])),
                "angle_deg": float(s.gap_deg),
                "true_length": float(true[i]),
                "straight_line_one_chart": float(straight[i]),
                "one_chart": {**path_summary(paths["one_chart"][i]), **tracks["one_chart"][i]},
                "atlas": {**path_summary(paths["atlas"][i]), **tracks["atlas"][i]},
            }
        )
    plot_length_bars(
        names,
        {
            "one chart: geodesic": lengths["one_chart"],
            f"atlas ({s.charts} charts): geodesic": lengths["atlas"],
            "true arc (rendered)" if dataset == "glyph-loop" else "true arc": true,
        },
        out / "lengths.png",
        title=f"pairs {s.gap_deg:.0f}° apart, by centre angle (first: across the one-chart model's tear)",
    )

    travelled = {
        tag: np.array([np.nan if t["angle_travelled_deg"] is None else t["angle_travelled_deg"] for t in tracks[tag]])
        for tag in models
    }
    plot_length_bars(
        names,
        {
            "one chart": travelled["one_chart"],
            f"atlas ({s.charts} charts)": travelled["atlas"],
            "true (short arc)": np.full(s.n_pairs, s.gap_deg),
        },
        out / "angles.png",
        ylabel="angle travelled along the loop (deg)",
        title="how far round the loop each geodesic goes (nearest rendered point of every decoding)",
    )

    far = s.n_pairs // 2
    rows: list[StripRow] = []
    for i, where in ((0, "across the tear"), (far, "opposite the tear")):
        if dataset == "glyph-loop":
            delta = (theta[i, 1] - theta[i, 0] + math.pi) % (2 * math.pi) - math.pi
            arc = torch.from_numpy(theta[i, 0] + delta * np.linspace(0, 1, s.strip_steps))
            rows.append(
                StripRow(
                    loop_points(dataset, arc),
                    ["true"] * s.strip_steps,
                    f"pair centred at {names[i]} ({where}): true rotation, length {true[i]:.1f}",
                )
            )
        for tag in models:
            length = lengths[tag][i]
            rows.append(
                strip_row(
                    paths[tag][i],
                    s.strip_steps,
                    f"{info[tag]['label']}: geodesic, length {length:.1f}",
                    tuple(train.shape),
                )
            )
    plot_strips(
        rows,
        out / "strips.png",
        background=None if dataset == "glyph-loop" else loop,
        title="geodesic interpolations; the chart under each step ('a/b': transition)",
    )

    timings["total"] = time.perf_counter() - start_wall
    timings["total_process_cpu"] = time.process_time() - start_cpu
    results = {
        "dataset": dataset,
        "seed": seed,
        "quick": quick,
        "settings": asdict(s),
        "tear_deg": tear,
        "models": info,
        "pairs": pairs,
        "timings_s": timings,
    }
    write_json(out / "results.json", results)
    write_demo_report(out / "report.md", results)
    say(f"agm demo: wrote {out / 'report.md'}")
    return results
