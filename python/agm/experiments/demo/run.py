"""``agm demo``: one chart must tear a loop, an atlas need not; shown with geodesics on the rotating-glyph loop.

Stages (embedded data, no download), each one function over typed results (:mod:`agm.experiments.demo.results`):
train a WAE-GAN (one chart) and an AWAE-GAN (``charts`` charts) with a one-dimensional latent space on the glyph
loop (or the circle in R^D) (:func:`train_demo_model`); locate the one-chart model's tear, the largest jump of its
encoding along the loop, and measure each model's reconstruction near the tear and away from it
(:func:`cover_loop`); build both graphs (Algorithm 1); compute geodesics between pairs of glyphs ``gap`` degrees
apart around the loop, the first pair straddling the tear (:func:`loop_geodesics`); draw the figures and write
``results.json`` and ``report.md``. A circle does not embed in R^1, so the one-chart model must cut it somewhere;
the atlas covers it with charts.

Threads: the demo's models are tiny, so torch's intra-op threads cost more at their barriers than they save (on a
shared machine far more: measured in docs/results/README.md). Training, graphs and geodesics run with
:data:`DEMO_THREADS` torch threads and as many native search threads unless the caller asks for another count;
the caller's thread count is restored afterwards.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from agm._files import run_folder
from agm._progress import show
from agm._threads import torch_threads
from agm.data import Dataset, angular_distance, load_dataset
from agm.evaluation import plot_chart_samples, reconstruction_errors
from agm.experiments.demo.figures import plot_demo_figures
from agm.experiments.demo.records import LoopGeodesics, TrainedModel, loop_points
from agm.experiments.demo.report import write_demo_report
from agm.experiments.demo.results import (
    DemoResult,
    ModelResult,
    PairResult,
    PathResult,
    write_demo_result,
)
from agm.experiments.demo.settings import DEMO_DATASETS, FULL, QUICK, DemoSettings
from agm.experiments.geodesics import geodesics, path_summary
from agm.experiments.lengths import (
    angle_travelled,
    encode_most_likely,
    glyph_arc_lengths,
    straight_latent_lengths,
    track_on_loop,
)
from agm.experiments.pairs import loop_pairs
from agm.experiments.result_types import GraphStats
from agm.experiments.runs import train_or_load
from agm.experiments.stages import StageClock
from agm.geodesic import GeodesicGraph, GeodesicPath, build_graph
from agm.training import make_config

__all__ = [
    "DEMO_DATASETS",
    "DEMO_THREADS",
    "FULL",
    "QUICK",
    "DemoResult",
    "DemoSettings",
    "TrainedModel",
    "cover_loop",
    "loop_geodesics",
    "loop_points",
    "run_demo_result",
    "train_demo_model",
]

#: torch threads of the demo's stages when the caller does not choose (measured: docs/results/README.md, "agm demo
#: on a shared machine": 1 thread is as fast as 2 on an idle 2-core machine and costs far less CPU under load).
DEMO_THREADS = 1
#: Loop angles (degrees) at which the models' encodings and reconstructions of the loop are measured.
LOOP_ANGLES_DEG = np.arange(0.0, 360.0, 1.0)


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


def near_tear(angles_deg: np.ndarray, tear_deg: float, window_deg: float) -> np.ndarray:
    """(N,) bool: loop angles within ``window_deg`` degrees of ``tear_deg`` (cyclic distance)."""
    diff = np.abs((np.asarray(angles_deg, dtype=np.float64) - tear_deg + 180.0) % 360.0 - 180.0)
    return np.asarray(diff <= window_deg)


def train_demo_model(
    tag: str,
    s: DemoSettings,
    dataset: str,
    train: Dataset,
    test: Dataset,
    out: Path,
    *,
    seed: int,
    device: str,
    progress: bool,
    figures: Path | None = None,
) -> TrainedModel:
    """Train (or load from ``out/models/TAG``) one model of the demo and measure it on the test points.

    Args:
        tag: "one_chart" (WAE-GAN, ``s.one_chart_epochs`` epochs, width ``s.one_chart_hidden``) or "atlas"
            (AWAE-GAN with ``s.charts`` charts).
        s: the sizes.  dataset: a demo data set.  train, test: its splits.  out: the demo's folder (the samples
            figure ``samples_TAG.png`` is written there, or into ``figures`` when given: the run's stage folder).
            seed, device, progress: as in :func:`run_demo_result`.

    Returns:
        The :class:`TrainedModel`.
    """
    one = tag == "one_chart"
    name, m = ("wae", 1) if one else ("awae", s.charts)
    label = "one chart (WAE-GAN)" if one else f"atlas ({s.charts} charts)"
    hidden = s.one_chart_hidden(dataset) if one else s.atlas_hidden(dataset)
    config = make_config(
        "cpu",
        name,
        m,
        dataset,
        epochs=s.one_chart_epochs if one else s.epochs,
        n_train=s.n_train,
        latent_dim=s.latent_dim,
        hidden=hidden,
        batch_size=s.batch_size,
        lr_milestones=s.lr_milestones,
        seed=seed,
        device=device,
    )
    model, run = train_or_load(config, out / "models" / tag, train.x, progress=progress)
    rec = reconstruction_errors(model, test.x)
    plot_chart_samples(model, (figures or out) / f"samples_{tag}.png", n_samples=12, seed=seed)
    usage = [int(c) for c in rec.charts.bincount(minlength=m)]
    return TrainedModel(tag, model, label, name, m, hidden, run.status, run.epochs, rec.mean_error, usage)


def cover_loop(
    models: dict[str, TrainedModel], dataset: str, out: Path, window_deg: float
) -> tuple[float, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Encode the loop (one point per degree) with every model, find the one-chart model's tear and measure each
    model's reconstruction of the loop (stored in ``TrainedModel.loop_errors``); draw ``loop_coverage.png``.

    Args:
        models: the trained models by tag.  dataset: the demo data set.  out: the demo's folder.
        window_deg: only used for the figure's shading of "near the tear".

    Returns:
        (tear angle in degrees, per tag (z (360, d) float32, most likely chart (360,) int64) CPU tensors).
    """
    from agm.experiments.figures import plot_loop_coverage

    loop = loop_points(dataset, torch.from_numpy(np.deg2rad(LOOP_ANGLES_DEG)))
    coverage = {tag: encode_most_likely(t.model, loop) for tag, t in models.items()}
    for t in models.values():
        t.loop_errors = reconstruction_errors(t.model, loop).errors.numpy()
    tear = _tear(coverage["one_chart"][0], LOOP_ANGLES_DEG)
    plot_loop_coverage(
        LOOP_ANGLES_DEG,
        [
            (
                f"{t.label}: encoding of the loop (most likely chart)",
                coverage[tag][0][:, 0].numpy(),
                coverage[tag][1].numpy(),
            )
            for tag, t in models.items()
        ],
        out / "loop_coverage.png",
        tears=[tear, None],
    )
    return tear, coverage


def build_demo_graph(t: TrainedModel, s: DemoSettings, train: Dataset, *, progress: bool) -> GeodesicGraph:
    """Algorithm 1's graph of one model on the first ``s.graph_points`` training points (stored in ``t.graph``)."""
    t.graph = build_graph(
        t.model,
        train.x[: s.graph_points],
        k=s.k,
        eps=s.eps,
        n_steps=s.n_steps,
        skip_small_charts=True,
        progress=progress,
    )
    return t.graph


def _track(path: GeodesicPath | None, steps: int, reference: torch.Tensor, ref_angles: torch.Tensor) -> PathResult:
    summary = path_summary(path)
    if path is None:
        return PathResult(length=None, reachable=False)
    ang, dist = track_on_loop(path.interpolate(steps).x, reference, ref_angles)
    return PathResult(
        length=summary["length"],
        reachable=True,
        n_points=summary["n_points"],
        chart_sequence=summary["chart_sequence"],
        n_chart_changes=summary["n_chart_changes"],
        angle_travelled_deg=math.degrees(angle_travelled(ang)),
        mean_distance_to_loop=float(dist.mean()),
    )


def loop_geodesics(
    models: dict[str, TrainedModel],
    s: DemoSettings,
    dataset: str,
    tear_deg: float,
    *,
    n_threads: int,
    progress: bool,
) -> LoopGeodesics:
    """Geodesics of both models between ``s.n_pairs`` pairs ``s.gap_deg`` apart, centred every 360 / n_pairs
    degrees starting at the tear; each located on the loop (angle travelled, distance to the loop).

    Args:
        models: the models, their graphs built.  s, dataset: the demo's sizes and data set.
        tear_deg: the one-chart model's tear (the first pair's centre).  n_threads: native search threads.
        progress: progress bars.

    Returns:
        A :class:`LoopGeodesics`.
    """
    centres = np.deg2rad(tear_deg + 360.0 * np.arange(s.n_pairs) / s.n_pairs)
    theta = loop_pairs(centres, math.radians(s.gap_deg))
    x0 = loop_points(dataset, torch.from_numpy(theta[:, 0]))
    x1 = loop_points(dataset, torch.from_numpy(theta[:, 1]))
    paths: dict[str, list[GeodesicPath | None]] = {}
    for tag, t in models.items():
        assert t.graph is not None, "build the graphs first"
        paths[tag] = geodesics(
            t.model, x0, x1, t.graph, n_threads=n_threads, progress=progress, desc=f"geodesics ({tag})"
        )
    true = _true_lengths(dataset, theta)
    straight = straight_latent_lengths(models["one_chart"].model, x0, x1)
    ref_angles = torch.arange(720, dtype=torch.float64) * (math.pi / 360)
    reference = loop_points(dataset, ref_angles)
    tracks = {tag: [_track(p, s.track_steps, reference, ref_angles) for p in plist] for tag, plist in paths.items()}
    pairs = [
        PairResult(
            centre_deg=float(math.degrees(centres[i]) % 360),
            theta0_deg=float(np.degrees(theta[i, 0])),
            theta1_deg=float(np.degrees(theta[i, 1])),
            angle_deg=float(s.gap_deg),
            true_length=float(true[i]),
            straight_line_one_chart=float(straight[i]) if math.isfinite(straight[i]) else None,
            one_chart=tracks["one_chart"][i],
            atlas=tracks["atlas"][i],
        )
        for i in range(s.n_pairs)
    ]
    names = [f"{math.degrees(c) % 360:.0f}°" for c in centres]
    return LoopGeodesics(pairs, theta, names, paths)


def model_result(t: TrainedModel, tear_deg: float, window_deg: float) -> ModelResult:
    """The typed result of one model (its graph and loop errors measured)."""
    assert t.graph is not None and t.loop_errors is not None, "build the graph and cover the loop first"
    near = near_tear(LOOP_ANGLES_DEG, tear_deg, window_deg)
    return ModelResult(
        label=t.label,
        model=t.name,
        n_charts=t.n_charts,
        latent_dim=int(t.model.latent_dim),
        hidden=t.hidden,
        run=t.run,
        epochs=t.epochs,
        reconstruction_error=t.reconstruction_error,
        chart_usage=t.chart_usage,
        graph=GraphStats.from_stats(t.graph.stats(diameter="exact")),
        loop_error_near_tear=float(t.loop_errors[near].mean()),
        loop_error_away_from_tear=float(t.loop_errors[~near].mean()),
    )


def _settings(quick: bool, settings: DemoSettings | None, dataset: str) -> DemoSettings:
    if dataset not in DEMO_DATASETS:
        raise ValueError(f"dataset must be one of {DEMO_DATASETS}; got {dataset!r}")
    s = settings if settings is not None else (QUICK if quick else FULL)
    if not isinstance(s, DemoSettings):
        raise TypeError(f"settings must be a DemoSettings; got {type(s).__name__}")
    return s


def run_demo_result(
    out: str | os.PathLike[str],
    *,
    quick: bool = False,
    seed: int = 0,
    device: str = "auto",
    dataset: str = "glyph-loop",
    settings: DemoSettings | None = None,
    threads: int | None = None,
    progress: bool | None = None,
) -> DemoResult:
    """Run the demo and write ``report.md``, the PNG figures and ``results.json`` into ``out``.

    Args:
        out: output folder (created). Model checkpoints go to ``out/models/`` and are reused by a second run.
        quick: tiny sizes (:data:`QUICK`) for tests: seconds, meaningless numbers.
        seed: seed of the data, the weights and the samples.
        device: "auto", "cpu" or "cuda".
        dataset: "glyph-loop" (images, conv backbone) or "circle" (points in R^2, MLP backbone).
        settings: explicit sizes (overrides ``quick``).
        threads: torch threads (and native search threads) of the stages; None: :data:`DEMO_THREADS`. The
            caller's torch thread count is restored on return.
        progress: progress bars and stage messages; None (default): when stderr is a terminal or a notebook (the
            demo is long work, :mod:`agm._progress`); True/False force them.

    Returns:
        The :class:`~agm.experiments.demo.results.DemoResult` (also written to ``results.json``).

    Raises:
        ValueError: unknown dataset, bad settings or threads < 1.
        TypeError: settings that are not a DemoSettings, threads that are not an int.
    """
    s = _settings(quick, settings, dataset)
    n_threads = DEMO_THREADS if threads is None else threads
    out = Path(out)
    progress = show(progress, math.inf)
    with run_folder(out, "demo") as stage, torch_threads(n_threads) as used:  # the files committed as one run
        result = _run_stages(
            dataset, s, out, stage, seed=seed, quick=quick, device=device, progress=progress, used=used
        )
    if progress:
        tqdm.write(f"agm demo: wrote {out / 'report.md'}")
    return result


def _run_stages(
    dataset: str,
    s: DemoSettings,
    out: Path,
    stage: Path,
    *,
    seed: int,
    quick: bool,
    device: str,
    progress: bool,
    used: int,
) -> DemoResult:
    """The demo's stages on ``used`` torch threads: models cached in ``out/models``, files written to ``stage``
    (the run's stage folder, see :func:`agm._files.run_folder`)."""
    say = tqdm.write if progress else (lambda _msg: None)
    clock = StageClock()
    with clock.stage("data"):
        train = load_dataset(dataset, "train", n=s.n_train, seed=seed)
        test = load_dataset(dataset, "test", n=max(64, s.n_train // 4), seed=seed)
    models: dict[str, TrainedModel] = {}
    for tag in ("one_chart", "atlas"):
        say(f"agm demo: training the {tag.replace('_', ' ')} model")
        with clock.stage(f"train_{tag}"):
            models[tag] = train_demo_model(
                tag, s, dataset, train, test, out, seed=seed, device=device, progress=progress, figures=stage
            )
    with clock.stage("loop_coverage"):
        tear, _ = cover_loop(models, dataset, stage, s.tear_window_deg)
    for tag, t in models.items():
        say(f"agm demo: building the graph of the {t.label} model")
        with clock.stage(f"graph_{tag}"):
            build_demo_graph(t, s, train, progress=progress)
    with clock.stage("geodesics"):
        geo = loop_geodesics(models, s, dataset, tear, n_threads=used, progress=progress)
    with clock.stage("figures"):
        plot_demo_figures(geo, models, s, dataset, stage, data_shape=tuple(train.shape))
    clock.finish()
    result = DemoResult(
        dataset=dataset,
        seed=seed,
        quick=quick,
        settings=s,
        threads=used,
        tear_deg=tear,
        models={tag: model_result(t, tear, s.tear_window_deg) for tag, t in models.items()},
        pairs=geo.pairs,
        timings_s=clock.wall_s,
        cpu_s=clock.cpu_s,
    )
    write_demo_result(stage / "results.json", result)
    write_demo_report(stage / "report.md", result)
    return result
