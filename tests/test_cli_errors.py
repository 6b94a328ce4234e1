"""``agm`` errors: one line on stderr, exit status 2, the flag and its range named; runs are never overwritten
silently; a relative --data-dir keeps working from another folder; a diverged checkpoint is refused."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from agm.cli import main
from agm.data import mnist, render_glyph, write_idx
from agm.training import load_checkpoint, read_checkpoint

TINY = ["--preset", "tiny", "--device", "cpu", "--quiet", "--threads", "1"]


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run agm, expect exit status 2 and return the one line it wrote on stderr."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.endswith("\n") and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--charts", "0"], r"agm train: error: argument --charts: expected an int >= 1; got 0"),
        (["train", "--epochs", "-1"], r"argument --epochs: expected an int >= 0; got -1"),
        (["train", "--batch-size", "1"], r"argument --batch-size: expected an int >= 2; got 1"),
        (["train", "--n-train", "x"], r"argument --n-train: expected an int >= 2; got 'x'"),
        (["train", "--threads", "0"], r"argument --threads: expected an int >= 1; got 0"),
        (["demo", "--charts", "0"], r"agm demo: error: argument --charts: expected an int >= 1; got 0"),
        (["evaluate", "x.pt", "--n", "0"], r"agm evaluate: error: argument --n: expected an int >= 1; got 0"),
        (["reproduce", "--seed", "-3"], r"agm reproduce: error: argument --seed: expected an int >= 0; got -3"),
        (["reproduce", "--refine-steps", "-1"], r"argument --refine-steps: expected an int >= 0; got -1"),
        (["reproduce", "--refine-points", "1"], r"argument --refine-points: expected an int >= 2; got 1"),
        (["train", "--preset", "huge"], r"argument --preset: invalid choice: 'huge'"),
        (["train", "--resume", "--overwrite"], r"argument --overwrite: not allowed with argument --resume"),
        (["bogus"], r"agm: error: argument COMMAND: invalid choice: 'bogus'"),
    ],
)
def test_usage_errors_are_one_line_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _fails(argv, capsys)
    assert re.search(message, err), err


def test_unknown_model_lists_the_registered_ones(capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["train", "--model", "nope", *TINY], capsys)
    assert "agm train: error: --model: unknown model 'nope'; registered: " in err and "awae" in err


def test_missing_and_foreign_checkpoints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["evaluate", str(tmp_path / "none.pt")], capsys)
    assert f"agm evaluate: error: checkpoint not found: {tmp_path / 'none.pt'}" in err
    (tmp_path / "foreign.pt").write_bytes(b"hello")
    assert "is not an agm checkpoint" in _fails(["evaluate", str(tmp_path / "foreign.pt")], capsys)


def test_an_existing_run_is_not_overwritten_without_asking(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["train", "--dataset", "circle", "--charts", "2", "--n-train", "64", "--epochs", "1", "--out", str(out)]
    assert main(argv + TINY) == 0
    first = (out / "checkpoint.pt").read_bytes()
    err = _fails(argv + TINY + ["--seed", "5"], capsys)
    assert f"--out {out} already holds a awae run on circle, epoch 1 of 1: pass --resume" in err
    assert (out / "checkpoint.pt").read_bytes() == first
    assert main(argv + TINY + ["--seed", "5", "--overwrite"]) == 0
    assert (out / "checkpoint.pt").read_bytes() != first
    assert load_checkpoint(out / "checkpoint.pt")[1].seed == 5
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", *TINY]) == 0
    assert read_checkpoint(out / "checkpoint.pt")["epoch"] == 2


def test_evaluate_refuses_a_diverged_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["train", "--dataset", "circle", "--charts", "2", "--n-train", "64", "--epochs", "1", "--out", str(out)]
    assert main(argv + TINY) == 0
    path = out / "checkpoint.pt"
    payload = read_checkpoint(path)
    for tensor in payload["model_state"].values():
        if tensor.is_floating_point():
            tensor.fill_(float("nan"))  # what a NaN-trained run wrote before the checks
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    path.write_bytes(b"agm-checkpoint 2\n" + f"sha256 {hashlib.sha256(body).hexdigest()} {len(body)}\n".encode() + body)
    capsys.readouterr()
    err = _fails(["evaluate", str(path), "--n", "20", "--device", "cpu"], capsys)
    assert f"agm evaluate: error: {path} holds non-finite values (a diverged run?): model_state[" in err
    assert "reconstruction error" not in capsys.readouterr().out


@pytest.fixture
def fake_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp/work/sets/mnist/: glyph images as MNIST IDX files, their checksums accepted; no other data visible."""
    root = tmp_path / "work" / "sets" / "mnist"
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 96), ("t10k", 40)):
        images = render_glyph(torch.from_numpy(rng.uniform(0, 2 * np.pi, n)))[:, 0].numpy()
        write_idx(root / f"{split}-images-idx3-ubyte.gz", (images * 255).round().astype(np.uint8))
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))
    for f in root.iterdir():
        monkeypatch.setitem(mnist.SHA256["mnist"], f.name, hashlib.sha256(f.read_bytes()).hexdigest())
    monkeypatch.delenv("AGM_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist, "urllib_download", _no_download)
    return root


def _no_download(url: str, dest: Path) -> None:
    raise OSError(f"no download in tests: {url}")


def test_a_relative_data_dir_works_from_another_folder(
    fake_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path / "work")
    argv = ["train", "--dataset", "mnist", "--charts", "2", "--n-train", "64", "--epochs", "1", "--out", "run"]
    assert main(argv + ["--data-dir", "sets", *TINY]) == 0
    assert load_checkpoint(tmp_path / "work" / "run" / "checkpoint.pt")[1].data_dir == str(fake_mnist.parent)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "work" / "run" / "checkpoint.pt"), "--n", "20", "--device", "cpu"]) == 0
    assert "reconstruction error (mean over 20 mnist test points" in capsys.readouterr().out


def test_a_multi_line_library_error_is_printed_on_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AGM_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist, "urllib_download", _no_download)
    argv = ["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "r"), *TINY]
    err = _fails(argv, capsys)  # DatasetNotFoundError lists files and folders on several lines
    assert err.startswith("agm train: error: ") and "train-images-idx3-ubyte.gz" in err and "; " in err
