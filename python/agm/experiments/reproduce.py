"""``agm reproduce``: the paper's MNIST / Fashion-MNIST experiment (Table 1, Figs. 2 and 3), resumable.

For every chart count m (1: the WAE-GAN "wae", > 1: the AWAE-GAN "awae"): train with a preset (or load/resume the
checkpoint in ``out/models/mNN``), measure the test reconstruction error, draw Fig. 2a/2b, build the graph of
Algorithm 1 on ``points`` encoded training points, and compute geodesics between ``pairs`` seeded random test
pairs (plus, for m = 1, the decoded straight latent line). Graphs and geodesic lengths are saved next to the
checkpoint under a key of their parameters and reused by a rerun. Then Table 1 (Markdown + CSV), Fig. 3a/3b,
``results.json`` and ``report.md``.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from agm.data import load_dataset
from agm.evaluation import plot_chart_samples, plot_confidence_histogram, reconstruction_errors
from agm.experiments.cache import array_key, param_key, read_json, write_json
from agm.experiments.figures import StripRow, plot_length_distributions, plot_strips
from agm.experiments.geodesics import geodesics, path_summary, strip_row
from agm.experiments.lengths import straight_latent_lengths
from agm.experiments.pairs import random_pairs
from agm.experiments.reproduce_report import write_reproduce_report, write_table1
from agm.experiments.runs import autoencoder_parameters, comparable_config, train_or_load
from agm.geodesic import build_graph, load_graph
from agm.training import make_config

REPRODUCE_DATASETS = ("mnist", "fashion-mnist")


@dataclass(frozen=True)
class ReproduceSettings:
    """Parameters of a reproduction.

    Attributes:
        dataset: "mnist" or "fashion-mnist".  charts: chart counts m (1 = the WAE-GAN).
        preset: training preset ("paper", "cpu", "tiny").  data_dir: folder of the IDX files (None: agm.data's
        search).  points: encoded training points in each graph.  pairs: random test pairs.  k, eps, n_steps:
        graph parameters.  seed: seed of training, point and pair choice.  device: "auto", "cpu", "cuda".
        epochs / n_train: overrides of the preset.  n_test: test points (None: the whole test split).
        verify: check the IDX files' SHA-256 (False for self-generated files).  strip_pairs / strip_steps: Fig. 3b
        size.  straight_steps: decodings along the straight latent line.  batch_size: decoded points per call
        (None: the geodesic module's default).  progress: progress bars.
    """

    dataset: str = "mnist"
    charts: tuple[int, ...] = (1, 2, 4, 8, 16)
    preset: str = "cpu"
    data_dir: str | None = None
    points: int = 2000
    pairs: int = 100
    k: int = 20
    eps: float = 0.05
    n_steps: int = 15
    seed: int = 0
    device: str = "auto"
    epochs: int | None = None
    n_train: int | None = None
    n_test: int | None = None
    verify: bool = True
    strip_pairs: int = 5
    strip_steps: int = 10
    straight_steps: int = 200
    batch_size: int | None = None
    progress: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        if self.dataset not in REPRODUCE_DATASETS:
            raise ValueError(f"dataset: expected one of {REPRODUCE_DATASETS}, got {self.dataset!r}")
        if not self.charts or any(not isinstance(m, int) or m < 1 for m in self.charts):
            raise ValueError(f"charts: expected positive ints, got {self.charts!r}")
        if len(set(self.charts)) != len(self.charts):
            raise ValueError(f"charts: expected distinct chart counts, got {self.charts!r}")
        for name in ("points", "pairs", "k", "strip_steps", "straight_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected >= 1, got {getattr(self, name)!r}")
        if self.strip_steps < 2:
            raise ValueError(f"strip_steps: expected >= 2, got {self.strip_steps}")


def strip_chart_count(charts: tuple[int, ...]) -> int:
    """The multi-chart model shown in Fig. 3b: 8 charts when run, else the largest chart count."""
    return 8 if 8 in charts else max(charts)


def _model_config(s: ReproduceSettings, m: int) -> Any:
    return make_config(
        s.preset,
        "wae" if m == 1 else "awae",
        m,
        s.dataset,
        epochs=s.epochs,
        n_train=s.n_train,
        seed=s.seed,
        device=s.device,
        data_dir=s.data_dir,
    )


def _graph(model: Any, s: ReproduceSettings, nodes_x: torch.Tensor, key: str, run_dir: Path) -> tuple[Any, dict]:
    """Load the saved graph of this key, or build and save it; returns (graph, info)."""
    path = run_dir / f"graph-{key}.agmg"
    t0 = time.perf_counter()
    if path.is_file():
        try:
            graph = load_graph(path, model)
            return graph, {"status": "loaded", "seconds": time.perf_counter() - t0, "file": path.name}
        except ValueError:  # another model (retrained) or a damaged file: rebuild
            pass
    graph = build_graph(
        model,
        nodes_x,
        k=s.k,
        eps=s.eps,
        n_steps=s.n_steps,
        batch_size=s.batch_size,
        skip_small_charts=True,
        progress=s.progress,
    )
    graph.save(path)
    return graph, {
        "status": "built",
        "seconds": time.perf_counter() - t0,
        "file": path.name,
        "stages_s": dict(graph.timings),
    }


def _run_model(
    s: ReproduceSettings,
    m: int,
    train_x: torch.Tensor,
    nodes_idx: np.ndarray,
    test_x: torch.Tensor,
    pairs: np.ndarray,
    figures: Path,
    out: Path,
) -> tuple[dict[str, Any], list[StripRow]]:
    """Everything for one chart count; returns its results and, for the Fig. 3b models, its strip rows."""
    say = tqdm.write if s.progress else (lambda _msg: None)
    run_dir = out / "models" / f"m{m:02d}"
    times: dict[str, float] = {}
    say(f"agm reproduce: m = {m}: training / loading")
    cpu: dict[str, float] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    config = _model_config(s, m)
    model, run = train_or_load(config, run_dir, train_x, progress=s.progress)
    times["train"], cpu["train"] = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    rec = reconstruction_errors(model, test_x)
    plot_chart_samples(model, figures / f"fig2a_samples_m{m:02d}.png", n_samples=12, seed=s.seed)
    plot_confidence_histogram(rec.confidence, m, figures / f"fig2b_confidence_m{m:02d}.png")
    times["evaluate"], cpu["evaluate"] = time.perf_counter() - t0, time.process_time() - c0

    say(f"agm reproduce: m = {m}: graph")
    gkey = param_key(
        {
            "ckpt_epoch": run.epochs,
            "config": comparable_config(config),
            "nodes": array_key(nodes_idx),
            "k": s.k,
            "eps": s.eps,
            "n_steps": s.n_steps,
        }
    )
    c0 = time.process_time()
    graph, ginfo = _graph(model, s, train_x[torch.from_numpy(nodes_idx)], gkey, run_dir)
    times["graph"], cpu["graph"] = ginfo["seconds"], time.process_time() - c0

    say(f"agm reproduce: m = {m}: geodesics")
    t0, c0 = time.perf_counter(), time.process_time()
    qkey = param_key(
        {"graph": gkey, "pairs": array_key(pairs), "n_test": len(test_x), "straight_steps": s.straight_steps}
    )
    qpath = run_dir / f"geodesics-{qkey}.json"
    cached = read_json(qpath)
    x0, x1 = test_x[torch.from_numpy(pairs[:, 0])], test_x[torch.from_numpy(pairs[:, 1])]
    if cached is not None and len(cached.get("paths", [])) == len(pairs):
        summaries, straight, gstatus = cached["paths"], cached["straight_line"], "loaded"
    else:
        paths = geodesics(model, x0, x1, graph, batch_size=s.batch_size, progress=s.progress, desc=f"geodesics m={m}")
        summaries = [path_summary(p) for p in paths]
        straight = straight_latent_lengths(model, x0, x1, s.straight_steps).tolist() if m == 1 else None
        write_json(qpath, {"paths": summaries, "straight_line": straight})
        gstatus = "computed"
    times["geodesics"], cpu["geodesics"] = time.perf_counter() - t0, time.process_time() - c0

    rows: list[StripRow] = []
    if m in (1, strip_chart_count(s.charts)):
        t0, c0 = time.perf_counter(), time.process_time()
        n = min(s.strip_pairs, len(pairs))
        strip_paths = geodesics(model, x0[:n], x1[:n], graph, batch_size=s.batch_size, progress=False)
        label = "WAE-GAN" if m == 1 else f"AWAE-GAN {m} charts"
        for i, p in enumerate(strip_paths):
            length = "unreachable" if p is None else f"{p.length:.3g}"
            rows.append(strip_row(p, s.strip_steps, f"pair {i}: {label}, length {length}", tuple(test_x.shape[1:])))
        times["strips"], cpu["strips"] = time.perf_counter() - t0, time.process_time() - c0

    lengths = np.array([np.inf if q["length"] is None else q["length"] for q in summaries])
    finite = lengths[np.isfinite(lengths)]
    result = {
        "charts": m,
        "model": config.model,
        "latent_dim": int(model.latent_dim),
        "parameters": autoencoder_parameters(model),
        "reconstruction_error": rec.mean_error,
        "mean_confidence": float(rec.confidence.mean()),
        "chart_usage": [int(c) for c in rec.charts.bincount(minlength=m)],
        "training": {
            "status": run.status,
            "epochs": run.epochs,
            "seconds": run.seconds,
            "final_losses": run.history[-1] if run.history else None,
            "checkpoint": str(run.checkpoint),
        },
        "graph": {**graph.stats(), **ginfo},
        "geodesics": {
            "status": gstatus,
            "lengths": lengths.tolist(),
            "paths": summaries,
            "n_unreachable": int((~np.isfinite(lengths)).sum()),
            "mean": float(finite.mean()) if finite.size else None,
            "median": float(np.median(finite)) if finite.size else None,
            "mean_chart_changes": float(
                np.mean([q.get("n_chart_changes", 0) for q in summaries if q["reachable"]] or [0.0])
            ),
        },
        "straight_line": straight,
        "timings_s": times,
        "cpu_s": cpu,
    }
    return result, rows


def run_reproduce(s: ReproduceSettings, out: str | os.PathLike[str]) -> dict[str, Any]:
    """Run the reproduction and write everything into ``out``.

    Outputs: ``table1.md``, ``table1.csv``, ``figures/fig2a_samples_mNN.png``, ``figures/fig2b_confidence_mNN.png``,
    ``figures/fig3a_lengths.png``, ``figures/fig3b_interpolations.png``, ``results.json``, ``report.md``; per model
    ``models/mNN/checkpoint.pt``, ``graph-KEY.agmg``, ``geodesics-KEY.json`` and ``summary.json`` (its results,
    written as soon as the model is done).

    Args:
        s: the settings.
        out: output folder (created); rerunning with the same folder resumes and reuses what is there.

    Returns:
        The results (as in ``results.json``).

    Raises:
        ValueError: bad settings, a checkpoint of another configuration in ``out``.
        agm.data.DatasetNotFoundError: the data set is not found (and cannot be downloaded).
    """
    out = Path(out)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    timings: dict[str, Any] = {}

    t0 = time.perf_counter()
    base = _model_config(s, s.charts[0])
    train_ds = load_dataset(s.dataset, "train", data_dir=s.data_dir, n=base.n_train, seed=base.seed, verify=s.verify)
    test_ds = load_dataset(s.dataset, "test", data_dir=s.data_dir, n=s.n_test, seed=s.seed, verify=s.verify)
    timings["data"] = time.perf_counter() - t0
    if s.points > len(train_ds):
        raise ValueError(f"points: the training set has {len(train_ds)} points, got points={s.points}")
    rng = np.random.default_rng([s.seed, 0x6EA9])
    nodes_idx = np.sort(rng.choice(len(train_ds), size=s.points, replace=False)).astype(np.int64)
    pairs = random_pairs(len(test_ds), s.pairs, s.seed)

    models: list[dict[str, Any]] = []
    strips: dict[int, list[StripRow]] = {}
    for m in tqdm(s.charts, desc="models", unit="model", disable=not s.progress):
        result, rows = _run_model(s, m, train_ds.x, nodes_idx, test_ds.x, pairs, figures, out)
        write_json(out / "models" / f"m{m:02d}" / "summary.json", result)  # readable while later models run
        models.append(result)
        if rows:
            strips[m] = rows
        timings[f"m{m:02d}"] = result["timings_s"]

    t0 = time.perf_counter()
    series = {
        f"{r['charts']} chart{'s' if r['charts'] > 1 else ''}": np.asarray(r["geodesics"]["lengths"]) for r in models
    }
    for r in models:
        if r["straight_line"] is not None:
            series[f"{r['charts']} chart: straight line"] = np.asarray(r["straight_line"], dtype=np.float64)
    plot_length_distributions(
        series, figures / "fig3a_lengths.png", title=f"{s.dataset}: decoded lengths of {s.pairs} test-pair geodesics"
    )
    order = [m for m in (1, strip_chart_count(s.charts)) if m in strips]
    rows = [row for i in range(s.strip_pairs) for m in order for row in strips[m][i : i + 1]]
    if rows:
        plot_strips(
            rows,
            figures / "fig3b_interpolations.png",
            title="geodesic interpolations between the same test pairs; chart under each step ('a/b': transition)",
        )
    timings["figures"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start

    results = {
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(s).items()},
        "n_train": len(train_ds),
        "n_test": len(test_ds),
        "graph_points": nodes_idx.tolist(),
        "pairs": pairs.tolist(),
        "models": models,
        "timings_s": timings,
    }
    write_table1(out, results)
    write_json(out / "results.json", results)
    write_reproduce_report(out / "report.md", results)
    if s.progress:
        tqdm.write(f"agm reproduce: wrote {out / 'report.md'} ({timings['total']:.0f} s)")
    return results
