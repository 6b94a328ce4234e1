"""Checkpoints: one file (``torch.save`` of a dict) holding weights, optimizer states, epoch, RNG states, history
and the whole :class:`~agm.training.presets.TrainConfig` as JSON; written atomically.

Layout (format "agm-checkpoint", version 1)::

    {"format": "agm-checkpoint", "version": 1, "config": <TrainConfig JSON>, "model_spec": {build_model kwargs},
     "model_state": state_dict, "optimizers": {name: state_dict}, "epoch": completed epochs,
     "rng": {"torch": ByteTensor, "cuda": [ByteTensor, ...]}, "history": [{loss: value, ...} per epoch]}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from agm._files import atomic_write
from agm.models.registry import build_model
from agm.training.interface import TrainableModel
from agm.training.presets import TrainConfig

FORMAT = "agm-checkpoint"
VERSION = 1


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    config: TrainConfig,
    *,
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    epoch: int = 0,
    history: list[dict[str, float]] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file in the same folder, fsync, ``os.replace``).

    Args:
        path: destination file; its folder is created if needed.
        model: a registered model (has ``spec()``).  config: the run's config.
        optimizers: optimizer states to save (for resuming).  epoch: number of completed epochs.
        history: per-epoch logged losses.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    }
    with atomic_write(path, "wb") as fh:
        torch.save(payload, fh)
    return path


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate the raw checkpoint dict (tensors on CPU).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated/corrupted, not a torch file, or not an agm checkpoint (names the path).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for damaged files
        raise ValueError(
            f"{path} is not a readable agm checkpoint (corrupted, truncated or foreign file): {err}"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an agm checkpoint (missing format tag {FORMAT!r})")
    if payload.get("version") != VERSION:
        raise ValueError(f"{path}: unsupported agm checkpoint version {payload.get('version')!r} (expected {VERSION})")
    missing = {"config", "model_spec", "model_state", "optimizers", "epoch", "rng", "history"} - set(payload)
    if missing:
        raise ValueError(f"{path}: agm checkpoint lacks the fields {sorted(missing)}")
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
        (state dicts by name), "rng" and "history".

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
    return model, config, state
