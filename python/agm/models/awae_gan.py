"""AWAE-GAN (atlas Wasserstein autoencoder with a latent GAN, the paper's model) and WAE-GAN (its m = 1 case).

Objective (minimised by the encoders, psi and the decoders; see :mod:`agm.models.losses` for the derivation)::

    E_x sum_y psi_y(x) ||x - G_y(F_y(x))||^2
        +  lambda * ( sum_y E_x psi_y(x) [-log D_y(F_y(x))]  +  JS(E_x psi(x) || U) )

with lambda = 10, one latent discriminator D_y per chart (the paper's discriminators are "not shared"), trained on the
importance-weighted samples (F_y(x), y) with weight psi_y(x) against prior samples (z ~ N(0, I), y) with weight 1/m.
For m = 1 psi is the constant 1, the marginal term vanishes and this is exactly the WAE-GAN of Tolstikhin et al.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from agm.models._validation import check_data
from agm.models.family import Architecture, AtlasFamily, frozen, optimizer_step, scalar_floats
from agm.models.losses import discriminator_loss, encoder_adversarial, marginal_js, weighted_reconstruction
from agm.models.networks import ChartDiscriminator
from agm.models.registry import register_family

if TYPE_CHECKING:
    from typing_extensions import Unpack


@register_family("awae", "wae")
class AWAEGAN(AtlasFamily):
    """Atlas WAE-GAN: m chart encoders F_y, m chart decoders G_y, psi, m latent discriminators.

    The atlas interface and the trainer interface come from :class:`agm.models.family.AtlasFamily` (per-point atlas
    maps: batch norm on running statistics in train and eval mode); optimizers "autoencoder" (encoders, psi,
    decoders) and "discriminator".

    Args:
        n_charts: m >= 1 (exactly 1 for name "wae").
        data_shape: S, (1, 28, 28) (conv backbone) or (D,) (MLP backbone).
        hidden: width h; default the paper's value for m (:data:`PAPER_HIDDEN`), 32 for the MLP backbone.
        latent_dim: d; default 8 for m = 1 (WAE-GAN) and 7 otherwise (AWAE-GAN), as in the paper.
        lam: lambda, weight of the divergence terms (paper: 10).
        name: registry name recorded in :meth:`spec`: "awae" or "wae" (the WAE-GAN, one chart).

    Raises:
        ValueError: bad architecture (see :class:`~agm.models.family.SemiAtlasFamily`), lam < 0, an unknown name,
            or name "wae" with n_charts != 1.
    """

    SPEC_OPTIONS: ClassVar[tuple[str, ...]] = ("lam",)

    discriminator: ChartDiscriminator

    def __init__(
        self,
        n_charts: int,
        data_shape: tuple[int, ...],
        *,
        lam: float = 10.0,
        name: str = "awae",
        **architecture: Unpack[Architecture],
    ) -> None:
        if name == "wae" and n_charts != 1:
            raise ValueError(f"the WAE-GAN has one chart: n_charts must be 1; got {n_charts} (use model 'awae')")
        if name not in ("awae", "wae"):
            raise ValueError(f"name must be 'awae' or 'wae'; got {name!r}")
        super().__init__(n_charts, data_shape, name=name, **architecture)
        if not lam >= 0:
            raise ValueError(f"lam must be >= 0; got {lam}")
        self.lam = float(lam)
        self.encoder, self.decoder = self.networks()
        self.discriminator = ChartDiscriminator(n_charts, self.latent_dim, 4 * self.hidden)

    def chart_codes_batch(self, x: torch.Tensor) -> torch.Tensor:
        """F_y(x): (B, *S) -> (B, m, d) through the encoder as it is."""
        return self.encoder.charts(x)

    def log_partition_batch(self, x: torch.Tensor) -> torch.Tensor:
        """log psi(x): (B, *S) -> (B, m) through the encoder as it is."""
        return self.encoder.log_partition(x)

    # ----------------------------------------------------------------- objective
    def autoencoder_losses(self, x: torch.Tensor, z_prior: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Loss terms of the encoder/psi/decoder step on a batch (differentiable).

        Args:
            x: (B, *S) batch.  z_prior: (B, m, d) prior samples for the discriminators' batch-norm statistics
                (drawn from N(0, I) if None).

        Returns:
            dict with scalar tensors "rec", "adv", "marg", "total" (= rec + lam * (adv + marg)) and the detached
            intermediate tensors "z" (B, m, d) and "psi" (B, m) for the discriminator step.
        """
        check_data(x, self.data_shape)
        z, log_psi = self.encoder(x)
        psi = log_psi.exp()
        rec = weighted_reconstruction(x, self.decoder.forward_all(z), psi)
        if z_prior is None:
            z_prior = torch.randn_like(z)
        logits_q = self.discriminator.forward_all(torch.cat([z_prior, z]))[z_prior.shape[0] :]
        adv = encoder_adversarial(logits_q, psi)
        marg = marginal_js(psi)
        total = rec + self.lam * (adv + marg)
        return {"rec": rec, "adv": adv, "marg": marg, "total": total, "z": z.detach(), "psi": psi.detach()}

    def discriminator_step_loss(self, z: torch.Tensor, psi: torch.Tensor, z_prior: torch.Tensor) -> torch.Tensor:
        """Discriminator loss on encoded z (B, m, d) with weights psi (B, m) vs prior samples z_prior (Bp, m, d)."""
        logits = self.discriminator.forward_all(torch.cat([z_prior, z]))
        return discriminator_loss(logits[: z_prior.shape[0]], logits[z_prior.shape[0] :], psi)

    # ----------------------------------------------------------------- trainer interface
    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        """ "autoencoder": encoders + psi + decoders; "discriminator": the latent discriminators."""
        return {
            "autoencoder": list(self.encoder.parameters()) + list(self.decoder.parameters()),
            "discriminator": list(self.discriminator.parameters()),
        }

    def training_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        """One alternating update: encoders/psi/decoders on the full objective, then the discriminators.

        Args:
            batch: (B, *S) float tensor on the model's device, B >= 2 (batch norm).
            optimizers: as returned by :meth:`make_optimizers`.

        Returns:
            Floats "rec", "adv", "marg", "total", "disc" (the discriminator loss).
        """
        self.train()
        z_prior = torch.randn(batch.shape[0], self.n_charts, self.latent_dim, device=batch.device, dtype=batch.dtype)
        with frozen(self.discriminator):
            losses = self.autoencoder_losses(batch, z_prior)
        optimizer_step(optimizers["autoencoder"], losses["total"])
        d_loss = self.discriminator_step_loss(losses["z"], losses["psi"], z_prior)
        optimizer_step(optimizers["discriminator"], d_loss)
        return {**scalar_floats(losses, ("rec", "adv", "marg", "total")), "disc": float(d_loss.detach())}


def count_parameters(model: AWAEGAN, part: str = "autoencoder") -> int:
    """Number of trainable parameters of an AWAE-GAN part.

    Args:
        model: an :class:`AWAEGAN`.
        part: "autoencoder" (encoders + psi + decoders, the paper's Table 1 count), "discriminator" or "all".
    """
    parts: dict[str, list[nn.Module]] = {
        "autoencoder": [model.encoder, model.decoder],
        "discriminator": [model.discriminator],
        "all": [model],
    }
    if part not in parts:
        raise ValueError(f"part must be one of {sorted(parts)}; got {part!r}")
    return sum(p.numel() for mod in parts[part] for p in mod.parameters())
