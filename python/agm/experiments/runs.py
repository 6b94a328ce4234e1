"""Model runs of the experiments: train a configuration, or load/resume it from its checkpoint folder."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from agm.training import CHECKPOINT_NAME, TrainConfig, load_checkpoint, read_checkpoint, train

#: Config fields that may differ between a saved run and the requested one (they do not change the model).
_FREE_FIELDS = ("device", "epochs", "data_dir")


@dataclass(frozen=True)
class RunInfo:
    """How a model was obtained.

    Attributes:
        status: "trained" (from scratch), "resumed" (continued from a partial checkpoint) or "loaded" (complete).
        epochs: epochs completed. seconds: wall time spent training in this call (0 when loaded).
        history: per-epoch losses recorded in the checkpoint.
        checkpoint: the checkpoint file.
    """

    status: str
    epochs: int
    seconds: float
    history: list[dict[str, float]]
    checkpoint: Path


def comparable_config(config: TrainConfig) -> dict[str, Any]:
    """The config's fields that define the model (device, epochs and data folder left out), as a dict."""
    d: dict[str, Any] = json.loads(config.to_json())
    for key in _FREE_FIELDS:
        d.pop(key, None)
    return d


def train_or_load(
    config: TrainConfig,
    run_dir: str | os.PathLike[str],
    data: torch.Tensor,
    *,
    progress: bool | None = None,
) -> tuple[Any, RunInfo]:
    """Train ``config`` into ``run_dir``, or reuse the checkpoint already there.

    A complete checkpoint (``epoch >= config.epochs``) is loaded; a partial one (an interrupted run) is resumed
    to ``config.epochs``; none means training from scratch. The trainer writes the checkpoint after every epoch.

    Args:
        config: the run's configuration.
        run_dir: folder of ``checkpoint.pt``.
        data: (N, *S) float training data (passed to the trainer, so the data set is loaded only once).
        progress: the trainer's progress bars (None: when stderr is a terminal or a notebook; see ``train``).

    Returns:
        (model in eval mode on the config's device, an ``nn.Module`` with the atlas interface, and a
        :class:`RunInfo`).

    Raises:
        ValueError: the folder holds a checkpoint of another configuration (other model, data, preset, seed...).
    """
    path = Path(run_dir) / CHECKPOINT_NAME
    t0 = time.perf_counter()
    if path.is_file():
        saved = read_checkpoint(path)
        saved_config = TrainConfig.from_json(saved["config"])
        if comparable_config(saved_config) != comparable_config(config):
            diff = {
                k: (v, comparable_config(config).get(k))
                for k, v in comparable_config(saved_config).items()
                if comparable_config(config).get(k) != v
            }
            raise ValueError(
                f"{path} holds a run of another configuration (saved vs requested: {diff}); "
                "choose another output folder or delete it"
            )
        if int(saved["epoch"]) >= config.epochs:
            model, _, state = load_checkpoint(path, map_location=_device(config))
            return model, RunInfo("loaded", int(state["epoch"]), 0.0, list(state["history"]), path)
        result = train(config, run_dir, data=data, resume=True, progress=progress)
        status = "resumed"
    else:
        result = train(config, run_dir, data=data, progress=progress)
        status = "trained"
    return result.model, RunInfo(status, config.epochs, time.perf_counter() - t0, result.history, path)


def _device(config: TrainConfig) -> torch.device:
    from agm.training import resolve_device

    return resolve_device(config.device)


def autoencoder_parameters(model: nn.Module) -> int:
    """Trainable parameters of the encoders, psi and decoders (the paper's Table 1 count; discriminators excluded).

    Models without separate ``encoder``/``decoder`` modules count all their trainable parameters.
    """
    parts = [getattr(model, name, None) for name in ("encoder", "decoder")]
    modules = [p for p in parts if isinstance(p, nn.Module)] or [model]
    return sum(p.numel() for mod in modules for p in mod.parameters() if p.requires_grad)
