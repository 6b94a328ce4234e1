"""Backbone-independent atlas networks: chart encoders + psi, chart decoders, per-chart latent discriminators.

The backbones (:func:`agm.models.backbones.conv_networks`, :func:`~agm.models.backbones.mlp_networks`) supply the
layers; these classes wire them so that every chart shares the trunk and owns its head, evaluated batched over charts.
"""

from __future__ import annotations

import torch
from torch import nn

from agm.models.chart_layers import ChartActivation, ChartBatchNorm, ChartLinear, ChartSequential


class AtlasEncoder(nn.Module):
    """Chart encoders F_y and the partition-of-unity network psi over one shared trunk.

    Args:
        trunk: x (B, *S) -> features (B, ...), shared by every chart and by psi.
        chart_block: features -> (B, m * F, ...): the last block of all m charts as one layer (its input is shared,
            so m per-chart blocks are one block with m times the output channels).
        chart_fc: per-chart FC F -> d.
        psi_head: features -> (B, m) logits, or None for m = 1 (psi is the constant 1).
    """

    def __init__(self, trunk: nn.Module, chart_block: nn.Module, chart_fc: ChartLinear, psi_head: nn.Module | None):
        super().__init__()
        self.trunk, self.chart_block, self.chart_fc, self.psi_head = trunk, chart_block, chart_fc, psi_head
        self.n_charts = chart_fc.n_charts

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, *S) -> (z (B, m, d), log_psi (B, m)); log_psi = log_softmax of psi's logits (zeros for m = 1)."""
        feats = self.trunk(x)
        return self._charts(feats), self._log_partition(feats)

    def charts(self, x: torch.Tensor) -> torch.Tensor:
        """Only the chart codes: x (B, *S) -> z (B, m, d) (skips the psi head)."""
        return self._charts(self.trunk(x))

    def log_partition(self, x: torch.Tensor) -> torch.Tensor:
        """Only log psi: x (B, *S) -> (B, m), zeros for m = 1 (skips the chart heads)."""
        return self._log_partition(self.trunk(x))

    def _charts(self, feats: torch.Tensor) -> torch.Tensor:
        heads = self.chart_block(feats).reshape(feats.shape[0], self.n_charts, -1)
        return self.chart_fc.forward_all(heads)

    def _log_partition(self, feats: torch.Tensor) -> torch.Tensor:
        if self.psi_head is None:
            return torch.zeros(feats.shape[0], 1, dtype=feats.dtype, device=feats.device)
        return torch.log_softmax(self.psi_head(feats), dim=1)


class AtlasDecoder(nn.Module):
    """Chart decoders G_y: a per-chart head (batched over charts) followed by a shared tail.

    Args:
        chart_head: ChartSequential mapping (B, m, d) -> (B, m, *T) (and (N, d) -> (N, *T) for one chart).
        tail: shared nn.Module mapping (N, *T) -> (N, *S).
    """

    def __init__(self, chart_head: ChartSequential, tail: nn.Module, n_charts: int) -> None:
        super().__init__()
        self.chart_head, self.tail, self.n_charts = chart_head, tail, n_charts

    def forward_all(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, m, d) -> (B, m, *S): G_c(z[:, c]) for every chart c."""
        b, m = z.shape[:2]
        t = self.chart_head.forward_all(z)
        out: torch.Tensor = self.tail(t.reshape(b * m, *t.shape[2:]))
        return out.reshape(b, m, *out.shape[1:])

    def forward_select(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """z (B, d), y (B,) int64 -> (B, *S): G_{y_i}(z_i); one pass per chart present in y."""
        charts = torch.unique(y).tolist()
        if len(charts) == 1:
            single: torch.Tensor = self.tail(self.chart_head.forward_chart(z, int(charts[0])))
            return single
        parts = []
        order = []
        for c in charts:
            idx = torch.nonzero(y == c).squeeze(1)
            parts.append(self.chart_head.forward_chart(z[idx], int(c)))
            order.append(idx)
        t = torch.cat(parts)
        inv = torch.empty(z.shape[0], dtype=torch.long, device=z.device)
        inv[torch.cat(order)] = torch.arange(z.shape[0], device=z.device)
        out: torch.Tensor = self.tail(t[inv])
        return out


class ChartDiscriminator(nn.Module):
    """One latent discriminator per chart (not shared): FC 4h four times (BN, Swish), FC 1; batched over charts.

    ``forward_all`` returns logits; sigmoid(logit) is the probability that z came from the prior N(0, I).
    """

    def __init__(self, n_charts: int, latent_dim: int, width: int, depth: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        fin = latent_dim
        for _ in range(depth):
            layers += [ChartLinear(n_charts, fin, width), ChartBatchNorm(n_charts, width), ChartActivation()]
            fin = width
        layers.append(ChartLinear(n_charts, fin, 1))
        self.net = ChartSequential(layers)

    def forward_all(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, m, d) -> logits (B, m): chart c's discriminator applied to z[:, c]."""
        return self.net.forward_all(z).squeeze(-1)
