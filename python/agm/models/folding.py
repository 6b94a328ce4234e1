"""Eval-mode batch norm folded into the layer before it: BN(W v + b) = (s W) v + (s b + t), one layer fewer.

In eval mode a batch norm is the per-channel affine map v -> s v + t with s = gamma / sqrt(running_var + eps) and
t = beta - running_mean s.  When it directly follows a linear layer (``nn.Linear``, ``nn.Conv{1,2,3}d``,
``nn.ConvTranspose{1,2,3}d`` with any groups, and the per-chart :class:`~agm.models.chart_layers.ChartLinear` and
:class:`~agm.models.chart_layers.ChartConvTranspose2d`), scaling that layer's output channels by s and setting its
bias to s b + t gives the same map.  The fold is computed in float64 and rounded once to the weights' dtype, so the
folded network differs from the unfolded one only by float rounding (the products are summed in another order).

:func:`fold_batch_norms` folds every such pair in the ``nn.Sequential`` and
:class:`~agm.models.chart_layers.ChartSequential` chains of a module, in place: give it a copy.  A batch norm that
follows anything else (an activation, a reshape) or uses batch statistics in eval mode (``track_running_stats=False``)
is kept as it is.
"""

from __future__ import annotations

import torch
from torch import nn

from agm.models.chart_layers import ChartBatchNorm, ChartConvTranspose2d, ChartLinear, ChartSequential

_TORCH_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_TORCH_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TORCH_CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def batch_norm_affine(bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The eval-mode map of a batch norm as (s, t), float64 (C,) on its device: BN(v) = s v + t per channel.

    Returns None for a module that is not a batch norm, or a batch norm without running statistics (it normalises
    with the statistics of its batch even in eval mode, so it is not an affine map of one point).
    """
    gamma: torch.Tensor | None
    beta: torch.Tensor | None
    if isinstance(bn, ChartBatchNorm):
        mean, var, gamma, beta, eps = bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.eps
    elif isinstance(bn, _TORCH_BN):
        if bn.running_mean is None or bn.running_var is None:
            return None
        mean, var, eps = bn.running_mean, bn.running_var, bn.eps
        gamma, beta = (bn.weight, bn.bias) if bn.affine else (None, None)
    else:
        return None
    scale = torch.rsqrt(var.detach().double() + eps)
    if gamma is not None:
        scale = scale * gamma.detach().double()
    shift = -mean.detach().double() * scale
    if beta is not None:
        shift = shift + beta.detach().double()
    return scale, shift


def _channel_view(layer: nn.Module, n_channels: int) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(weight view, scale view) shapes that put ``layer``'s output channels on one axis; None if not foldable."""
    w = getattr(layer, "weight", None)
    if not isinstance(w, torch.Tensor):
        return None
    view: tuple[int, ...]
    scale: tuple[int, ...]
    if isinstance(layer, nn.Linear) or isinstance(layer, _TORCH_CONV):  # weight (out, in/g, *k)
        out = w.shape[0]
        view, scale = (out, -1), (out, 1)
    elif isinstance(layer, _TORCH_CONV_T):  # weight (in, out/g, *k)
        g = layer.groups
        out = w.shape[1] * g
        view, scale = (g, w.shape[0] // g, w.shape[1], -1), (g, 1, w.shape[1], 1)
    elif isinstance(layer, ChartLinear):  # weight (m, fin, fout)
        out = layer.n_charts * layer.fout
        view, scale = (layer.n_charts, layer.fin, layer.fout), (layer.n_charts, 1, layer.fout)
    elif isinstance(layer, ChartConvTranspose2d):  # weight (m * cin, cout, k, k)
        out = layer.n_charts * layer.cout
        view, scale = (layer.n_charts, layer.cin, layer.cout, -1), (layer.n_charts, 1, layer.cout, 1)
    else:
        return None
    return (view, scale) if out == n_channels else None


def fold_into(layer: nn.Module, bn: nn.Module) -> bool:
    """Fold the eval-mode batch norm ``bn`` into the linear ``layer`` before it, in place; whether it was folded.

    A per-chart batch norm (:class:`ChartBatchNorm`) folds only into a per-chart layer and a torch batch norm only
    into a torch layer; the channel counts must match.  ``layer`` gets a bias if it had none.
    """
    affine = batch_norm_affine(bn)
    if affine is None or isinstance(bn, ChartBatchNorm) != isinstance(layer, (ChartLinear, ChartConvTranspose2d)):
        return False
    scale, shift = affine
    views = _channel_view(layer, scale.numel())
    if views is None:
        return False
    weight_view, scale_view = views
    weight = layer.weight
    bias = getattr(layer, "bias", None)
    if not isinstance(weight, torch.Tensor) or not (bias is None or isinstance(bias, torch.Tensor)):
        return False
    with torch.no_grad():
        folded_w = weight.detach().double().reshape(weight_view) * scale.reshape(scale_view)
        weight.copy_(folded_w.reshape(weight.shape))
        folded_b = shift if bias is None else bias.detach().double().reshape(-1) * scale + shift
        if bias is None:
            layer.bias = nn.Parameter(folded_b.to(weight.dtype), requires_grad=weight.requires_grad)
        else:
            bias.copy_(folded_b.reshape(bias.shape))
    return True


def _fold_chain(layers: list[nn.Module]) -> list[nn.Module]:
    kept: list[nn.Module] = []
    for layer in layers:
        if kept and batch_norm_affine(layer) is not None and fold_into(kept[-1], layer):
            continue
        kept.append(fold_batch_norms(layer))
    return kept


def fold_batch_norms(module: nn.Module) -> nn.Module:
    """Fold every eval-mode batch norm that follows a linear layer in ``module``'s chains; ``module`` is modified.

    Args:
        module: any module; its ``nn.Sequential`` and :class:`ChartSequential` chains (at any depth) are rebuilt
            without the folded batch norms, other children are searched recursively.

    Returns:
        The folded module (a new container when ``module`` itself is a chain), to be used in eval mode: it equals
        ``module`` in eval mode up to float rounding.
    """
    if isinstance(module, ChartSequential):
        return ChartSequential(_fold_chain(list(module)))
    if isinstance(module, nn.Sequential):
        return nn.Sequential(*_fold_chain(list(module)))
    for name, child in list(module.named_children()):
        setattr(module, name, fold_batch_norms(child))
    return module
