"""`agm reproduce` end to end on generated IDX data (tiny preset): every output, resume and reuse, error paths."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest
import torch

from agm._files import read_run
from agm.cli import main
from agm.data import render_glyph, write_idx
from agm.experiments.reproduction.report import TABLE1_HEADER
from agm.experiments.reproduction.results import load_reproduction_result
from agm.experiments.reproduction.run import ReproduceSettings, strip_chart_count

FIGURES = ("fig3a_lengths.png", "fig3b_interpolations.png") + tuple(
    f"fig2{kind}_m{m:02d}.png" for m in (1, 2) for kind in ("a_samples", "b_confidence")
)


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and min(img.shape[:2]) > 50 and float(img[..., :3].std()) > 0.01, path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake MNIST folder: rotated glyphs as uint8 IDX files (not the real data)."""
    root = tmp_path_factory.mktemp("data")
    (root / "mnist").mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 160), ("t10k", 60)):
        images = render_glyph(torch.from_numpy(rng.uniform(0, 2 * np.pi, n)))[:, 0].numpy()
        write_idx(root / "mnist" / f"{split}-images-idx3-ubyte.gz", (images * 255).round().astype(np.uint8))
        write_idx(root / "mnist" / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))
    return root


def _args(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        "reproduce",
        "--dataset",
        "mnist",
        "--charts",
        "1",
        "2",
        "--preset",
        "tiny",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--points",
        "80",
        "--pairs",
        "6",
        "--k",
        "4",
        "--n-steps",
        "2",
        "--epochs",
        "1",
        "--n-train",
        "150",
        "--refine-steps",  # cheap (~3 CPU s per model): the refinement's own accuracy is in test_geodesic_refine
        "10",
        "--refine-points",
        "8",
        "--no-verify",
        "--quiet",
        *extra,
    ]


def _results(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "results.json").read_text())
    return data


def test_reproduce_writes_table1_figures_results_and_report(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(_args(data_dir, out)) == 0
    for name in FIGURES:
        assert_png(out / "figures" / name)
    run = read_run(out, "reproduce")  # committed as one run; the models and caches are not part of it
    assert {"table1.md", "table1.csv", "results.json", "report.md", *(f"figures/{n}" for n in FIGURES)} == set(run)
    rows = list(csv.reader((out / "table1.csv").read_text().splitlines()))
    assert rows[0] == TABLE1_HEADER and len(rows) == 3
    col = {name: i for i, name in enumerate(TABLE1_HEADER)}
    assert [int(r[col["charts"]]) for r in rows[1:]] == [1, 2]
    for r in rows[1:]:
        for name in (
            "recon. error (per pixel)",
            "recon. error (summed)",
            "eps",
            "graph nodes",
            "graph edges",
            "diameter (hops)",
            "components",
            "geodesic length (median)",
            "parameters (enc+dec)",
        ):
            assert math.isfinite(float(r[col[name]])), name
        assert int(r[col["graph nodes"]]) >= 80 and int(r[col["diameter (hops)"]]) >= 1
        assert float(r[col["paper: recon. error (per pixel)"]]) > 0  # the paper's value beside ours
    assert rows[1][col["straight line (median)"]] != "" and rows[2][col["straight line (median)"]] == ""
    md = (out / "table1.md").read_text().splitlines()
    wide = md.index("| " + " | ".join(TABLE1_HEADER) + " |")
    assert sum(line.startswith("| ") for line in md[wide:]) == 3
    recon = next(line for line in md if line.startswith("| Reconstruction error (per-pixel MSE) |"))
    assert "(0.0142) |" in recon and "(0.0134) |" in recon  # every cell: ours (paper)
    assert "(21,626,265)" in next(line for line in md if "Trainable parameters" in line)
    # one eps for every model beside the fitted ones, and the query rule named in the tables
    single_row = next(line for line in md if line.startswith("| Graph nodes at one eps = "))
    assert single_row.count("(") == 2  # ours (paper) for both models
    assert next(line for line in md if line.startswith("| Query attachment rule |")).count("paper (most likely") == 2
    assert md[-1].count("the paper's rule (z0, y0)") == 1
    for r in rows[1:]:
        assert r[col["attach rule"]] == "paper" and float(r[col["single eps"]]) in (
            0.01,
            0.02,
            0.05,
            0.1,
            0.2,
            0.3,
            0.4,
        )
        assert int(r[col["graph nodes (single eps)"]]) >= 80 and math.isfinite(
            float(r[col["geodesic length (median, single eps)"]])
        )

    res = _results(out)
    assert all(m["single_eps_graph"]["eps"] == res["single_eps"] for m in res["models"])
    assert res["settings"]["attach"] == "paper"
    assert res["n_test"] == 60 and len(res["pairs"]) == 6 and len(res["graph_points"]) == 80
    wae, awae = res["models"]
    assert (wae["model"], awae["model"]) == ("wae", "awae") and wae["latent_dim"] == 8 and awae["latent_dim"] == 7
    assert len(wae["straight_line"]) == 6 and all(v is not None and v > 0 for v in wae["straight_line"])
    for m in res["models"]:
        assert m["training"]["status"] == "trained" and m["graph"]["status"] == "built"
        assert len(m["geodesics"]["lengths"]) == 6 and math.isfinite(m["reconstruction_error"])
        assert m["geodesics"]["n_unreachable"] + sum(v is not None for v in m["geodesics"]["lengths"]) == 6
        assert sum(m["chart_usage"]) == 60
    for m in res["models"]:  # Fig. 3b's models: the strip pairs refined beside their graph geodesics
        q = m["refined"]
        assert q["status"] == "computed" and (q["steps"], q["points"]) == (10, 8) and len(q["refined_lengths"]) == 5
        for g, v in zip(q["graph_lengths"], m["geodesics"]["lengths"][:5]):  # float32 encodings in other batches
            assert (g is None) == (v is None) and (g is None or g == pytest.approx(v, rel=1e-5))
        for g, v in zip(q["graph_lengths"], q["refined_lengths"]):
            assert (g is None) == (v is None) and (g is None or v <= g)
        assert q["median_ratio"] is None or 0 < q["min_ratio"] <= q["median_ratio"] <= q["max_ratio"] <= 1
    report = (out / "report.md").read_text()
    assert "## Table 1" in report and all(f"figures/{name}" in report for name in FIGURES)
    assert "## Refined geodesics" in report and "refined / graph (median)" in report
    assert "## The paper's claims, checked" in report and "what our numbers show" in report
    assert report.count("the paper's rule (z0, y0)") >= 4  # Table 1, claims, Fig. 3a, Fig. 3b, refined
    typed = load_reproduction_result(out / "results.json")  # the typed loader reads back what was written
    assert typed.to_dict() == res and res["format"] == "agm-reproduction-results" and res["version"] == 1
    for m in typed.models:  # the paper's unit beside the summed value
        assert m.reconstruction_error_per_pixel == pytest.approx(m.reconstruction_error / 784, rel=1e-12)


def test_reproduce_resumes_and_reuses_saved_results(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(_args(data_dir, out, "--charts", "1")) == 0
    first = _results(out)["models"][0]
    assert main(_args(data_dir, out, "--charts", "1")) == 0  # everything reused
    again = _results(out)["models"][0]
    assert (again["training"]["status"], again["graph"]["status"], again["geodesics"]["status"]) == (
        "loaded",
        "loaded",
        "loaded",
    )
    assert again["geodesics"]["lengths"] == first["geodesics"]["lengths"]
    assert main(_args(data_dir, out, "--charts", "1", "--epochs", "2")) == 0  # an unfinished run is resumed
    more = _results(out)["models"][0]
    assert more["training"]["status"] == "resumed" and more["training"]["epochs"] == 2
    assert more["graph"]["status"] == "built"  # new weights: new graph
    assert len(list((out / "models" / "m01").glob("graph-*.agmg"))) == 2


def test_reproduce_refuses_a_folder_of_another_configuration(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(_args(data_dir, out, "--charts", "1", "--pairs", "2")) == 0
    with pytest.raises(SystemExit) as err:
        main(_args(data_dir, out, "--charts", "1", "--seed", "5"))
    assert err.value.code == 2
    assert "another configuration" in capsys.readouterr().err


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="dataset"):
        ReproduceSettings(dataset="glyph-loop")
    with pytest.raises(ValueError, match="charts"):
        ReproduceSettings(charts=(1, 1))
    with pytest.raises(ValueError, match="points"):
        ReproduceSettings(points=0)
    with pytest.raises(ValueError, match="attach"):
        ReproduceSettings(attach="first")
    with pytest.raises(ValueError, match="single_eps"):
        ReproduceSettings(single_eps=1.5)
    assert strip_chart_count((1, 2, 4, 8, 16)) == 8 and strip_chart_count((1, 2, 4)) == 4


def test_too_many_graph_points_is_an_error(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(_args(data_dir, tmp_path / "run", "--points", "5000"))
    assert "points" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["demo", "reproduce"])
def test_every_option_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for opt in ("--out", "--seed", "--device", "--threads", "--quiet"):
        assert opt in text
    from agm.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert all(action.help for action in sub[command]._actions)  # type: ignore[index]


def test_refined_stage_is_added_to_a_folder_without_recomputing_the_rest(data_dir: Path, tmp_path: Path) -> None:
    from agm.experiments.reproduction.run import run_reproduce

    out = tmp_path / "run"
    base = ReproduceSettings(
        dataset="mnist",
        charts=(1, 2),
        preset="tiny",
        data_dir=str(data_dir),
        points=80,
        pairs=6,
        k=4,
        n_steps=2,
        epochs=1,
        n_train=150,
        verify=False,
        strip_pairs=2,
        progress=False,
        refine_steps=0,  # a folder as written before the refined stage existed: no refined-*.json
    )
    first = run_reproduce(base, out)
    assert all(r.refined is None for r in first.models) and not list(out.glob("models/*/refined-*.json"))
    files = sorted(p.name for p in out.glob("models/*/*"))
    second = run_reproduce(dataclasses.replace(base, refine_steps=20, refine_points=8), out)
    for r in second.models:  # every cached stage reused: the refinement adds its own key only
        assert (r.training.status, r.graph.status, r.geodesics.status) == ("loaded", "loaded", "loaded")
        assert r.refined is not None and r.refined.status == "computed" and len(r.refined.refined_lengths) == 2
        for g, v in zip(r.refined.graph_lengths, r.refined.refined_lengths):
            assert (g is None) == (v is None) and (g is None or v <= g)  # type: ignore[operator]
    assert second.model(1).geodesics.lengths == first.model(1).geodesics.lengths  # type: ignore[union-attr]
    added = sorted(set(p.name for p in out.glob("models/*/*")) - set(files))
    assert len(added) == 2 and all(name.startswith("refined-") for name in added), added
    third = run_reproduce(dataclasses.replace(base, refine_steps=20, refine_points=8), out)
    for r, s in zip(third.models, second.models):
        assert r.refined is not None and s.refined is not None and r.refined.status == "loaded"
        assert r.refined.refined_lengths == s.refined.refined_lengths  # the curves read back, lengths exact
    res = _results(out)
    assert [m["refined"]["status"] for m in res["models"]] == ["loaded", "loaded"]
    assert "## Refined geodesics" in (out / "report.md").read_text()
    assert_png(out / "figures" / "fig3b_interpolations.png")
    old = json.loads((out / "results.json").read_text())
    for m in old["models"]:  # a results file without the refined field reads back (None)
        del m["refined"]
    (out / "old.json").write_text(json.dumps(old))
    assert all(r.refined is None for r in load_reproduction_result(out / "old.json").models)
