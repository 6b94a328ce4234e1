"""Checkpoints: round trip to an identical model, atomic write, clear errors for damaged or foreign files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from agm.models import build_model
from agm.training import TrainConfig, load_checkpoint, make_config, read_checkpoint, save_checkpoint


def _saved(tmp_path: Path, shape: tuple[int, ...] = (1, 28, 28)) -> tuple[torch.nn.Module, TrainConfig, Path]:
    torch.manual_seed(0)
    model = build_model("awae", 2, shape, hidden=2)
    opts = model.make_optimizers({"autoencoder": 1e-3, "discriminator": 1e-3}, (0.5, 0.999))
    model.training_step(torch.rand(4, *shape), opts)  # non-trivial weights, BN statistics, optimizer states
    model.eval()
    cfg = make_config("tiny", "awae", 2, "glyph-loop", hidden=2, seed=7)
    path = save_checkpoint(
        tmp_path / "ck" / "checkpoint.pt", model, cfg, optimizers=opts, epoch=5, history=[{"rec": 1.5}]
    )
    return model, cfg, path


@pytest.mark.parametrize("shape", [(1, 28, 28), (3,)])
def test_round_trip_identical_outputs(tmp_path: Path, shape: tuple[int, ...]) -> None:
    model, cfg, path = _saved(tmp_path, shape)
    loaded, cfg2, state = load_checkpoint(path)
    assert cfg2 == cfg and state["epoch"] == 5 and state["history"] == [{"rec": 1.5}]
    assert set(state["optimizers"]) == {"autoencoder", "discriminator"}
    x = torch.rand(5, *shape)
    y = torch.tensor([0, 1, 1, 0, 1])
    with torch.no_grad():
        z = model.encode(x)
        assert torch.equal(loaded.encode(x), z)
        assert torch.equal(loaded.partition(x), model.partition(x))
        assert torch.equal(loaded.decode(z[:, 0], y), model.decode(z[:, 0], y))
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.pt"]  # no temp file left behind


def test_config_json_round_trip() -> None:
    cfg = make_config("paper", "wae", 1, "fashion-mnist", seed=3, data_dir="/data")
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    assert json.loads(cfg.to_json())["lr_milestones"] == [15, 30, 50, 70]
    with pytest.raises(ValueError, match="not a TrainConfig JSON"):
        TrainConfig.from_json('{"epochs": 1, "bogus": 2}')


def test_truncated_checkpoint_names_the_path(tmp_path: Path) -> None:
    _, _, path = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"{path}.*not a readable agm checkpoint"):
        load_checkpoint(path)


def test_corrupted_bytes_names_the_path(tmp_path: Path) -> None:
    _, _, path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    data[:64] = b"\x00" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=str(path)):
        read_checkpoint(path)


def test_foreign_files_are_rejected(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match=f"{text}.*not a readable agm checkpoint"):
        load_checkpoint(text)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, other)
    with pytest.raises(ValueError, match=f"{other} is not an agm checkpoint"):
        load_checkpoint(other)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_not_matching_spec_are_rejected(tmp_path: Path) -> None:
    _, _, path = _saved(tmp_path)
    payload = torch.load(path, weights_only=True)
    payload["model_spec"]["hidden"] = 3
    torch.save(payload, path)
    with pytest.raises(ValueError, match="weights do not match the recorded model spec"):
        load_checkpoint(path)
