"""The training loop: any registered model (see :mod:`agm.training.interface`), seeded, resumable, with progress.

Batches come from a ``torch.utils.data.DataLoader`` whose ``DistributedSampler`` draws a permutation from a
``torch.Generator`` seeded with ``(seed, epoch)``; the learning rates follow ``torch.optim.lr_scheduler.MultiStepLR``.
A run stops with a FloatingPointError at the first non-finite loss or weight, before its checkpoint could be
overwritten.

Inside a process group of W > 1 processes (``torchrun``, see :mod:`agm.distributed`) the run is data-parallel
(:mod:`agm.training.data_parallel`): each rank takes every W-th index of the epoch's permutation in batches of
``batch_size / W`` rows, DistributedDataParallel averages every optimizer's gradients, batch norm is per rank (running
statistics averaged at each epoch end), and only rank 0 prints and writes the checkpoint.  With one process (no
group, or a group of one) the run is the one-process run, bit for bit.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.optim.lr_scheduler import MultiStepLR
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from agm import distributed
from agm._progress import show
from agm.models.registry import build_model
from agm.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from agm.training.data_parallel import (
    GradientSync,
    average_buffers,
    check_replicas_agree,
    mean_over_ranks,
    rank_batch_size,
    rank_seed,
)
from agm.training.interface import TrainableModel
from agm.training.presets import TrainConfig


@dataclass
class TrainResult:
    """Outcome of :func:`train`: the model (eval mode), its config, the checkpoint path and per-epoch history."""

    model: nn.Module
    config: TrainConfig
    checkpoint: Path | None
    history: list[dict[str, float]] = field(default_factory=list)

    def __repr__(self) -> str:
        last = self.history[-1] if self.history else {}
        losses = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k not in ("epoch", "seconds"))
        return (
            f"TrainResult(model={type(self.model).__name__}, {self.config.model} m={self.config.n_charts} on "
            f"{self.config.dataset}, epochs={len(self.history)}, last epoch: {losses or '-'}, "
            f"checkpoint={str(self.checkpoint) if self.checkpoint else None})"
        )


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`train` (a KeyboardInterrupt that says how far the run got).

    Attributes:
        epoch: the epoch in progress (1-based).  epochs: the run's total.
        checkpoint: the checkpoint file of this run, or None when none has been written by it.
        checkpoint_epoch: completed epochs stored in ``checkpoint`` (0 when None).
    """

    def __init__(self, epoch: int, epochs: int, checkpoint: Path | None, checkpoint_epoch: int) -> None:
        super().__init__(f"training interrupted in epoch {epoch}/{epochs}")
        self.epoch, self.epochs = epoch, epochs
        self.checkpoint, self.checkpoint_epoch = checkpoint, checkpoint_epoch


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


def check_training_data(x: Any, source: str = "data") -> torch.Tensor:
    """Validate training data and return it as float32.

    Args:
        x: (N, *S) floating tensor with N >= 2, every value finite (any device).
        source: what ``x`` is, for the messages (the argument name or the data set).

    Raises:
        ValueError: not a floating tensor of that shape, or a NaN/inf value (names its row).
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2 or x.shape[0] < 2:
        raise ValueError(
            f"{source}: training data must be a float tensor (N, *S) with N >= 2; "
            f"got {getattr(x, 'shape', type(x).__name__)}"
        )
    finite = torch.isfinite(x).reshape(x.shape[0], -1).all(dim=1)
    if not bool(finite.all()):
        row = int((~finite).nonzero()[0, 0])
        value = x[row].reshape(-1)[~torch.isfinite(x[row].reshape(-1))][0].item()
        raise ValueError(f"{source}: training data contains NaN or inf (first at row {row}: {value})")
    return x.to(torch.float32)


class _Rows(Dataset[torch.Tensor]):
    """The rows of a tensor as a map-style data set; a batch of indices is gathered in one indexing call."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.x[index]

    def __getitems__(self, indices: list[int]) -> torch.Tensor:
        return self.x[torch.tensor(indices, device=self.x.device)]


def _whole_batch(batch: Any) -> Any:
    """collate_fn of :func:`batch_loader`: ``_Rows.__getitems__`` already returns the stacked batch."""
    return batch


def batch_loader(
    x: torch.Tensor, batch_size: int, seed: int, *, rank: int = 0, world_size: int = 1
) -> tuple[DataLoader[torch.Tensor], DistributedSampler[torch.Tensor]]:
    """A DataLoader over the rows of ``x`` in seeded random batches; call ``sampler.set_epoch(epoch)`` before each
    epoch.

    Each epoch's order is ``torch.randperm(N, generator)`` with the generator seeded by :func:`epoch_seed`; rank r of
    W takes its entries r, r + W, r + 2W, ... (the first ``W * (N // W)`` of them), cut into batches of
    ``min(batch_size, N // W)`` rows; the incomplete last batch is dropped (batch norm needs B >= 2).  With W = 1
    this is the permutation itself, so batch k of the W ranks together holds the rows of batch k of one process
    with ``W * batch_size`` rows.

    Args:
        x: (N, *S) tensor on the training device, N >= W.  batch_size: B >= 1 rows per rank.  seed: the run's seed.
        rank: this process's rank, 0 <= rank < world_size.  world_size: W >= 1 processes.

    Returns:
        (loader yielding (B, *S) tensors on the device of ``x``, its DistributedSampler).
    """
    n = int(x.shape[0])
    if not 0 <= rank < world_size <= n:
        raise ValueError(f"rank must be in [0, world_size) and world_size in [1, N = {n}]; got {rank}, {world_size}")
    sampler: DistributedSampler[torch.Tensor] = DistributedSampler(
        _Rows(x), num_replicas=world_size, rank=rank, shuffle=True, seed=epoch_seed(seed, 0), drop_last=True
    )
    # The loader draws a worker base seed from its own generator when an epoch starts; a separate generator keeps
    # that draw out of the global RNG that the models' training steps use.
    loader = DataLoader(
        _Rows(x),
        batch_size=min(batch_size, n // world_size),
        sampler=sampler,
        drop_last=True,
        collate_fn=_whole_batch,
        generator=torch.Generator().manual_seed(seed),
    )
    return loader, sampler


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the shuffling generator in ``epoch`` (0-based) of a run with ``seed`` (``DistributedSampler``'s
    ``seed + epoch`` with seed ``epoch_seed(seed, 0)``)."""
    return seed * 1_000_003 + epoch


def _base_learning_rates(optimizers: dict[str, torch.optim.Optimizer], config: TrainConfig) -> dict[str, float]:
    missing = [name for name in optimizers if name not in config.lr]
    if missing:
        raise ValueError(f"the model's optimizer {missing[0]!r} has no learning rate in config.lr {config.lr}")
    return {name: config.lr[name] for name in optimizers}


def make_schedulers(
    optimizers: dict[str, torch.optim.Optimizer], config: TrainConfig, start: int = 0
) -> dict[str, MultiStepLR]:
    """MultiStepLR schedulers (milestones ``config.lr_milestones``, gamma ``config.lr_factor``) positioned at
    epoch ``start``: the learning rates are set to the ones an uninterrupted run has in that epoch (bit for bit).

    In epoch e every group of optimizer ``name`` has ``lr = config.lr[name] * lr_factor ** #{milestones <= e}``;
    call ``step()`` on every scheduler after each epoch.

    Raises:
        ValueError: an optimizer name has no learning rate in ``config.lr``.
    """
    base = _base_learning_rates(optimizers, config)
    schedulers = {}
    for name, opt in optimizers.items():
        lr = base[name]
        for milestone in sorted(set(config.lr_milestones)):
            if milestone < start:  # the multiplications the scheduler made in epochs 0 .. start-1, in its order
                lr = lr * config.lr_factor ** config.lr_milestones.count(milestone)
        for group in opt.param_groups:
            group["lr"], group["initial_lr"] = lr, base[name]
        schedulers[name] = MultiStepLR(
            opt, milestones=list(config.lr_milestones), gamma=config.lr_factor, last_epoch=start - 1
        )
    return schedulers


def _step_schedulers(schedulers: dict[str, MultiStepLR]) -> None:
    """Step every scheduler at the end of an epoch.

    torch warns when a scheduler steps before its optimizer ever did (a family may leave an optimizer idle in the
    first epoch); the schedule is still right here, as every epoch ends with exactly one scheduler step.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"Detected call of `lr_scheduler.step\(\)` before", category=UserWarning
        )
        for scheduler in schedulers.values():
            scheduler.step()


def _first_non_finite(values: dict[str, float]) -> str | None:
    return next((k for k, v in values.items() if not math.isfinite(v)), None)


def _non_finite_parameter(module: nn.Module) -> str | None:
    return next((n for n, p in module.state_dict().items() if p.is_floating_point() and not p.isfinite().all()), None)


@dataclass
class _Run:
    """State of one call of :func:`train` that the error messages need."""

    config: TrainConfig
    checkpoint: Path | None
    saved_epoch: int = 0

    def last_checkpoint(self) -> str:
        """Where the last checkpoint of the run is, in words (for the Ctrl-C message)."""
        if self.checkpoint is None or self.saved_epoch == 0:
            return "no checkpoint of this run was written"
        return f"the last checkpoint is {self.checkpoint} (epoch {self.saved_epoch})"


def _train_epoch(
    model: TrainableModel,
    optimizers: dict[str, torch.optim.Optimizer],
    batches: Sequence[torch.Tensor] | DataLoader[torch.Tensor],
    epoch: int,
    run: _Run,
    progress: bool,
) -> dict[str, float]:
    """One epoch of training steps; returns the mean of each logged loss. Raises FloatingPointError on NaN/inf."""
    sums: dict[str, float] = {}
    n_steps = len(batches)
    bar = tqdm(batches, desc=f"epoch {epoch + 1}/{run.config.epochs}", disable=not progress, leave=False)
    for step, batch in enumerate(bar):
        losses = model.training_step(batch, optimizers)
        bad = _first_non_finite(losses)
        if bad is not None:
            bar.close()
            raise FloatingPointError(
                f"training diverged: loss {bad!r} = {losses[bad]} in epoch {epoch + 1}/{run.config.epochs}, step "
                f"{step + 1}/{n_steps}; {run.last_checkpoint()}"
            )
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v
        bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
    bar.close()
    return {k: v / max(n_steps, 1) for k, v in sums.items()}


def _resolved(config: TrainConfig) -> TrainConfig:
    """``config`` with an absolute ``data_dir`` (a relative one would point elsewhere from another folder)."""
    if config.data_dir is None:
        return config
    return config.replace(data_dir=str(Path(config.data_dir).expanduser().resolve()))


@dataclass
class _Ranks:
    """This process's place in the run: its rank, the number of processes and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Whether this process prints and writes the checkpoint (rank 0)."""
        return self.rank == 0


def _this_process(config: TrainConfig) -> _Ranks:
    """Rank, world size (1 without a process group) and device (``cuda:LOCAL_RANK`` on CUDA in a group)."""
    return _Ranks(distributed.rank(), distributed.world_size(), distributed.rank_device(resolve_device(config.device)))


def _start_epoch(sampler: DistributedSampler[torch.Tensor], config: TrainConfig, epoch: int, ranks: _Ranks) -> None:
    """Position the batch order at ``epoch``; ranks >= 1 also reseed their global RNG (:func:`rank_seed`)."""
    sampler.set_epoch(epoch)
    if ranks.rank > 0:
        torch.manual_seed(rank_seed(config.seed, epoch, ranks.rank))


def _end_epoch(module: nn.Module, record: dict[str, float], ranks: _Ranks) -> dict[str, float]:
    """Average the batch-norm running statistics and the epoch's mean losses over the ranks (no-op for one)."""
    if ranks.world_size == 1:
        return record
    average_buffers(module)
    check_replicas_agree(module, ranks.device)
    return mean_over_ranks(record, ranks.device)


def _restore(
    model: TrainableModel, config: TrainConfig, state: dict[str, Any], device: torch.device
) -> dict[str, torch.optim.Optimizer]:
    """The optimizers of a resumed run with their saved states; the global RNG set to the saved one."""
    optimizers = model.make_optimizers(config.lr, config.betas)
    for name, opt in optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    torch.set_rng_state(state["rng"]["torch"])
    if device.type == "cuda" and state["rng"]["cuda"]:
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return optimizers


def _check_data_shape(model: TrainableModel, x: torch.Tensor, ckpt_path: Path | None) -> None:
    expected = tuple(model.spec()["data_shape"])
    if tuple(x.shape[1:]) != expected:
        raise ValueError(f"data: points of shape {tuple(x.shape[1:])}, but the model in {ckpt_path} takes {expected}")


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back during the block, in the main thread: a checkpoint written and the record of it then
    never disagree in the interrupt message. A Ctrl-C that came meanwhile is handled right after the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held and previous is not signal.SIG_IGN:
        if callable(previous):
            previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt
        else:
            raise KeyboardInterrupt


def _save(
    path: Path | None,
    module: nn.Module,
    config: TrainConfig,
    optimizers: dict[str, torch.optim.Optimizer],
    epoch: int,
    history: list[dict[str, float]],
    ranks: _Ranks,
) -> None:
    """Write the run's checkpoint after ``epoch`` completed epochs, recording the world size."""
    if path is not None:
        save_checkpoint(
            path, module, config, optimizers=optimizers, epoch=epoch, history=history, world_size=ranks.world_size
        )


def train(
    config: TrainConfig,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    data: torch.Tensor | None = None,
    resume: bool = False,
    progress: bool | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``config.dataset`` for ``config.epochs`` epochs, on every process of the current
    torch.distributed group (data-parallel; one process without a group).

    Args:
        config: the run's configuration (see :func:`agm.training.make_config`); a relative ``data_dir`` is stored
            resolved against the current folder.  ``batch_size`` is the global batch: each of W processes takes
            ``batch_size / W`` rows a step, and the learning rates are the config's for that global batch.
        out_dir: folder for ``checkpoint.pt`` (written atomically by rank 0 after every epoch, with the world size);
            None: no checkpoint.  Every rank reads it on ``resume`` (a folder every process sees).
        data: (N, *S) float tensor to train on instead of loading ``config.dataset`` (tests, notebooks); the same
            tensor on every rank.
        resume: continue from ``out_dir/checkpoint.pt`` (weights, optimizer and RNG states, epoch) with the saved
            config, of which ``config`` only changes epochs, device and (if set) data_dir; training then runs
            epochs [saved epoch, config.epochs), on any number of processes.  Resuming on the same number of
            processes gives the same weights on CPU as an uninterrupted run.
        progress: a tqdm bar with the running losses (rank 0 only); None (default): when stderr is a terminal or
            a notebook (training is long work, :mod:`agm._progress`); True/False force it.

    Returns:
        A :class:`TrainResult` with the trained model in eval mode (the same weights on every rank).

    Raises:
        ValueError: bad config, missing checkpoint for ``resume``, training data that is not a float tensor
            (N >= 2, *S) or holds NaN/inf (the message names the row), data of a shape the model cannot take, a
            batch size that is not a multiple of the world size (or under 2 rows a rank).
        FloatingPointError: a loss or a weight became NaN/inf (names the epoch and step; the checkpoint of the last
            good epoch is kept).
        TrainingInterrupted: Ctrl-C (a KeyboardInterrupt carrying the epoch and the last checkpoint).
    """
    ranks = _this_process(config)
    device = ranks.device
    per_rank_batch = rank_batch_size(config.batch_size, ranks.world_size)
    ckpt_path = None if out_dir is None else Path(out_dir) / CHECKPOINT_NAME
    config = _resolved(config)
    progress = show(progress, math.inf) and ranks.main
    history: list[dict[str, float]] = []
    if resume:
        if ckpt_path is None or not ckpt_path.is_file():
            raise ValueError(f"resume=True needs an existing checkpoint; none at {ckpt_path}")
        module, saved, state = load_checkpoint(ckpt_path, map_location=device)
        config = saved.replace(epochs=config.epochs, device=config.device, data_dir=config.data_dir or saved.data_dir)
        per_rank_batch = rank_batch_size(config.batch_size, ranks.world_size)
    x = check_training_data(
        load_training_data(config) if data is None else data, config.dataset if data is None else "data"
    )
    if resume:
        model = cast(TrainableModel, module)
        _check_data_shape(model, x, ckpt_path)
        optimizers = _restore(model, config, state, device)
        start, history = int(state["epoch"]), list(state["history"])
    else:
        torch.manual_seed(config.seed)
        module = build_model(config.model, config.n_charts, tuple(x.shape[1:]), **config.model_kwargs()).to(device)
        model = cast(TrainableModel, module)
        optimizers = model.make_optimizers(config.lr, config.betas)
        start = 0
    run = _Run(config, ckpt_path, start if resume else 0)
    writes = ranks.main and ckpt_path is not None
    schedulers = make_schedulers(optimizers, config, start)
    loader, sampler = batch_loader(
        x.to(device), per_rank_batch, config.seed, rank=ranks.rank, world_size=ranks.world_size
    )
    sync = GradientSync(optimizers, device) if ranks.world_size > 1 else None
    epoch = start
    try:
        for epoch in range(start, config.epochs):
            _start_epoch(sampler, config, epoch, ranks)
            t0 = time.perf_counter()
            record: dict[str, Any] = _train_epoch(model, optimizers, loader, epoch, run, progress)
            record = _end_epoch(module, record, ranks)
            bad = _non_finite_parameter(module)
            if bad is not None:
                raise FloatingPointError(
                    f"training diverged: weight {bad!r} is not finite after epoch {epoch + 1}/{config.epochs}; "
                    f"{run.last_checkpoint()}"
                )
            _step_schedulers(schedulers)
            record.update(epoch=epoch + 1, seconds=time.perf_counter() - t0)
            history.append(record)
            if progress:
                tqdm.write(
                    f"epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4g}" for k, v in record.items() if k != "epoch")
                )
            with _sigint_deferred():  # Ctrl-C after the file is in place but before it is recorded: deferred
                if writes:
                    _save(ckpt_path, module, config, optimizers, epoch + 1, history, ranks)
                if ckpt_path is not None:
                    run.saved_epoch = epoch + 1
    except KeyboardInterrupt as err:
        written = ckpt_path if run.saved_epoch > 0 else None
        raise TrainingInterrupted(epoch + 1, config.epochs, written, run.saved_epoch) from err
    finally:
        if sync is not None:
            sync.close()
    if writes and start >= config.epochs and ckpt_path is not None and not ckpt_path.is_file():
        _save(ckpt_path, module, config, optimizers, start, history, ranks)
    distributed.barrier()  # every rank returns after rank 0 has written the last checkpoint
    module.eval()
    return TrainResult(model=module, config=config, checkpoint=ckpt_path, history=history)
