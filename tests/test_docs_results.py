"""The committed reproduction (docs/results) is a well-formed run of the current cpu preset at equal model size.

These tests read the committed ``results.json`` files (small JSON, no data set or weights) and check them against
the package itself: the run's settings are the cpu preset's, each model's parameter count is what the package's own
model of that chart count has (recounted here), the five counts are within 2 % of each other as the paper's
controlled comparison requires, the per-pixel error is the summed error / 784, and the Table 1 page shows every
one of the paper's cells beside ours.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agm.experiments.reproduction.paper import PAPER_CHARTS, PAPER_TABLE1
from agm.experiments.reproduction.results import ReproductionResult, load_reproduction_result
from agm.models import build_model, count_parameters
from agm.training import make_config

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
DATASETS = ("mnist", "fashion-mnist")


def _result(dataset: str) -> ReproductionResult:
    return load_reproduction_result(RESULTS / dataset / "results.json")


@pytest.mark.parametrize("dataset", DATASETS)
def test_committed_run_is_the_cpu_preset_on_every_chart_count(dataset: str) -> None:
    result = _result(dataset)
    assert result.settings.dataset == dataset
    assert result.settings.preset == "cpu"
    assert tuple(r.charts for r in result.models) == PAPER_CHARTS
    config = make_config("cpu", "awae", 8, dataset)
    assert result.n_train == config.n_train
    assert all(r.training.epochs == config.epochs for r in result.models)


@pytest.mark.parametrize("dataset", DATASETS)
def test_model_sizes_are_equal_across_chart_counts_and_recount_exactly(dataset: str) -> None:
    result = _result(dataset)
    counts = {r.charts: r.parameters for r in result.models}
    for charts, count in counts.items():
        config = make_config("cpu", "wae" if charts == 1 else "awae", charts, dataset)
        model = build_model(config.model, charts, (1, 28, 28), **config.model_kwargs())
        assert count_parameters(model) == count  # the committed count is the package's own model's
    assert max(counts.values()) <= 1.02 * counts[1] and min(counts.values()) >= 0.98 * counts[1]


@pytest.mark.parametrize("dataset", DATASETS)
def test_errors_in_the_paper_unit_and_every_paper_cell_shown(dataset: str) -> None:
    result = _result(dataset)
    for r in result.models:
        # both numbers come from one float64 mean; the division is the only operation between them
        assert r.reconstruction_error_per_pixel == pytest.approx(r.reconstruction_error / result.n_pixels, rel=1e-9)
        assert r.graph.n_nodes >= result.settings.points  # every graph point is a node of at least one chart
    page = (RESULTS / dataset / "table1.md").read_text()
    for row in PAPER_TABLE1[dataset].values():
        for cell in (f"({row.parameters:,})", f"({row.reconstruction_error:g})", f"({row.nodes:,})"):
            assert cell in page, f"{dataset}: paper cell {cell} missing from table1.md"
