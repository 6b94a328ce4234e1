"""Work of the geodesic code split across the ranks of a torch.distributed process group (no-ops without one).

Inside an initialised process group (``torchrun``, or ``torch.distributed.init_process_group``), the graph build
and the queries give every rank a contiguous share of their rows (:func:`share`): the build's node decodings and
intra-chart edges, the queries' pairs and distance rows. Each rank computes its share on its own device, and the
results are gathered so that every rank holds the same, complete result (:func:`gather_rows`: the same bytes on
every rank). Without a process group, or with one rank, every helper here is the identity and nothing is sent.

Communication is torch.distributed's own (``all_gather``, ``all_gather_object``, ``broadcast_object_list``): on
CPU tensors with gloo, on the current CUDA device with NCCL (set it with ``torch.cuda.set_device(local_rank)``,
as torchrun scripts do). Every collective must be entered by every rank in the same order, so a step that may
fail on one rank only (a model call, an unreachable pair) runs under :func:`on_every_rank`, which makes all
ranks raise together instead of leaving the others waiting forever. Every object sent is tagged with the
collective that sent it: a rank that entered another collective than its peers (a lazy query on one rank, an eager
one on another) is named in a :class:`CollectiveMismatchError` instead of its message being misread. A peer that
died makes the collectives fail after the process group's timeout (:func:`agm.distributed.init_from_env`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from agm.distributed import world, world_size

T = TypeVar("T")


def is_sharded() -> bool:
    """Whether work is split across ranks: an initialised process group with more than one rank."""
    return world()[1] > 1


def share(n: int, rank: int | None = None, world_size: int | None = None) -> slice:
    """The contiguous rows ``[start, stop)`` of ``n`` that one rank computes (``np.array_split``'s split).

    Shares differ in size by at most one (the first ``n % world_size`` ranks take one more), cover ``0..n-1`` in
    rank order and do not overlap; a rank gets an empty share when ``n < world_size``.

    Args:
        n: number of rows, >= 0.
        rank, world_size: default this process's (:func:`world`); 0 <= rank < world_size.

    Raises:
        ValueError: ``n < 0``, ``world_size < 1`` or ``rank`` outside ``0..world_size-1`` (naming the value).
    """
    here, size = world()
    rank = here if rank is None else rank
    size = size if world_size is None else world_size
    if n < 0:
        raise ValueError(f"n must be >= 0; got {n}")
    if size < 1:
        raise ValueError(f"world_size must be >= 1; got {size}")
    if not 0 <= rank < size:
        raise ValueError(f"rank must be in 0..{size - 1}; got {rank}")
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


def _comm_device() -> torch.device:
    """Where tensors are sent from: the current CUDA device for NCCL, the CPU otherwise (gloo, mixed groups)."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def gather_rows(local: np.ndarray) -> np.ndarray:
    """Every rank's rows, concatenated along axis 0 in rank order, on every rank (bitwise the same everywhere).

    Shares may differ in length (ragged, empty allowed); the rows are sent as bytes, so any dtype is exact.
    Without a process group (or with one rank) ``local`` itself is returned.

    Args:
        local: (n_r, *F) numpy array of this rank; every rank with rows must have the same trailing shape F and
            dtype (an empty rank's F and dtype are ignored).

    Returns:
        (sum_r n_r, *F) numpy array (C-contiguous), a new array on every rank with a process group.

    Raises:
        ValueError: the ranks' trailing shapes or dtypes differ (raised on every rank).
    """
    if not is_sharded():
        return local
    local = np.ascontiguousarray(local)
    metas = _gather_tagged("gather_rows", (int(local.shape[0]), tuple(local.shape[1:]), local.dtype.str))
    filled = [m for m in metas if m[0] > 0]
    if not filled:
        return local[:0]
    trailing, dtype = filled[0][1], np.dtype(filled[0][2])
    if any((m[1], m[2]) != (trailing, dtype.str) for m in filled):
        raise ValueError(f"gather_rows: ranks hold rows of different shapes or dtypes: {metas}")
    row_bytes = dtype.itemsize * int(np.prod(trailing, dtype=np.int64))
    longest = max(m[0] for m in metas)
    device = _comm_device()
    mine = np.zeros((longest, row_bytes), dtype=np.uint8)
    if local.shape[0] > 0:
        mine[: local.shape[0]] = local.reshape(local.shape[0], -1).view(np.uint8).reshape(local.shape[0], row_bytes)
    parts = [torch.empty((longest, row_bytes), dtype=torch.uint8, device=device) for _ in metas]
    dist.all_gather(parts, torch.from_numpy(mine).to(device))
    rows = [p[: m[0]].cpu().numpy() for p, m in zip(parts, metas, strict=True)]
    joined = np.ascontiguousarray(np.concatenate(rows)).view(dtype)
    out: np.ndarray = joined.reshape(-1, *trailing)
    return out


def gather_objects(local: T) -> list[T]:
    """Every rank's picklable ``local``, in rank order, on every rank (``all_gather_object``); ``[local]`` without
    a process group."""
    if not is_sharded():
        return [local]
    return _gather_tagged("gather_objects", local)


#: The first item of every object agm gathers or broadcasts: tells agm's messages from anything else.
_TAG = "agm.sharding/1"


class CollectiveMismatchError(RuntimeError):
    """Ranks entered different agm collectives (e.g. one rank's query lazy, another's eager): every rank must make
    the same calls, with the same arguments, in the same order."""


def _gather_tagged(kind: str, payload: Any) -> list[Any]:
    """Every rank's ``payload`` (``all_gather_object``), each sent as ``(_TAG, kind, payload)``; a rank whose
    message is of another kind (it called another collective) is named in a :class:`CollectiveMismatchError`."""
    received: list[Any] = [None] * world_size()
    dist.all_gather_object(received, (_TAG, kind, payload))
    return [_untag(kind, rank, message) for rank, message in enumerate(received)]


def _untag(kind: str, rank: int, message: Any) -> Any:
    """The payload of a tagged message from ``rank`` (CollectiveMismatchError when it is not a ``kind`` one)."""
    if isinstance(message, tuple) and len(message) == 3 and message[0] == _TAG and message[1] == kind:
        return message[2]
    theirs = f"'{message[1]}'" if isinstance(message, tuple) and len(message) == 3 and message[0] == _TAG else None
    raise CollectiveMismatchError(
        f"rank {rank} called another collective ({theirs or 'not an agm one'}) while rank {world()[0]} called "
        f"'{kind}': every rank must make the same calls in the same order (e.g. all lazy or all eager queries, "
        "the same arguments)"
    )


def broadcast(value: T) -> T:
    """Rank 0's picklable ``value`` on every rank (``broadcast_object_list``); ``value`` without a process group.

    Used where ranks could compute slightly different values (float32 rounding, timed measurements) and must
    agree, e.g. the build's nodes and its decode policy.
    """
    if not is_sharded():
        return value
    box: list[Any] = [(_TAG, "broadcast", value)]
    dist.broadcast_object_list(box, src=0)
    out: T = _untag("broadcast", 0, box[0])
    return out


class RankError(RuntimeError):
    """Raised on a rank whose own step succeeded when another rank's failed with an error of no known type."""


def _rebuild(module: str, name: str, message: str) -> BaseException:
    """An exception of the named class with ``message`` (a RankError when the class cannot be rebuilt so)."""
    try:
        cls = getattr(importlib.import_module(module), name)
        if isinstance(cls, type) and issubclass(cls, Exception):
            error: BaseException = cls(message)
            return error
    except Exception:  # noqa: BLE001 - any class that cannot be rebuilt from a message becomes a RankError
        pass
    return RankError(f"{module}.{name}: {message}")


def on_every_rank(step: Callable[[], T]) -> T:
    """Run ``step`` on this rank; if it raised on any rank, raise on every rank (then no rank waits forever in
    the next collective).

    A rank whose ``step`` raised re-raises its own exception; the others raise the first failing rank's error,
    rebuilt as the same class (ValueError, ``agm.UnreachableError``, ...; :class:`RankError` where it cannot be
    rebuilt) with the message prefixed by that rank. Without a process group ``step()`` is simply called.

    Returns:
        What ``step`` returned on this rank.
    """
    if not is_sharded():
        return step()
    result: T | None = None
    failure: Exception | None = None
    try:
        result = step()
    except Exception as error:  # noqa: BLE001 - re-raised below, after every rank has reported
        failure = error
    report = None if failure is None else (type(failure).__module__, type(failure).__qualname__, str(failure))
    reports = _gather_tagged("on_every_rank", report)
    if failure is not None:
        raise failure
    for rank, rep in enumerate(reports):
        if rep is not None:
            raise _rebuild(rep[0], rep[1], f"on rank {rank}: {rep[2]}")
    return result  # type: ignore[return-value]
