"""The shared family base (agm.models.family) and the registry: per-point atlas maps in train and eval mode for
every registered family, mode restoration, optimizer groups, options and registration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn

from agm.models import MODELS, AtlasFamily, SemiAtlasFamily, build_model, model_options, register_family
from agm.models.chart_layers import ChartBatchNorm
from agm.models.family import frozen, per_point

FAMILIES = sorted(MODELS)
SHAPES = ((3,), (1, 28, 28))


@pytest.fixture(autouse=True)
def _seed_and_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(family: str, shape: tuple[int, ...]) -> Any:
    m = 1 if family == "wae" else 3
    model = build_model(family, m, shape, hidden=2, latent_dim=2)
    model.train()  # move the running statistics away from (0, 1), so that batch vs running statistics differ
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, ChartBatchNorm)):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
    return model


def _buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.named_buffers()}


@pytest.mark.parametrize("shape", SHAPES, ids=["flat", "image"])
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("train_mode", [True, False], ids=["train", "eval"])
def test_atlas_maps_are_per_point_in_both_modes(family: str, shape: tuple[int, ...], train_mode: bool) -> None:
    """A point's decoding, weight and code do not depend on its batch, and the maps leave the BN statistics alone."""
    model = _model(family, shape).train(train_mode)
    m, d = model.n_charts, model.latent_dim
    x, z, y = torch.rand(6, *shape), torch.randn(6, d), torch.arange(6) % m
    before = _buffers(model)
    with torch.no_grad():
        # float32 through the same kernels at another batch size: ~1e-7 relative differences, no more
        torch.testing.assert_close(model.decode(z[:1], y[:1]), model.decode(z, y)[:1], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(model.partition(x[:1]), model.partition(x)[:1], rtol=1e-5, atol=1e-6)
        zz = torch.randn(6, m, d)
        torch.testing.assert_close(model.decode_all(zz[:2]), model.decode_all(zz)[:2], rtol=1e-5, atol=1e-6)
        if isinstance(model, AtlasFamily):
            torch.testing.assert_close(model.encode(x[:1]), model.encode(x)[:1], rtol=1e-5, atol=1e-6)
        else:
            assert not hasattr(model, "encode")
    after = _buffers(model)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training is train_mode and all(mod.training is train_mode for mod in model.modules())


@pytest.mark.parametrize("family", FAMILIES)
def test_train_and_eval_mode_maps_agree(family: str) -> None:
    model = _model(family, (3,))
    x, z = torch.rand(5, 3), torch.randn(5, model.latent_dim)
    y = torch.arange(5) % model.n_charts
    outs = []
    for mode in (True, False):
        model.train(mode)
        with torch.no_grad():
            outs.append((model.decode(z, y), model.partition(x)))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_per_point_restores_mixed_modes_and_frozen_restores_grad() -> None:
    model = _model("awae", (3,)).train()
    model.discriminator.eval()
    with per_point(model):
        assert not any(mod.training for mod in model.modules())
    assert model.training and model.encoder.training and not model.discriminator.training
    with frozen(model.discriminator):
        assert not any(p.requires_grad for p in model.discriminator.parameters())
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(RuntimeError, match="boom"), per_point(model):
        raise RuntimeError("boom")
    assert model.training and not model.discriminator.training


@pytest.mark.parametrize("family", FAMILIES)
def test_optimizers_cover_every_parameter_once(family: str) -> None:
    model = _model(family, (3,))
    groups = model.optimizer_groups()
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    opts = model.make_optimizers({name: 1e-3 for name in groups} | {"unused": 1.0}, (0.5, 0.999))
    assert set(opts) == set(groups)
    with pytest.raises(ValueError, match=r"lr must give rates for \[.*\]; got keys \['unused'\]"):
        model.make_optimizers({"unused": 1.0}, (0.5, 0.999))


def test_registry_options_and_registration_errors() -> None:
    assert model_options("cae") == {"hidden", "latent_dim", "temperature"}
    assert model_options("awae") == model_options("wae") == {"hidden", "latent_dim", "lam"}
    with pytest.raises(ValueError, match=r"model 'awae' takes no option \['temperature'\]"):
        build_model("awae", 2, (3,), temperature=1.0)
    with pytest.raises(ValueError, match="unknown model 'nope'; known models"):
        model_options("nope")
    with pytest.raises(ValueError, match="model name 'cae' is already registered"):
        register_family("cae")(SemiAtlasFamily)
    with pytest.raises(ValueError, match="register_family needs at least one name"):
        register_family()
    with pytest.raises(ValueError, match="name must be 'awae' or 'wae'; got 'x'"):
        MODELS["awae"].func(2, (3,), name="x")  # type: ignore[attr-defined]
