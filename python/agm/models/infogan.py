"""InfoGAN as a semi-AGM (the paper's eq. 3-5): chart decoders G_y, a discriminator D and psi = Q(y | x).

Latent code (z, y) with z ~ N(0, I_d) and y ~ Uniform{1..m} (the categorical code); the generator is the atlas of
chart decoders, x = G_y(z).  D and Q share one trunk (as in Chen et al.); Q's head gives psi(x) = Q(y | x).
With L_I = log m + E_{y, z} log Q(y | G_y(z)) (the variational lower bound of I(Y; G_Y(Z)), <= log m; 0 for m = 1),
the updates alternate, each with Adam:

* discriminator + Q (optimizer ``"discriminator"``): minimise
  -E_x log D(x) - E_{y,z} log(1 - D(G_y(z)))  +  lambda * (-E log Q(y | G_y(z)))   (generated points detached);
* generator (optimizer ``"generator"``): minimise the **non-saturating** loss
  -E_{y,z} log D(G_y(z))  +  lambda * (-E log Q(y | G_y(z)))
  (instead of the minimax E log(1 - D(G_y(z))), which saturates early in training; Goodfellow et al. 2014).

Both minimise -lambda * L_I up to the constant lambda * log m, i.e. InfoGAN's min_{G,Q} max_D V(D, G) - lambda L_I.
Every batch of generated points is stratified: ceil(B / m) (at least 2) draws of z per chart, every chart decoding
its own draws in one batched pass (so each chart's batch norm sees its own samples).  Default lambda = 1 (the InfoGAN
paper's value for discrete codes).

This is a semi-AGM: it has ``decode`` and ``partition`` but no chart encoders, and deliberately **no** ``encode``
attribute, so it satisfies :class:`agm.models.SemiAtlasModel` and not :class:`agm.models.AtlasModel`.
Architecture: the AWAE-GAN's backbones; G is the backbone's chart decoder (conv: outputs in [0, 1]), D is the
backbone's one-chart encoder with a 1-dimensional output (the logit) and Q is the backbone's psi head on D's trunk.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from agm.models._validation import check_data
from agm.models.family import Architecture, SemiAtlasFamily, frozen, optimizer_step, scalar_floats
from agm.models.networks import AtlasDecoder, AtlasEncoder
from agm.models.registry import register_family

if TYPE_CHECKING:
    from typing_extensions import Unpack


@register_family("infogan")
class InfoGAN(SemiAtlasFamily):
    """InfoGAN semi-AGM: chart decoders G_y (the generator), discriminator D, categorical inference network Q = psi.

    The semi-atlas interface and the trainer interface come from :class:`agm.models.family.SemiAtlasFamily`
    (per-point ``decode`` and ``partition``: batch norm on running statistics in train and eval mode); optimizers
    "generator" and "discriminator" (D and Q).

    Args:
        n_charts: m >= 1 (values of the categorical code).
        data_shape: S, (1, 28, 28) (conv backbone) or (D,) (MLP backbone).
        hidden: width h of G and D; default :data:`agm.models.PAPER_HIDDEN` for images, 32 for flat data.
        latent_dim: d (continuous code); default 8 for m = 1, 7 otherwise (as the AWAE-GAN).
        lam: lambda >= 0, weight of the mutual-information term.
        name: registry name recorded in :meth:`spec`.

    Raises:
        ValueError: bad architecture (see :class:`~agm.models.family.SemiAtlasFamily`) or lam < 0.
    """

    SPEC_OPTIONS: ClassVar[tuple[str, ...]] = ("lam",)

    generator: AtlasDecoder
    discriminator: AtlasEncoder

    def __init__(
        self,
        n_charts: int,
        data_shape: tuple[int, ...],
        *,
        lam: float = 1.0,
        name: str = "infogan",
        **architecture: Unpack[Architecture],
    ) -> None:
        super().__init__(n_charts, data_shape, name=name, **architecture)
        if not lam >= 0:
            raise ValueError(f"lam must be >= 0; got {lam}")
        self.lam = float(lam)
        self.generator = self.networks()[1]
        # D: the backbone's 1-chart encoder with a 1-dim output (the logit); no psi head yet
        self.discriminator = self.networks(1, 1)[0]
        if n_charts > 1:
            self.discriminator.psi_head = self.networks(n_charts, 1)[0].psi_head  # Q(y | x) on D's trunk

    @property
    def chart_decoder(self) -> AtlasDecoder:
        """The generator: the chart decoders G_y."""
        return self.generator

    def log_partition_batch(self, x: torch.Tensor) -> torch.Tensor:
        """log Q(y | x): (B, *S) -> (B, m) through D's trunk and Q's head as they are (zeros for m = 1)."""
        return self.discriminator.log_partition(x)

    def discriminate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One trunk pass of D and Q.

        Args:
            x: (B, *S) float tensor on the model's device.

        Returns:
            D's logits (B,) (sigmoid = probability that x is real) and log Q(y | x) (B, m) (zeros for m = 1).
        """
        logit, log_q = self.discriminator(x)
        return logit.reshape(x.shape[0]), log_q

    # ----------------------------------------------------------------- objective
    def generate(self, n_per_chart: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stratified samples of the generator: n_per_chart draws z ~ N(0, I) decoded by every chart.

        Args:
            n_per_chart: draws per chart (>= 2 in training mode: batch norm).  like: a tensor giving dtype/device.

        Returns:
            x_gen (n_per_chart * m, *S) and their codes y (n_per_chart * m,) int64 (chart-major within each draw).
        """
        m = self.n_charts
        z = torch.randn(n_per_chart, m, self.latent_dim, dtype=like.dtype, device=like.device)
        x_gen = self.generator.forward_all(z).reshape(n_per_chart * m, *self.data_shape)
        return x_gen, torch.arange(m, device=like.device).repeat(n_per_chart)

    def _info_nll(self, log_q: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """-E log Q(y | x_gen) (0 for m = 1): log_q (N, m), y (N,) -> scalar."""
        return F.nll_loss(log_q, y) if self.n_charts > 1 else log_q.new_zeros(())

    def discriminator_losses(self, x: torch.Tensor, x_gen: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """D + Q terms: "disc" (real vs generated BCE), "info_d" (-E log Q(y | x_gen)), "total" = disc + lam info_d.

        Args:
            x: (B, *S) real batch.  x_gen: (N, *S) generated points (detach them for the D step).  y: (N,) codes.
        """
        real_logit, _ = self.discriminate(x)
        gen_logit, log_q = self.discriminate(x_gen)
        disc = F.softplus(-real_logit).mean() + F.softplus(gen_logit).mean()
        info = self._info_nll(log_q, y)
        return {"disc": disc, "info_d": info, "total": disc + self.lam * info}

    def generator_losses(self, x_gen: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """G terms: "gen" (non-saturating -E log D(x_gen)), "info" (-E log Q(y | x_gen)), "mi" (L_I = log m - info),
        "total" = gen + lam * info.

        Args:
            x_gen: (N, *S) generated points (with their graph to the generator).  y: (N,) their codes.
        """
        gen_logit, log_q = self.discriminate(x_gen)
        gen = F.softplus(-gen_logit).mean()
        info = self._info_nll(log_q, y)
        mi = math.log(self.n_charts) - info
        return {"gen": gen, "info": info, "mi": mi, "total": gen + self.lam * info}

    # ----------------------------------------------------------------- trainer interface
    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        """ "generator": G; "discriminator": D and Q (they share D's trunk)."""
        return {"generator": list(self.generator.parameters()), "discriminator": list(self.discriminator.parameters())}

    def training_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        """One D + Q step, then one G step on the same generated batch (stratified, ceil(B / m) >= 2 draws per chart).

        Args:
            batch: (B, *S) real data on the model's device, B >= 2.
            optimizers: as returned by :meth:`make_optimizers`.

        Returns:
            Floats "disc", "info_d", "gen", "info", "mi".
        """
        self.train()
        check_data(batch, self.data_shape, "batch")
        n = max(2, -(-batch.shape[0] // self.n_charts))
        x_gen, y = self.generate(n, batch)  # its graph holds only G's parameters, which the D step leaves alone
        d = self.discriminator_losses(batch, x_gen.detach(), y)
        optimizer_step(optimizers["discriminator"], d["total"])
        with frozen(self.discriminator):
            g = self.generator_losses(x_gen, y)  # against the updated D and Q
            optimizer_step(optimizers["generator"], g["total"])
        return {**scalar_floats(d, ("disc", "info_d")), **scalar_floats(g, ("gen", "info", "mi"))}
