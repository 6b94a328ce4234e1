"""Backbones of the AWAE-GAN / WAE-GAN: the paper's conv architecture (Appendix A) and an MLP twin for flat data.

Conv backbone for S = (1, 28, 28), widths h, 2h, 4h, 8h (BN + Swish after every hidden layer):

============  =====================================================================  ===========
part          layers                                                                 sharing
============  =====================================================================  ===========
trunk         Conv(1->h) 28->14, Conv(h->2h) 14->7, Conv(2h->4h) 7->3                 charts + psi
chart head    Conv(4h->8h) 3->1, FC 8h->d                                             per chart
psi head      Conv(4h->8h) 3->1, FC 8h->m, softmax                                    psi only
dec. head     FC d->7*7*8h (Swish), FSConv(8h->4h) 7->14 (BN, Swish)                  per chart
dec. tail     FSConv(4h->2h) 14->28 (BN, Swish), FSConv(2h->1) 28->28, sigmoid        shared
discrim.      FC d->4h, 3x FC 4h->4h (BN, Swish each), FC 4h->1                       per chart
============  =====================================================================  ===========

Kernel choices (the paper does not give them all): every Conv/FSConv that halves/doubles the resolution is
kernel 4, stride 2, padding 1; the last FSConv is kernel 3, stride 1, padding 1; convs keep their bias; the decoder FC
has no BN.  This gives the WAE-GAN (m=1, h=128, d=8) 21,968,009 encoder+decoder parameters, 128 (0.0006 %) more than
the paper's 21,967,881 (Table 1).  (Exact matches exist only for odd choices, e.g. dropping the first conv's bias
alone; the encoder ends at 1x1, so its FC sees 8h features.)

Encoder + decoder (+ psi) parameters, discriminators excluded (``count_parameters(model, "autoencoder")``;
exact, checked by tests/test_models_awae.py against :data:`AUTOENCODER_PARAMETERS`):

=====  ==  ===  =  ====================  ====================  ===============
model  m   h    d  encoders+psi+decoders  discriminators        paper Table 1
=====  ==  ===  =  ====================  ====================  ===============
WAE    1   128  8  21,968,009            797,185               21,967,881
AWAE   2   86   7  21,627,727            723,778               --
AWAE   4   64   7  20,887,905            806,916               --
AWAE   8   48   7  21,964,337            915,464               --
AWAE   16  34   7  21,628,107            931,344               --
=====  ==  ===  =  ====================  ====================  ===============

(the paper's table reports the AWAE-GAN counts too; only the WAE-GAN value was available when this was written.)

MLP backbone for S = (D,): the same structure with Linear layers of widths h, 2h, 4h, 8h, a linear (identity) output.
"""

from __future__ import annotations

from torch import nn

from agm.models.chart_layers import (
    ChartActivation,
    ChartBatchNorm,
    ChartConvTranspose2d,
    ChartLinear,
    ChartSequential,
    ChartUnflatten,
)
from agm.models.networks import AtlasDecoder, AtlasEncoder

#: Width h of the paper's networks by number of charts (Appendix A), keeping ~22M encoder+decoder parameters.
PAPER_HIDDEN: dict[int, int] = {1: 128, 2: 86, 4: 64, 8: 48, 16: 34}

#: Encoder + psi + decoder parameter counts of the paper-size conv models (h = PAPER_HIDDEN[m]; d = 8 for m = 1 else 7).
AUTOENCODER_PARAMETERS: dict[int, int] = {1: 21_968_009, 2: 21_627_727, 4: 20_887_905, 8: 21_964_337, 16: 21_628_107}

IMAGE_SHAPE: tuple[int, ...] = (1, 28, 28)


def backbone_for(data_shape: tuple[int, ...]) -> str:
    """Pick the backbone from the shape S of one data point: (1, 28, 28) -> "conv", (D,) -> "mlp".

    Raises:
        ValueError: for any other shape.
    """
    shape = tuple(int(s) for s in data_shape)
    if shape == IMAGE_SHAPE:
        return "conv"
    if len(shape) == 1 and shape[0] >= 1:
        return "mlp"
    raise ValueError(
        f"data_shape must be (1, 28, 28) (images, conv backbone) or (D,) (flat vectors, MLP backbone); got {shape}"
    )


def _conv_block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.SiLU()]


def _fc_block(fin: int, fout: int) -> list[nn.Module]:
    return [nn.Linear(fin, fout), nn.BatchNorm1d(fout), nn.SiLU()]


def conv_networks(n_charts: int, latent_dim: int, hidden: int) -> tuple[AtlasEncoder, AtlasDecoder]:
    """The paper's conv encoder (+ psi) and decoder for (1, 28, 28) images in [0, 1]; see the module docstring."""
    m, d, h = n_charts, latent_dim, hidden
    trunk = nn.Sequential(*_conv_block(1, h), *_conv_block(h, 2 * h), *_conv_block(2 * h, 4 * h))
    chart_block = nn.Sequential(*_conv_block(4 * h, m * 8 * h), nn.Flatten())
    psi = None if m == 1 else nn.Sequential(*_conv_block(4 * h, 8 * h), nn.Flatten(), nn.Linear(8 * h, m))
    encoder = AtlasEncoder(trunk, chart_block, ChartLinear(m, 8 * h, d), psi)
    head = ChartSequential(
        [
            ChartLinear(m, d, 7 * 7 * 8 * h),
            ChartActivation(),
            ChartUnflatten((8 * h, 7, 7)),
            ChartConvTranspose2d(m, 8 * h, 4 * h, 4, 2, 1),
            ChartBatchNorm(m, 4 * h),
            ChartActivation(),
        ]
    )
    tail = nn.Sequential(
        nn.ConvTranspose2d(4 * h, 2 * h, 4, 2, 1),
        nn.BatchNorm2d(2 * h),
        nn.SiLU(),
        nn.ConvTranspose2d(2 * h, 1, 3, 1, 1),
        nn.Sigmoid(),
    )
    return encoder, AtlasDecoder(head, tail, m)


def mlp_networks(n_charts: int, latent_dim: int, hidden: int, data_dim: int) -> tuple[AtlasEncoder, AtlasDecoder]:
    """The MLP twin for flat data in R^D: trunk FC h, 2h, 4h; per-chart FC 8h, FC d; decoder mirrored, linear output."""
    m, d, h = n_charts, latent_dim, hidden
    trunk = nn.Sequential(*_fc_block(data_dim, h), *_fc_block(h, 2 * h), *_fc_block(2 * h, 4 * h))
    chart_block = nn.Sequential(*_fc_block(4 * h, m * 8 * h))
    psi = None if m == 1 else nn.Sequential(*_fc_block(4 * h, 8 * h), nn.Linear(8 * h, m))
    encoder = AtlasEncoder(trunk, chart_block, ChartLinear(m, 8 * h, d), psi)
    head = ChartSequential(
        [
            ChartLinear(m, d, 8 * h),
            ChartActivation(),
            ChartLinear(m, 8 * h, 4 * h),
            ChartBatchNorm(m, 4 * h),
            ChartActivation(),
        ]
    )
    tail = nn.Sequential(*_fc_block(4 * h, 2 * h), nn.Linear(2 * h, data_dim))
    return encoder, AtlasDecoder(head, tail, m)


def resolve_architecture(
    n_charts: int, data_shape: tuple[int, ...], hidden: int | None, latent_dim: int | None
) -> tuple[tuple[int, ...], str, int, int]:
    """Validated (shape, backbone, hidden, latent_dim) with the paper's defaults, shared by every model family.

    hidden: the paper's width for m charts (:data:`PAPER_HIDDEN`) with the conv backbone, 32 with the MLP one;
    latent_dim: 8 for one chart (WAE-GAN), 7 otherwise (AWAE-GAN).

    Raises:
        ValueError: n_charts < 1, a data_shape no backbone takes, hidden or latent_dim < 1.
    """
    if not isinstance(n_charts, int) or isinstance(n_charts, bool) or n_charts < 1:
        raise ValueError(f"n_charts must be an int >= 1; got {n_charts!r}")
    shape = tuple(int(s) for s in data_shape)
    backbone = backbone_for(shape)
    if hidden is None:
        hidden = PAPER_HIDDEN.get(n_charts) if backbone == "conv" else 32
        if hidden is None:
            raise ValueError(f"no paper width h for n_charts={n_charts} (known: {sorted(PAPER_HIDDEN)}); pass hidden")
    if latent_dim is None:
        latent_dim = 8 if n_charts == 1 else 7
    if hidden < 1 or latent_dim < 1:
        raise ValueError(f"hidden and latent_dim must be >= 1; got hidden={hidden}, latent_dim={latent_dim}")
    return shape, backbone, int(hidden), int(latent_dim)
