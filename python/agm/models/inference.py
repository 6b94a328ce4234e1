"""The inference fast path of agm's chart decoders: a folded, gradient-free copy, never stale.

Geodesic weights decode hundreds of thousands of points with an eval-mode decoder under ``torch.no_grad``.  For
that, :func:`folded_decoder` keeps per model a copy of its chart decoders (:class:`~agm.models.AtlasDecoder`) with

* every eval-mode batch norm folded into the (transposed) conv or linear layer before it
  (:func:`agm.models.folding.fold_batch_norms`; per-chart and grouped layers included);
* its 4-d weights in channels-last memory format when :data:`CHANNELS_LAST` (measured: see
  ``benchmarks/bench_decode.py``);
* no autograd: ``requires_grad`` off, eval mode.

**Never stale.**  The copy is keyed on the decoder's modules (identity) and on every parameter and buffer: the
tensor itself (a weak reference), its in-place version counter, storage address, dtype and device.  Optimizer
steps, ``load_state_dict``, in-place edits, running-statistic updates, ``.to()`` / ``.double()`` and replacing a
parameter or a submodule all change that key, and the next call folds again.  Writes through ``.data``
(``p.data.copy_(...)``) bypass version counters: call :func:`invalidate` after them (or after changing a
non-tensor attribute such as a batch norm's ``eps``).

**Cost.**  Folding copies the decoder: the paper's h = 48, 8-chart decoder (11M parameters) takes 0.16 s of CPU,
about what decoding 25 of its points takes; it happens once per weight change, on the first call without
gradients.  (Folding always, rather than after a few calls, keeps a call's result independent of the calls before
it.)  The copy holds one more set of the decoder's weights (44 MB for the paper decoder), lives as long as the model
(a weak-keyed cache that holds no reference to the model) and is not part of its ``state_dict`` or pickles.

:meth:`agm.models.SemiAtlasFamily.decode` and ``decode_all`` use this path by themselves whenever gradients are off
(``torch.no_grad`` / ``torch.inference_mode``) and the model's ``fast_decode`` attribute is true (the default); with
gradients on they run the model's own networks, differentiable in its weights.  :func:`fast_decoder` gives the
same path as a callable.
"""

from __future__ import annotations

import copy
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from agm.models._validation import check_latent
from agm.models.folding import fold_batch_norms

if TYPE_CHECKING:
    from agm.models.family import SemiAtlasFamily
from agm.models.networks import AtlasDecoder

#: Store the folded copy's 4-d weights channels-last (measured faster for the paper's conv decoder on CPU: see
#: benchmarks/README.md, bench_decode.py).
CHANNELS_LAST = True


class HasChartDecoder(Protocol):
    """What the fast path needs of a model: its chart decoders and how their raw output becomes a decoding."""

    @property
    def chart_decoder(self) -> AtlasDecoder: ...

    def decoded_mean(self, out: torch.Tensor) -> torch.Tensor: ...


_TensorKey = tuple[int, int, int, torch.dtype, torch.device]


@dataclass(frozen=True)
class _WeightsKey:
    """Which weights a folded copy was made from (see the module docstring)."""

    modules: tuple[int, ...]
    tensors: tuple[_TensorKey, ...]
    refs: tuple[weakref.ref[torch.Tensor], ...]

    @staticmethod
    def of(decoder: nn.Module) -> _WeightsKey:
        tensors = [*decoder.parameters(), *decoder.buffers()]
        return _WeightsKey(
            modules=tuple(id(mod) for mod in decoder.modules()),
            tensors=tuple((id(t), t._version, t.data_ptr(), t.dtype, t.device) for t in tensors),
            refs=tuple(weakref.ref(t) for t in tensors),
        )

    def same(self, other: _WeightsKey) -> bool:
        """Same modules and tensors at the same versions (a tensor that died and was replaced is not the same)."""
        return (
            self.modules == other.modules
            and self.tensors == other.tensors
            and all(a() is not None and a() is b() for a, b in zip(self.refs, other.refs, strict=True))
        )


_LOCK = threading.Lock()
_CACHE: weakref.WeakKeyDictionary[Any, tuple[_WeightsKey, AtlasDecoder]] = weakref.WeakKeyDictionary()


def fold_decoder(decoder: AtlasDecoder, channels_last: bool = CHANNELS_LAST) -> AtlasDecoder:
    """A folded, gradient-free eval-mode copy of ``decoder`` (same device and dtype; ``decoder`` is untouched).

    Args:
        decoder: chart decoders, in any mode.
        channels_last: store the copy's 4-d weights channels-last.

    Returns:
        An :class:`AtlasDecoder` whose ``forward_select`` / ``forward_all`` equal ``decoder``'s in eval mode up to
        float rounding, with ``requires_grad`` off.
    """
    if not isinstance(decoder, AtlasDecoder):
        raise TypeError(f"decoder must be an AtlasDecoder; got {type(decoder).__name__}")
    with torch.no_grad():
        twin = copy.deepcopy(decoder).train(False).requires_grad_(False)
        for param in twin.parameters():
            param.grad = None  # a copied gradient would only hold memory
        fold_batch_norms(twin)  # folds the chains inside twin in place (twin is no chain itself)
        folded = twin
        if channels_last:
            for mod in folded.modules():
                for name, param in list(mod.named_parameters(recurse=False)):
                    if param.dim() == 4:
                        setattr(mod, name, nn.Parameter(param.contiguous(memory_format=torch.channels_last), False))
    return folded


def folded_decoder(model: HasChartDecoder) -> AtlasDecoder:
    """The folded copy of ``model.chart_decoder`` for its current weights: cached, folded again after any change.

    Thread-safe (one lock; a fold runs under it).  Checking the key costs microseconds (a pass over the decoder's
    modules and tensors).

    Args:
        model: a model family (anything with ``chart_decoder``; weakly referenced by the cache).
    """
    decoder = model.chart_decoder
    key = _WeightsKey.of(decoder)
    with _LOCK:
        entry = _CACHE.get(model)
        if entry is not None and entry[0].same(key):
            return entry[1]
        folded = fold_decoder(decoder)
        _CACHE[model] = (key, folded)
        return folded


def invalidate(model: object) -> None:
    """Drop the folded copy of ``model`` (after writes through ``.data`` or edits of non-tensor attributes)."""
    with _LOCK:
        _CACHE.pop(model, None)


def decode_folded(model: HasChartDecoder, folded: AtlasDecoder, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """G_y(z) through ``folded`` (checked inputs): z (B, d), y (B,) int64 -> (B, *S) contiguous, no gradients."""
    with torch.no_grad():
        return model.decoded_mean(folded.forward_select(z, y)).contiguous()


def decode_all_folded(model: HasChartDecoder, folded: AtlasDecoder, z: torch.Tensor) -> torch.Tensor:
    """G_c(z[:, c]) for every chart through ``folded`` (checked input): z (B, m, d) -> (B, m, *S), no gradients."""
    with torch.no_grad():
        return model.decoded_mean(folded.forward_all(z)).contiguous()


@dataclass(frozen=True)
class FastDecoder:
    """``decode(z, y)`` of a model through its folded decoder, folded for the weights of each call (see
    :func:`fast_decoder`)."""

    model: SemiAtlasFamily

    def __call__(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """G_y(z): z (B, d) float, y (B,) int64 in [0, m) -> (B, *S), same dtype and device as z; no gradients.

        Raises:
            TypeError / ValueError / IndexError: as the model's ``decode``.
        """
        check_latent(z, y, self.model.latent_dim, self.model.n_charts)
        if z.shape[0] == 0:
            return z.new_zeros(0, *self.model.data_shape)
        return decode_folded(self.model, folded_decoder(self.model), z, y)


def fast_decoder(model: SemiAtlasFamily) -> FastDecoder:
    """A callable ``decode(z, y) -> x`` through the folded decoder of ``model``, for its weights at each call.

    Args:
        model: an agm model family (:class:`agm.models.SemiAtlasFamily`).

    Returns:
        A :class:`FastDecoder`: same shapes, dtypes, devices and errors as ``model.decode``, no gradients, equal
        to the unfolded eval-mode decoder up to float rounding; ``model.decode`` without gradients is the same.

    Raises:
        TypeError: ``model`` has no ``chart_decoder`` (e.g. an analytic atlas: call its ``decode``).
    """
    if not isinstance(getattr(model, "chart_decoder", None), AtlasDecoder):
        raise TypeError(f"model must be an agm model family with a chart_decoder; got {type(model).__name__}")
    return FastDecoder(model)
