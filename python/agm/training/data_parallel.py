"""Data-parallel training on torch.distributed: DistributedDataParallel over every optimizer's parameters, the
per-rank batch, per-rank random streams and the end-of-epoch averages (batch-norm statistics, logged losses).

How the trainer uses it (a process group of W > 1 processes, see :mod:`agm.distributed`):

* every rank trains on ``batch_size / W`` rows per step (the global batch is the preset's);
* every optimizer of the model gets a :class:`torch.nn.parallel.DistributedDataParallel` over its parameters
  (the autoencoder, the discriminators, the generator: all parts).  A model's ``training_step`` calls its
  sub-networks' own methods (``forward_all``, ...) rather than one ``forward``, so DDP cannot wrap the call; instead
  each DDP is armed (its no-op forward: ``prepare_for_backward``) once at the start and again after every step of
  its optimizer (``register_step_post_hook``), and its reducer then all-reduces (averages) that optimizer's
  gradients in buckets during the next backward pass, as in any DDP run.  This needs every parameter of an
  optimizer to receive a gradient in each of its backward passes (DDP's ``find_unused_parameters=False``
  contract) and no backward pass to reach another optimizer's parameters (freeze them), which every registered
  family meets; :func:`check_replicas_agree` verifies after every epoch that the ranks still hold the same model;
* batch norm is per rank: each rank normalises with the statistics of its own ``batch_size / W`` rows, and the
  running statistics are averaged over the ranks at the end of every epoch, so every rank (and the checkpoint)
  holds the same model.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.hooks import RemovableHandle

from agm import distributed


def rank_batch_size(batch_size: int, world_size: int) -> int:
    """Rows per rank and step when the global batch is ``batch_size`` over ``world_size`` processes.

    Raises:
        ValueError: ``batch_size`` is not a multiple of ``world_size``, or gives fewer than 2 rows a rank (batch
            norm needs 2).
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1; got {world_size}")
    if batch_size % world_size:
        lower, upper = batch_size - batch_size % world_size, batch_size + world_size - batch_size % world_size
        raise ValueError(
            f"batch_size {batch_size} (the global batch) is not a multiple of world_size {world_size}: pass a "
            f"batch size that is, e.g. --batch-size {lower or upper} or {upper}"
        )
    if batch_size // world_size < 2:
        raise ValueError(
            f"batch_size {batch_size} over world_size {world_size} gives {batch_size // world_size} row(s) a rank; "
            "batch norm needs >= 2: pass --batch-size >= " + str(2 * world_size)
        )
    return batch_size // world_size


def rank_seed(seed: int, epoch: int, rank: int) -> int:
    """Seed of the global torch RNG of rank ``rank`` >= 1 in ``epoch`` (latent samples differ between ranks).

    Rank 0 keeps the one-process stream (seeded once, saved and restored with the checkpoints); ranks >= 1 reseed
    at every epoch start, so a resumed run draws what an uninterrupted one draws on the same number of ranks.
    """
    return (seed * 1_000_003 + epoch) * 65_537 + rank


class _Parameters(nn.Module):
    """The parameters of one optimizer as a module (the same tensors, not copies) with a no-op forward."""

    def __init__(self, parameters: list[nn.Parameter]) -> None:
        super().__init__()
        self.parameters_of_optimizer = nn.ParameterList(parameters)

    def forward(self) -> None:
        """Nothing: calling it through DDP only arms the reducer for the next backward pass."""
        return None


def _arm(replica: DistributedDataParallel) -> None:
    """Prepare ``replica``'s reducer for the next backward pass (DDP's pre- and post-forward bookkeeping)."""
    with torch.enable_grad():
        replica()


class GradientSync:
    """DistributedDataParallel over the parameters of each optimizer, armed before each of its backward passes.

    Args:
        optimizers: the model's optimizers by name (their parameters: on ``device``, replicated on every rank).
        device: this rank's device (``cuda:LOCAL_RANK`` or the CPU).

    Call :meth:`close` when training ends (removes the hooks, frees the reducers).
    """

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer], device: torch.device) -> None:
        self.replicas: dict[str, DistributedDataParallel] = {}
        self._hooks: list[RemovableHandle] = []
        device_ids = [device.index] if device.type == "cuda" else None
        for name, optimizer in optimizers.items():
            parameters = [p for group in optimizer.param_groups for p in group["params"]]
            replica = DistributedDataParallel(_Parameters(parameters), device_ids=device_ids)  # no buffers to sync
            _arm(replica)
            self._hooks.append(optimizer.register_step_post_hook(self._rearm(replica)))
            self.replicas[name] = replica

    @staticmethod
    def _rearm(replica: DistributedDataParallel) -> Any:
        def hook(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:  # noqa: ARG001 - hook signature
            _arm(replica)

        return hook

    def close(self) -> None:
        """Remove the step hooks and drop the DDP replicas (their reducers' autograd hooks go with them)."""
        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()
        self.replicas.clear()


def average_buffers(module: nn.Module) -> None:
    """Average every floating buffer of ``module`` (batch-norm running statistics) over the ranks, in place.

    Integer buffers (step counters) are equal on every rank and left alone.  No-op without a process group.
    """
    if distributed.world_size() == 1:
        return
    size = distributed.world_size()
    for buffer in module.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            buffer.div_(size)


def check_replicas_agree(module: nn.Module, device: torch.device, rtol: float = 1e-4) -> None:
    """Raise when the ranks' copies of ``module`` differ (gradients of some optimizer were not averaged).

    Compares each parameter's float64 sum over the ranks (one all-reduce of max and one of min): the ranks apply
    the same update to the same weights, so their copies agree up to float rounding of unlike kernels.

    Raises:
        RuntimeError: a parameter's sums differ by more than ``rtol`` relative between two ranks (names it).
    """
    if distributed.world_size() == 1:
        return
    names = [name for name, _ in module.named_parameters()]
    sums = torch.stack([p.detach().double().sum() for p in module.parameters()]).to(device)
    high, low = sums.clone(), sums.clone()
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    apart = (high - low).abs() > rtol * (1 + torch.maximum(high.abs(), low.abs()))
    if bool(apart.any()):
        name = names[int(apart.nonzero()[0, 0])]
        raise RuntimeError(
            f"the ranks' copies of the model differ at {name!r}: a backward pass reached parameters of an optimizer "
            "other than the one it was for (see agm.training.interface: freeze the others with "
            "agm.models.family.frozen), so their gradients were not averaged"
        )


def mean_over_ranks(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """The mean over the ranks of each value (every rank passes the same keys in the same order).

    Args:
        values: per-rank numbers by name.  device: this rank's device (NCCL reduces on the GPU).

    Returns:
        The same keys with the means over the ranks (``values`` itself without a process group).
    """
    if distributed.world_size() == 1 or not values:
        return values
    stacked = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
    means = (stacked / distributed.world_size()).tolist()
    return dict(zip(values, means, strict=True))
