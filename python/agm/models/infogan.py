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
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from agm.models._validation import check_data, check_latent
from agm.models.backbones import conv_networks, mlp_networks, resolve_architecture
from agm.models.networks import AtlasDecoder, AtlasEncoder
from agm.models.registry import register_model


class InfoGAN(nn.Module):
    """InfoGAN semi-AGM: chart decoders G_y (the generator), discriminator D, categorical inference network Q = psi.

    Implements :class:`agm.models.SemiAtlasModel` (``n_charts``, ``latent_dim``, ``decode``, ``partition``) and the
    trainer interface of :mod:`agm.training.interface` (optimizers ``"generator"`` and ``"discriminator"``).

    Args:
        n_charts: m >= 1 (values of the categorical code).
        data_shape: S, (1, 28, 28) (conv backbone) or (D,) (MLP backbone).
        hidden: width h of G and D; default :data:`agm.models.PAPER_HIDDEN` for images, 32 for flat data.
        latent_dim: d (continuous code); default 8 for m = 1, 7 otherwise (as the AWAE-GAN).
        lam: lambda >= 0, weight of the mutual-information term.
        name: registry name recorded in :meth:`spec`.
    """

    def __init__(
        self,
        n_charts: int,
        data_shape: tuple[int, ...],
        *,
        hidden: int | None = None,
        latent_dim: int | None = None,
        lam: float = 1.0,
        name: str = "infogan",
    ) -> None:
        super().__init__()
        shape, backbone, hidden, latent_dim = resolve_architecture(n_charts, data_shape, hidden, latent_dim)
        if not lam >= 0:
            raise ValueError(f"lam must be >= 0; got {lam}")
        self.n_charts, self.latent_dim, self.data_shape = n_charts, latent_dim, shape
        self.hidden, self.lam, self.backbone, self.name = hidden, float(lam), backbone, name

        def networks(m: int, d: int) -> tuple[AtlasEncoder, AtlasDecoder]:
            if backbone == "conv":
                return conv_networks(m, d, hidden)
            return mlp_networks(m, d, hidden, shape[0])

        self.generator: AtlasDecoder = networks(n_charts, latent_dim)[1]
        # D: the backbone's 1-chart encoder with a 1-dim output (the logit); no psi head yet
        self.discriminator: AtlasEncoder = networks(1, 1)[0]
        if n_charts > 1:
            self.discriminator.psi_head = networks(n_charts, 1)[0].psi_head  # Q(y | x) on D's trunk

    # ----------------------------------------------------------------- semi-atlas interface
    def discriminate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One trunk pass of D and Q.

        Args:
            x: (B, *S) float tensor on the model's device.

        Returns:
            D's logits (B,) (sigmoid = probability that x is real) and log Q(y | x) (B, m) (zeros for m = 1).
        """
        logit, log_q = self.discriminator(x)
        return logit.reshape(x.shape[0]), log_q

    def partition(self, x: torch.Tensor) -> torch.Tensor:
        """psi(x) = Q(y | x): x (B, *S) -> (B, m), softmax rows (exactly 1 for m = 1)."""
        check_data(x, self.data_shape)
        return self.discriminate(x)[1].exp()

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """G_y(z): z (B, d) float, y (B,) int64 in [0, m) -> (B, *S)."""
        check_latent(z, y, self.latent_dim, self.n_charts)
        if z.shape[0] == 0:
            return z.new_zeros(0, *self.data_shape)
        return self.generator.forward_select(z, y)

    def decode_all(self, z: torch.Tensor) -> torch.Tensor:
        """G_c(z[:, c]) for every chart c: z (B, m, d) -> (B, m, *S)."""
        if z.dim() != 3 or tuple(z.shape[1:]) != (self.n_charts, self.latent_dim):
            raise ValueError(f"z must have shape (B, {self.n_charts}, {self.latent_dim}); got {tuple(z.shape)}")
        return self.generator.forward_all(z)

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
    def make_optimizers(self, lr: dict[str, float], betas: tuple[float, float]) -> dict[str, torch.optim.Optimizer]:
        """Adam for G ("generator") and for D + Q ("discriminator"); both keys are required in ``lr``."""
        missing = {"generator", "discriminator"} - set(lr)
        if missing:
            raise ValueError(f"lr must give rates for {sorted(missing)}; got keys {sorted(lr)}")
        return {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=lr["generator"], betas=betas),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=lr["discriminator"], betas=betas),
        }

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
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        x_gen, y = self.generate(n, batch)  # its graph holds only G's parameters, which the D step leaves alone
        d = self.discriminator_losses(batch, x_gen.detach(), y)
        opt_d.zero_grad(set_to_none=True)
        d["total"].backward()
        opt_d.step()
        self.discriminator.requires_grad_(False)
        try:
            g = self.generator_losses(x_gen, y)  # against the updated D and Q
            opt_g.zero_grad(set_to_none=True)
            g["total"].backward()
            opt_g.step()
        finally:
            self.discriminator.requires_grad_(True)
        out = {k: float(d[k].detach()) for k in ("disc", "info_d")}
        out.update({k: float(g[k].detach()) for k in ("gen", "info", "mi")})
        return out

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable keyword arguments that rebuild this architecture with :func:`agm.models.build_model`."""
        return {
            "name": self.name,
            "n_charts": self.n_charts,
            "data_shape": list(self.data_shape),
            "hidden": self.hidden,
            "latent_dim": self.latent_dim,
            "lam": self.lam,
        }


def _build_infogan(n_charts: int, data_shape: tuple[int, ...], **kwargs: Any) -> nn.Module:
    return InfoGAN(n_charts, data_shape, **kwargs)


register_model("infogan", _build_infogan)
