"""Typed results of ``agm reproduce`` (what ``results.json`` holds), their JSON form and a checked loader.

Reconstruction errors are kept in both units: ``reconstruction_error`` is the squared error summed over the pixels
(agm.evaluation's number), ``reconstruction_error_per_pixel`` the paper's unit (the same divided by the pixels).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from agm.experiments.cache import write_json
from agm.experiments.records import from_record, read_versioned, to_record
from agm.experiments.reproduction.settings import ReproduceSettings
from agm.experiments.result_types import GraphStats, PathSummary

REPRODUCTION_FORMAT = "agm-reproduction-results"
REPRODUCTION_VERSION = 1


@dataclass(frozen=True)
class TrainingInfo:
    """How a model was obtained: status "trained", "resumed" or "loaded"; epochs completed; seconds of training
    in this run; the last epoch's losses; the checkpoint file."""

    status: str
    epochs: int
    seconds: float
    final_losses: dict[str, float | None] | None
    checkpoint: str


@dataclass(frozen=True)
class EpsChoice:
    """How a model's eps was chosen.

    Attributes:
        rule: "fixed" (given by the settings) or "paper-nodes" (closest node count to the paper's).
        target_nodes: the paper's node count scaled to the graph's points (None: fixed, or no paper value).
        grid: the eps values tried.  nodes: the node count each would give (points with psi_y > eps, summed over
        the charts kept).
    """

    rule: str
    target_nodes: float | None
    grid: list[float]
    nodes: list[int]


@dataclass(frozen=True)
class GraphBuild(GraphStats):
    """A model's graph: its statistics and how it was obtained (status "built" or "loaded", seconds, file name,
    the build's stage timings when built) and the eps it used."""

    status: str = "built"
    seconds: float = 0.0
    file: str = ""
    eps: float = 0.05
    stages_s: dict[str, float] | None = None


@dataclass(frozen=True)
class GeodesicsResult:
    """The random test pairs' geodesics of one model.

    Attributes:
        status: "computed" or "loaded".  lengths: decoded lengths (None: unreachable).  paths: their summaries.
        n_unreachable, mean, median (of the reachable lengths), mean_chart_changes (per reachable path).
    """

    status: str
    lengths: list[float | None]
    paths: list[PathSummary]
    n_unreachable: int
    mean: float | None
    median: float | None
    mean_chart_changes: float


@dataclass(frozen=True)
class RefinedGeodesics:
    """Fig. 3b's strip pairs refined into smooth curves (:func:`agm.geodesic.refine_paths`) beside their graph
    geodesics (absent from results written before this stage existed: read back as None).

    Attributes:
        status: "computed" or "loaded".  steps, points: the refinement's most Gauss-Newton evaluations and
            segments per curve.
        graph_lengths, refined_lengths: per strip pair (the first ones of the random pairs), None where unreachable;
        a refined length is never above its graph length (the graph path is kept where refining does not shorten
        it).  shortened: per pair, whether the refined curve replaced the graph path.  median_ratio, min_ratio,
        max_ratio: of refined / graph over the reachable pairs (None: none reachable).  seconds: wall time of the
        refinement in the run that computed it.
    """

    status: str
    steps: int
    points: int
    graph_lengths: list[float | None]
    refined_lengths: list[float | None]
    shortened: list[bool]
    median_ratio: float | None
    min_ratio: float | None
    max_ratio: float | None
    seconds: float


@dataclass(frozen=True)
class ReproductionModelResult:
    """Everything measured on one chart count.

    Attributes:
        charts: m.  model: "wae" or "awae".  latent_dim: d.  parameters: encoders + psi + decoders.
        reconstruction_error: mean squared error summed over the pixels; reconstruction_error_per_pixel: the paper's
        unit.  mean_confidence: mean max_y psi_y on the test points; confident_fraction: the fraction with
        max_y psi_y > 0.9.  chart_usage: test points per most likely chart.  charts_per_class: per class label, the
        charts holding at least 10% of the class's test points.  training, eps_choice, graph, geodesics: the
        stages.  straight_line: the one-chart model's straight latent lengths (None for m > 1).
        strip_distance_to_data: mean distance of the Fig. 3b decodings to their nearest test point (None: the model
        has no strips).  timings_s / cpu_s: wall and process CPU seconds per stage.  refined: the strip pairs'
        refined geodesics (None: the model has no strips, refinement is off, or an older results file).
        single_eps_graph / single_eps_geodesics: the graph at the reproduction's one eps for every model and its
        geodesics between the same pairs (the same as ``graph``/``geodesics`` where the eps agree; None: an older
        results file).
    """

    charts: int
    model: str
    latent_dim: int
    parameters: int
    reconstruction_error: float
    reconstruction_error_per_pixel: float
    mean_confidence: float
    confident_fraction: float
    chart_usage: list[int]
    charts_per_class: list[int]
    training: TrainingInfo
    eps_choice: EpsChoice
    graph: GraphBuild
    geodesics: GeodesicsResult
    straight_line: list[float | None] | None
    strip_distance_to_data: float | None
    timings_s: dict[str, float]
    cpu_s: dict[str, float]
    refined: RefinedGeodesics | None = None
    single_eps_graph: GraphBuild | None = None
    single_eps_geodesics: GeodesicsResult | None = None


@dataclass(frozen=True)
class ReproductionResult:
    """Everything ``agm reproduce`` measured (``results.json``).

    Attributes:
        settings: what was run.  n_train, n_test: points used.  n_pixels: entries of one data point (784).
        graph_points: indices of the training points in every graph.  pairs: (P, 2) test indices.  models: per
        chart count, in the order run.  timings_s: data, figures and total seconds, and per model its stages.
        single_eps: the one eps of every model's second graph (None: an older results file).
    """

    FORMAT: ClassVar[str] = REPRODUCTION_FORMAT
    VERSION: ClassVar[int] = REPRODUCTION_VERSION

    settings: ReproduceSettings
    n_train: int
    n_test: int
    n_pixels: int
    graph_points: list[int]
    pairs: list[list[int]]
    models: list[ReproductionModelResult]
    timings_s: dict[str, float | dict[str, float]]
    single_eps: float | None = None

    def model(self, charts: int) -> ReproductionModelResult | None:
        """The result of chart count ``charts`` (None: not run)."""
        return next((r for r in self.models if r.charts == charts), None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (header ``format``/``version`` first)."""
        return {"format": REPRODUCTION_FORMAT, "version": REPRODUCTION_VERSION, **to_record(self)}


def write_reproduction_result(path: str | os.PathLike[str], result: ReproductionResult) -> Path:
    """Write ``result`` as strict JSON (atomically; non-finite floats as null)."""
    return write_json(path, result.to_dict())


def load_reproduction_result(path: str | os.PathLike[str]) -> ReproductionResult:
    """Read a reproduction ``results.json`` back into a :class:`ReproductionResult`, checking its header and every
    field.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a reproduction results file of this version, or a missing/mistyped field (named).
    """
    data = read_versioned(path, REPRODUCTION_FORMAT, REPRODUCTION_VERSION)
    body = {k: v for k, v in data.items() if k not in ("format", "version")}
    return from_record(ReproductionResult, body, str(path))
