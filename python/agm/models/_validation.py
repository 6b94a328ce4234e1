"""Input checks of the model entry points (the one place that raises for bad tensors handed to a model)."""

from __future__ import annotations

import torch


def check_data(x: object, data_shape: tuple[int, ...], arg: str = "x") -> torch.Tensor:
    """Check a batch of data points: a floating tensor of shape (B, *data_shape), B >= 1.

    Raises:
        TypeError: ``x`` is not a floating-point torch.Tensor.
        ValueError: wrong shape.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(
            f"{arg} must be a floating-point torch.Tensor; got {type(x).__name__} {getattr(x, 'dtype', '')}"
        )
    if tuple(x.shape[1:]) != tuple(data_shape) or x.dim() != len(data_shape) + 1 or x.shape[0] == 0:
        raise ValueError(
            f"{arg} must have shape (B, {', '.join(map(str, data_shape))}) with B >= 1; got {tuple(x.shape)}"
        )
    return x


def check_latent(z: object, y: object, latent_dim: int, n_charts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Check chart coordinates: z (B, latent_dim) floating, y (B,) int64 with values in [0, n_charts).

    Raises:
        TypeError: wrong types / dtypes.
        ValueError: wrong shapes.
        IndexError: a chart index out of range.
    """
    if not isinstance(z, torch.Tensor) or not z.is_floating_point():
        raise TypeError(f"z must be a floating-point torch.Tensor; got {type(z).__name__} {getattr(z, 'dtype', '')}")
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64:
        raise TypeError(f"y must be an int64 torch.Tensor; got {type(y).__name__} {getattr(y, 'dtype', '')}")
    if z.dim() != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"z must have shape (B, {latent_dim}); got {tuple(z.shape)}")
    if y.shape != (z.shape[0],):
        raise ValueError(f"y must have shape ({z.shape[0]},) to match z; got {tuple(y.shape)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_charts):
        raise IndexError(
            f"y must hold chart indices in [0, {n_charts}); got values in [{int(y.min())}, {int(y.max())}]"
        )
    return z, y
