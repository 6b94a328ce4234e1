"""Typed results of ``agm demo`` (what ``results.json`` holds), their JSON form and a checked loader."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from agm.experiments.cache import write_json
from agm.experiments.demo.settings import DemoSettings
from agm.experiments.records import from_record, read_versioned, to_record
from agm.experiments.result_types import GraphStats, PathSummary

DEMO_FORMAT = "agm-demo-results"
DEMO_VERSION = 1
#: The two models of the demo, in report order.
DEMO_TAGS = ("one_chart", "atlas")


@dataclass(frozen=True)
class PathResult(PathSummary):
    """One geodesic of the demo: its summary and where its decodings lie on the loop.

    Attributes:
        (those of :class:`~agm.experiments.result_types.PathSummary`) and angle_travelled_deg: total rotation of the
        nearest loop points of its decodings (degrees); mean_distance_to_loop: mean distance of its decodings to
        the loop (large for off-loop "garbage").
    """

    angle_travelled_deg: float | None = None
    mean_distance_to_loop: float | None = None


@dataclass(frozen=True)
class PairResult:
    """One pair of loop points and the geodesic of each model between them.

    Attributes:
        centre_deg, theta0_deg, theta1_deg, angle_deg: the pair's centre, endpoints and angular gap (degrees).
        true_length: length of the true arc (rendered glyphs or the circle).  straight_line_one_chart: decoded
        length of the one-chart model's straight latent segment (None: not finite).
        one_chart, atlas: the two geodesics.
    """

    centre_deg: float
    theta0_deg: float
    theta1_deg: float
    angle_deg: float
    true_length: float
    straight_line_one_chart: float | None
    one_chart: PathResult
    atlas: PathResult


@dataclass(frozen=True)
class ModelResult:
    """One trained model of the demo.

    Attributes:
        label: its name in the report.  model: registry name ("wae", "awae").  n_charts, latent_dim, hidden
        (width h).  run: "trained", "resumed" or "loaded".  epochs: epochs trained.
        reconstruction_error: mean squared error (summed over pixels) on the test points through the most likely
        chart.  chart_usage: test points per most likely chart.  graph: its geodesic graph's statistics.
        loop_error_near_tear / loop_error_away_from_tear: the same error on the exactly rendered loop (one point
        per degree), within ``settings.tear_window_deg`` of the one-chart model's tear and elsewhere.
    """

    label: str
    model: str
    n_charts: int
    latent_dim: int
    hidden: int
    run: str
    epochs: int
    reconstruction_error: float
    chart_usage: list[int]
    graph: GraphStats
    loop_error_near_tear: float | None = None
    loop_error_away_from_tear: float | None = None


@dataclass(frozen=True)
class DemoResult:
    """Everything ``agm demo`` measured (``results.json``).

    Attributes:
        dataset, seed, quick, settings: what was run.  threads: torch threads of the training and geodesic stages.
        tear_deg: loop angle of the one-chart model's largest encoding jump.  models: "one_chart" and "atlas".
        pairs: the pairs, the first one centred on the tear.  timings_s / cpu_s: wall and process CPU seconds per
        stage ("total": the whole run).
    """

    FORMAT: ClassVar[str] = DEMO_FORMAT
    VERSION: ClassVar[int] = DEMO_VERSION

    dataset: str
    seed: int
    quick: bool
    settings: DemoSettings
    threads: int
    tear_deg: float
    models: dict[str, ModelResult]
    pairs: list[PairResult]
    timings_s: dict[str, float]
    cpu_s: dict[str, float]

    def __post_init__(self) -> None:
        if tuple(self.models) != DEMO_TAGS:
            raise ValueError(f"models must hold the models {DEMO_TAGS}; got {tuple(self.models)}")

    @property
    def one_chart(self) -> ModelResult:
        """The one-chart model (WAE-GAN)."""
        return self.models["one_chart"]

    @property
    def atlas(self) -> ModelResult:
        """The atlas model (AWAE-GAN)."""
        return self.models["atlas"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (header ``format``/``version`` first)."""
        return {"format": DEMO_FORMAT, "version": DEMO_VERSION, **to_record(self)}


def write_demo_result(path: str | os.PathLike[str], result: DemoResult) -> Path:
    """Write ``result`` as strict JSON (atomically; non-finite floats as null)."""
    return write_json(path, result.to_dict())


def load_demo_result(path: str | os.PathLike[str]) -> DemoResult:
    """Read a demo ``results.json`` back into a :class:`DemoResult`, checking its header and every field.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a demo results file of this version, or a missing/mistyped field (named in the message).
    """
    data = read_versioned(path, DEMO_FORMAT, DEMO_VERSION)
    body = {k: v for k, v in data.items() if k not in ("format", "version")}
    return from_record(DemoResult, body, str(path))
