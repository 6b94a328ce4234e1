"""One-line summaries of tensors for the ``repr`` of data records (shape, dtype, device and value range, no values)."""

from __future__ import annotations

import torch

__all__ = ["tensor_summary"]


def tensor_summary(tensor: torch.Tensor | None) -> str:
    """``float32[4096, 2] in [-1, 1]`` (device added when not the CPU; ``None`` for None; no range when empty).

    Args:
        tensor: any tensor (any device and dtype) or None.
    """
    if tensor is None:
        return "None"
    text = f"{str(tensor.dtype).removeprefix('torch.')}[{', '.join(str(d) for d in tensor.shape)}]"
    if tensor.device.type != "cpu":
        text += f" on {tensor.device}"
    if tensor.numel() and not tensor.is_complex() and tensor.dtype != torch.bool:
        lo, hi = tensor.min().item(), tensor.max().item()
        text += f" in [{lo:.4g}, {hi:.4g}]"
    return text
