"""``agm reproduce``: the paper's MNIST / Fashion-MNIST experiment (Table 1, Figs. 2 and 3), resumable.

For every chart count m (1: the WAE-GAN "wae", > 1: the AWAE-GAN "awae") the stages are: train with a preset (or
load/resume the checkpoint in ``out/models/mNN``) (:func:`train_stage`); measure the test reconstruction error and the
chart confidences and draw Fig. 2a/2b (:func:`evaluate_stage`); choose eps (:func:`choose_eps`: fixed, or the grid
value whose node count is closest to the paper's); build the graph of Algorithm 1 on ``points`` encoded training
points (:func:`graph_stage`); compute geodesics between ``pairs`` seeded random test pairs, plus, for m = 1, the
decoded straight latent line (:func:`geodesics_stage`); and for the Fig. 3b models the interpolation strips
(:func:`strips_stage`) and their refined curves (:func:`agm.experiments.reproduction.refined.refined_stage`, a refined
row under each graph row). Graphs, geodesic lengths and refined curves are saved next to the checkpoint under a key of
their parameters and reused by a rerun (the refined curves' key is their own: adding or changing the refinement reuses
the rest). Every model is trained and its eps fitted first; then one eps for every model (:func:`common_eps`) gives
each model a second graph and its geodesics (Fig. 3a and the length and diameter claims compare models at it). The
geodesic queries attach the test points by ``settings.attach`` (default "paper": each only in its most likely chart,
the paper's rule). Then Table 1 (Markdown + CSV), Fig. 3a/3b, ``results.json`` and ``report.md``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from agm._files import run_folder
from agm.data import Dataset, load_dataset
from agm.evaluation import plot_confidence_histogram, reconstruction_errors
from agm.experiments.cache import array_key, param_key, read_json, write_json
from agm.experiments.figures import StripRow, plot_chart_sample_grid, plot_length_distributions, plot_strips
from agm.experiments.geodesics import geodesics, path_summary, strip_row
from agm.experiments.lengths import straight_latent_lengths
from agm.experiments.pairs import random_pairs
from agm.experiments.records import from_record, to_record
from agm.experiments.reproduction.paper import paper_node_target
from agm.experiments.reproduction.refined import refined_key, refined_stage
from agm.experiments.reproduction.report import write_reproduction_report, write_table1
from agm.experiments.reproduction.results import (
    EpsChoice,
    GeodesicsResult,
    GraphBuild,
    RefinedGeodesics,
    ReproductionModelResult,
    ReproductionResult,
    TrainingInfo,
    write_reproduction_result,
)
from agm.experiments.reproduction.settings import REPRODUCE_DATASETS, ReproduceSettings
from agm.experiments.result_types import GraphStats, PathSummary
from agm.experiments.runs import autoencoder_parameters, comparable_config, train_or_load
from agm.experiments.stages import StageClock
from agm.geodesic import DecodePolicy, GeodesicGraph, GeodesicPath, build_graph, load_graph
from agm.geodesic.query.layered import SWITCH_TOLERANCE
from agm.models.family import AtlasFamily
from agm.training import TrainConfig, make_config

__all__ = [
    "common_eps",
    "REPRODUCE_DATASETS",
    "ReproduceSettings",
    "choose_eps",
    "node_counts",
    "run_reproduce",
    "strip_chart_count",
]

#: A test point is "confidently" in one chart when max_y psi_y(x) exceeds this (Fig. 2b's claim).
CONFIDENT = 0.9
#: A chart "holds" a class when at least this fraction of the class's test points has it as most likely chart.
CLASS_SHARE = 0.1


def strip_chart_count(charts: tuple[int, ...]) -> int:
    """The multi-chart model shown in Fig. 3b: 8 charts when run, else the largest chart count."""
    return 8 if 8 in charts else max(charts)


def _model_config(s: ReproduceSettings, m: int) -> TrainConfig:
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


@dataclass(frozen=True)
class _Inputs:
    """What every model's stages share: the data, the graph's points, the test pairs and the output folders."""

    s: ReproduceSettings
    train: Dataset
    test: Dataset
    nodes_idx: np.ndarray
    pairs: np.ndarray
    out: Path
    files: Path | None = None  # where the run's files go (its stage folder, agm._files.run_folder); None: out

    @property
    def figures(self) -> Path:
        """The folder of the reproduction's PNG figures."""
        return (self.files or self.out) / "figures"

    def run_dir(self, m: int) -> Path:
        """The training run folder (checkpoint) of the m-chart model."""
        return self.out / "models" / f"m{m:02d}"


def train_stage(inp: _Inputs, m: int) -> tuple[Any, TrainConfig, TrainingInfo]:
    """Train (or load/resume) the model of chart count m; returns (model in eval mode, config, training info)."""
    config = _model_config(inp.s, m)
    model, run = train_or_load(config, inp.run_dir(m), inp.train.x, progress=inp.s.progress)
    final: dict[str, float | None] | None = dict(run.history[-1]) if run.history else None
    info = TrainingInfo(run.status, run.epochs, run.seconds, final, str(run.checkpoint))
    return model, config, info


@dataclass(frozen=True)
class Evaluation:
    """The evaluation stage's numbers (see :class:`~agm.experiments.reproduction.results.ReproductionModelResult`)."""

    reconstruction_error: float
    reconstruction_error_per_pixel: float
    mean_confidence: float
    confident_fraction: float
    chart_usage: list[int]
    charts_per_class: list[int]


def charts_per_class(charts: torch.Tensor, labels: torch.Tensor, share: float = CLASS_SHARE) -> list[int]:
    """Per class label (sorted), the number of charts that are the most likely chart of at least ``share`` of the
    class's points.

    Args:
        charts: (N,) int64 most likely chart.  labels: (N,) int64 class labels.  share: in (0, 1].

    Returns:
        One count per distinct label, in increasing label order.
    """
    if charts.shape != labels.shape:
        raise ValueError(
            f"charts, labels: expected the same shape, got {tuple(charts.shape)} and {tuple(labels.shape)}"
        )
    counts = []
    for label in torch.unique(labels).tolist():
        of_class = charts[labels == label]
        shares = torch.bincount(of_class).double() / of_class.numel()
        counts.append(int((shares >= share).sum()))
    return counts


def evaluate_stage(inp: _Inputs, model: AtlasFamily, m: int) -> Evaluation:
    """Reconstruction error (both units), chart confidences and chart use per class on the test points; writes
    Fig. 2a (12 samples per chart, charts numbered 1..m) and Fig. 2b (histogram of max_y psi_y on the test points)."""
    rec = reconstruction_errors(model, inp.test.x)
    n_pixels = int(inp.test.x[0].numel())
    plot_chart_sample_grid(model, inp.figures / f"fig2a_samples_m{m:02d}.png", n_samples=12, seed=inp.s.seed)
    plot_confidence_histogram(rec.confidence, m, inp.figures / f"fig2b_confidence_m{m:02d}.png")
    return Evaluation(
        reconstruction_error=rec.mean_error,
        reconstruction_error_per_pixel=rec.mean_error / n_pixels,
        mean_confidence=float(rec.confidence.mean()),
        confident_fraction=float((rec.confidence > CONFIDENT).double().mean()),
        chart_usage=[int(c) for c in rec.charts.bincount(minlength=m)],
        charts_per_class=charts_per_class(rec.charts, inp.test.labels),
    )


@torch.no_grad()
def partition_of(model: AtlasFamily, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """(N, m) float32 CPU tensor psi(x) of the points (model in eval mode; x moved in batches to its device)."""
    device = next(model.parameters()).device
    parts = [
        model.partition(x[i : i + batch_size].to(device, torch.float32)).cpu() for i in range(0, len(x), batch_size)
    ]
    return torch.cat(parts)


def node_counts(psi: torch.Tensor, grid: tuple[float, ...], k: int) -> list[int]:
    """Graph node counts for each eps of ``grid``: sum over the charts of the points with psi_y > eps, leaving out
    charts with k or fewer such points (as ``build_graph(skip_small_charts=True)`` does).

    Args:
        psi: (N, m) float partition of unity of the graph's points.  grid: eps values.  k: neighbours per node.

    Returns:
        One count per eps.
    """
    counts = []
    for eps in grid:
        per_chart = (psi > eps).sum(0)
        counts.append(int(per_chart[per_chart > k].sum()))
    return counts


def choose_eps(inp: _Inputs, model: AtlasFamily, m: int) -> tuple[float, EpsChoice]:
    """The eps of the model's graph: the settings' eps, or (eps None) the grid value whose node count is closest
    to the paper's Table 1 count for m charts scaled to the graph's points (ties: the smaller eps)."""
    s = inp.s
    if s.eps is not None:
        return s.eps, EpsChoice("fixed", None, [s.eps], [])
    target = paper_node_target(s.dataset, m, s.points)
    psi = partition_of(model, inp.train.x[torch.from_numpy(inp.nodes_idx)])
    grid = sorted(s.eps_grid)
    nodes = node_counts(psi, tuple(grid), s.k)
    if target is None:
        best = min(range(len(grid)), key=lambda i: abs(grid[i] - 0.05))
    else:
        # an eps that leaves no chart of more than k points (0 nodes) cannot make a graph: never chosen
        best = min(range(len(grid)), key=lambda i: (nodes[i] == 0, abs(nodes[i] - target)))
    return grid[best], EpsChoice("paper-nodes", target, grid, nodes)


def common_eps(choices: list[EpsChoice], given: float | None) -> float:
    """One eps for every model: ``given`` when not None, else the grid value whose node counts are closest to the
    paper's over all models together (the smallest summed abs(log(nodes / target)) over the models with a target;
    ties: the smaller eps; never an eps at which some model has no chart of more than k points). Every choice must
    come from the same grid (:func:`choose_eps` with eps None).

    Raises:
        ValueError: no choice has a paper target and no eps is given.
    """
    if given is not None:
        return float(given)
    fitted = [c for c in choices if c.rule == "paper-nodes" and c.target_nodes]
    if not fitted:
        raise ValueError("single_eps: no model has a paper node count to fit one eps to; give single_eps")
    grid = fitted[0].grid

    def misfit(i: int) -> float:  # a grid value that leaves some model without a graph is never chosen
        if any(c.nodes[i] == 0 for c in choices if c.rule == "paper-nodes"):
            return math.inf
        return sum(abs(math.log(c.nodes[i] / float(c.target_nodes or 1))) for c in fitted)

    best = min(range(len(grid)), key=lambda i: (misfit(i), grid[i]))
    if not math.isfinite(misfit(best)):
        raise ValueError("single_eps: every eps of the grid leaves some model without a chart of more than k points")
    return float(grid[best])


def graph_stage(inp: _Inputs, model: AtlasFamily, eps: float, key: str, m: int) -> tuple[GeodesicGraph, GraphBuild]:
    """Load the saved graph of this key, or build and save it; returns (graph, its record)."""
    s = inp.s
    path = inp.run_dir(m) / f"graph-{key}.agmg"
    clock = StageClock()
    graph: GeodesicGraph | None = None
    status, stages = "loaded", None
    with clock.stage("graph"):
        if path.is_file():
            try:
                graph = load_graph(path, model)
            except ValueError:  # another model (retrained) or a damaged file: rebuild
                graph = None
        if graph is None:
            nodes_x = inp.train.x[torch.from_numpy(inp.nodes_idx)]
            graph = build_graph(
                model,
                nodes_x,
                k=s.k,
                eps=eps,
                n_steps=s.n_steps,
                decode_policy=DecodePolicy(batch_size=s.batch_size) if s.batch_size else None,
                skip_small_charts=True,
                progress=s.progress,
                attach=s.attach,  # type: ignore[arg-type]
            )
            graph.save(path)
            status, stages = "built", dict(graph.timings)
    stats = GraphStats.from_stats(graph.stats(diameter="exact"))
    record = GraphBuild(
        **to_record(stats), status=status, seconds=clock.wall_s["graph"], file=path.name, eps=eps, stages_s=stages
    )
    return graph, record


def geodesics_stage(
    inp: _Inputs, model: AtlasFamily, graph: GeodesicGraph, key: str, m: int
) -> tuple[GeodesicsResult, list[float | None] | None]:
    """Geodesics of the random test pairs (cached in ``geodesics-KEY.json``) and, for m = 1, the straight line."""
    s, pairs, test_x = inp.s, inp.pairs, inp.test.x
    qkey = param_key(
        {
            "graph": key,
            "pairs": array_key(pairs),
            "n_test": len(test_x),
            "straight_steps": s.straight_steps,
            "attach": s.attach,
            "switch_tolerance": SWITCH_TOLERANCE,
        }
    )
    qpath = inp.run_dir(m) / f"geodesics-{qkey}.json"
    cached = read_json(qpath)
    if cached is not None and len(cached.get("paths", [])) == len(pairs):
        summaries = [from_record(PathSummary, p, f"{qpath}: paths[{i}]") for i, p in enumerate(cached["paths"])]
        straight, status = cached["straight_line"], "loaded"
    else:
        x0, x1 = test_x[torch.from_numpy(pairs[:, 0])], test_x[torch.from_numpy(pairs[:, 1])]
        paths = geodesics(model, x0, x1, graph, batch_size=s.batch_size, progress=s.progress, desc=f"geodesics m={m}")
        summaries = [from_record(PathSummary, path_summary(p)) for p in paths]
        straight = straight_latent_lengths(model, x0, x1, s.straight_steps).tolist() if m == 1 else None
        write_json(qpath, {"paths": to_record(summaries), "straight_line": straight})
        status = "computed"
    lengths = [q.length for q in summaries]
    finite = np.array([v for v in lengths if v is not None], dtype=np.float64)
    changes = [q.n_chart_changes or 0 for q in summaries if q.reachable]
    result = GeodesicsResult(
        status=status,
        lengths=lengths,
        paths=summaries,
        n_unreachable=sum(v is None for v in lengths),
        mean=float(finite.mean()) if finite.size else None,
        median=float(np.median(finite)) if finite.size else None,
        mean_chart_changes=float(np.mean(changes)) if changes else 0.0,
    )
    return result, straight


def _label(m: int) -> str:
    return "WAE-GAN" if m == 1 else f"AWAE-GAN {m} charts"


def strips_stage(
    inp: _Inputs, model: AtlasFamily, graph: GeodesicGraph, m: int
) -> tuple[list[StripRow], float, list[GeodesicPath | None]]:
    """Fig. 3b's rows of this model (the first ``strip_pairs`` test pairs), the mean distance of their
    decodings to the nearest test point (how far the interpolations stray from the data) and the pairs' graph
    geodesics (None: unreachable)."""
    s, pairs, test_x = inp.s, inp.pairs, inp.test.x
    n = min(s.strip_pairs, len(pairs))
    x0, x1 = test_x[torch.from_numpy(pairs[:n, 0])], test_x[torch.from_numpy(pairs[:n, 1])]
    paths = geodesics(model, x0, x1, graph, batch_size=s.batch_size, progress=False)
    label = _label(m)
    rows = []
    for i, p in enumerate(paths):
        length = "unreachable" if p is None else f"{p.length:.3g}"
        title = f"pair {i}: {label}, length {length}"
        rows.append(strip_row(p, s.strip_steps, title, tuple(test_x.shape[1:]), first_chart=1))
    decoded = torch.cat(
        [r.x.reshape(r.x.shape[0], -1) for r, p in zip(rows, paths) if p is not None] or [torch.empty(0)]
    )
    if decoded.numel() == 0:
        return rows, float("nan"), paths
    flat = test_x.reshape(test_x.shape[0], -1)
    nearest = torch.cat(
        [torch.cdist(decoded[i : i + 64].double(), flat.double()).min(1).values for i in range(0, len(decoded), 64)]
    )
    return rows, float(nearest.mean()), paths


def refined_rows(
    inp: _Inputs, graph_key: str, paths: list[GeodesicPath | None], m: int
) -> tuple[RefinedGeodesics, list[StripRow]]:
    """The refined stage of a Fig. 3b model (see :mod:`agm.experiments.reproduction.refined`) and its strip rows,
    one per pair."""
    s = inp.s
    n = len(paths)
    key = refined_key(graph_key, inp.pairs[:n], len(inp.test.x), s.refine_steps, s.refine_points)
    record, curves = refined_stage(
        inp.run_dir(m), key, paths, steps=s.refine_steps, points=s.refine_points, batch_size=s.batch_size
    )
    rows = []
    for i, (c, g) in enumerate(zip(curves, record.graph_lengths)):
        length = "unreachable" if c is None or g is None else f"{c.length:.3g} (graph {g:.3g})"
        title = f"pair {i}: {_label(m)}, refined, length {length}"
        rows.append(strip_row(c, s.strip_steps, title, tuple(inp.test.x.shape[1:]), first_chart=1))
    return record, rows


@dataclass
class Prepared:
    """A chart count's trained model, its evaluation and its fitted eps (the stages before any graph)."""

    m: int
    model: AtlasFamily
    config: TrainConfig
    training: TrainingInfo
    evaluation: Evaluation
    eps: float
    eps_choice: EpsChoice
    clock: StageClock


def prepare_model(inp: _Inputs, m: int) -> Prepared:
    """Train (or load) the m-chart model, evaluate it and fit its eps to the paper's node count."""
    say = tqdm.write if inp.s.progress else (lambda _msg: None)
    clock = StageClock()
    say(f"agm reproduce: m = {m}: training / loading")
    with clock.stage("train"):
        model, config, training = train_stage(inp, m)
    with clock.stage("evaluate"):
        ev = evaluate_stage(inp, model, m)
    with clock.stage("graph"):
        eps, eps_choice = choose_eps(inp, model, m)
    return Prepared(m, model, config, training, ev, eps, eps_choice, clock)


def _graph_key(inp: _Inputs, p: Prepared, eps: float) -> str:
    s = inp.s
    return param_key(
        {
            "ckpt_epoch": p.training.epochs,
            "config": comparable_config(p.config),
            "nodes": array_key(inp.nodes_idx),
            "k": s.k,
            "eps": eps,
            "n_steps": s.n_steps,
            "attach": s.attach,
        }
    )


def run_model(inp: _Inputs, p: Prepared, single_eps: float) -> tuple[ReproductionModelResult, list[StripRow]]:
    """The graph stages of one prepared chart count (at its fitted eps and at the single eps of every model);
    returns its result and, for the Fig. 3b models, its strip rows."""
    s, m, model, clock = inp.s, p.m, p.model, p.clock
    say = tqdm.write if s.progress else (lambda _msg: None)
    say(f"agm reproduce: m = {m}: graph")
    with clock.stage("graph"):
        gkey = _graph_key(inp, p, p.eps)
        graph, graph_record = graph_stage(inp, model, p.eps, gkey, m)
    say(f"agm reproduce: m = {m}: geodesics")
    with clock.stage("geodesics"):
        geo, straight = geodesics_stage(inp, model, graph, gkey, m)
    with clock.stage("single_eps"):
        if single_eps == p.eps:
            single_graph, single_geo = graph_record, geo
        else:
            skey = _graph_key(inp, p, single_eps)
            other, single_graph = graph_stage(inp, model, single_eps, skey, m)
            single_geo = geodesics_stage(inp, model, other, skey, m)[0]
    rows: list[StripRow] = []
    strip_distance = None
    refined: RefinedGeodesics | None = None
    if m in (1, strip_chart_count(s.charts)):
        with clock.stage("strips"):
            rows, strip_distance, strip_paths = strips_stage(inp, model, graph, m)
        if s.refine_steps > 0:
            say(f"agm reproduce: m = {m}: refining the strip pairs")
            with clock.stage("refine"):
                refined, refined_strips = refined_rows(inp, gkey, strip_paths, m)
            rows = [row for pair in zip(rows, refined_strips) for row in pair]  # graph, refined, pair by pair
    ev = p.evaluation
    result = ReproductionModelResult(
        charts=m,
        model=p.config.model,
        latent_dim=int(model.latent_dim),
        parameters=autoencoder_parameters(model),
        reconstruction_error=ev.reconstruction_error,
        reconstruction_error_per_pixel=ev.reconstruction_error_per_pixel,
        mean_confidence=ev.mean_confidence,
        confident_fraction=ev.confident_fraction,
        chart_usage=ev.chart_usage,
        charts_per_class=ev.charts_per_class,
        training=p.training,
        eps_choice=p.eps_choice,
        graph=graph_record,
        geodesics=geo,
        straight_line=straight,
        strip_distance_to_data=strip_distance,
        timings_s=clock.wall_s,
        cpu_s=clock.cpu_s,
        refined=refined,
        single_eps_graph=single_graph,
        single_eps_geodesics=single_geo,
    )
    return result, rows


def _load_inputs(s: ReproduceSettings, out: Path) -> _Inputs:
    base = _model_config(s, s.charts[0])
    train = load_dataset(s.dataset, "train", data_dir=s.data_dir, n=base.n_train, seed=base.seed, verify=s.verify)
    test = load_dataset(s.dataset, "test", data_dir=s.data_dir, n=s.n_test, seed=s.seed, verify=s.verify)
    if s.points > len(train):
        raise ValueError(f"points: the training set has {len(train)} points, got points={s.points}")
    rng = np.random.default_rng([s.seed, 0x6EA9])
    nodes_idx = np.sort(rng.choice(len(train), size=s.points, replace=False)).astype(np.int64)
    return _Inputs(s, train, test, nodes_idx, random_pairs(len(test), s.pairs, s.seed), out)


def plot_fig3(
    inp: _Inputs, models: list[ReproductionModelResult], strips: dict[int, list[StripRow]], single_eps: float
) -> None:
    """Fig. 3a (the length distribution of every model, and the WAE-GAN's straight line) and Fig. 3b (the WAE-GAN's
    rows and the multi-chart model's rows, pair by pair; each graph row followed by its refined row when refined)."""
    s = inp.s
    series: dict[str, np.ndarray] = {}
    for r in models:
        name = f"{r.charts} chart{'s' if r.charts > 1 else ''}"
        geo = r.single_eps_geodesics or r.geodesics  # like with like: every model at the one eps
        series[name] = np.array([np.inf if v is None else v for v in geo.lengths], dtype=np.float64)
    for r in models:
        if r.straight_line is not None:
            series[f"{r.charts} chart: straight line"] = np.array(
                [np.nan if v is None else v for v in r.straight_line], dtype=np.float64
            )
    plot_length_distributions(
        series,
        inp.figures / "fig3a_lengths.png",
        title=f"{s.dataset}: decoded lengths of {s.pairs} test-pair geodesics (one eps {single_eps:g} for every "
        f"model, attach rule '{s.attach}')",
    )
    order = [m for m in (1, strip_chart_count(s.charts)) if m in strips]
    per_pair = {m: 2 if any(r.refined is not None for r in models if r.charts == m) else 1 for m in order}
    rows = [
        row for i in range(s.strip_pairs) for m in order for row in strips[m][per_pair[m] * i : per_pair[m] * (i + 1)]
    ]
    if rows:
        plot_strips(
            rows,
            inp.figures / "fig3b_interpolations.png",
            title="geodesic interpolations between the same test pairs (graph, then refined); chart under each step "
            "('a/b': transition)",
        )


def run_reproduce(s: ReproduceSettings, out: str | os.PathLike[str]) -> ReproductionResult:
    """Run the reproduction and write everything into ``out``.

    Outputs: ``table1.md``, ``table1.csv``, ``figures/fig2a_samples_mNN.png``, ``figures/fig2b_confidence_mNN.png``,
    ``figures/fig3a_lengths.png``, ``figures/fig3b_interpolations.png``, ``results.json``, ``report.md``; per model
    ``models/mNN/checkpoint.pt``, ``graph-KEY.agmg``, ``geodesics-KEY.json`` and ``summary.json`` (its results,
    written as soon as the model is done).

    Args:
        s: the settings.
        out: output folder (created); rerunning with the same folder resumes and reuses what is there.

    Returns:
        The :class:`~agm.experiments.reproduction.results.ReproductionResult` (as in ``results.json``).

    Raises:
        ValueError: bad settings, a checkpoint of another configuration in ``out``.
        agm.data.DatasetNotFoundError: the data set is not found (and cannot be downloaded).
    """
    out = Path(out)
    with run_folder(out, "reproduce") as stage:  # the run's files are committed as one run at the end
        reproduction, total = _reproduce_into(s, out, stage)
    if s.progress:
        tqdm.write(f"agm reproduce: wrote {out / 'report.md'} ({total:.0f} s)")
    return reproduction


def _reproduce_into(s: ReproduceSettings, out: Path, stage: Path) -> tuple[ReproductionResult, float]:
    """The reproduction's stages: models and caches in ``out``, the run's files in ``stage``; (result, seconds)."""
    (stage / "figures").mkdir(parents=True, exist_ok=True)
    clock = StageClock()
    with clock.stage("data"):
        inp = replace(_load_inputs(s, out), files=stage)
    models: list[ReproductionModelResult] = []
    strips: dict[int, list[StripRow]] = {}
    prepared = [prepare_model(inp, m) for m in tqdm(s.charts, desc="training", unit="model", disable=not s.progress)]
    single = common_eps([p.eps_choice for p in prepared], s.eps if s.eps is not None else s.single_eps)
    for p in tqdm(prepared, desc="models", unit="model", disable=not s.progress):
        result, rows = run_model(inp, p, single)
        m = p.m
        write_json(inp.run_dir(m) / "summary.json", to_record(result))  # readable while later models run
        models.append(result)
        if rows:
            strips[m] = rows
    with clock.stage("figures"):
        plot_fig3(inp, models, strips, single)
    clock.finish()
    timings: dict[str, float | dict[str, float]] = {"data": clock.wall_s["data"]}
    timings.update({f"m{r.charts:02d}": r.timings_s for r in models})
    timings.update({"figures": clock.wall_s["figures"], "total": clock.wall_s["total"]})
    reproduction = ReproductionResult(
        settings=s,
        n_train=len(inp.train),
        n_test=len(inp.test),
        n_pixels=int(inp.test.x[0].numel()),
        graph_points=inp.nodes_idx.tolist(),
        pairs=inp.pairs.tolist(),
        models=models,
        timings_s=timings,
        single_eps=single,
    )
    write_table1(stage, reproduction)
    write_reproduction_result(stage / "results.json", reproduction)
    write_reproduction_report(stage / "report.md", reproduction)
    return reproduction, clock.wall_s["total"]
