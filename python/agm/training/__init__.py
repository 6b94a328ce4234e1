"""Training: presets, the trainer loop and checkpoints.

The trainer works with any model that implements :class:`agm.training.interface.TrainableModel`
(``make_optimizers``, ``training_step``, ``spec``) and is registered in :data:`agm.models.MODELS`; read
:mod:`agm.training.interface` for how to add a model family.

The names below are imported on first use (PEP 562), so ``agm.training.presets`` (pure Python) can be read without
importing torch: the ``agm`` command line builds its help from it in well under a second.

Floor: above :mod:`agm.models` (beside :mod:`agm.evaluation`); never imports :mod:`agm.geodesic` or higher.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers (``X as X`` marks a re-export)
    from agm.training.checkpoint import CHECKPOINT_NAME as CHECKPOINT_NAME
    from agm.training.checkpoint import load_checkpoint as load_checkpoint
    from agm.training.checkpoint import read_checkpoint as read_checkpoint
    from agm.training.checkpoint import save_checkpoint as save_checkpoint
    from agm.training.interface import TrainableModel as TrainableModel
    from agm.training.presets import PRESETS as PRESETS
    from agm.training.presets import TrainConfig as TrainConfig
    from agm.training.presets import make_config as make_config
    from agm.training.presets import preset_lr as preset_lr
    from agm.training.trainer import TrainingInterrupted as TrainingInterrupted
    from agm.training.trainer import TrainResult as TrainResult
    from agm.training.trainer import check_training_data as check_training_data
    from agm.training.trainer import resolve_device as resolve_device
    from agm.training.trainer import train as train

#: Public name -> the module that defines it.
_HOMES: dict[str, str] = {
    "CHECKPOINT_NAME": "checkpoint",
    "PRESETS": "presets",
    "TrainConfig": "presets",
    "TrainResult": "trainer",
    "TrainableModel": "interface",
    "TrainingInterrupted": "trainer",
    "check_training_data": "trainer",
    "load_checkpoint": "checkpoint",
    "make_config": "presets",
    "preset_lr": "presets",
    "read_checkpoint": "checkpoint",
    "resolve_device": "trainer",
    "save_checkpoint": "checkpoint",
    "train": "trainer",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
