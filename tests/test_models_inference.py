"""The inference fast path (agm.models.inference, agm.models.folding): batch norm folded into the layer before it.

Oracle: the model's own networks in eval mode (``fast_decode = False``).  Folding changes the order of float32
operations only, so outputs agree to float32 rounding: rtol 1e-5 / atol 1e-6 (the observed differences are ~1e-7).
"""

from __future__ import annotations

import copy
import gc
import threading
import weakref
from typing import Any

import pytest
import torch
from torch import nn

from agm.models import MODELS, build_model
from agm.models.analytic import CircleAtlas
from agm.models.chart_layers import ChartBatchNorm, ChartConvTranspose2d, ChartLinear, ChartSequential
from agm.models.folding import batch_norm_affine, fold_batch_norms
from agm.models.inference import _CACHE, fast_decoder, fold_decoder, folded_decoder, invalidate

FAMILIES = sorted(MODELS)
SHAPES = ((3,), (1, 28, 28))
RTOL, ATOL = 1e-5, 1e-6  # float32 rounding of the same sums in another order (~1e-7 observed)
BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, ChartBatchNorm)


def _randomise_batch_norms(module: nn.Module) -> None:
    """Running statistics and affine parameters away from (0, 1, 1, 0), as after training: folding is not trivial."""
    with torch.no_grad():
        for mod in module.modules():
            if isinstance(mod, BN_TYPES):
                mean, var = mod.running_mean, mod.running_var
                assert mean is not None and var is not None
                mean.uniform_(-0.5, 0.5)
                var.uniform_(0.25, 4.0)
                nn.init.uniform_(mod.weight, 0.5, 1.5)
                nn.init.uniform_(mod.bias, -0.5, 0.5)


def _model(family: str, shape: tuple[int, ...], m: int = 3) -> Any:
    torch.manual_seed(0)
    model = build_model(family, 1 if family == "wae" else m, shape, hidden=3, latent_dim=2)
    _randomise_batch_norms(model)
    return model


def _unfolded(model: Any, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    model.fast_decode = False
    try:
        with torch.no_grad():
            out: torch.Tensor = model.decode(z, y)
    finally:
        model.fast_decode = True
    return out


def _fast(model: Any, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return fast_decoder(model)(z, y)


@pytest.mark.parametrize("shape", SHAPES, ids=["flat", "image"])
@pytest.mark.parametrize("family", FAMILIES)
def test_folded_decode_equals_unfolded_eval_decoder(family: str, shape: tuple[int, ...]) -> None:
    model = _model(family, shape).train()  # decode is per point in both modes; train mode must not matter
    m, d = model.n_charts, model.latent_dim
    for b in (1, 7, 33):
        z = torch.randn(b, d)
        for y in (torch.zeros(b, dtype=torch.long), torch.arange(b) % m, torch.full((b,), m - 1)):
            ref = _unfolded(model, z, y)
            out = _fast(model, z, y)
            assert out.shape == ref.shape == (b, *shape) and out.dtype == ref.dtype and out.device == ref.device
            torch.testing.assert_close(out, ref, rtol=RTOL, atol=ATOL)
    zz = torch.randn(5, m, d)
    with torch.no_grad():
        model.fast_decode = False
        ref_all = model.decode_all(zz)
        model.fast_decode = True
        torch.testing.assert_close(model.decode_all(zz), ref_all, rtol=RTOL, atol=ATOL)
    assert model.training and all(mod.training for mod in model.modules())


@pytest.mark.parametrize("shape", SHAPES, ids=["flat", "image"])
def test_every_decoder_batch_norm_is_folded(shape: tuple[int, ...]) -> None:
    model = _model("awae", shape)
    assert sum(isinstance(mod, BN_TYPES) for mod in model.decoder.modules()) == 2
    folded = fold_decoder(model.decoder)
    assert not any(isinstance(mod, BN_TYPES) for mod in folded.modules())
    assert not any(p.requires_grad for p in folded.parameters()) and not folded.training
    assert all(p.requires_grad for p in model.decoder.parameters())  # the model's own decoder is untouched


def test_paper_size_folding_matches() -> None:
    """The paper decoder's widths (h = 48: sums of up to 1,536 terms; 2 charts to keep the test small)."""
    torch.manual_seed(1)
    model = build_model("awae", 2, (1, 28, 28), hidden=48)
    _randomise_batch_norms(model)
    z = torch.randn(4, 7)
    for y in (torch.zeros(4, dtype=torch.long), torch.tensor([0, 1, 1, 0])):
        torch.testing.assert_close(_fast(model, z, y), _unfolded(model, z, y), rtol=RTOL, atol=ATOL)


def test_automatic_path_without_gradients_and_differentiable_path_with_them() -> None:
    model = _model("awae", (1, 28, 28))
    z, y = torch.randn(4, 2), torch.tensor([0, 1, 2, 0])
    assert model not in _CACHE
    with torch.no_grad():
        first = model.decode(z, y)
    folded = _CACHE[model][1]
    assert folded is folded_decoder(model)  # cached: the same copy while the weights stay
    torch.testing.assert_close(first, _unfolded(model, z, y), rtol=RTOL, atol=ATOL)
    with torch.no_grad():
        assert torch.equal(model.decode(z, y), first)  # a call does not depend on the calls before it
    with torch.inference_mode():
        assert torch.equal(model.decode(z, y), first)
    out = model.decode(z, y)  # gradients on: the model's own networks, differentiable in the weights
    assert out.requires_grad
    out.sum().backward()
    assert all(p.grad is not None for p in model.decoder.parameters())


def _assert_follows(model: Any, z: torch.Tensor, y: torch.Tensor, before: torch.Tensor) -> None:
    after = _fast(model, z, y)
    assert not torch.allclose(after, before, rtol=1e-4, atol=1e-4)  # the weights did change the decoding
    torch.testing.assert_close(after, _unfolded(model, z, y), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("shape", SHAPES, ids=["flat", "image"])
def test_optimizer_step_and_training_invalidate(shape: tuple[int, ...]) -> None:
    model = _model("awae", shape)
    z, y = torch.randn(6, 2), torch.arange(6) % 3
    before = _fast(model, z, y)
    opt = torch.optim.Adam(model.decoder.parameters(), lr=0.05)
    loss = model.decoder.forward_select(z, y).square().mean()
    loss.backward()
    opt.step()
    _assert_follows(model, z, y, before)
    before = _fast(model, z, y)
    model.train()
    with torch.no_grad():  # a train-mode pass updates the running statistics (buffers) only
        model.decoder.forward_all(torch.randn(8, 3, 2))
    _assert_follows(model, z, y, before)


def test_load_state_dict_inplace_edit_and_replaced_parameter_invalidate() -> None:
    model, other = _model("cae", (1, 28, 28)), build_model("cae", 3, (1, 28, 28), hidden=3, latent_dim=2)
    _randomise_batch_norms(other)
    z, y = torch.randn(5, 2), torch.arange(5) % 3
    before = _fast(model, z, y)
    model.load_state_dict(other.state_dict())
    _assert_follows(model, z, y, before)
    before = _fast(model, z, y)
    with torch.no_grad():
        model.decoder.tail[1].running_var.mul_(3.0)  # an in-place edit of a buffer
    _assert_follows(model, z, y, before)
    before = _fast(model, z, y)
    conv = model.decoder.tail[0]
    conv.weight = nn.Parameter(conv.weight.detach() * 2.0)
    _assert_follows(model, z, y, before)
    before = _fast(model, z, y)
    model.decoder.tail[2] = nn.Tanh()  # a replaced submodule without parameters
    _assert_follows(model, z, y, before)


def test_data_writes_need_invalidate_and_dtype_change_refolds() -> None:
    model = _model("awae", (3,))
    z, y = torch.randn(5, 2), torch.arange(5) % 3
    before = _fast(model, z, y)
    with torch.no_grad():
        model.decoder.tail[-1].bias.data.add_(1.0)  # .data bypasses the version counter: documented
    torch.testing.assert_close(_fast(model, z, y), before, rtol=0, atol=0)
    invalidate(model)
    _assert_follows(model, z, y, before)
    model.double()
    out = _fast(model, z.double(), y)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, _unfolded(model, z.double(), y), rtol=1e-12, atol=1e-12)


def test_cache_holds_no_model_and_no_state() -> None:
    model = _model("avae", (1, 28, 28))
    keys = set(model.state_dict())
    _fast(model, torch.randn(2, 2), torch.tensor([0, 1]))
    assert set(model.state_dict()) == keys and model in _CACHE
    twin = copy.deepcopy(model)  # no lock or cache inside the model
    torch.testing.assert_close(
        _fast(twin, torch.ones(1, 2), torch.tensor([1])), _fast(model, torch.ones(1, 2), torch.tensor([1]))
    )
    # Count only these two models: other tests' models may be collected by the same gc.collect().
    refs = [weakref.ref(model), weakref.ref(twin)]
    del model, twin
    gc.collect()
    assert all(ref() is None for ref in refs)  # the cache kept neither model alive


def test_threads_decode_concurrently() -> None:
    model = _model("awae", (1, 28, 28))
    z, y = torch.randn(9, 2), torch.arange(9) % 3
    ref = _unfolded(model, z, y)
    outs: list[torch.Tensor] = []

    def work() -> None:
        with torch.no_grad():
            for _ in range(3):
                outs.append(model.decode(z, y))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outs) == 12
    for out in outs:
        torch.testing.assert_close(out, ref, rtol=RTOL, atol=ATOL)


def test_fast_decoder_errors_match_decode() -> None:
    model = _model("awae", (3,))
    fast = fast_decoder(model)
    with pytest.raises(TypeError, match="y must be an int64"):
        fast(torch.zeros(2, 2), torch.zeros(2, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"z must have shape \(B, 2\)"):
        fast(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(IndexError, match=r"chart indices in \[0, 3\)"):
        fast(torch.zeros(1, 2), torch.tensor([3]))
    assert fast(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)).shape == (0, 3)
    with pytest.raises(TypeError, match="model must be an agm model family with a chart_decoder; got CircleAtlas"):
        fast_decoder(CircleAtlas())
    with pytest.raises(TypeError, match="decoder must be an AtlasDecoder; got Linear"):
        fold_decoder(nn.Linear(2, 2))  # type: ignore[arg-type]


def _check_fold(layer: nn.Module, bn: nn.Module, x: torch.Tensor, chart_entry: str | None = None) -> None:
    _randomise_batch_norms(bn)
    chain = ChartSequential([layer, bn]) if chart_entry else nn.Sequential(layer, bn)
    chain.eval()
    folded = fold_batch_norms(copy.deepcopy(chain))
    assert len(list(folded.children())) == 1
    with torch.no_grad():
        if chart_entry == "all":
            ref, out = chain.forward_all(x), folded.forward_all(x)  # type: ignore[operator]
        elif chart_entry == "chart":
            ref, out = chain.forward_chart(x, 1), folded.forward_chart(x, 1)  # type: ignore[operator]
        else:
            ref, out = chain(x), folded(x)
    torch.testing.assert_close(out, ref, rtol=RTOL, atol=ATOL)


def test_fold_torch_layers_with_groups_and_without_bias() -> None:
    torch.manual_seed(2)
    _check_fold(nn.Linear(4, 5), nn.BatchNorm1d(5), torch.randn(3, 4))
    _check_fold(nn.Conv2d(4, 6, 3, bias=False, groups=2), nn.BatchNorm2d(6), torch.randn(2, 4, 5, 5))
    _check_fold(nn.ConvTranspose2d(4, 6, 4, 2, 1, groups=2), nn.BatchNorm2d(6), torch.randn(2, 4, 3, 3))
    _check_fold(nn.ConvTranspose2d(3, 2, 4, 1, 1, bias=False), nn.BatchNorm2d(2), torch.randn(2, 3, 3, 3))


def test_fold_chart_layers_both_entry_points() -> None:
    torch.manual_seed(3)
    for entry, x in (("all", torch.randn(3, 2, 4)), ("chart", torch.randn(3, 4))):
        _check_fold(ChartLinear(2, 4, 5), ChartBatchNorm(2, 5), x, entry)
    for entry, x in (("all", torch.randn(3, 2, 4, 3, 3)), ("chart", torch.randn(3, 4, 3, 3))):
        _check_fold(ChartConvTranspose2d(2, 4, 6, 4, 2, 1), ChartBatchNorm(2, 6), x, entry)


def test_unfoldable_batch_norms_are_kept() -> None:
    no_stats = nn.BatchNorm1d(4, track_running_stats=False)
    assert batch_norm_affine(no_stats) is None and batch_norm_affine(nn.ReLU()) is None
    chain = nn.Sequential(nn.Linear(3, 4), no_stats, nn.ReLU(), nn.BatchNorm1d(4), nn.Linear(4, 4), nn.BatchNorm1d(2))
    folded = fold_batch_norms(chain)
    assert [type(mod) for mod in folded.children()] == [
        type(mod) for mod in chain
    ]  # after ReLU, no stats, channel mismatch
    chart = ChartSequential([ChartLinear(2, 3, 4), nn.BatchNorm1d(8)])  # a torch BN never folds into a chart layer
    assert len(list(fold_batch_norms(chart).children())) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_folded_decode_on_cuda() -> None:
    model = _model("awae", (1, 28, 28)).cuda()
    z, y = torch.randn(6, 2, device="cuda"), torch.arange(6, device="cuda") % 3
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # float32 convolutions, so that float32 tolerances apply
    try:
        out, ref = _fast(model, z, y), _unfolded(model, z, y)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    assert out.device == ref.device == z.device
    torch.testing.assert_close(out, ref, rtol=RTOL, atol=ATOL)
