"""The process group of a run launched by ``torchrun``: backend choice, initialisation from the environment, rank,
world size, barrier and cleanup (thin wrappers over :mod:`torch.distributed`).

``torchrun --nproc_per_node N ...`` starts N processes and gives each the variables ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_from_env` reads them (``init_method="env://"``).
Without them (a plain ``agm`` or ``python`` process) nothing is initialised and every helper answers for a group of
one: rank 0, world size 1, the main process.  The backend follows the device: NCCL for CUDA, gloo for the CPU.

Bounded time after a peer's crash: the group is created with a timeout (:func:`timeout_s`: ``AGM_DIST_TIMEOUT_S``
seconds, default :data:`DEFAULT_TIMEOUT_S`), so a collective whose peer died (``kill -9``, ``os._exit``) fails on
the survivors after at most that long, and :func:`cleanup` gives up on a group it cannot destroy after
:data:`CLEANUP_S` seconds. A rank therefore ends within about ``timeout_s() + CLEANUP_S`` seconds of a peer's
crash.
"""

from __future__ import annotations

import datetime
import math
import os
import threading

import torch
import torch.distributed as dist

#: The variables torchrun sets for every process (read by ``init_method="env://"``).
TORCHRUN_VARIABLES: tuple[str, ...] = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


#: Seconds a collective waits for its peers before it fails (when ``AGM_DIST_TIMEOUT_S`` is not set).
DEFAULT_TIMEOUT_S = 300.0
#: Seconds :func:`cleanup` waits for the group's destruction (it can hang on a group whose peer died).
CLEANUP_S = 10.0


def timeout_s() -> float:
    """Seconds a collective waits for its peers: ``AGM_DIST_TIMEOUT_S`` (a number > 0), else DEFAULT_TIMEOUT_S.

    Raises:
        ValueError: ``AGM_DIST_TIMEOUT_S`` is not a finite number > 0 (naming it).
    """
    text = os.environ.get("AGM_DIST_TIMEOUT_S")
    if text is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value < math.inf:
        raise ValueError(f"environment variable AGM_DIST_TIMEOUT_S must be a number of seconds > 0; got {text!r}")
    return value


def backend_for(device: torch.device | str) -> str:
    """The torch.distributed backend for training on ``device``: "nccl" for CUDA, "gloo" otherwise (the CPU).

    Raises:
        ValueError: ``device`` is not a device or a device string.
    """
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be a torch.device or a device string; got {device!r}") from err
    return "nccl" if kind == "cuda" else "gloo"


def launched_by_torchrun() -> bool:
    """Whether this process has torchrun's ``RANK`` and ``WORLD_SIZE`` in its environment."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def _env_int(name: str, default: int | None = None) -> int:
    """The environment variable ``name`` as an int >= 0 (``default`` when unset and a default is given)."""
    text = os.environ.get(name)
    if text is None and default is not None:
        return default
    try:
        value = int(text or "")
    except ValueError:
        raise ValueError(f"environment variable {name} must be an int >= 0; got {text!r}") from None
    if value < 0:
        raise ValueError(f"environment variable {name} must be an int >= 0; got {value}")
    return value


def local_rank() -> int:
    """This process's index on its node (torchrun's ``LOCAL_RANK``; 0 when unset)."""
    return _env_int("LOCAL_RANK", 0)


def rank_device(device: torch.device) -> torch.device:
    """The device this process trains on: ``cuda:LOCAL_RANK`` for CUDA inside a process group, else ``device``."""
    if device.type == "cuda" and is_initialized():
        return torch.device("cuda", local_rank())
    return device


def init_from_env(device: torch.device | str) -> bool:
    """Join the process group that torchrun describes in the environment (no-op when already joined).

    The backend is :func:`backend_for` ``device``; on CUDA this process's GPU becomes ``cuda:LOCAL_RANK``. The
    group's collectives fail after :func:`timeout_s` seconds without their peers (see the module docstring).

    Args:
        device: the training device ("cpu", "cuda" or a torch.device).

    Returns:
        True when a process group is initialised after the call, False when the environment describes none (a
        plain process: nothing is initialised).

    Raises:
        ValueError: RANK / WORLD_SIZE / LOCAL_RANK is not an int >= 0, RANK >= WORLD_SIZE, MASTER_ADDR /
            MASTER_PORT is missing, or AGM_DIST_TIMEOUT_S is not a number > 0.
    """
    if is_initialized():
        return True
    if not launched_by_torchrun():
        return False
    rank, size = _env_int("RANK"), _env_int("WORLD_SIZE")
    if not rank < size:
        raise ValueError(f"environment variable RANK must be < WORLD_SIZE = {size}; got {rank}")
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise ValueError(f"environment variable {missing[0]} is not set (launch with torchrun)")
    backend = backend_for(device)
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    seconds = timeout_s()
    _import_group_defaults()
    dist.init_process_group(
        backend, init_method="env://", rank=rank, world_size=size, timeout=datetime.timedelta(seconds=seconds)
    )
    return True


def _import_group_defaults() -> None:
    """Import :mod:`torch.distributed.nn.functional` before the group exists. Its functions' ``group=group.WORLD``
    defaults are evaluated on import: imported after ``init_process_group`` (torch imports it with torch._dynamo,
    e.g. on an optimizer's first step) they hold the default group for good, so ``destroy_process_group`` cannot
    free it and gloo's worker threads outlive the interpreter. A collective that finishes while Python shuts down then
    releases its tensors on such a thread without the GIL: the process aborts after a complete run ("terminate
    called without an active exception", SIGABRT; 4 of 343 two-rank CPU launches of ``agm train`` before this)."""
    import torch.distributed.nn.functional  # noqa: F401


def is_initialized() -> bool:
    """Whether a default process group exists in this process."""
    return dist.is_available() and dist.is_initialized()


def world() -> tuple[int, int]:
    """(rank, world size) of this process in the default process group; (0, 1) without one.

    The one place agm asks torch.distributed which rank this process is: :func:`rank`, :func:`world_size` and the
    rest of the package read it from here.
    """
    if not is_initialized():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def world_size() -> int:
    """Number of processes in the group (1 without one)."""
    return world()[1]


def rank() -> int:
    """This process's rank in the group (0 without one)."""
    return world()[0]


def is_main_process() -> bool:
    """Whether this process is rank 0 (the one that prints and writes files)."""
    return rank() == 0


def barrier() -> None:
    """Wait until every process of the group gets here (no-op without a group)."""
    if not is_initialized():
        return
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[local_rank()])
    else:
        dist.barrier()


def cleanup(wait_s: float = CLEANUP_S) -> bool:
    """Leave and destroy the default process group (no-op without one), waiting at most ``wait_s`` seconds.

    Destroying a group whose peer crashed can block; it then goes on in a daemon thread and the caller is not held.

    Returns:
        False when the destruction did not finish in ``wait_s`` seconds, else True.
    """
    if not is_initialized():
        return True
    worker = threading.Thread(target=dist.destroy_process_group, name="agm-dist-cleanup", daemon=True)
    worker.start()
    worker.join(wait_s)
    return not worker.is_alive()
