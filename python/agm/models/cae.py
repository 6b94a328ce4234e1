"""Chart Auto-Encoder (CAE, Schonsheck et al.): chart encoders F_y, chart decoders G_y, chart prediction P = psi.

Objective (the paper's eq. 7), minimised by every network together, for a batch x_1..x_B::

    e_y(x)  = ||x - G_y(F_y(x))||^2                        (squared error summed over the entries of S)
    l(x)    = softmax(-e(x) / T)                           (chart labels, detached: no gradient flows through them)
    loss    = E_x [ min_y e_y(x)  -  sum_y l_y(x) log P_y(x) ]

The paper writes l = softmax(e); that gives the *largest* label to the chart with the *largest* error, which
contradicts its own intent (P should predict the chart that reconstructs x best).  We use l = softmax(-e) so that the
chart with the smallest error gets the largest label (tested in tests/test_models_families.py); T (``temperature``,
default 1) sharpens (T < 1) or softens (T > 1) the labels, T = 1 is the paper's choice.

Only the best chart of each sample receives reconstruction gradient (the min); the prediction term trains P only
(labels are detached).  A chart that is nowhere the best therefore stops learning (a "dead" chart), a known property
of the CAE objective.  For m = 1, P is the constant 1 and the loss is a plain auto-encoder's.

Architecture: the AWAE-GAN's backbones (:func:`agm.models.backbones.conv_networks` for (1, 28, 28) images in [0, 1],
:func:`agm.models.backbones.mlp_networks` for flat data (D,)); P is the psi head over the shared trunk.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from agm.models._validation import check_data, check_latent
from agm.models.backbones import conv_networks, mlp_networks, resolve_architecture
from agm.models.registry import register_model

#: Default of ``TrainConfig.lam``: the trainer passes ``lam`` to every family; the CAE has no such weight and
#: accepts only this default (or None), so that an explicit ``--lam`` is not ignored silently.
TRAINCONFIG_DEFAULT_LAM = 10.0


def chart_labels(err: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The CAE's chart labels l = softmax(-e / T), detached: the smallest error gets the largest label.

    Args:
        err: (B, m) float tensor of per-chart reconstruction errors e_y(x) >= 0.
        temperature: T > 0.

    Returns:
        (B, m) tensor, rows on the simplex, same dtype/device as ``err``, no autograd history.

    Raises:
        ValueError: ``err`` is not 2-D or ``temperature`` is not > 0.
    """
    if err.dim() != 2:
        raise ValueError(f"err must have shape (B, m); got {tuple(err.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    return torch.softmax(-err.detach() / temperature, dim=1)


def cae_loss(
    x: torch.Tensor, recon: torch.Tensor, log_psi: torch.Tensor, temperature: float = 1.0
) -> dict[str, torch.Tensor]:
    """Terms of eq. 7 on a batch.

    Args:
        x: (B, *S) data.  recon: (B, m, *S) reconstructions G_y(F_y(x)) through every chart.
        log_psi: (B, m) log P_y(x).  temperature: T of :func:`chart_labels`.

    Returns:
        Scalar tensors "rec" (batch mean of min_y e_y), "pred" (batch mean of -sum_y l_y log P_y) and
        "total" (= rec + pred), plus "err" (B, m), the detached per-chart errors.
    """
    err = (recon - x.unsqueeze(1)).pow(2).flatten(2).sum(2)  # (B, m)
    rec = err.min(dim=1).values.mean()
    pred = -(chart_labels(err, temperature) * log_psi).sum(1).mean()
    return {"rec": rec, "pred": pred, "total": rec + pred, "err": err.detach()}


class ChartAutoEncoder(nn.Module):
    """Chart Auto-Encoder: m chart encoders F_y, m chart decoders G_y and the chart predictor P = psi.

    Implements :class:`agm.models.AtlasModel` and the trainer interface of :mod:`agm.training.interface`
    (one optimizer, ``"autoencoder"``).

    Args:
        n_charts: m >= 1.
        data_shape: S, (1, 28, 28) (conv backbone, outputs in [0, 1]) or (D,) (MLP backbone, linear outputs).
        hidden: width h; default :data:`agm.models.PAPER_HIDDEN` for images, 32 for flat data.
        latent_dim: d; default 8 for m = 1, 7 otherwise (as the AWAE-GAN).
        temperature: T of the chart labels softmax(-e / T), > 0.
        name: registry name recorded in :meth:`spec`.
    """

    def __init__(
        self,
        n_charts: int,
        data_shape: tuple[int, ...],
        *,
        hidden: int | None = None,
        latent_dim: int | None = None,
        temperature: float = 1.0,
        name: str = "cae",
    ) -> None:
        super().__init__()
        shape, backbone, hidden, latent_dim = resolve_architecture(n_charts, data_shape, hidden, latent_dim)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        self.n_charts, self.latent_dim, self.data_shape = n_charts, latent_dim, shape
        self.hidden, self.temperature, self.backbone, self.name = hidden, float(temperature), backbone, name
        if backbone == "conv":
            self.encoder, self.decoder = conv_networks(n_charts, latent_dim, hidden)
        else:
            self.encoder, self.decoder = mlp_networks(n_charts, latent_dim, hidden, shape[0])

    # ----------------------------------------------------------------- atlas interface
    def encode_partition(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One trunk pass: (F_y(x) for all y (B, m, d), psi(x) = P(x) (B, m), rows on the simplex)."""
        check_data(x, self.data_shape)
        z, log_psi = self.encoder(x)
        return z, log_psi.exp()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Chart maps F_y(x) for every chart: x (B, *S) float -> (B, m, d), same device."""
        return self.encode_partition(x)[0]

    def partition(self, x: torch.Tensor) -> torch.Tensor:
        """psi(x) = P(x): x (B, *S) -> (B, m), softmax rows (exactly 1 for m = 1)."""
        return self.encode_partition(x)[1]

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """G_y(z): z (B, d) float, y (B,) int64 in [0, m) -> (B, *S)."""
        check_latent(z, y, self.latent_dim, self.n_charts)
        if z.shape[0] == 0:
            return z.new_zeros(0, *self.data_shape)
        return self.decoder.forward_select(z, y)

    def decode_all(self, z: torch.Tensor) -> torch.Tensor:
        """G_c(z[:, c]) for every chart c: z (B, m, d) -> (B, m, *S)."""
        if z.dim() != 3 or tuple(z.shape[1:]) != (self.n_charts, self.latent_dim):
            raise ValueError(f"z must have shape (B, {self.n_charts}, {self.latent_dim}); got {tuple(z.shape)}")
        return self.decoder.forward_all(z)

    # ----------------------------------------------------------------- objective and trainer interface
    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The terms of :func:`cae_loss` on a batch x (B, *S) (differentiable; "total" is what the step minimises)."""
        check_data(x, self.data_shape)
        z, log_psi = self.encoder(x)
        return cae_loss(x, self.decoder.forward_all(z), log_psi, self.temperature)

    def make_optimizers(self, lr: dict[str, float], betas: tuple[float, float]) -> dict[str, torch.optim.Optimizer]:
        """One Adam over encoders, P and decoders, named "autoencoder" (the key required in ``lr``)."""
        if "autoencoder" not in lr:
            raise ValueError(f"lr must give a rate for 'autoencoder'; got keys {sorted(lr)}")
        return {"autoencoder": torch.optim.Adam(self.parameters(), lr=lr["autoencoder"], betas=betas)}

    def training_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        """One Adam step on eq. 7; batch (B, *S), B >= 2. Returns floats "rec", "pred", "total"."""
        self.train()
        losses = self.losses(batch)
        opt = optimizers["autoencoder"]
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt.step()
        return {k: float(losses[k].detach()) for k in ("rec", "pred", "total")}

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable keyword arguments that rebuild this architecture with :func:`agm.models.build_model`."""
        return {
            "name": self.name,
            "n_charts": self.n_charts,
            "data_shape": list(self.data_shape),
            "hidden": self.hidden,
            "latent_dim": self.latent_dim,
            "temperature": self.temperature,
        }


def reject_lam(family: str, lam: float | None) -> None:
    """Refuse an explicit divergence weight for a family that has none (the trainer always passes ``lam``).

    Raises:
        ValueError: ``lam`` is neither None nor the TrainConfig default.
    """
    if lam is not None and float(lam) != TRAINCONFIG_DEFAULT_LAM:
        raise ValueError(f"model {family!r} has no divergence weight lam; got lam={lam}")


def _build_cae(n_charts: int, data_shape: tuple[int, ...], *, lam: float | None = None, **kwargs: Any) -> nn.Module:
    reject_lam("cae", lam)
    return ChartAutoEncoder(n_charts, data_shape, **kwargs)


register_model("cae", _build_cae)
