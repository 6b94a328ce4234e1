"""Run a model for geodesic computations: eval mode, no gradients, training flags restored afterwards.

Reentrant and thread-safe: every model has one depth counter (under a lock). The outermost entry, in any thread,
saves the training flags and switches to eval mode; inner or concurrent entries only count; the last exit
restores the flags. So 8 threads querying a model left in train mode all compute in eval mode, and the model ends
in train mode.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch


@dataclass
class _Held:
    """One model currently held in eval mode: its modules, their saved flags and how many entries hold it."""

    modules: list[torch.nn.Module]
    flags: list[bool]
    depth: int = field(default=0)


_LOCK = threading.Lock()
_HELD: dict[int, _Held] = {}  # id(model) -> state; an entry lives only while depth > 0 (the model is referenced)


def _enter(model: torch.nn.Module) -> None:
    with _LOCK:
        held = _HELD.get(id(model))
        if held is None:
            modules = list(model.modules())
            held = _HELD[id(model)] = _Held(modules, [m.training for m in modules])
            for m in modules:
                m.training = False
        held.depth += 1


def _exit(model: torch.nn.Module) -> None:
    with _LOCK:
        held = _HELD[id(model)]
        held.depth -= 1
        if held.depth == 0:
            del _HELD[id(model)]
            for m, flag in zip(held.modules, held.flags):
                m.training = flag


@contextmanager
def evaluating(model: object) -> Iterator[None]:
    """Put every submodule of ``model`` in eval mode under ``torch.no_grad()``; restore each flag on the last exit.

    Reentrant and safe to use from many threads at once (see the module docstring). Works for any object: a
    model that is not an ``nn.Module`` is only run under ``no_grad``.
    """
    if not isinstance(model, torch.nn.Module):
        with torch.no_grad():
            yield
        return
    _enter(model)
    try:
        with torch.no_grad():
            yield
    finally:
        _exit(model)
