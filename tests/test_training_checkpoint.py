"""Checkpoints: round trip to an identical model, atomic write, checksum and finiteness checks, clear errors."""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from agm.models import build_model
from agm.training import TrainConfig, load_checkpoint, make_config, read_checkpoint, save_checkpoint


def _write_raw(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` in the documented version-2 layout (header, sha256 line, torch payload), unchecked."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    path.write_bytes(b"agm-checkpoint 2\n" + f"sha256 {hashlib.sha256(body).hexdigest()} {len(body)}\n".encode() + body)


def _saved(tmp_path: Path, shape: tuple[int, ...] = (1, 28, 28)) -> tuple[Any, TrainConfig, Path]:
    torch.manual_seed(0)
    model: Any = build_model("awae", 2, shape, hidden=2)
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
    module, cfg2, state = load_checkpoint(path)
    loaded: Any = module
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
    with pytest.raises(ValueError, match=f"{path} is a damaged agm checkpoint: .* payload bytes.*truncated"):
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
    with pytest.raises(ValueError, match=f"{text} is not an agm checkpoint"):
        load_checkpoint(text)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, other)
    with pytest.raises(ValueError, match=f"{other} is not an agm checkpoint"):
        load_checkpoint(other)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_not_matching_spec_are_rejected(tmp_path: Path) -> None:
    _, _, path = _saved(tmp_path)
    payload = read_checkpoint(path)
    payload["model_spec"]["hidden"] = 3
    _write_raw(path, payload)
    with pytest.raises(ValueError, match="weights do not match the recorded model spec"):
        load_checkpoint(path)


def test_file_layout_is_the_documented_one(tmp_path: Path) -> None:
    _, _, path = _saved(tmp_path)
    data = path.read_bytes()
    magic, digest_line, body = data.split(b"\n", 2)
    assert magic == b"agm-checkpoint 2"
    _, digest, length = digest_line.split(b" ")
    assert digest.decode() == hashlib.sha256(body).hexdigest() and int(length) == len(body)
    _write_raw(path, read_checkpoint(path))  # the oracle writer gives a file the reader accepts
    assert read_checkpoint(path)["epoch"] == 5


@pytest.mark.parametrize("kind", ["bit", "byte"])
def test_every_flipped_bit_or_byte_is_refused(tmp_path: Path, kind: str) -> None:
    """Every header byte and a seeded sample of 250 payload positions: a changed file never loads."""
    _, _, path = _saved(tmp_path, (3,))  # a small file: fast to rewrite 340 times
    good = path.read_bytes()
    header = good.index(b"\n", good.index(b"\n") + 1) + 1
    rng = random.Random(f"flip-{kind}")
    positions = list(range(header)) + rng.sample(range(header, len(good)), 250)
    for pos in positions:
        data = bytearray(good)
        data[pos] ^= 1 << rng.randrange(8) if kind == "bit" else rng.randrange(1, 256)
        path.write_bytes(bytes(data))
        with pytest.raises(ValueError, match=f"{path} (is a damaged agm checkpoint|is not an agm checkpoint)"):
            read_checkpoint(path)
    path.write_bytes(good)
    assert read_checkpoint(path)["epoch"] == 5


def test_a_changed_payload_with_a_stale_checksum_is_refused(tmp_path: Path) -> None:
    _, _, path = _saved(tmp_path)
    magic, digest_line, body = path.read_bytes().split(b"\n", 2)
    payload = read_checkpoint(path)
    payload["epoch"] = 6
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    new_body = buffer.getvalue()
    stale = digest_line.rsplit(b" ", 1)[0] + f" {len(new_body)}".encode()  # right length, old digest
    path.write_bytes(magic + b"\n" + stale + b"\n" + new_body)
    assert new_body != body
    with pytest.raises(ValueError, match=f"{path} is a damaged agm checkpoint: checksum mismatch"):
        load_checkpoint(path)


def test_non_finite_weights_are_never_written(tmp_path: Path) -> None:
    model, cfg, path = _saved(tmp_path)
    good = path.read_bytes()
    name = next(iter(model.state_dict()))
    with torch.no_grad():
        model.state_dict()[name].view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match=rf"refusing to write the checkpoint {path}: model_state\['{name}'\] \(1 of"):
        save_checkpoint(path, model, cfg, epoch=6)
    assert path.read_bytes() == good  # the good checkpoint is kept
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.pt"]


@pytest.mark.parametrize("where", ["model_state", "optimizers"])
def test_non_finite_tensors_are_refused_on_loading(tmp_path: Path, where: str) -> None:
    _, _, path = _saved(tmp_path)
    payload = read_checkpoint(path)
    if where == "model_state":
        key = next(iter(payload["model_state"]))
        payload["model_state"][key].view(-1)[-1] = float("inf")
        expected = rf"model_state\['{key}'\] \(1 of"
    else:
        state = payload["optimizers"]["autoencoder"]["state"][0]
        state["exp_avg"].view(-1)[0] = float("nan")
        expected = r"optimizers\['autoencoder'\]\['state'\]\[0\]\['exp_avg'\] \(1 of"
    _write_raw(path, payload)
    with pytest.raises(ValueError, match=f"{path} holds non-finite values .*{expected}"):
        load_checkpoint(path)


def test_version_1_files_still_load(tmp_path: Path) -> None:
    model, _, path = _saved(tmp_path)
    payload = read_checkpoint(path)
    payload["version"] = 1
    torch.save(payload, path)  # agm 0.1.0 wrote the bare torch zip
    module, _, state = load_checkpoint(path)
    loaded: Any = module
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded.encode(x), model.encode(x)) and state["epoch"] == 5
    payload["model_state"][next(iter(payload["model_state"]))].view(-1)[0] = float("nan")
    torch.save(payload, path)
    with pytest.raises(ValueError, match="holds non-finite values"):
        load_checkpoint(path)


def test_missing_checkpoint_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"checkpoint not found: {tmp_path / 'none.pt'}"):
        read_checkpoint(tmp_path / "none.pt")


def test_the_world_size_is_recorded_and_files_without_it_read_as_one(tmp_path: Path) -> None:
    model, cfg, path = _saved(tmp_path)
    assert load_checkpoint(path)[2]["world_size"] == 1  # the default: a one-process run
    save_checkpoint(path, model, cfg, epoch=5, world_size=4)
    assert read_checkpoint(path)["world_size"] == 4 and load_checkpoint(path)[2]["world_size"] == 4
    payload = read_checkpoint(path)
    del payload["world_size"]  # a version-2 file written before data-parallel training
    _write_raw(path, payload)
    assert load_checkpoint(path)[2]["world_size"] == 1
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match=f"world_size must be an int >= 1; got {bad!r}"):
            save_checkpoint(path, model, cfg, world_size=bad)  # type: ignore[arg-type]
        _write_raw(path, {**payload, "world_size": bad})
        with pytest.raises(ValueError, match=rf"{path}: world_size must be an int >= 1; got {bad!r}"):
            read_checkpoint(path)
