"""Checks of the geodesic API's arguments and of what the model returns, in one place and one message style.

Every public entry point of :mod:`agm.geodesic` validates through these. Messages read
``"<argument> must be <rule>; got <value>"``; a failing model call is re-raised as
``"model.<method>(<what was passed>) failed: <original message>"``, chained to the original exception.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from agm.models.protocol import AtlasModel, SemiAtlasModel

T = TypeVar("T")


def check_model(model: SemiAtlasModel, *, need_encoder: bool) -> None:
    """Raise TypeError unless ``model`` has the atlas interface (with ``encode`` when ``need_encoder``)."""
    proto = AtlasModel if need_encoder else SemiAtlasModel
    if not isinstance(model, proto):
        missing = [
            name
            for name in ("n_charts", "latent_dim", "decode", "partition") + (("encode",) if need_encoder else ())
            if not hasattr(model, name)
        ]
        raise TypeError(
            f"model must have the atlas interface (see agm.AtlasModel); got a {type(model).__name__} "
            f"missing {', '.join(missing)}"
        )
    for name in ("n_charts", "latent_dim"):
        check_int(f"model.{name}", getattr(model, name), minimum=1)


def check_int(name: str, value: Any, *, minimum: int) -> int:
    """An integer >= ``minimum``: Python or numpy integers (``numbers.Integral``), bools refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        rule = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {rule}; got {value!r}")
    return int(value)


def check_int_in(name: str, value: Any, minimum: int, maximum: int) -> int:
    """An integer in [minimum, maximum] (see :func:`check_int`); ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not minimum <= int(value) <= maximum:
        raise ValueError(f"{name} must be an int in [{minimum}, {maximum}]; got {value!r}")
    return int(value)


def check_positive_int(name: str, value: Any) -> int:
    """An integer >= 1 (see :func:`check_int`)."""
    return check_int(name, value, minimum=1)


def check_non_negative_int(name: str, value: Any) -> int:
    """An integer >= 0 (see :func:`check_int`)."""
    return check_int(name, value, minimum=0)


def check_eps(eps: Any) -> float:
    """eps must be a real number in [0, 1) (Python or numpy floats and ints, ``numbers.Real``; bools refused)."""
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not (0.0 <= float(eps) < 1.0):
        raise ValueError(f"eps must be a number in [0, 1); got {eps!r}")
    return float(eps)


def check_non_negative_real(name: str, value: Any) -> float:
    """A finite real number >= 0 (Python or numpy, ``numbers.Real``): TypeError for another type (bools
    included), ValueError for a negative or non-finite one."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    if not math.isfinite(float(value)) or float(value) < 0.0:
        raise ValueError(f"{name} must be finite and >= 0; got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """One of a few strings."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def check_device(device: Any) -> torch.device:
    """A torch device that exists on this machine (ValueError naming it and what is available otherwise)."""
    try:
        dev = torch.device(device)
    except (TypeError, RuntimeError) as err:
        raise ValueError(f"device must be a torch device or its name; got {device!r}") from err
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (dev.index is not None and dev.index >= count):
            raise ValueError(f"device must be available; got {device!r}, but this machine has {available_devices()}")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device must be available; got {device!r}, but this machine has {available_devices()}")
    elif dev.type == "meta":
        raise ValueError(f"device must hold data; got {device!r} (meta tensors have no values to decode or search)")
    return dev


def available_devices() -> str:
    """The devices torch can use here, in words (for error messages)."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return "only " + ", ".join(names) if len(names) == 1 else ", ".join(names)


#: Items per batch when a torch ``Dataset`` is read through a ``DataLoader`` (:func:`data_tensor`).
DATASET_READ_BATCH = 1024


def batch_points(name: str, batch: Any, index: int) -> torch.Tensor:
    """The data points of one item or batch of a torch data source: the tensor itself, or the first entry of an
    ``(x, ...)`` tuple or list (labels and the rest are dropped)."""
    if isinstance(batch, (tuple, list)):
        if not batch:
            raise TypeError(f"{name} must yield tensors or (x, ...) tuples; got an empty {type(batch).__name__}")
        batch = batch[0]
    if not isinstance(batch, torch.Tensor):
        try:
            batch = torch.as_tensor(batch)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"{name} must yield tensors or (x, ...) tuples of tensors; got {type(batch).__name__} at batch {index}"
            ) from err
    points: torch.Tensor = batch
    return points


#: What the entry points take as data points: a (B, *S) float tensor or array, or any torch data source
#: (a ``Dataset`` or a ``DataLoader`` whose items are tensors or ``(x, ...)`` tuples), read by :func:`data_tensor`.
DataSource: TypeAlias = torch.Tensor | np.ndarray | Dataset[Any] | DataLoader[Any]


def data_tensor(name: str, x: DataSource | object) -> Any:
    """Data from any torch data source as one (B, *S) tensor; anything else is returned unchanged.

    The one place where agm reads torch data sources, so every entry point (``build_graph``, ``shortest_paths``,
    ``distances``, the estimators, ...) takes them:

    * a ``torch.utils.data.DataLoader``: its batches, read once in order and concatenated (each batch a tensor or
      an ``(x, ...)`` tuple/list, as the default collate makes of ``(x, label)`` items);
    * ``agm.data.Dataset`` and ``TensorDataset``: their data tensor as it is (no copy, no iteration);
    * any other ``torch.utils.data.Dataset`` (map-style or iterable) whose items are tensors or ``(x, ...)``
      tuples: read through a ``DataLoader`` of :data:`DATASET_READ_BATCH` items, in order, no workers.

    The result lives where the source's tensors live (usually the CPU); labels are dropped.

    Raises:
        TypeError: items that are neither tensors nor ``(x, ...)`` tuples, or batches of different point shapes.
        ValueError: a source without any item.
    """
    from torch.utils.data import TensorDataset

    from agm.data.registry import Dataset as AgmDataset

    if isinstance(x, TensorDataset):
        return x.tensors[0]
    if isinstance(x, AgmDataset):
        return x.x
    if isinstance(x, Dataset):
        x = DataLoader(x, batch_size=DATASET_READ_BATCH, shuffle=False)
    if not isinstance(x, DataLoader):
        return x
    parts = [batch_points(name, batch, i) for i, batch in enumerate(x)]
    if not parts:
        raise ValueError(f"{name} must hold at least one data point; got an empty {type(x.dataset).__name__}")
    shapes = {tuple(p.shape[1:]) for p in parts}
    if len(shapes) > 1 or parts[0].ndim < 1:
        raise TypeError(f"{name} must yield batches of one point shape; got batch shapes {sorted(shapes)}")
    return torch.cat(parts)


def as_batch(name: str, x: Any, data_shape: tuple[int, ...] | None, *, single: bool) -> torch.Tensor:
    """Validate data points and return them as a (B, *S) floating tensor (on the CPU or their own device).

    Args:
        name: argument name for error messages.
        x: a tensor or array of shape S (``single=True``) or (B, *S); for ``single=False`` also any torch data
            source (a ``DataLoader``, a ``Dataset`` of tensors or ``(x, ...)`` tuples, ``agm.data.Dataset``;
            :func:`data_tensor`).
        data_shape: S, or None to infer it (``single=False`` only: S = x.shape[1:]).
        single: whether one point (shape S) is expected.
    """
    if not single:
        x = data_tensor(name, x)
    if isinstance(x, torch.Tensor):
        t: torch.Tensor = x
    else:
        try:
            t = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"{name} must be a tensor, an array or a torch Dataset/DataLoader; got {type(x).__name__}"
            ) from err
    if not torch.is_floating_point(t):
        raise TypeError(f"{name} must have a floating dtype; got {t.dtype}")
    if t.device.type == "meta":
        raise ValueError(f"{name} must hold data; got a tensor on the meta device (shape {tuple(t.shape)}, no values)")
    if single:
        if data_shape is not None and tuple(t.shape) != data_shape:
            if t.ndim == len(data_shape) + 1 and tuple(t.shape[1:]) == data_shape and t.shape[0] == 1:
                raise ValueError(
                    f"{name} must be one point of the data shape {data_shape}; got a batch of shape "
                    f"{tuple(t.shape)}: pass {name}[0], or shortest_paths for batches"
                )
            raise ValueError(f"{name} must have the data shape {data_shape}; got {tuple(t.shape)}")
        t = t.unsqueeze(0)
    else:
        if t.ndim < 2 or t.shape[0] < 1:
            raise ValueError(f"{name} must have shape (B, *S) with B >= 1; got {tuple(t.shape)}")
        if data_shape is not None and tuple(t.shape[1:]) != data_shape:
            raise ValueError(f"{name} must have shape (B, *{data_shape}); got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).reshape(t.shape[0], -1).any(dim=1).nonzero()[0, 0])
        raise ValueError(f"{name} must be finite; got NaN or inf (first at row {bad})")
    return t


def describe(t: Any) -> str:
    """A tensor argument in words for error messages: shape, dtype and device (or the type of anything else)."""
    if isinstance(t, torch.Tensor):
        return f"{tuple(t.shape)} {str(t.dtype).removeprefix('torch.')} on {t.device}"
    return type(t).__name__


def call_model(method: str, fn: Callable[..., T], *args: Any) -> T:
    """Call a model method; if it raises, re-raise naming the method and what was passed, chained to the error.

    The exception keeps its type when it can be built from one message (TypeError, ValueError, IndexError,
    RuntimeError, ...); otherwise it becomes a ValueError.
    """
    try:
        return fn(*args)
    except Exception as err:
        message = f"model.{method}({', '.join(describe(a) for a in args)}) failed: {type(err).__name__}: {err}"
        try:
            wrapped = type(err)(message)
        except Exception:
            wrapped = ValueError(message)
        if not isinstance(wrapped, Exception) or str(wrapped) != message:
            wrapped = ValueError(message)
        raise wrapped from err


def check_decoded(
    out: torch.Tensor,
    z: torch.Tensor,
    y: torch.Tensor,
    n_points: int,
    row_name: Callable[[int], str] | None = None,
) -> torch.Tensor:
    """model.decode's output must hold one finite decoding per latent; ValueError naming the chart and latent
    (and what the row is, via ``row_name``)."""
    if out.ndim < 1 or out.shape[0] != n_points:
        raise ValueError(f"model.decode must return one decoding per latent ({n_points}); got shape {tuple(out.shape)}")
    if bool(torch.isfinite(out).all()):  # one reduction; the rows only for the message
        return out
    bad = ~torch.isfinite(out.reshape(n_points, -1)).all(dim=1)
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        what = f" ({row_name(row)})" if row_name is not None else ""
        raise ValueError(
            f"model.decode must return finite values; got NaN or inf{what} for chart {int(y[row])}, "
            f"latent {z[row].tolist()} ({int(bad.sum())} of {n_points} decodings)"
        )
    return out


#: Latents :func:`check_decode_shape` decodes (once per ``build_graph`` from data).
DECODE_SHAPE_PROBES = 1


def check_decode_shape(model: SemiAtlasModel, data_shape: tuple[int, ...], device: torch.device) -> None:
    """Decode one latent (zeros, chart 0; call under ``evaluating``) and compare its shape with the data's, once,
    before any other model call: a decoder whose points do not have the data shape is named as the fault.

    Args:
        data_shape: S, the shape of one data point.
        device: the model's device.

    Raises:
        ValueError: ``model.decode`` returns something other than a (1, *S) tensor for one latent (or fails).
    """
    z = torch.zeros(DECODE_SHAPE_PROBES, int(model.latent_dim), device=device)
    y = torch.zeros(DECODE_SHAPE_PROBES, dtype=torch.int64, device=device)
    out = call_model("decode", model.decode, z, y)
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else None
    if shape != (DECODE_SHAPE_PROBES, *data_shape):
        got = f"shape {shape}" if shape is not None else f"a {type(out).__name__}"
        raise ValueError(
            f"model.decode must return (B, *S) with the data's point shape S = {data_shape}; got {got} for one "
            f"latent of shape (1, {int(model.latent_dim)}): the decoder and the data do not match"
        )


def check_partition(psi: torch.Tensor, n_charts: int) -> None:
    """The model's partition must be (B, n_charts), finite and on the simplex."""
    if psi.ndim != 2 or psi.shape[1] != n_charts:
        raise ValueError(f"model.partition must return shape (B, {n_charts}); got {tuple(psi.shape)}")
    if not bool(torch.isfinite(psi).all()) or bool((psi < -1e-6).any()):
        raise ValueError("model.partition must return finite, non-negative values; got negative or NaN/inf")
    err = float((psi.sum(dim=1) - 1).abs().max())
    if err > 1e-3 or math.isnan(err):
        raise ValueError(f"model.partition rows must sum to 1; got a maximum deviation of {err:.3g}")
