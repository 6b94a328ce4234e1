"""Decode policies remembered per decoder and machine: within the process and across processes in a user cache.

A measured :class:`agm.geodesic.graph.policy.DecodePolicy` depends on what the decoder computes and where, not on its
weights' values, so it is reused for the same *key*: the model's class, its parameters' and buffers' names,
shapes and dtypes (the architecture), its latent size and chart count, the device (with the CUDA device's name),
torch's intra-op thread count, the CPUs this process may run on, and the torch version. The first build of a key
measures (on its node decodes: :func:`agm.geodesic.graph.measured_decode.decode_nodes_measured`), later builds in the
same process and in later processes reuse the result.

The cache folder is ``$AGM_POLICY_CACHE`` if set, else ``<user cache>/decode_policy`` (``$XDG_CACHE_HOME/agm`` or
``~/.cache/agm``); ``AGM_POLICY_CACHE=off`` (or ``0``, or empty) switches the folder off, so every new process
measures again (the in-process memory stays). Each key is one small JSON file, written atomically
(:func:`agm._files.atomic_write`) and checked when read: a file that does not parse, holds another key or an
invalid policy is ignored (and replaced by the next measurement). A folder that cannot be written is not an
error: the policy is then remembered in the process only.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import torch

from agm._files import atomic_write
from agm.data.mnist import cache_dir
from agm.geodesic.graph.policy import DecodePolicy
from agm.models.protocol import SemiAtlasModel

#: Environment variable naming the cache folder; "off", "0" or "" switch the folder off.
ENV = "AGM_POLICY_CACHE"
_OFF = ("", "0", "off")
_FORMAT = 1

_LOCK = threading.Lock()
_MEMORY: dict[str, DecodePolicy] = {}


def cache_folder() -> Path | None:
    """The folder of the cross-process cache, or None when it is switched off (see the module docstring)."""
    value = os.environ.get(ENV)
    if value is None:
        return cache_dir() / "decode_policy"
    return None if value.strip().lower() in _OFF else Path(value)


def policy_key(model: SemiAtlasModel, device: torch.device) -> dict[str, Any]:
    """What a decode policy depends on (JSON-serialisable; see the module docstring)."""
    tensors: list[list[Any]] = []
    if isinstance(model, torch.nn.Module):
        for name, t in [*model.named_parameters(), *model.named_buffers()]:
            tensors.append([name, list(t.shape), str(t.dtype)])
    cls = type(model)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    return {
        "format": _FORMAT,
        "model": f"{cls.__module__}.{cls.__qualname__}",
        "latent_dim": int(model.latent_dim),
        "n_charts": int(model.n_charts),
        "tensors": tensors,
        "device": str(device),
        "device_name": device_name,
        "threads": torch.get_num_threads(),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__,
    }


def _digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


def cached_policy(key: dict[str, Any]) -> DecodePolicy | None:
    """The policy remembered for ``key``: in this process, else in the cache folder (then remembered here), else
    None."""
    digest = _digest(key)
    with _LOCK:
        if digest in _MEMORY:
            return _MEMORY[digest]
    folder = cache_folder()
    if folder is None:
        return None
    policy = _read(folder / f"{digest}.json", key)
    if policy is not None:
        with _LOCK:
            _MEMORY[digest] = policy
    return policy


def remember_policy(key: dict[str, Any], policy: DecodePolicy) -> None:
    """Remember ``policy`` for ``key`` in this process and, when the folder is on and writable, on disk."""
    digest = _digest(key)
    with _LOCK:
        _MEMORY[digest] = policy
    folder = cache_folder()
    if folder is None:
        return
    try:
        with atomic_write(folder / f"{digest}.json", "w") as handle:
            json.dump({"key": key, "policy": policy.to_json()}, handle, sort_keys=True)
    except OSError:
        pass  # a read-only or full cache folder: the policy stays remembered in this process


def forget_policies() -> None:
    """Forget the policies remembered in this process (the cache folder is left alone)."""
    with _LOCK:
        _MEMORY.clear()


def _read(path: Path, key: dict[str, Any]) -> DecodePolicy | None:
    """The policy stored in ``path`` for ``key``; None for a missing, unreadable or foreign file."""
    try:
        with open(path, encoding="utf-8") as handle:
            stored = json.load(handle)
        if not isinstance(stored, dict) or stored.get("key") != json.loads(json.dumps(key)):
            return None
        policy = DecodePolicy.from_json(stored["policy"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return policy if policy.threads is not None else None
