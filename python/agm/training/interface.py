"""What a model must provide to be trained by :func:`agm.training.train` (and saved/loaded by the checkpoints).

Adding a model family (CAE, Atlas VAE, InfoGAN, ...):

1. Write an ``nn.Module`` with the three methods of :class:`TrainableModel` below (and, for geodesics, the atlas
   interface of :mod:`agm.models.protocol`).
2. Register a builder ``builder(n_charts, data_shape, **kwargs) -> module`` with
   :func:`agm.models.register_model` (``"name"``), and import your module from ``agm/models/__init__.py``.
   ``module.spec()`` must return ``{"name": "name", "n_charts": m, "data_shape": [...], **kwargs}`` so that
   ``build_model(**spec)`` rebuilds the same architecture (this is how checkpoints are loaded).
3. Choose optimizer names; each needs a learning rate in the preset's ``lr`` dict: "autoencoder" and "generator"
   get the preset's main rate, "discriminator" the adversary rate (:func:`agm.training.presets.preset_lr`; add a
   name to ``MAIN_OPTIMIZERS`` / ``ADVERSARY_OPTIMIZERS`` there if you need another).  The trainer drives every
   optimizer with a ``torch.optim.lr_scheduler.MultiStepLR``: in epoch e every param group has
   ``lr = preset lr[name] * lr_factor ** (number of milestones <= e)``; it saves every optimizer's ``state_dict`` in
   the checkpoint and restores it on resume.

The trainer owns: device placement, seeding (``torch.manual_seed(seed)`` before the model is built and the global
RNG state saved/restored with the checkpoints, so ``torch.randn`` inside ``training_step`` is reproducible and
resumable), batching (a DataLoader whose sampler's generator is seeded from (seed, epoch)), the progress bar,
checkpoints, the history and the finiteness checks (a NaN/inf loss or weight stops the run).
The model owns: its losses and how its optimizers step.

Data-parallel training (``torchrun``, :mod:`agm.training.data_parallel`) averages each optimizer's gradients over
the processes during the backward pass that precedes its ``step``.  So in ``training_step`` every backward pass for
an optimizer must give a gradient to every one of its parameters, and must not reach the parameters of another
optimizer (freeze them, :func:`agm.models.family.frozen`, or detach the inputs, as the AWAE-GAN and InfoGAN do); the
trainer stops with a RuntimeError when the processes' copies of the model drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class TrainableModel(Protocol):
    """The per-model training-step interface used by :func:`agm.training.train`."""

    def make_optimizers(self, lr: Mapping[str, float], betas: tuple[float, float]) -> dict[str, torch.optim.Optimizer]:
        """Create the model's optimizers.

        Args:
            lr: learning rate by optimizer name (the model takes the keys it needs; others are ignored).
            betas: Adam betas of the preset.

        Returns:
            Optimizers by name; each name must be a key of ``lr``.
        """
        ...

    def training_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        """Run one optimisation step on a batch and return the losses to log (Python floats).

        Args:
            batch: (B, *S) float32 tensor on the model's device (B >= 2).
            optimizers: the dict from :meth:`make_optimizers`, learning rates already set for this epoch.
        """
        ...

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable ``build_model`` keyword arguments (``name``, ``n_charts``, ``data_shape``, ...)."""
        ...
