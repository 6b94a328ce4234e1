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

from typing import TYPE_CHECKING, ClassVar

import torch

from agm.models._validation import check_data
from agm.models.family import Architecture, AtlasFamily
from agm.models.registry import register_family

if TYPE_CHECKING:
    from typing_extensions import Unpack


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


@register_family("cae")
class ChartAutoEncoder(AtlasFamily):
    """Chart Auto-Encoder: m chart encoders F_y, m chart decoders G_y and the chart predictor P = psi.

    The atlas interface and the trainer interface come from :class:`agm.models.family.AtlasFamily` (per-point atlas
    maps: batch norm on running statistics in train and eval mode); one optimizer, "autoencoder", one Adam step on
    eq. 7 per batch.

    Args:
        n_charts: m >= 1.
        data_shape: S, (1, 28, 28) (conv backbone, outputs in [0, 1]) or (D,) (MLP backbone, linear outputs).
        hidden: width h; default :data:`agm.models.PAPER_HIDDEN` for images, 32 for flat data.
        latent_dim: d; default 8 for m = 1, 7 otherwise (as the AWAE-GAN).
        temperature: T of the chart labels softmax(-e / T), > 0.
        name: registry name recorded in :meth:`spec`.

    Raises:
        ValueError: bad architecture (see :class:`~agm.models.family.SemiAtlasFamily`) or temperature <= 0.
    """

    SPEC_OPTIONS: ClassVar[tuple[str, ...]] = ("temperature",)

    def __init__(
        self,
        n_charts: int,
        data_shape: tuple[int, ...],
        *,
        temperature: float = 1.0,
        name: str = "cae",
        **architecture: Unpack[Architecture],
    ) -> None:
        super().__init__(n_charts, data_shape, name=name, **architecture)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
        self.temperature = float(temperature)
        self.encoder, self.decoder = self.networks()

    def chart_codes_batch(self, x: torch.Tensor) -> torch.Tensor:
        """F_y(x): (B, *S) -> (B, m, d) through the encoder as it is."""
        return self.encoder.charts(x)

    def log_partition_batch(self, x: torch.Tensor) -> torch.Tensor:
        """log P(x): (B, *S) -> (B, m) through the encoder as it is."""
        return self.encoder.log_partition(x)

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The terms of :func:`cae_loss` on a batch x (B, *S) (differentiable; "total" is what the step minimises)."""
        check_data(x, self.data_shape)
        z, log_psi = self.encoder(x)
        return cae_loss(x, self.decoder.forward_all(z), log_psi, self.temperature)
