"""Model registry: names -> builders, so every model family trains through the same trainer and CLI.

A builder takes ``(n_charts, data_shape, **kwargs)`` and returns an ``nn.Module`` that implements the trainer
interface of :mod:`agm.training.interface` (``make_optimizers``, ``training_step``, ``spec``).  Register a new family
with :func:`register_model` at import time of its module, and import that module in ``agm/models/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from agm.models.awae_gan import AWAEGAN

ModelBuilder = Callable[..., nn.Module]

#: Registered model builders by name.
MODELS: dict[str, ModelBuilder] = {}


def register_model(name: str, builder: ModelBuilder) -> None:
    """Register ``builder`` under ``name``.

    Raises:
        ValueError: ``name`` is already registered.
    """
    if name in MODELS:
        raise ValueError(f"model name {name!r} is already registered")
    MODELS[name] = builder


def build_model(name: str, n_charts: int, data_shape: tuple[int, ...] | list[int], **kwargs: Any) -> nn.Module:
    """Build a registered model.

    Args:
        name: a key of :data:`MODELS` ("awae", "wae", ...).
        n_charts: m.
        data_shape: S, the shape of one data point.
        **kwargs: family-specific options (for the AWAE-GAN: hidden, latent_dim, lam).

    Raises:
        ValueError: unknown name (the message lists the known ones) or options the family rejects.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {sorted(MODELS)}")
    return MODELS[name](n_charts, tuple(data_shape), **kwargs)


def _build_awae(n_charts: int, data_shape: tuple[int, ...], **kwargs: Any) -> nn.Module:
    return AWAEGAN(n_charts, data_shape, name="awae", **kwargs)


def _build_wae(n_charts: int, data_shape: tuple[int, ...], **kwargs: Any) -> nn.Module:
    if n_charts != 1:
        raise ValueError(f"the WAE-GAN has one chart: n_charts must be 1; got {n_charts} (use model 'awae')")
    return AWAEGAN(1, data_shape, name="wae", **kwargs)


register_model("awae", _build_awae)
register_model("wae", _build_wae)
