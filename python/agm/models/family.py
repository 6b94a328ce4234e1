"""The atlas interface and the trainer interface written once, for every model family of agm.

A family (AWAE-GAN, CAE, Atlas VAE, InfoGAN) subclasses :class:`SemiAtlasFamily` (chart decoders and psi: a
semi-AGM) or :class:`AtlasFamily` (also chart encoders: an AGM) and states only

* its networks, built in ``__init__`` with :meth:`SemiAtlasFamily.networks` (the backbone of its data shape);
* how its networks give the atlas maps: :meth:`~SemiAtlasFamily.log_partition_batch`, the decoder it decodes
  with (:attr:`~SemiAtlasFamily.chart_decoder`), :meth:`~SemiAtlasFamily.decoded_mean` and, for an AGM,
  :meth:`~AtlasFamily.chart_codes_batch`;
* its objective (``losses``) and, when it has more than one optimizer, its ``training_step``;
* its optimizers' parameters (:meth:`~SemiAtlasFamily.optimizer_groups`) and its options (:attr:`SPEC_OPTIONS`).

The atlas maps (``encode``, ``partition``, ``decode``, ``decode_all``) are per-point functions in both train and
eval mode: every batch norm uses its running statistics and leaves them unchanged, so the code, weight or decoding
of a point never depends on the rest of its batch.  They stay differentiable.  Training goes through the networks
directly (``losses``), with batch statistics and running-statistic updates as usual.

Without gradients (``torch.no_grad`` / ``torch.inference_mode``), ``decode`` and ``decode_all`` run a folded copy of
the chart decoders (batch norm folded into the layer before it, no autograd; :mod:`agm.models.inference`): equal up
to float rounding, folded again whenever a weight changes.  With gradients on they stay differentiable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

import torch
from torch import nn

from agm.models._validation import check_data, check_latent
from agm.models.backbones import conv_networks, mlp_networks, resolve_architecture
from agm.models.inference import decode_all_folded, decode_folded, folded_decoder
from agm.models.networks import AtlasDecoder, AtlasEncoder

if TYPE_CHECKING:
    from typing_extensions import Unpack


class Architecture(TypedDict, total=False):
    """The architecture options every family takes (``**architecture`` of the family constructors).

    Keys:
        hidden: width h (None: the paper's width for m with the conv backbone, 32 with the MLP one).
        latent_dim: d (None: 8 for m = 1, 7 otherwise, as in the paper).
    """

    hidden: int | None
    latent_dim: int | None


@contextmanager
def per_point(module: nn.Module) -> Iterator[None]:
    """Evaluate ``module`` in eval mode (batch norm on running statistics, no updates); restore each mode after."""
    modes = [(mod, mod.training) for mod in module.modules()]
    module.train(False)
    try:
        yield
    finally:
        for mod, was_training in modes:
            mod.training = was_training


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Turn off ``requires_grad`` of ``module``'s parameters for the block (e.g. an adversary during the other step)."""
    module.requires_grad_(False)
    try:
        yield
    finally:
        module.requires_grad_(True)


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One update: clear the gradients of ``optimizer``'s parameters, backpropagate the scalar ``loss``, step."""
    optimizer.zero_grad(set_to_none=True)
    torch.autograd.backward(loss)
    optimizer.step()


def scalar_floats(losses: dict[str, torch.Tensor], keys: Iterable[str] | None = None) -> dict[str, float]:
    """The 0-dim tensors of ``losses`` as Python floats (only ``keys``, in that order, when given)."""
    names = [k for k, v in losses.items() if v.dim() == 0] if keys is None else list(keys)
    return {k: float(losses[k].detach()) for k in names}


class SemiAtlasFamily(nn.Module):
    """Base of agm's model families: chart decoders G_y and a partition of unity psi (a semi-AGM).

    Implements :class:`agm.models.SemiAtlasModel` (``n_charts``, ``latent_dim``, ``decode``, ``partition``,
    plus ``decode_all``) and the trainer interface of :mod:`agm.training.interface` (``make_optimizers``,
    ``training_step``, ``spec``).  All tensors live on the model's device; inputs are float32 (float64 works after
    ``.double()``).

    Args:
        n_charts: m >= 1.
        data_shape: S, (1, 28, 28) (conv backbone) or (D,) (MLP backbone).
        name: registry name recorded in :meth:`spec`.
        **architecture: :class:`Architecture`: ``hidden`` (width h; default the paper's width for m,
            :data:`agm.models.PAPER_HIDDEN`, with the conv backbone, 32 with the MLP one) and ``latent_dim`` (d;
            default 8 for m = 1 and 7 otherwise, as in the paper).

    Raises:
        ValueError: n_charts < 1, a data_shape no backbone takes, hidden or latent_dim < 1.
    """

    #: Constructor options recorded by :meth:`spec` besides the architecture (attributes of the same names).
    SPEC_OPTIONS: ClassVar[tuple[str, ...]] = ()
    #: The keys of :class:`Architecture`: options of every family (read by :func:`agm.models.model_options`).
    ARCHITECTURE_OPTIONS: ClassVar[tuple[str, ...]] = tuple(Architecture.__annotations__)
    #: Optimizer that :meth:`training_step` steps for a family with one objective.
    MAIN_OPTIMIZER: ClassVar[str] = "autoencoder"
    #: Decode through the folded inference copy when gradients are off (:mod:`agm.models.inference`); set False on
    #: a model (``model.fast_decode = False``) to always run its own networks.
    fast_decode: bool = True

    def __init__(
        self, n_charts: int, data_shape: tuple[int, ...], *, name: str, **architecture: Unpack[Architecture]
    ) -> None:
        super().__init__()
        hidden, latent_dim = architecture.get("hidden"), architecture.get("latent_dim")
        shape, backbone, width, dim = resolve_architecture(n_charts, data_shape, hidden, latent_dim)
        self.n_charts, self.latent_dim, self.data_shape = n_charts, dim, shape
        self.hidden, self.backbone, self.name = width, backbone, name

    def networks(self, n_charts: int | None = None, latent_dim: int | None = None) -> tuple[AtlasEncoder, AtlasDecoder]:
        """Fresh encoder (+ psi) and decoder of this model's backbone and width h.

        Args:
            n_charts: charts of the networks (default: the model's m).  latent_dim: their d (default: the model's).
        """
        m = self.n_charts if n_charts is None else n_charts
        d = self.latent_dim if latent_dim is None else latent_dim
        if self.backbone == "conv":
            return conv_networks(m, d, self.hidden)
        return mlp_networks(m, d, self.hidden, self.data_shape[0])

    # ----------------------------------------------------------------- what a family states
    @property
    def chart_decoder(self) -> AtlasDecoder:
        """The chart decoders G_y (an :class:`AtlasDecoder`); default the ``decoder`` attribute."""
        decoder = self.get_submodule("decoder")
        if not isinstance(decoder, AtlasDecoder):
            raise TypeError(f"{type(self).__name__}.decoder must be an AtlasDecoder; got {type(decoder).__name__}")
        return decoder

    def decoded_mean(self, out: torch.Tensor) -> torch.Tensor:
        """The decoded point from the chart decoder's raw output (B, *S) -> (B, *S); default the output itself."""
        return out

    def log_partition_batch(self, x: torch.Tensor) -> torch.Tensor:
        """log psi(x) through the networks as they are (batch statistics in train mode): (B, *S) -> (B, m)."""
        raise NotImplementedError

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by optimizer name; default one optimizer, :attr:`MAIN_OPTIMIZER`, over all parameters."""
        return {self.MAIN_OPTIMIZER: list(self.parameters())}

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The objective's terms on a batch x (B, *S); "total" is what the one-objective training step minimises."""
        raise NotImplementedError

    def inference_decoder(self) -> AtlasDecoder | None:
        """The folded decoder ``decode`` and ``decode_all`` use now, or None: they run the networks as they are.

        The fast path (:mod:`agm.models.inference`) serves only calls without gradients (``torch.no_grad`` /
        ``torch.inference_mode``) while :attr:`fast_decode` is true; it equals the networks' eval-mode output up to
        float rounding and is folded again whenever a weight changes.
        """
        if torch.is_grad_enabled() or not getattr(self, "fast_decode", True):
            return None
        return folded_decoder(self)

    # ----------------------------------------------------------------- semi-atlas interface (per point)
    def at_points(self, network_map: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """``network_map(x)`` as a per-point function: x checked as (B, *S) data, batch norm on running statistics.

        Raises:
            TypeError / ValueError: x is not a floating tensor of shape (B, *S).
        """
        check_data(x, self.data_shape)
        with per_point(self):
            return network_map(x)

    def partition(self, x: torch.Tensor) -> torch.Tensor:
        """psi(x) = q(y | x): x (B, *S) float -> (B, m), rows on the simplex (exactly 1 for m = 1), same device.

        Raises:
            TypeError / ValueError: x is not a floating tensor of shape (B, *S).
        """
        return self.at_points(self.log_partition_batch, x).exp()

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """G_y(z): z (B, d) float, y (B,) int64 in [0, m) -> (B, *S) (decoded means), same dtype and device as z.

        Without gradients this runs the folded inference copy (:meth:`inference_decoder`), equal up to float rounding.

        Raises:
            TypeError / ValueError / IndexError: see :func:`agm.models._validation.check_latent`.
        """
        check_latent(z, y, self.latent_dim, self.n_charts)
        if z.shape[0] == 0:
            return z.new_zeros(0, *self.data_shape)
        folded = self.inference_decoder()
        if folded is not None:
            return decode_folded(self, folded, z, y)
        with per_point(self):
            return self.decoded_mean(self.chart_decoder.forward_select(z, y))

    def decode_all(self, z: torch.Tensor) -> torch.Tensor:
        """G_c(z[:, c]) for every chart c: z (B, m, d) float -> (B, m, *S) (decoded means).

        Raises:
            ValueError: z is not (B, m, d).
        """
        if z.dim() != 3 or tuple(z.shape[1:]) != (self.n_charts, self.latent_dim):
            raise ValueError(f"z must have shape (B, {self.n_charts}, {self.latent_dim}); got {tuple(z.shape)}")
        folded = self.inference_decoder()
        if folded is not None:
            return decode_all_folded(self, folded, z)
        with per_point(self):
            return self.decoded_mean(self.chart_decoder.forward_all(z))

    # ----------------------------------------------------------------- trainer interface
    def make_optimizers(self, lr: dict[str, float], betas: tuple[float, float]) -> dict[str, torch.optim.Optimizer]:
        """One Adam per entry of :meth:`optimizer_groups`.

        Args:
            lr: learning rates by optimizer name; every name of :meth:`optimizer_groups` is required, others are
                ignored.
            betas: Adam betas (paper: (0.5, 0.999)).

        Raises:
            ValueError: a rate is missing.
        """
        groups = self.optimizer_groups()
        missing = sorted(set(groups) - set(lr))
        if missing:
            raise ValueError(f"lr must give rates for {missing}; got keys {sorted(lr)}")
        return {name: torch.optim.Adam(params, lr=lr[name], betas=betas) for name, params in groups.items()}

    def training_step(self, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        """One Adam step of :attr:`MAIN_OPTIMIZER` on ``losses(batch)["total"]`` (families with one objective).

        Args:
            batch: (B, *S) float tensor on the model's device, B >= 2 (batch norm).
            optimizers: as returned by :meth:`make_optimizers`.

        Returns:
            The scalar terms of :meth:`losses` as floats.
        """
        self.train()
        losses = self.losses(batch)
        optimizer_step(optimizers[self.MAIN_OPTIMIZER], losses["total"])
        return scalar_floats(losses)

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable keyword arguments that rebuild this architecture with :func:`agm.models.build_model`."""
        base: dict[str, Any] = {
            "name": self.name,
            "n_charts": self.n_charts,
            "data_shape": list(self.data_shape),
            "hidden": self.hidden,
            "latent_dim": self.latent_dim,
        }
        return {**base, **{k: getattr(self, k) for k in self.SPEC_OPTIONS}}


class AtlasFamily(SemiAtlasFamily):
    """Base of the families with chart encoders F_y (an AGM): adds ``encode`` to :class:`SemiAtlasFamily`.

    Implements :class:`agm.models.AtlasModel`.  Arguments as :class:`SemiAtlasFamily`.  A family sets ``encoder``
    (chart encoders + psi) and ``decoder`` (chart decoders) in its ``__init__``, usually from :meth:`networks`.
    """

    encoder: AtlasEncoder
    decoder: AtlasDecoder

    def chart_codes_batch(self, x: torch.Tensor) -> torch.Tensor:
        """F_y(x) for every chart through the networks as they are: (B, *S) -> (B, m, d)."""
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Chart maps F_y(x) for every chart: x (B, *S) float -> (B, m, d) (means for a probabilistic encoder).

        Raises:
            TypeError / ValueError: x is not a floating tensor of shape (B, *S).
        """
        return self.at_points(self.chart_codes_batch, x)
