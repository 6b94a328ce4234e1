"""Checkpoints: one file holding weights, optimizer states, epoch, RNG states, history and the whole
:class:`~agm.training.presets.TrainConfig` as JSON; written atomically, checksummed, refused when damaged.

File layout (format "agm-checkpoint", version 2)::

    b"agm-checkpoint 2\\n"
    b"sha256 <64 lowercase hex digits of the payload> <payload length in bytes>\\n"
    <payload: torch.save of the dict below>

    {"format": "agm-checkpoint", "version": 2, "config": <TrainConfig JSON>, "model_spec": {build_model kwargs},
     "model_state": state_dict, "optimizers": {name: state_dict}, "epoch": completed epochs,
     "rng": {"torch": ByteTensor, "cuda": [ByteTensor, ...]}, "history": [{loss: value, ...} per epoch],
     "world_size": processes the run was trained with (optional: absent in files written before it, read as 1)}

In a data-parallel run only rank 0 writes, with the RNG state of rank 0 (see :mod:`agm.training.data_parallel`).

Every byte of the file is covered: the header lines are parsed exactly and the payload by its SHA-256, so any damage
is refused with a ValueError naming the file. Every floating tensor must be finite, on writing and on reading.
Version 1 files (the bare ``torch.save`` zip of agm 0.1.0, no checksum) are still read, with the finiteness check.
Read the file with :func:`read_checkpoint` (``torch.load`` alone does not understand the header).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from agm._files import atomic_write
from agm.models.registry import build_model
from agm.training.interface import TrainableModel
from agm.training.presets import TrainConfig

#: The file name of a run's checkpoint inside its folder (``agm train --out FOLDER``).
CHECKPOINT_NAME = "checkpoint.pt"

FORMAT = "agm-checkpoint"
VERSION = 2
_MAGIC = f"{FORMAT} {VERSION}\n".encode()
_DIGEST_LINE = re.compile(rb"sha256 ([0-9a-f]{64}) ([1-9][0-9]{0,15})\n")
_ZIP_MAGIC = b"PK\x03\x04"  # version 1: a bare torch.save zip
_FIELDS = ("config", "model_spec", "model_state", "optimizers", "epoch", "rng", "history")


def _tensors(value: Any, where: str) -> Iterator[tuple[str, torch.Tensor]]:
    """(location, tensor) for every tensor nested in dicts / lists / tuples of ``value``."""
    if isinstance(value, torch.Tensor):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _tensors(item, f"{where}[{i}]")


def non_finite_tensor(payload: dict[str, Any]) -> str | None:
    """Where the first floating tensor with a NaN or inf value of a checkpoint dict is, or None when all are finite.

    Args:
        payload: a checkpoint dict (any nesting of dicts, lists and tensors on any device).

    Returns:
        e.g. ``"model_state['decoder.0.weight'] (3 of 64 values not finite)"``, or None.
    """
    for field, value in payload.items():
        for where, tensor in _tensors(value, str(field)):
            if tensor.is_floating_point() or tensor.is_complex():
                bad = int((~torch.isfinite(tensor)).sum())
                if bad:
                    return f"{where} ({bad} of {tensor.numel()} values not finite)"
    return None


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    config: TrainConfig,
    *,
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    epoch: int = 0,
    history: list[dict[str, float]] | None = None,
    world_size: int = 1,
) -> Path:
    """Write a checkpoint atomically (temp file in the same folder, fsync, ``os.replace``), with its SHA-256.

    Args:
        path: destination file; its folder is created if needed.
        model: a registered model (has ``spec()``).  config: the run's config.
        optimizers: optimizer states to save (for resuming).  epoch: number of completed epochs.
        history: per-epoch logged losses.  world_size: number of processes the run trains with (>= 1).

    Returns:
        The path written.

    Raises:
        ValueError: a weight or optimizer state holds NaN or inf, or world_size < 1 (nothing is written, an existing
            file is kept).
    """
    path = Path(path)
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be an int >= 1; got {world_size!r}")
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_json(),
        "model_spec": cast(TrainableModel, model).spec(),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizers": {name: opt.state_dict() for name, opt in (optimizers or {}).items()},
        "epoch": int(epoch),
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        "history": list(history or []),
        "world_size": world_size,
    }
    bad = non_finite_tensor(payload)
    if bad is not None:
        raise ValueError(f"refusing to write the checkpoint {path}: {bad}")
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getvalue()
    header = _MAGIC + f"sha256 {hashlib.sha256(body).hexdigest()} {len(body)}\n".encode()
    with atomic_write(path, "wb") as fh:
        fh.write(header)
        fh.write(body)
    return path


def _payload_bytes(path: Path, data: bytes) -> bytes:
    """The torch payload of a checkpoint file's bytes, after the header and checksum checks."""
    if data.startswith(_ZIP_MAGIC):
        return data  # version 1: no header, no checksum
    if not data.startswith(_MAGIC):
        raise ValueError(f"{path} is not an agm checkpoint (it does not start with {_MAGIC!r})")
    end = data.find(b"\n", len(_MAGIC)) + 1
    match = _DIGEST_LINE.fullmatch(data[len(_MAGIC) : end]) if end > 0 else None
    if match is None:
        raise ValueError(f"{path} is a damaged agm checkpoint: its checksum line is unreadable")
    body = data[end:]
    if len(body) != int(match.group(2)):
        raise ValueError(
            f"{path} is a damaged agm checkpoint: {len(body)} payload bytes, the header says {int(match.group(2))} "
            "(truncated or corrupted)"
        )
    digest = hashlib.sha256(body).hexdigest()
    if digest != match.group(1).decode():
        raise ValueError(
            f"{path} is a damaged agm checkpoint: checksum mismatch (sha256 of the payload {digest[:16]}..., "
            f"recorded {match.group(1).decode()[:16]}...)"
        )
    return body


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate the raw checkpoint dict (tensors on CPU).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated, corrupted (checksum mismatch), not an agm checkpoint, of an unknown
            version, or holds a non-finite tensor (names the path).
    """
    path = Path(path)
    if path.is_dir():
        hint = path / CHECKPOINT_NAME
        found = "did you mean" if hint.is_file() else "a run folder holds its checkpoint as"
        raise FileNotFoundError(f"checkpoint not found: {path} is a folder; {found} {hint}?")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    body = _payload_bytes(path, path.read_bytes())
    try:
        payload = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for damaged files
        raise ValueError(
            f"{path} is not a readable agm checkpoint (corrupted, truncated or foreign file): {err}"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an agm checkpoint (missing format tag {FORMAT!r})")
    if payload.get("version") not in (1, VERSION):
        raise ValueError(f"{path}: unsupported agm checkpoint version {payload.get('version')!r} (expected {VERSION})")
    missing = set(_FIELDS) - set(payload)
    if missing:
        raise ValueError(f"{path}: agm checkpoint lacks the fields {sorted(missing)}")
    size = payload.get("world_size", 1)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"{path}: world_size must be an int >= 1; got {size!r}")
    bad = non_finite_tensor(payload)
    if bad is not None:
        raise ValueError(f"{path} holds non-finite values (a diverged run?): {bad}")
    return payload


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, TrainConfig, dict[str, Any]]:
    """Load a checkpoint into a freshly built, identical model.

    Args:
        path: a file written by :func:`save_checkpoint`.
        map_location: device for the model.

    Returns:
        (model in eval mode on ``map_location``, config, state) where state holds "epoch", "optimizers"
        (state dicts by name), "rng", "history" and "world_size" (processes of the run that wrote it; 1 for files
        without the field).

    Raises:
        FileNotFoundError / ValueError: as :func:`read_checkpoint`; ValueError also when the weights do not fit the
        recorded architecture.
    """
    payload = read_checkpoint(path)
    config = TrainConfig.from_json(payload["config"])
    spec = dict(payload["model_spec"])
    try:
        model = build_model(spec.pop("name"), spec.pop("n_charts"), spec.pop("data_shape"), **spec)
        model.load_state_dict(payload["model_state"])
    except (KeyError, RuntimeError, TypeError) as err:
        raise ValueError(
            f"{path}: weights do not match the recorded model spec {payload['model_spec']}: {err}"
        ) from err
    model.to(map_location).eval()
    state = {k: payload[k] for k in ("epoch", "optimizers", "rng", "history")}
    state["world_size"] = payload.get("world_size", 1)
    return model, config, state
