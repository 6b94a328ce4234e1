"""AWAE-GAN (atlas Wasserstein autoencoder with a latent GAN, the paper's model) and WAE-GAN (its m = 1 case).

Objective (minimised by the encoders, psi and the decoders; see :mod:`agm.models.losses` for the derivation)::

    E_x sum_y psi_y(x) ||x - G_y(F_y(x))||^2
        +  lambda * ( sum_y E_x psi_y(x) [-log D_y(F_y(x))]  +  JS(E_x psi(x) || U) )

with lambda = 10, one latent discriminator D_y per chart (the paper's discriminators are "not shared"), trained on the
importance-weighted samples (F_y(x), y) with weight psi_y(x) against prior samples (z ~ N(0, I), y) with weight 1/m.
For m = 1 psi is the constant 1, the marginal term vanishes and this is exactly the WAE-GAN of Tolstikhin et al.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from agm.models._validation import check_data, check_latent
from agm.models.backbones import conv_networks, mlp_networks, resolve_architecture
from agm.models.losses import discriminator_loss, encoder_adversarial, marginal_js, weighted_reconstruction
from agm.models.networks import AtlasDecoder, AtlasEncoder, ChartDiscriminator


class AWAEGAN(nn.Module):
    """Atlas WAE-GAN: m chart encoders F_y, m chart decoders G_y, psi, m latent discriminators.

    Implements :class:`agm.models.AtlasModel` (``n_charts``, ``latent_dim``, ``encode``, ``decode``, ``partition``)
    and the trainer interface of :mod:`agm.training.interface` (``make_optimizers``, ``training_step``, ``spec``).
    The atlas maps (``encode``, ``partition``, ``decode``, ``decode_all``) are per-point functions: their batch norms
    always use the running statistics, in train and eval mode alike, and they stay differentiable.  All tensors live
    on the model's device; inputs are float32 (float64 works if the model is converted with ``.double()``).

    Args:
        n_charts: m >= 1.
        data_shape: S, (1, 28, 28) (conv backbone) or (D,) (MLP backbone).
        hidden: width h; default the paper's value for m (:data:`PAPER_HIDDEN`), 32 for the MLP backbone.
        latent_dim: d; default 8 for m = 1 (WAE-GAN) and 7 otherwise (AWAE-GAN), as in the paper.
        lam: lambda, weight of the divergence terms (paper: 10).
        name: registry name recorded in :meth:`spec` ("awae" or "wae").
    """

    encoder: AtlasEncoder
    decoder: AtlasDecoder
    discriminator: ChartDiscriminator

    def __init__(
        self,
        n_charts: int,
        data_shape: tuple[int, ...],
        *,
        hidden: int | None = None,
        latent_dim: int | None = None,
        lam: float = 10.0,
        name: str = "awae",
    ) -> None:
        super().__init__()
        shape, backbone, hidden, latent_dim = resolve_architecture(n_charts, data_shape, hidden, latent_dim)
        if not lam >= 0:
            raise ValueError(f"lam must be >= 0; got {lam}")
        self.n_charts, self.latent_dim, self.data_shape = n_charts, int(latent_dim), shape
        self.hidden, self.lam, self.backbone, self.name = int(hidden), float(lam), backbone, name
        if backbone == "conv":
            self.encoder, self.decoder = conv_networks(n_charts, self.latent_dim, self.hidden)
        else:
            self.encoder, self.decoder = mlp_networks(n_charts, self.latent_dim, self.hidden, shape[0])
        self.discriminator = ChartDiscriminator(n_charts, self.latent_dim, 4 * self.hidden)

    # ----------------------------------------------------------------- atlas interface
    # The atlas maps are per-point functions: batch norm always uses its running statistics here (whatever the
    # module's train/eval mode), so a point's code or decoding never depends on the rest of the batch.  They stay
    # differentiable.  Training uses the networks directly (batch statistics), see autoencoder_losses.
    @contextmanager
    def _per_point(self) -> Iterator[None]:
        was = self.training
        self.train(False)
        try:
            yield
        finally:
            self.train(was)

    def encode_partition(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One trunk pass: (F_y(x) for all y, psi(x)).

        Args:
            x: (B, *S) float tensor on the model's device.

        Returns:
            z: (B, m, d) and psi: (B, m) (rows on the simplex), same dtype/device as x.
        """
        check_data(x, self.data_shape)
        with self._per_point():
            z, log_psi = self.encoder(x)
        return z, log_psi.exp()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Chart maps F_y(x) for every chart: x (B, *S) -> (B, m, d)."""
        return self.encode_partition(x)[0]

    def partition(self, x: torch.Tensor) -> torch.Tensor:
        """psi(x) = q(y | x): x (B, *S) -> (B, m), softmax rows (exactly 1 for m = 1)."""
        return self.encode_partition(x)[1]

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """G_y(z): z (B, d) float, y (B,) int64 in [0, m) -> (B, *S) (pixels in [0, 1] for the conv backbone)."""
        check_latent(z, y, self.latent_dim, self.n_charts)
        if z.shape[0] == 0:
            return z.new_zeros(0, *self.data_shape)
        with self._per_point():
            return self.decoder.forward_select(z, y)

    def decode_all(self, z: torch.Tensor) -> torch.Tensor:
        """G_c(z[:, c]) for every chart c: z (B, m, d) -> (B, m, *S)."""
        if z.dim() != 3 or tuple(z.shape[1:]) != (self.n_charts, self.latent_dim):
            raise ValueError(f"z must have shape (B, {self.n_charts}, {self.latent_dim}); got {tuple(z.shape)}")
        with self._per_point():
            return self.decoder.forward_all(z)

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
    def make_optimizers(self, lr: dict[str, float], betas: tuple[float, float]) -> dict[str, torch.optim.Optimizer]:
        """Adam for the encoders + psi + decoders ("autoencoder") and for the discriminators ("discriminator").

        Args:
            lr: learning rates by optimizer name; keys "autoencoder" and "discriminator" are required.
            betas: Adam betas (paper: (0.5, 0.999)).
        """
        missing = {"autoencoder", "discriminator"} - set(lr)
        if missing:
            raise ValueError(f"lr must give rates for {sorted(missing)}; got keys {sorted(lr)}")
        ae = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return {
            "autoencoder": torch.optim.Adam(ae, lr=lr["autoencoder"], betas=betas),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=lr["discriminator"], betas=betas),
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
        self.discriminator.requires_grad_(False)
        losses = self.autoencoder_losses(batch, z_prior)
        self.discriminator.requires_grad_(True)
        opt_ae, opt_d = optimizers["autoencoder"], optimizers["discriminator"]
        opt_ae.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt_ae.step()
        d_loss = self.discriminator_step_loss(losses["z"], losses["psi"], z_prior)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        out = {k: float(losses[k].detach()) for k in ("rec", "adv", "marg", "total")}
        out["disc"] = float(d_loss.detach())
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
