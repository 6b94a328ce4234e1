"""Model registry: names -> builders, so every model family trains through the same trainer and CLI.

A builder takes ``(n_charts, data_shape, **options)`` and returns an ``nn.Module`` that implements the trainer
interface of :mod:`agm.training.interface` (``make_optimizers``, ``training_step``, ``spec``).  agm's own families
register themselves one way: the class decorator :func:`register_family` in the family's module, which
``agm/models/__init__.py`` imports.  Other builders (any callable) go through :func:`register_model`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

ModelBuilder = Callable[..., nn.Module]
FamilyT = TypeVar("FamilyT", bound=type[nn.Module])

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


def register_family(*names: str) -> Callable[[FamilyT], FamilyT]:
    """Class decorator: register the family under each of ``names``, built as ``cls(m, S, name=name, **options)``.

    Raises:
        ValueError: no name, or a name that is already registered.
    """
    if not names:
        raise ValueError("register_family needs at least one name")

    def decorate(cls: FamilyT) -> FamilyT:
        for name in names:
            register_model(name, functools.partial(cls, name=name))
        return cls

    return decorate


def model_options(name: str) -> frozenset[str] | None:
    """The keyword options the builder of ``name`` takes (besides n_charts and data_shape); None: any (``**kwargs``).

    For agm's families: their keyword-only parameters (``name`` excepted) and the architecture options they take as
    ``**architecture`` (their ``ARCHITECTURE_OPTIONS``: hidden, latent_dim).

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {sorted(MODELS)}")
    builder = MODELS[name]
    target = builder.func if isinstance(builder, functools.partial) else builder
    params = list(inspect.signature(builder).parameters.values())
    named = {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "name"}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        architecture = getattr(target, "ARCHITECTURE_OPTIONS", None)
        if architecture is None:
            return None
        named |= set(architecture)
    return frozenset(named)


def build_model(name: str, n_charts: int, data_shape: tuple[int, ...] | list[int], **kwargs: Any) -> nn.Module:
    """Build a registered model.

    Args:
        name: a key of :data:`MODELS` ("awae", "wae", "cae", "avae", "infogan", ...).
        n_charts: m.
        data_shape: S, the shape of one data point.
        **kwargs: family-specific options (:func:`model_options`; for the AWAE-GAN: hidden, latent_dim, lam).

    Raises:
        ValueError: unknown name (the message lists the known ones), an option the family does not take, or
            values the family rejects.
    """
    options = model_options(name)
    unknown = sorted(set(kwargs) - options) if options is not None else []
    if unknown:
        raise ValueError(f"model {name!r} takes no option {unknown}; its options: {sorted(options or ())}")
    return MODELS[name](n_charts, tuple(data_shape), **kwargs)
