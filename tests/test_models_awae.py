"""AWAE-GAN / WAE-GAN: atlas interface shapes, simplex, batched-vs-per-chart oracles, gradients, parameter counts."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from agm.models import AWAEGAN, MODELS, AtlasModel, backbone_for, build_model, count_parameters
from agm.models.backbones import AUTOENCODER_PARAMETERS, PAPER_HIDDEN
from agm.models.chart_layers import ChartBatchNorm, ChartConvTranspose2d, ChartLinear

CHARTS = (1, 2, 4, 8, 16)

SHAPES = ((1, 28, 28), (5,))


def _tiny(m: int, shape: tuple[int, ...], seed: int = 0) -> AWAEGAN:
    torch.manual_seed(seed)
    return build_model("wae" if m == 1 else "awae", m, shape, hidden=2)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("m", CHARTS)
def test_shapes_and_simplex(m: int, shape: tuple[int, ...]) -> None:
    model = _tiny(m, shape)
    assert isinstance(model, AtlasModel)
    d = 8 if m == 1 else 7
    assert (model.n_charts, model.latent_dim) == (m, d)
    x = torch.rand(6, *shape)
    codes = []
    for mode in (model.train, model.eval):
        mode()
        z = model.encode(x)
        codes.append(z)
        psi = model.partition(x)
        assert z.shape == (6, m, d) and psi.shape == (6, m)
        assert torch.all(psi >= 0)
        torch.testing.assert_close(psi.sum(1), torch.ones(6))
        y = torch.arange(6) % m
        out = model.decode(z[torch.arange(6), y], y)
        assert out.shape == (6, *shape)
        assert model.decode_all(z).shape == (6, m, *shape)
    torch.testing.assert_close(codes[0], codes[1])  # atlas maps are per-point: same in train and eval mode
    torch.testing.assert_close(model.decode(z[:1, 0], y[:1] * 0), model.decode(z[:, 0], y * 0)[:1])
    if shape == (1, 28, 28):
        assert 0.0 <= float(out.detach().min()) and float(out.detach().max()) <= 1.0  # sigmoid pixels
    if m == 1:
        assert torch.equal(psi, torch.ones(6, 1))


def test_decode_by_chart_equals_all_charts_gather() -> None:
    """decode(z, y) (grouped per chart, weight slices) == decode_all(z)[i, y_i] (grouped convs), eval mode."""
    for shape in SHAPES:
        model = _tiny(4, shape).eval()
        z = torch.randn(9, 4, model.latent_dim)
        y = torch.tensor([3, 0, 1, 1, 2, 3, 0, 2, 3])
        picked = model.decode(z[torch.arange(9), y], y)
        torch.testing.assert_close(picked, model.decode_all(z)[torch.arange(9), y], rtol=1e-5, atol=1e-5)


def test_chart_layers_equal_separate_layers() -> None:
    """Batched chart layers == m separate torch layers holding the same weights (the oracle)."""
    torch.manual_seed(1)
    m, cin, cout = 3, 4, 5
    lin = ChartLinear(m, cin, cout)
    x = torch.randn(7, m, cin)
    ref = torch.stack([x[:, c] @ lin.weight[c] + lin.bias[c] for c in range(m)], 1)
    torch.testing.assert_close(lin.forward_all(x), ref)
    torch.testing.assert_close(lin.forward_chart(x[:, 1], 1), ref[:, 1])
    conv = ChartConvTranspose2d(m, cin, cout, 4, 2, 1)
    xi = torch.randn(2, m, cin, 7, 7)
    for c in range(m):
        sep = nn.ConvTranspose2d(cin, cout, 4, 2, 1)
        sep.weight.data.copy_(conv.weight[c * cin : (c + 1) * cin])
        sep.bias.data.copy_(conv.bias[c * cout : (c + 1) * cout])
        torch.testing.assert_close(conv.forward_all(xi)[:, c], sep(xi[:, c]), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(conv.forward_chart(xi[:, c], c), sep(xi[:, c]), rtol=1e-5, atol=1e-5)
    bn = ChartBatchNorm(m, cout)
    h = torch.randn(8, m, cout, 3, 3)
    out = bn.forward_all(h)
    for c in range(m):
        torch.testing.assert_close(out[:, c], nn.BatchNorm2d(cout)(h[:, c]), rtol=1e-4, atol=1e-5)
    assert not torch.equal(bn.running_mean, torch.zeros(m * cout))  # running statistics were updated


def _chart_slices_have_grad(param: torch.Tensor, m: int) -> bool:
    g = param.grad
    return g is not None and all(float(s.abs().sum()) > 0 for s in g.reshape(m, -1).unbind(0))


def _biases_before_batch_norm(model: nn.Module) -> set[int]:
    """ids of biases of layers directly followed by a batch norm: their gradient is 0 analytically."""
    out: set[int] = set()
    for mod in model.modules():
        if isinstance(mod, (nn.Sequential, nn.ModuleList)):
            layers = list(mod)
            for a, b in zip(layers, layers[1:]):
                if (
                    isinstance(b, (nn.BatchNorm1d, nn.BatchNorm2d, ChartBatchNorm))
                    and getattr(a, "bias", None) is not None
                ):
                    out.add(id(a.bias))
    return out


@pytest.mark.parametrize("shape", SHAPES)
def test_gradients_reach_every_chart_and_psi(shape: tuple[int, ...]) -> None:
    m = 4
    model = _tiny(m, shape)
    x = torch.rand(8, *shape)
    losses = model.autoencoder_losses(x)
    losses["total"].backward()
    enc, dec = model.encoder, model.decoder
    skip = _biases_before_batch_norm(model)
    assert len(skip) >= 5
    per_chart = [enc.chart_fc.weight, enc.chart_fc.bias, enc.chart_block[0].weight]
    per_chart += [p for layer in dec.chart_head for p in layer.parameters() if id(p) not in skip]
    for p in per_chart:
        assert _chart_slices_have_grad(p, m), p.shape
    shared = list(enc.psi_head.parameters()) + list(enc.trunk.parameters()) + list(dec.tail.parameters())
    for p in shared:
        if id(p) not in skip:
            assert p.grad is not None and float(p.grad.abs().sum()) > 0, p.shape
    model.zero_grad()
    z_prior = torch.randn(8, m, model.latent_dim)
    model.discriminator_step_loss(losses["z"], losses["psi"], z_prior).backward()
    for p in model.discriminator.parameters():
        if id(p) not in skip:
            assert _chart_slices_have_grad(p, m)


#: Table 1 of the paper ("Trainable parameters"), typed in from the publication (not from the package).
PAPER_TABLE1_PARAMETERS = {1: 21_967_881, 2: 21_626_265, 4: 20_885_793, 8: 21_961_217, 16: 21_623_721}


@pytest.mark.parametrize("m", CHARTS)
def test_paper_parameter_counts_equal_table_1(m: int) -> None:
    """Encoders + psi + decoders of the paper-size conv models == the paper's Table 1, to the unit."""
    model = build_model("wae" if m == 1 else "awae", m, (1, 28, 28))
    assert (model.hidden, model.latent_dim) == (PAPER_HIDDEN[m], 8 if m == 1 else 7)
    assert count_parameters(model) == PAPER_TABLE1_PARAMETERS[m] == AUTOENCODER_PARAMETERS[m]
    assert count_parameters(model, "all") == PAPER_TABLE1_PARAMETERS[m] + count_parameters(model, "discriminator")


def test_conv_layer_conventions() -> None:
    """The Appendix A conventions the counts rely on: bias-free encoder convs, 4x4 kernels, FC straight into FSConv."""
    model = _tiny(2, (1, 28, 28))
    convs = [mod for mod in model.encoder.modules() if isinstance(mod, nn.Conv2d)]
    assert len(convs) == 5 and all(c.bias is None and c.kernel_size == (4, 4) for c in convs)
    head = list(model.decoder.chart_head)
    assert [type(layer).__name__ for layer in head[:3]] == ["ChartLinear", "ChartUnflatten", "ChartConvTranspose2d"]
    last = [mod for mod in model.decoder.tail if isinstance(mod, nn.ConvTranspose2d)][-1]
    assert (last.kernel_size, last.stride, last.bias is not None) == ((4, 4), (1, 1), True)
    assert isinstance(model.decoder.tail[-1], nn.Sigmoid)


def test_bad_inputs_raise() -> None:
    model = _tiny(2, (5,))
    with pytest.raises(ValueError, match=r"data_shape must be \(1, 28, 28\).*got \(3, 32, 32\)"):
        backbone_for((3, 32, 32))
    with pytest.raises(ValueError, match=r"x must have shape \(B, 5\).*got \(4, 6\)"):
        model.encode(torch.zeros(4, 6))
    with pytest.raises(TypeError, match="x must be a floating-point"):
        model.partition(torch.zeros(4, 5, dtype=torch.int64))
    with pytest.raises(IndexError, match=r"chart indices in \[0, 2\).*\[0, 2\]"):
        model.decode(torch.zeros(2, 7), torch.tensor([0, 2]))
    with pytest.raises(TypeError, match="y must be an int64"):
        model.decode(torch.zeros(2, 7), torch.tensor([0, 1], dtype=torch.int32))
    with pytest.raises(ValueError, match=r"z must have shape \(B, 7\)"):
        model.decode(torch.zeros(2, 8), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="WAE-GAN has one chart"):
        build_model("wae", 2, (5,))
    with pytest.raises(ValueError, match="unknown model 'vae'.*awae"):
        build_model("vae", 2, (5,))
    with pytest.raises(ValueError, match="no paper width h for n_charts=3"):
        build_model("awae", 3, (1, 28, 28))
    assert {"awae", "wae"} <= set(MODELS)


def test_spec_rebuilds_same_architecture() -> None:
    model = _tiny(4, (1, 28, 28))
    spec = model.spec()
    twin = build_model(spec.pop("name"), spec.pop("n_charts"), spec.pop("data_shape"), **spec)
    assert [p.shape for p in twin.parameters()] == [p.shape for p in model.parameters()]
    assert math.isclose(twin.lam, 10.0)
