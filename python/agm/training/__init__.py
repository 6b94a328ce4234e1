"""Training: presets, the trainer loop and checkpoints.

The trainer works with any model that implements :class:`agm.training.interface.TrainableModel`
(``make_optimizers``, ``training_step``, ``spec``) and is registered in :data:`agm.models.MODELS`; read
:mod:`agm.training.interface` for how to add a model family.
"""

from __future__ import annotations

from agm.training.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from agm.training.interface import TrainableModel
from agm.training.presets import PRESETS, TrainConfig, make_config, preset_lr
from agm.training.trainer import CHECKPOINT_NAME, TrainResult, resolve_device, train

__all__ = [
    "CHECKPOINT_NAME",
    "PRESETS",
    "TrainConfig",
    "TrainResult",
    "TrainableModel",
    "load_checkpoint",
    "make_config",
    "preset_lr",
    "read_checkpoint",
    "resolve_device",
    "save_checkpoint",
    "train",
]
