"""Layers batched over charts: m independent copies of a layer evaluated in one kernel call.

Every layer here holds the parameters of ``m`` per-chart layers stacked along a leading chart axis and offers two
entry points:

* ``forward_all(x)``: ``x`` is ``(B, m, ...)``, chart ``c``'s copy is applied to ``x[:, c]`` (training: every sample
  through every chart) with one batched op (``torch.bmm``, grouped convolution, one ``batch_norm`` over ``m * C``
  channels);
* ``forward_chart(x, c)``: ``x`` is ``(N, ...)``, only chart ``c``'s copy is applied (decoding points that each live
  in one chart, e.g. ``decode(z, y)`` grouped by ``y``).

Parameter counts equal those of ``m`` separate ``nn.Linear`` / ``nn.ConvTranspose2d`` / ``nn.BatchNorm`` layers, and
the initialisation follows PyTorch's defaults for those layers.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class ChartLinear(nn.Module):
    """m affine maps R^fin -> R^fout, weight (m, fin, fout), bias (m, fout)."""

    def __init__(self, n_charts: int, fin: int, fout: int) -> None:
        super().__init__()
        self.n_charts, self.fin, self.fout = n_charts, fin, fout
        bound = 1.0 / math.sqrt(fin)
        self.weight = nn.Parameter(torch.empty(n_charts, fin, fout).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_charts, fout).uniform_(-bound, bound))

    def forward_all(self, x: torch.Tensor) -> torch.Tensor:
        """(B, m, fin) -> (B, m, fout); chart c's map applied to x[:, c]."""
        out = torch.bmm(x.transpose(0, 1), self.weight)  # (m, B, fout)
        return out.transpose(0, 1) + self.bias

    def forward_chart(self, x: torch.Tensor, chart: int) -> torch.Tensor:
        """(N, fin) -> (N, fout) through chart ``chart``'s map."""
        return torch.addmm(self.bias[chart], x, self.weight[chart])

    def extra_repr(self) -> str:
        return f"n_charts={self.n_charts}, fin={self.fin}, fout={self.fout}"


class ChartBatchNorm(nn.Module):
    """m batch norms over C channels each (any number of trailing spatial dims).

    ``forward_all`` in training mode uses batch statistics and updates the running statistics of every chart, like m
    separate ``nn.BatchNorm`` layers.  ``forward_chart`` in training mode uses the statistics of the given batch but
    leaves the running statistics alone (it serves inference-style calls such as ``decode``); in eval mode both use
    the running statistics.
    """

    running_mean: torch.Tensor
    running_var: torch.Tensor

    def __init__(self, n_charts: int, channels: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.n_charts, self.channels, self.eps, self.momentum = n_charts, channels, eps, momentum
        n = n_charts * channels
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n))
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))

    def forward_all(self, x: torch.Tensor) -> torch.Tensor:
        """(B, m, C, *spatial) -> same shape."""
        b = x.shape[0]
        flat = x.reshape(b, self.n_charts * self.channels, *x.shape[3:])
        out = F.batch_norm(
            flat, self.running_mean, self.running_var, self.weight, self.bias, self.training, self.momentum, self.eps
        )
        return out.view_as(x)

    def forward_chart(self, x: torch.Tensor, chart: int) -> torch.Tensor:
        """(N, C, *spatial) -> same shape, chart ``chart``'s normalisation."""
        sl = slice(chart * self.channels, (chart + 1) * self.channels)
        if self.training:
            return F.batch_norm(x, None, None, self.weight[sl], self.bias[sl], True, 0.0, self.eps)
        return F.batch_norm(
            x, self.running_mean[sl], self.running_var[sl], self.weight[sl], self.bias[sl], False, 0.0, self.eps
        )

    def extra_repr(self) -> str:
        return f"n_charts={self.n_charts}, channels={self.channels}"


class ChartConvTranspose2d(nn.Module):
    """m fractionally-strided convolutions cin -> cout, one grouped ``conv_transpose2d`` for all charts."""

    def __init__(self, n_charts: int, cin: int, cout: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__()
        self.n_charts, self.cin, self.cout = n_charts, cin, cout
        self.stride, self.padding = stride, padding
        self.weight = nn.Parameter(torch.empty(n_charts * cin, cout, kernel, kernel))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # fan_in = cout * k * k, as nn.ConvTranspose2d
        bound = 1.0 / math.sqrt(cout * kernel * kernel)
        self.bias = nn.Parameter(torch.empty(n_charts * cout).uniform_(-bound, bound))

    def forward_all(self, x: torch.Tensor) -> torch.Tensor:
        """(B, m, cin, H, W) -> (B, m, cout, H', W')."""
        b = x.shape[0]
        flat = x.reshape(b, self.n_charts * self.cin, *x.shape[3:])
        out = F.conv_transpose2d(flat, self.weight, self.bias, self.stride, self.padding, groups=self.n_charts)
        return out.view(b, self.n_charts, self.cout, *out.shape[2:])

    def forward_chart(self, x: torch.Tensor, chart: int) -> torch.Tensor:
        """(N, cin, H, W) -> (N, cout, H', W') through chart ``chart``'s convolution."""
        w = self.weight[chart * self.cin : (chart + 1) * self.cin]
        bias = self.bias[chart * self.cout : (chart + 1) * self.cout]
        return F.conv_transpose2d(x, w, bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"n_charts={self.n_charts}, cin={self.cin}, cout={self.cout}, stride={self.stride}"


class ChartActivation(nn.Module):
    """Swish (SiLU), applied elementwise; the same call for both entry points."""

    def forward_all(self, x: torch.Tensor) -> torch.Tensor:
        """Any shape -> same shape."""
        return F.silu(x)

    def forward_chart(self, x: torch.Tensor, chart: int) -> torch.Tensor:  # noqa: ARG002 - uniform interface
        """Any shape -> same shape."""
        return F.silu(x)


class ChartUnflatten(nn.Module):
    """Reshape the feature axis: (B, m, F) -> (B, m, *shape) and (N, F) -> (N, *shape)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward_all(self, x: torch.Tensor) -> torch.Tensor:
        """(B, m, F) -> (B, m, *shape)."""
        return x.reshape(*x.shape[:2], *self.shape)

    def forward_chart(self, x: torch.Tensor, chart: int) -> torch.Tensor:  # noqa: ARG002 - uniform interface
        """(N, F) -> (N, *shape)."""
        return x.reshape(x.shape[0], *self.shape)


def _chart_layer(layer: nn.Module) -> Any:
    """A chart layer (has forward_all / forward_chart); typed Any for the checker."""
    return layer


class ChartSequential(nn.ModuleList):
    """A chain of chart layers (each with ``forward_all`` and ``forward_chart``)."""

    def forward_all(self, x: torch.Tensor) -> torch.Tensor:
        """(B, m, ...) -> (B, m, ...)."""
        for layer in self:
            x = _chart_layer(layer).forward_all(x)
        return x

    def forward_chart(self, x: torch.Tensor, chart: int) -> torch.Tensor:
        """(N, ...) -> (N, ...) through chart ``chart``."""
        for layer in self:
            x = _chart_layer(layer).forward_chart(x, chart)
        return x
