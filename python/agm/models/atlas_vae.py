"""Atlas VAE: the M2 model of Kingma et al. without labels, read as an AGM (the paper's eq. 1-2).

Generative model p(y) = Uniform{1..m}, p(z) = N(0, I_d), p(x | z, y) = chart decoder y.  Inference model
q(y | x) = psi_y(x) (categorical) and q(z | x, y) = N(mu_y(x), diag sigma_y(x)^2) (one Gaussian encoder per chart).
The loss is the negative evidence lower bound, summed exactly over y (no sampling of y)::

    ELBO(x) = sum_y psi_y(x) [ E_{q(z|x,y)} log p(x | z, y) - KL(q(z|x,y) || N(0, I)) ]  -  KL(psi(x) || Uniform)

with one reparameterised sample z = mu_y + sigma_y * eps per chart and sample.  Likelihoods:

* ``"bernoulli"`` (default for (1, 28, 28) images in [0, 1]): the decoder outputs logits (the conv tail's final
  sigmoid is dropped), log p(x | z, y) = -BCE_with_logits(logits, x) summed over pixels; the decoded mean is
  sigmoid(logits).  Grey levels x in (0, 1) are used as soft targets, the usual practice (then this is a
  cross-entropy, not a normalised density of x).
* ``"gaussian"`` (default for flat data (D,)): log p(x | z, y) = log N(x; G_y(z), sigma^2 I) with one learned scalar
  sigma = exp(max(log_obs_std, log 1e-3)) shared by all charts, initialised at ``obs_std`` (default 0.1: starting at
  sigma = 1 lets the decoder ignore z on unit-scale data, the posterior collapses and stays collapsed; measured on the
  circle, see tests/test_models_families.py); the decoded mean is the decoder output.

Optional mutual-information regulariser (InfoCatVAE, Pineau & Lelarge 2018), weight ``mi_weight`` (default 0: the
plain ELBO).  With y_k ~ Uniform (stratified: every chart equally often), z_k ~ N(0, I) and x_k = mean of
p(x | z_k, y_k), the InfoGAN-style variational lower bound of the mutual information between the chart and the
generated point is::

    I_hat = log m + (1/K) sum_k log psi_{y_k}(x_k)        (<= I(Y; X_gen) <= log m; 0 for m = 1)

and the minimised loss is  -mean_x ELBO(x) - mi_weight * I_hat.  It pushes the decoders to make the charts
distinguishable and psi to recognise them (it counters the M2 term KL(psi || Uniform), which on its own drives every
psi(x) towards uniform).

Atlas interface: F_y(x) = mu_y(x) (posterior means), G_y(z) = decoded means, psi(x) = q(y | x).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from agm.models._validation import check_data
from agm.models.chart_layers import ChartLinear
from agm.models.family import Architecture, AtlasFamily
from agm.models.registry import register_family

if TYPE_CHECKING:
    from typing_extensions import Unpack

LIKELIHOODS: tuple[str, ...] = ("bernoulli", "gaussian")

#: Lower bound of log sigma of the Gaussian likelihood (sigma >= 1e-3 keeps the ELBO bounded on exact manifolds).
MIN_LOG_STD = math.log(1e-3)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) over the last axis: (..., d) -> (...)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def categorical_kl_uniform(log_psi: torch.Tensor) -> torch.Tensor:
    """KL(psi || Uniform{1..m}) per row: log_psi (B, m) -> (B,), in [0, log m]."""
    m = log_psi.shape[1]
    return (log_psi.exp() * (log_psi + math.log(m))).sum(1)


@register_family("avae")
class AtlasVAE(AtlasFamily):
    """Atlas VAE: per-chart Gaussian encoders q(z | x, y), psi = q(y | x) and per-chart decoders p(x | z, y).

    The atlas interface and the trainer interface come from :class:`agm.models.family.AtlasFamily` (per-point atlas
    maps: batch norm on running statistics in train and eval mode); one optimizer, "autoencoder" (encoders, psi,
    decoders and sigma), one Adam step on -ELBO - mi_weight * I_hat per batch.

    Args:
        n_charts: m >= 1.
        data_shape: S, (1, 28, 28) (conv backbone) or (D,) (MLP backbone).
        hidden: width h; default :data:`agm.models.PAPER_HIDDEN` for images, 32 for flat data.
        latent_dim: d; default 8 for m = 1, 7 otherwise (as the AWAE-GAN).
        likelihood: "bernoulli" or "gaussian"; None: bernoulli for images, gaussian for flat data.
        mi_weight: weight >= 0 of the InfoCatVAE mutual-information term (module docstring).
        obs_std: initial sigma > 0 of the Gaussian likelihood (ignored, but recorded, for "bernoulli").
        name: registry name recorded in :meth:`spec`.

    Raises:
        ValueError: bad architecture (see :class:`~agm.models.family.SemiAtlasFamily`), an unknown likelihood,
            mi_weight < 0 or obs_std <= 0.
    """

    SPEC_OPTIONS: ClassVar[tuple[str, ...]] = ("likelihood", "mi_weight", "obs_std")

    def __init__(
        self,
        n_charts: int,
        data_shape: tuple[int, ...],
        *,
        likelihood: str | None = None,
        mi_weight: float = 0.0,
        obs_std: float = 0.1,
        name: str = "avae",
        **architecture: Unpack[Architecture],
    ) -> None:
        super().__init__(n_charts, data_shape, name=name, **architecture)
        if likelihood is None:
            likelihood = "bernoulli" if self.backbone == "conv" else "gaussian"
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}; got {likelihood!r}")
        if not mi_weight >= 0:
            raise ValueError(f"mi_weight must be >= 0; got {mi_weight}")
        if not obs_std > 0:
            raise ValueError(f"obs_std must be > 0; got {obs_std}")
        self.likelihood, self.mi_weight, self.obs_std = likelihood, float(mi_weight), float(obs_std)
        self.encoder, self.decoder = self.networks()
        # per-chart head emits (mu, logvar): the backbone's chart FC F -> d becomes F -> 2d
        self.encoder.chart_fc = ChartLinear(n_charts, self.encoder.chart_fc.fin, 2 * self.latent_dim)
        tail = self.decoder.tail
        if likelihood == "bernoulli" and isinstance(tail, nn.Sequential) and isinstance(tail[-1], nn.Sigmoid):
            tail[-1] = nn.Identity()  # the decoder emits logits; decoded_mean applies the sigmoid
        self.log_obs_std = nn.Parameter(torch.tensor(math.log(obs_std))) if likelihood == "gaussian" else None

    # ----------------------------------------------------------------- posterior and likelihood
    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q(z | x, y) for every chart and log q(y | x).

        Args:
            x: (B, *S) float tensor on the model's device.

        Returns:
            mu (B, m, d), logvar (B, m, d) and log_psi (B, m) (log-softmax rows; zeros for m = 1).
        """
        check_data(x, self.data_shape)
        h, log_psi = self.encoder(x)
        mu, logvar = h.split(self.latent_dim, dim=-1)
        return mu, logvar, log_psi

    def decoded_mean(self, out: torch.Tensor) -> torch.Tensor:
        """Mean of p(x | z, y) from the decoder output: sigmoid(logits) (Bernoulli) or the output (Gaussian)."""
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def log_likelihood(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """log p(x | z, y) summed over the entries of S.

        Args:
            x: (B, *S) data.  out: (B, m, *S) raw decoder outputs (logits or Gaussian means) for every chart.

        Returns:
            (B, m) log-likelihoods.
        """
        target = x.unsqueeze(1).expand_as(out)
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, target, reduction="none").flatten(2).sum(2)
        assert self.log_obs_std is not None
        log_std = self.log_obs_std.clamp(min=MIN_LOG_STD)
        sq = (target - out).pow(2).flatten(2).sum(2)
        n = out[0, 0].numel()
        return -0.5 * sq * torch.exp(-2.0 * log_std) - n * (log_std + 0.5 * math.log(2 * math.pi))

    def chart_codes_batch(self, x: torch.Tensor) -> torch.Tensor:
        """F_y(x) = posterior means mu_y(x): (B, *S) -> (B, m, d) through the encoder as it is."""
        return self.encoder.charts(x)[..., : self.latent_dim]

    def log_partition_batch(self, x: torch.Tensor) -> torch.Tensor:
        """log q(y | x): (B, *S) -> (B, m) through the encoder as it is."""
        return self.encoder.log_partition(x)

    # ----------------------------------------------------------------- objective
    def mutual_information(self, n_per_chart: int, like: torch.Tensor) -> torch.Tensor:
        """I_hat = log m + mean_k log psi_{y_k}(x_k) on n_per_chart generated means per chart (0 for m = 1).

        Args:
            n_per_chart: samples per chart (>= 2 for batch norm).  like: a tensor giving dtype/device.

        In training mode the generated batch also enters the batch-norm running statistics of the decoders and of
        the encoder trunk.
        """
        m = self.n_charts
        if m == 1:
            return like.new_zeros(())
        z = torch.randn(n_per_chart, m, self.latent_dim, dtype=like.dtype, device=like.device)
        gen = self.decoded_mean(self.decoder.forward_all(z)).reshape(n_per_chart * m, *self.data_shape)
        y = torch.arange(m, device=like.device).repeat(n_per_chart)
        log_psi: torch.Tensor = self.encoder(gen)[1]  # the whole encoder: its BN statistics see x_gen (train mode)
        return math.log(m) + log_psi.gather(1, y[:, None]).mean()

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms on a batch x (B, *S) (differentiable; "total" is what the step minimises).

        Returns:
            Scalar tensors (batch means): "rec" = -sum_y psi_y E_q log p(x|z,y), "kl_z" = sum_y psi_y KL_y,
            "kl_y" = KL(psi || U), "elbo" = -(rec + kl_z + kl_y), "mi" = I_hat (0 when mi_weight = 0),
            "total" = -elbo - mi_weight * mi.
        """
        mu, logvar, log_psi = self.posterior(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        ll = self.log_likelihood(x, self.decoder.forward_all(z))  # (B, m)
        psi = log_psi.exp()
        rec = -(psi * ll).sum(1).mean()
        kl_z = (psi * gaussian_kl(mu, logvar)).sum(1).mean()
        kl_y = categorical_kl_uniform(log_psi).mean()
        elbo = -(rec + kl_z + kl_y)
        if self.mi_weight > 0:
            mi = self.mutual_information(max(2, -(-x.shape[0] // self.n_charts)), x)
        else:
            mi = x.new_zeros(())
        return {"rec": rec, "kl_z": kl_z, "kl_y": kl_y, "elbo": elbo, "mi": mi, "total": -elbo - self.mi_weight * mi}
