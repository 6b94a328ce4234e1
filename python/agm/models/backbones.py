"""Backbones of the AWAE-GAN / WAE-GAN: the paper's conv architecture (Appendix A) and an MLP twin for flat data.

Conv backbone for S = (1, 28, 28), widths h, 2h, 4h, 8h (BN + Swish after every hidden layer):

============  =====================================================================  ===========
part          layers                                                                 sharing
============  =====================================================================  ===========
trunk         Conv(1->h) 28->14, Conv(h->2h) 14->7, Conv(2h->4h) 7->3                 charts + psi
chart head    Conv(4h->8h) 3->1, FC 8h->d                                             per chart
psi head      Conv(4h->8h) 3->1, FC 8h->m, softmax                                    psi only
dec. head     FC d->7*7*8h, FSConv(8h->4h) 7->14 (BN, Swish)                          per chart
dec. tail     FSConv(4h->2h) 14->28 (BN, Swish), FSConv(2h->1) 28->28, sigmoid        shared
discrim.      FC d->4h, 3x FC 4h->4h (BN, Swish each), FC 4h->1                       per chart
============  =====================================================================  ===========

Layer conventions (Appendix A draws the layers but not all of these; the five parameter counts of Table 1 fix them,
see below):

* every kernel is 4x4; the convs and FSConvs that halve / double the resolution have stride 2, padding 1; the last
  FSConv has stride 1 and TensorFlow's ``padding="same"`` (PyTorch: padding 1 then :class:`CropTopLeft` to 28x28);
* the encoder's convs carry no bias (each is followed by a batch norm, whose shift makes a bias redundant); the
  FSConvs and the FC layers keep theirs, the last FSConv included;
* the decoder's FC is followed directly by the first FSConv: no batch norm and no activation in between (as the
  diagram); the encoder ends at 1x1, so its FCs see 8h features.

Encoder + psi + decoder parameters, discriminators excluded (``count_parameters(model, "autoencoder")``; equal to
the paper's Table 1 to the unit, pinned by tests/test_models_awae.py against :data:`AUTOENCODER_PARAMETERS`):

=====  ==  ===  =  ====================  ==============
model  m   h    d  encoders+psi+decoders  discriminators
=====  ==  ===  =  ====================  ==============
WAE    1   128  8  21,967,881            797,185
AWAE   2   86   7  21,626,265            723,778
AWAE   4   64   7  20,885,793            806,916
AWAE   8   48   7  21,961,217            915,464
AWAE   16  34   7  21,623,721            931,344
=====  ==  ===  =  ====================  ==============

Each count differs from the last version of this backbone (3x3 last FSConv, biased encoder convs) by -h for m = 1
and -(8m + 1) h otherwise: -(7h + 8mh + 8h [m > 1]) for the encoder biases, +14h for the 4x4 last kernel.
A search over single-layer bias / batch-norm-affine / last-kernel choices finds other exact combinations, but each
mixes rules layer by layer (e.g. one batch norm without affine parameters); this is the uniform one.

MLP backbone for S = (D,): the same structure with Linear layers of widths h, 2h, 4h, 8h, a linear (identity) output
(every Linear keeps its bias; this twin has no published counts to match).
"""

from __future__ import annotations

import torch
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

#: Encoder + psi + decoder parameter counts of the paper-size conv models (h = PAPER_HIDDEN[m]; d = 8 for m = 1 else
#: 7): the paper's Table 1, which these models reproduce exactly.
AUTOENCODER_PARAMETERS: dict[int, int] = {1: 21_967_881, 2: 21_626_265, 4: 20_885_793, 8: 21_961_217, 16: 21_623_721}

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
    """Conv 4x4 stride 2 padding 1 without bias (the batch norm that follows has its own shift), BN, Swish."""
    return [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.SiLU()]


def _fc_block(fin: int, fout: int) -> list[nn.Module]:
    return [nn.Linear(fin, fout), nn.BatchNorm1d(fout), nn.SiLU()]


class CropTopLeft(nn.Module):
    """Keep the top-left ``height x width`` pixels: (N, C, H, W) -> (N, C, height, width), H >= height, W >= width.

    After a stride-1 transposed convolution with an even kernel k and padding (k - 2) / 2 this is TensorFlow's
    ``padding="same"``: (k - 2) / 2 pixels cropped before, k / 2 after.
    """

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, height, width), a view of x."""
        return x[..., : self.height, : self.width]

    def extra_repr(self) -> str:
        return f"height={self.height}, width={self.width}"


def conv_networks(n_charts: int, latent_dim: int, hidden: int) -> tuple[AtlasEncoder, AtlasDecoder]:
    """The paper's conv encoder (+ psi) and decoder for (1, 28, 28) images in [0, 1]; see the module docstring.

    Args:
        n_charts: m >= 1.  latent_dim: d >= 1.  hidden: h >= 1.

    Returns:
        The encoder (x (B, 1, 28, 28) -> z (B, m, d), log psi (B, m)) and the decoder (z -> (B, m, 1, 28, 28) or
        (B, 1, 28, 28) per chart), float32 on the CPU, PyTorch's default initialisation.
    """
    m, d, h = n_charts, latent_dim, hidden
    trunk = nn.Sequential(*_conv_block(1, h), *_conv_block(h, 2 * h), *_conv_block(2 * h, 4 * h))
    chart_block = nn.Sequential(*_conv_block(4 * h, m * 8 * h), nn.Flatten())
    psi = None if m == 1 else nn.Sequential(*_conv_block(4 * h, 8 * h), nn.Flatten(), nn.Linear(8 * h, m))
    encoder = AtlasEncoder(trunk, chart_block, ChartLinear(m, 8 * h, d), psi)
    head = ChartSequential(
        [
            ChartLinear(m, d, 7 * 7 * 8 * h),  # no activation before the first FSConv (Appendix A)
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
        nn.ConvTranspose2d(2 * h, 1, 4, 1, 1),  # 28 -> 29, cropped to 28 ("same")
        CropTopLeft(28, 28),
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


def autoencoder_parameter_count(
    n_charts: int, hidden: int, latent_dim: int | None = None, data_shape: tuple[int, ...] = IMAGE_SHAPE
) -> int:
    """Parameters of the encoders + psi + decoders of the backbone for S (the paper's Table 1 count).

    Counted on the package's own networks, built on PyTorch's ``meta`` device (shapes only: no memory, no
    initialisation cost), so the count is exact for any architecture change.

    Args:
        n_charts: m >= 1.  hidden: h >= 1.  latent_dim: d (default 8 for m = 1, 7 otherwise).  data_shape: S.

    Raises:
        ValueError: as :func:`resolve_architecture`.
    """
    shape, backbone, h, d = resolve_architecture(n_charts, data_shape, hidden, latent_dim)
    with torch.device("meta"):
        if backbone == "conv":
            encoder, decoder = conv_networks(n_charts, d, h)
        else:
            encoder, decoder = mlp_networks(n_charts, d, h, shape[0])
    return sum(p.numel() for net in (encoder, decoder) for p in net.parameters())


def matched_hidden(n_charts: int, reference_hidden: int, data_shape: tuple[int, ...] = IMAGE_SHAPE) -> int:
    """The width h for m charts whose model size is closest to the one-chart model's (the WAE-GAN) at width h_1.

    This is how the paper compares chart counts at equal size (Table 1: h = 128, 86, 64, 48, 34 at about 22M; this
    rule gives 128, 87, 66, 48, 34, each within 1.6 % of the WAE-GAN's 21,967,881).  Sizes are the exact counts of
    :func:`autoencoder_parameter_count` with the default latent sizes (d = 8 for one chart, 7 otherwise).  Integer
    widths limit how close a match can be: with h about 9 or less the next width changes the size by more than 10 %,
    so within 2 % for all of m = 1, 2, 4, 8, 16 needs h_1 >= 36 (1.83M parameters).

    Args:
        n_charts: m >= 1.
        reference_hidden: h_1 >= 1, the one-chart model's width (returned as is for m = 1).
        data_shape: S (conv or MLP backbone).

    Returns:
        h >= 1 minimising |count(m, h) - count(1, h_1)| (the smaller h on a tie).

    Raises:
        ValueError: n_charts < 1, reference_hidden < 1, a data_shape no backbone takes.
    """
    if isinstance(reference_hidden, bool) or not isinstance(reference_hidden, int) or reference_hidden < 1:
        raise ValueError(f"reference_hidden must be an int >= 1; got {reference_hidden!r}")
    resolve_architecture(n_charts, data_shape, reference_hidden, None)  # validates n_charts and data_shape
    if n_charts == 1:
        return reference_hidden
    target = autoencoder_parameter_count(1, reference_hidden, data_shape=data_shape)
    low, high = 1, reference_hidden  # the count grows with h and with m: h(m) <= h_1
    while low < high:  # smallest h with count >= target (or h_1)
        mid = (low + high) // 2
        if autoencoder_parameter_count(n_charts, mid, data_shape=data_shape) >= target:
            high = mid
        else:
            low = mid + 1
    candidates = [h for h in (low - 1, low) if h >= 1]
    return min(candidates, key=lambda h: abs(autoencoder_parameter_count(n_charts, h, data_shape=data_shape) - target))
