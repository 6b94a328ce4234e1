"""Run a model for geodesic computations: eval mode, no gradients, training flags restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def evaluating(model: object) -> Iterator[None]:
    """Put every submodule of ``model`` in eval mode under ``torch.no_grad()``; restore each flag on exit.

    Works for any object: a model that is not an ``nn.Module`` is only run under ``no_grad``.
    """
    modules = list(model.modules()) if isinstance(model, torch.nn.Module) else []
    flags = [m.training for m in modules]
    try:
        for m in modules:
            m.training = False
        with torch.no_grad():
            yield
    finally:
        for m, flag in zip(modules, flags):
            m.training = flag
