"""Input checks of the geodesic API, in one place: every public entry point validates through these."""

from __future__ import annotations

import math
from typing import Any

import torch

from agm.models.protocol import AtlasModel, SemiAtlasModel


def check_model(model: Any, *, need_encoder: bool) -> None:
    """Raise TypeError unless ``model`` has the atlas interface (with ``encode`` when ``need_encoder``)."""
    proto = AtlasModel if need_encoder else SemiAtlasModel
    if not isinstance(model, proto):
        missing = [
            name
            for name in ("n_charts", "latent_dim", "decode", "partition") + (("encode",) if need_encoder else ())
            if not hasattr(model, name)
        ]
        raise TypeError(
            f"model: {type(model).__name__} does not have the atlas interface (missing {', '.join(missing)}); "
            "see agm.AtlasModel"
        )
    for name in ("n_charts", "latent_dim"):
        value = getattr(model, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"model.{name} must be a positive int; got {value!r}")


def check_eps(eps: float) -> float:
    """eps must be a finite number in [0, 1)."""
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not (0.0 <= float(eps) < 1.0):
        raise ValueError(f"eps must be a number in [0, 1); got {eps!r}")
    return float(eps)


def check_positive_int(name: str, value: Any) -> int:
    """A positive Python int (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return value


def check_non_negative_int(name: str, value: Any) -> int:
    """A non-negative Python int (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int; got {value!r}")
    return value


def as_batch(name: str, x: Any, data_shape: tuple[int, ...] | None, *, single: bool) -> torch.Tensor:
    """Validate data points and return them as a (B, *S) floating tensor (on the CPU or their own device).

    Args:
        name: argument name for error messages.
        x: a tensor or array of shape S (``single=True``) or (B, *S).
        data_shape: S, or None to infer it (``single=False`` only: S = x.shape[1:]).
        single: whether one point (shape S) is expected.
    """
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a tensor or array; got {type(x).__name__}") from err
    if not torch.is_floating_point(x):
        raise TypeError(f"{name} must have a floating dtype; got {x.dtype}")
    if single:
        if data_shape is not None and tuple(x.shape) != data_shape:
            raise ValueError(f"{name} must have the data shape {data_shape}; got {tuple(x.shape)}")
        x = x.unsqueeze(0)
    else:
        if x.ndim < 2 or x.shape[0] < 1:
            raise ValueError(f"{name} must have shape (B, *S) with B >= 1; got {tuple(x.shape)}")
        if data_shape is not None and tuple(x.shape[1:]) != data_shape:
            raise ValueError(f"{name} must have shape (B, *{data_shape}); got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).reshape(x.shape[0], -1).any(dim=1).nonzero()[0, 0])
        raise ValueError(f"{name} contains NaN or inf (first at row {bad})")
    return x


def check_partition(psi: torch.Tensor, n_charts: int) -> None:
    """The model's partition must be (B, n_charts), finite and on the simplex."""
    if psi.ndim != 2 or psi.shape[1] != n_charts:
        raise ValueError(f"model.partition returned shape {tuple(psi.shape)}; expected (B, {n_charts})")
    if not bool(torch.isfinite(psi).all()) or bool((psi < -1e-6).any()):
        raise ValueError("model.partition returned negative or non-finite values")
    err = float((psi.sum(dim=1) - 1).abs().max())
    if err > 1e-3 or math.isnan(err):
        raise ValueError(f"model.partition rows must sum to 1; max deviation {err:.3g}")
