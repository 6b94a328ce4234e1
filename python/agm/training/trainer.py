"""The training loop: any registered model (see :mod:`agm.training.interface`), seeded, resumable, with progress."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from tqdm.auto import tqdm

from agm.models.registry import build_model
from agm.training.checkpoint import load_checkpoint, save_checkpoint
from agm.training.interface import TrainableModel
from agm.training.presets import TrainConfig

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class TrainResult:
    """Outcome of :func:`train`: the model (eval mode), its config, the checkpoint path and per-epoch history."""

    model: nn.Module
    config: TrainConfig
    checkpoint: Path | None
    history: list[dict[str, float]] = field(default_factory=list)


def resolve_device(device: str) -> torch.device:
    """ "auto" -> CUDA when available else CPU; "cpu"; "cuda" (ValueError when CUDA is unavailable)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' requested but CUDA is not available")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda'; got {device!r}")
    return torch.device(device)


def load_training_data(config: TrainConfig) -> torch.Tensor:
    """The training inputs x (N, *S) float32 of ``config.dataset`` through ``agm.data.load_dataset``."""
    from agm.data import load_dataset  # imported lazily: the data package is optional for model-only use

    ds = load_dataset(config.dataset, "train", data_dir=config.data_dir, n=config.n_train, seed=config.seed)
    return ds.x


def _set_learning_rates(optimizers: dict[str, torch.optim.Optimizer], config: TrainConfig, epoch: int) -> None:
    factor = config.lr_factor ** sum(epoch >= m for m in config.lr_milestones)
    for name, opt in optimizers.items():
        if name not in config.lr:
            raise ValueError(f"the model's optimizer {name!r} has no learning rate in config.lr {config.lr}")
        for group in opt.param_groups:
            group["lr"] = config.lr[name] * factor


def _batches(n: int, batch_size: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """Index batches of a seeded permutation; the incomplete last batch is dropped (batch norm needs B >= 2)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=gen)
    bs = min(batch_size, n)
    return [perm[i : i + bs] for i in range(0, n - bs + 1, bs)]


def train(
    config: TrainConfig,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    data: torch.Tensor | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train ``config.model`` on ``config.dataset`` for ``config.epochs`` epochs.

    Args:
        config: the run's configuration (see :func:`agm.training.make_config`).
        out_dir: folder for ``checkpoint.pt`` (written atomically after every epoch); None: no checkpoint.
        data: (N, *S) float tensor to train on instead of loading ``config.dataset`` (tests, notebooks).
        resume: continue from ``out_dir/checkpoint.pt`` (weights, optimizer and RNG states, epoch) with the saved
            config, of which ``config`` only changes epochs, device and (if set) data_dir; training then runs
            epochs [saved epoch, config.epochs).  Resuming gives the same weights on CPU as an uninterrupted run.
        progress: show a tqdm bar with the running losses.

    Returns:
        A :class:`TrainResult` with the trained model in eval mode.

    Raises:
        ValueError: bad config, missing checkpoint for ``resume``, data of a shape the model cannot take.
    """
    device = resolve_device(config.device)
    ckpt_path = None if out_dir is None else Path(out_dir) / CHECKPOINT_NAME
    history: list[dict[str, float]] = []
    if resume:
        if ckpt_path is None or not ckpt_path.is_file():
            raise ValueError(f"resume=True needs an existing checkpoint; none at {ckpt_path}")
        module, saved, state = load_checkpoint(ckpt_path, map_location=device)
        config = saved.replace(epochs=config.epochs, device=config.device, data_dir=config.data_dir or saved.data_dir)
    x = load_training_data(config) if data is None else data
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2 or x.shape[0] < 2:
        raise ValueError(
            f"training data must be a float tensor (N, *S) with N >= 2; got {getattr(x, 'shape', type(x).__name__)}"
        )
    x = x.to(torch.float32)
    if resume:
        model = cast(TrainableModel, module)
        optimizers = model.make_optimizers(config.lr, config.betas)
        for name, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        torch.set_rng_state(state["rng"]["torch"])
        if device.type == "cuda" and state["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        start, history = int(state["epoch"]), list(state["history"])
    else:
        torch.manual_seed(config.seed)
        module = build_model(config.model, config.n_charts, tuple(x.shape[1:]), **config.model_kwargs()).to(device)
        model = cast(TrainableModel, module)
        optimizers = model.make_optimizers(config.lr, config.betas)
        start = 0
    x_dev = x.to(device)
    for epoch in range(start, config.epochs):
        _set_learning_rates(optimizers, config, epoch)
        batches = _batches(x.shape[0], config.batch_size, config.seed, epoch)
        sums: dict[str, float] = {}
        t0 = time.perf_counter()
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress, leave=False)
        for idx in bar:
            losses = model.training_step(x_dev[idx.to(device)], optimizers)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
        bar.close()
        record: dict[str, Any] = {k: v / max(len(batches), 1) for k, v in sums.items()}
        record.update(epoch=epoch + 1, seconds=time.perf_counter() - t0)
        history.append(record)
        if progress:
            tqdm.write(f"epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4g}" for k, v in record.items() if k != "epoch"))
        if ckpt_path is not None:
            save_checkpoint(ckpt_path, module, config, optimizers=optimizers, epoch=epoch + 1, history=history)
    if ckpt_path is not None and start >= config.epochs and not ckpt_path.is_file():
        save_checkpoint(ckpt_path, module, config, optimizers=optimizers, epoch=start, history=history)
    module.eval()
    return TrainResult(model=module, config=config, checkpoint=ckpt_path, history=history)
