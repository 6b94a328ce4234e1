"""The ``agm`` console script: help texts, ``agm train`` writes a checkpoint, ``agm evaluate`` writes the PNGs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from agm._files import read_run
from agm.cli import build_parser, main
from agm.commands import discover
from agm.models import MODELS
from agm.training import load_checkpoint

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_subcommands_are_discovered() -> None:
    names = [m.__name__.rsplit(".", 1)[1] for m in discover()]
    assert {"train", "evaluate"} <= set(names) and names == sorted(names)


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["evaluate", "--help"]])
def test_help_explains_every_option(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    text = capsys.readouterr().out
    parser = build_parser()
    sub: Any = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    target = parser if argv == ["--help"] else sub[argv[0]]
    for action in target._actions:
        assert action.help, f"option {action.option_strings or action.dest} has no help"
        for opt in action.option_strings:
            assert opt in text


def _train_argv(out: Path, model: str, charts: int, *extra: str) -> list[str]:
    """``agm train`` of a tiny model on the circle into ``out`` (CPU, no progress bars)."""
    common = ["--dataset", "circle", "--preset", "tiny", "--device", "cpu", "--quiet"]
    return ["train", "--model", model, "--charts", str(charts), "--out", str(out), *common, *extra]


def test_train_then_evaluate_on_embedded_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "run"
    argv = _train_argv(out, "awae", 3, "--epochs", "2", "--seed", "1", "--n-train", "128")
    assert main(argv) == 0
    ckpt = out / "checkpoint.pt"
    assert f"checkpoint: {ckpt}" in capsys.readouterr().out
    module, config, state = load_checkpoint(ckpt)
    model: Any = module
    assert (model.n_charts, config.dataset, config.seed, config.n_train, state["epoch"]) == (3, "circle", 1, 128, 2)
    assert main(["train", "--out", str(out), "--resume", "--epochs", "3", "--quiet", "--device", "cpu"]) == 0
    assert load_checkpoint(ckpt)[2]["epoch"] == 3
    figs = tmp_path / "figs"
    assert main(["evaluate", str(ckpt), "--out", str(figs), "--n", "200", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "reconstruction error" in printed
    for name in ("confidence_histogram.png", "chart_samples.png"):
        assert (figs / name).read_bytes()[:8] == PNG_MAGIC
    summary = json.loads((figs / "evaluation.json").read_text())
    assert set(read_run(figs, "evaluate")) == {"confidence_histogram.png", "chart_samples.png", "evaluation.json"}
    assert summary["n_test"] == 200 and sum(summary["chart_usage"]) == 200
    assert f"{summary['reconstruction_error']:.4f}" in printed


def test_evaluate_image_model_writes_sample_grid(tmp_path: Path) -> None:
    from agm.evaluation import plot_chart_samples, plot_confidence_histogram
    from agm.models import build_model

    model: Any = build_model("awae", 2, (1, 28, 28), hidden=2).eval()
    grid = plot_chart_samples(model, tmp_path / "g.png", n_samples=3)
    hist = plot_confidence_histogram(torch.rand(50) * 0.5 + 0.5, 2, tmp_path / "h.png")
    assert grid.read_bytes()[:8] == PNG_MAGIC and hist.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        plot_chart_samples(model, tmp_path / "x.png", n_samples=0)


@pytest.mark.skipif("infogan" not in MODELS, reason="InfoGAN family not registered")
def test_evaluate_semi_atlas_model_writes_figures_without_reconstruction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "ig"
    assert main(_train_argv(out, "infogan", 2, "--epochs", "1", "--n-train", "64")) == 0
    assert main(["evaluate", str(out / "checkpoint.pt"), "--n", "50", "--device", "cpu"]) == 0
    assert "no reconstruction error" in capsys.readouterr().out
    assert json.loads((out / "evaluation.json").read_text())["reconstruction_error"] is None
    assert (out / "chart_samples.png").read_bytes()[:8] == PNG_MAGIC


def test_user_errors_exit_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "foreign.pt"
    foreign.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(foreign)])
    assert exc.value.code == 2
    assert str(foreign) in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["train", "--model", "nope"])
    assert exc.value.code == 2
