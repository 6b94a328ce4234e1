"""`agm demo`: end to end in quick mode, plus the oracles of its building blocks (pairs, lengths, tables, tear)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch

from agm._files import read_run
from agm.cli import main
from agm.data import angular_distance, render_glyph
from agm.experiments.demo.run import _tear
from agm.experiments.figures import StripRow, plot_strips
from agm.experiments.geodesics import geodesics, path_lengths
from agm.experiments.lengths import glyph_arc_lengths, straight_latent_lengths
from agm.experiments.pairs import loop_pairs, random_pairs
from agm.experiments.tables import markdown_table, write_csv
from agm.geodesic import build_graph
from agm.models.analytic import CircleAtlas

DEMO_PNGS = (
    "lengths.png",
    "angles.png",
    "strips.png",
    "loop_coverage.png",
    "samples_one_chart.png",
    "samples_atlas.png",
)


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50
    assert float(img[..., :3].std()) > 0.01, f"{path} is blank"


def test_demo_quick_writes_the_report_figures_and_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick", "--quiet", "--seed", "1"]) == 0
    assert "report:" in capsys.readouterr().out
    for name in DEMO_PNGS:
        assert_png(out / name)
    results = json.loads((out / "results.json").read_text())  # strict JSON (no NaN)
    assert {"results.json", "report.md", *DEMO_PNGS} <= set(read_run(out, "demo"))  # committed as one run
    n_pairs = results["settings"]["n_pairs"]
    assert len(results["pairs"]) == n_pairs and results["seed"] == 1 and results["quick"]
    for pair in results["pairs"]:
        ends = torch.tensor([pair["theta0_deg"], pair["theta1_deg"]], dtype=torch.float64).deg2rad()
        gap = angular_distance(ends[0], ends[1])
        assert math.degrees(float(gap)) == pytest.approx(pair["angle_deg"], abs=1e-6)
        assert math.isfinite(pair["true_length"]) and pair["true_length"] > 0
    for tag in ("one_chart", "atlas"):
        model = results["models"][tag]
        assert math.isfinite(model["reconstruction_error"])
        assert model["graph"]["n_nodes"] >= results["settings"]["graph_points"]
        assert sum(model["chart_usage"]) > 0
    assert results["models"]["atlas"]["n_charts"] == results["settings"]["charts"] >= 2
    report = (out / "report.md").read_text()
    for name in DEMO_PNGS:
        assert f"({name})" in report
    table = [line for line in report.splitlines() if line.startswith("| ") and "→" in line and "θ0" not in line]
    assert len(table) == n_pairs and all(line.count("|") == 12 for line in table)
    # a second run reuses the trained models
    assert main(["demo", "--out", str(out), "--quick", "--quiet", "--seed", "1"]) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["models"]["atlas"]["run"] == "loaded"
    before = results["models"]["atlas"]["reconstruction_error"]
    assert again["models"]["atlas"]["reconstruction_error"] == pytest.approx(before)


def test_demo_rejects_a_one_chart_atlas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as err:
        main(["demo", "--out", str(tmp_path), "--quick", "--quiet", "--charts", "1"])
    assert err.value.code == 2
    assert "at least 2 charts" in capsys.readouterr().err


def test_tear_is_the_largest_jump_of_the_encoding() -> None:
    angles = np.arange(0.0, 360.0, 1.0)
    latent = torch.from_numpy(np.mod(angles - 100.0, 360.0))[:, None]  # jumps between 99 and 100 degrees
    assert _tear(latent, angles) == pytest.approx(99.5)
    latent = torch.from_numpy(angles)[:, None]  # the wrap-around jump between 359 and 0
    assert _tear(latent, angles) == pytest.approx(359.5)


def test_random_pairs_are_seeded_distinct_and_in_range() -> None:
    a = random_pairs(7, 500, seed=3)
    assert a.shape == (500, 2) and a.dtype == np.int64
    assert (a[:, 0] != a[:, 1]).all() and a.min() >= 0 and a.max() < 7
    np.testing.assert_array_equal(a, random_pairs(7, 500, seed=3))
    assert not np.array_equal(a, random_pairs(7, 500, seed=4))
    assert len({tuple(p) for p in a}) == 42  # all ordered pairs of 7 points appear
    with pytest.raises(ValueError, match="n_points"):
        random_pairs(1, 3, 0)
    with pytest.raises(ValueError, match="n_pairs"):
        random_pairs(5, 0, 0)


def test_loop_pairs_are_gap_apart_around_their_centres() -> None:
    centres = np.array([0.0, 1.0, 6.0])
    theta = loop_pairs(centres, 1.5)
    gaps = angular_distance(torch.from_numpy(theta[:, 0]), torch.from_numpy(theta[:, 1]))
    np.testing.assert_allclose(gaps.numpy(), 1.5, atol=1e-12)
    mid = np.angle(np.exp(1j * theta[:, 0]) + np.exp(1j * theta[:, 1]))
    np.testing.assert_allclose(np.mod(mid - centres + np.pi, 2 * np.pi) - np.pi, 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="gap"):
        loop_pairs(centres, 4.0)


def test_glyph_arc_length_is_symmetric_additive_and_above_the_chord() -> None:
    a, b, c = np.array([0.3]), np.array([1.1]), np.array([1.9])
    ab, ba = glyph_arc_lengths(a, b), glyph_arc_lengths(b, a)
    # float32 renderings summed in opposite orders: equal to float32 rounding, whatever the CPU kernels
    np.testing.assert_allclose(ab, ba, rtol=1e-6)
    np.testing.assert_allclose(glyph_arc_lengths(a, c), ab + glyph_arc_lengths(b, c), rtol=1e-3)
    chord = torch.linalg.vector_norm(render_glyph(torch.tensor([0.3])) - render_glyph(torch.tensor([1.1]))).item()
    assert ab[0] > chord
    # the shorter way round: 350 degrees forward is 10 degrees back
    np.testing.assert_allclose(
        glyph_arc_lengths(np.array([0.0]), np.array([math.radians(350)])),
        glyph_arc_lengths(np.array([0.0]), np.array([math.radians(-10)])),
        rtol=1e-6,  # float32 renderings of angles that differ by 2 pi in float64
    )


def test_straight_latent_length_of_an_isometric_chart_is_the_angle() -> None:
    model = CircleAtlas()
    x0 = model.points(torch.tensor([-0.5, 0.2]))
    x1 = model.points(torch.tensor([0.7, 3.0]))  # second pair: chart 0 and chart 1, no straight line
    lengths = straight_latent_lengths(model, x0, x1, n_steps=200)
    assert lengths[0] == pytest.approx(1.2, rel=1e-4)
    assert math.isnan(lengths[1])
    with pytest.raises(ValueError, match="same number"):
        straight_latent_lengths(model, x0, x1[:1])


def test_geodesics_match_the_circle_and_mark_unreachable_pairs() -> None:
    model = CircleAtlas()
    arc = torch.linspace(-0.4, 0.4, 41)  # psi_1 < eps on this arc: chart 0 only; and chart 1 only around pi
    graph = build_graph(model, model.points(torch.cat([arc, arc + math.pi])), k=4, n_steps=4, progress=False)
    assert graph.stats()["n_components"] == 2
    a = model.points(torch.tensor([-0.3, 0.0, math.pi - 0.3]))
    b = model.points(torch.tensor([0.3, math.pi, math.pi + 0.3]))
    paths = geodesics(model, a, b, graph, chunk=3, progress=False)
    assert paths[1] is None and paths[0] is not None and paths[2] is not None
    lengths = path_lengths(paths)
    assert math.isinf(lengths[1])
    np.testing.assert_allclose(lengths[[0, 2]], [0.6, 0.6], rtol=0.02)


def test_markdown_table_and_csv(tmp_path: Path) -> None:
    text = markdown_table(["name", "n", "x"], [["a", 1200, 0.5], ["b|c", None, float("inf")]], digits=3)
    lines = text.splitlines()
    assert lines[0] == "| name | n | x |" and lines[1] == "|---|---:|---:|"
    assert lines[2] == "| a | 1,200 | 0.5 |" and lines[3] == "| b\\|c | — | inf |"
    path = write_csv(tmp_path / "t.csv", ["name", "x"], [["a", 0.1 + 0.2], ["b", None]])
    rows = list(csv.reader(path.read_text().splitlines()))
    assert rows == [["name", "x"], ["a", repr(0.1 + 0.2)], ["b", ""]]
    with pytest.raises(ValueError, match=r"rows\[1\] must hold 3 cells"):
        markdown_table(["a", "b", "c"], [[1, 2, 3], [1, 2]])


def test_strips_check_their_labels(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="3 steps but 2 labels"):
        plot_strips([StripRow(torch.zeros(3, 1, 8, 8), ["0", "1"], "t")], tmp_path / "s.png")
    path = plot_strips([StripRow(torch.rand(3, 1, 8, 8), ["0", "0/1", "1"], "t")], tmp_path / "s.png")
    assert_png(path)
