"""The CAE, Atlas VAE and InfoGAN families: atlas interface, objectives against brute force, gradients, training,
checkpoints and the input checks.  Tiny widths, CPU, a few seconds per family."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from agm.data import load_dataset
from agm.models import MODELS, AtlasModel, AtlasVAE, ChartAutoEncoder, InfoGAN, SemiAtlasModel, build_model
from agm.models.atlas_vae import categorical_kl_uniform, gaussian_kl
from agm.models.cae import cae_loss, chart_labels
from agm.training import TrainConfig, load_checkpoint, train
from agm.training.presets import DEFAULT_LAM

FAMILIES = ("cae", "avae", "infogan")
CHARTS = (1, 2, 4)
LR = {
    "cae": {"autoencoder": 3e-3},
    "avae": {"autoencoder": 3e-3},
    "infogan": {"generator": 2e-3, "discriminator": 1e-3},
}
TINY = {"hidden": 2, "latent_dim": 2}
FLAT = (3,)
IMAGE = (1, 28, 28)


@pytest.fixture(autouse=True)
def _seed_and_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # tiny networks: one thread is fastest and leaves the shared cores to others
    yield
    torch.set_num_threads(threads)


def tiny(family: str, m: int, shape: tuple[int, ...] = FLAT, **kw: object) -> Any:
    return build_model(family, m, shape, **{**TINY, **kw})


def chart_decoder_head(model: Any) -> Any:
    """The first per-chart layer of the chart decoders (a ChartLinear, weight (m, d, F))."""
    decoder = model.generator if isinstance(model, InfoGAN) else model.decoder
    return decoder.chart_head[0]


def psi_head(model: Any) -> Any:
    return model.discriminator.psi_head if isinstance(model, InfoGAN) else model.encoder.psi_head


def circle() -> torch.Tensor:
    return load_dataset("circle", n=256).x


def config(family: str, m: int, epochs: int) -> TrainConfig:
    return TrainConfig(
        model=family,
        n_charts=m,
        dataset="circle",
        hidden=8,
        latent_dim=1,
        epochs=epochs,
        batch_size=32,
        lr=LR[family],
        lr_milestones=(),
        device="cpu",
        lam=1.0 if family == "infogan" else DEFAULT_LAM,
    )


# ----------------------------------------------------------------------------------------------- interface
def test_registered() -> None:
    assert set(FAMILIES) <= set(MODELS)
    assert isinstance(build_model("cae", 2, FLAT), ChartAutoEncoder)
    assert isinstance(build_model("avae", 2, FLAT), AtlasVAE)
    assert isinstance(build_model("infogan", 2, FLAT), InfoGAN)


@pytest.mark.parametrize("family", FAMILIES)
def test_protocols(family: str) -> None:
    model = tiny(family, 2)
    assert isinstance(model, SemiAtlasModel)
    if family == "infogan":
        assert not hasattr(model, "encode")
        assert not isinstance(model, AtlasModel)
    else:
        assert isinstance(model, AtlasModel)


@pytest.mark.parametrize("shape", [FLAT, IMAGE], ids=["flat", "image"])
@pytest.mark.parametrize("m", CHARTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_shapes_and_simplex(family: str, m: int, shape: tuple[int, ...]) -> None:
    model = tiny(family, m, shape)
    b, d = 8, TINY["latent_dim"]  # >= 2 points per chart: batch norm in training mode
    x = torch.rand(b, *shape)
    z, y = torch.randn(b, d), torch.arange(b) % m
    for mode in (True, False):
        model.train(mode)
        with torch.no_grad():
            assert model.decode(z, y).shape == (b, *shape)
            assert model.decode_all(torch.randn(b, m, d)).shape == (b, m, *shape)
            psi = model.partition(x)
            if family != "infogan":
                assert model.encode(x).shape == (b, m, d)
        assert psi.shape == (b, m)
        assert bool((psi >= 0).all())
        torch.testing.assert_close(psi.sum(1), torch.ones(b))
    if shape == IMAGE:  # conv decoders emit means in [0, 1] (the Atlas VAE's Bernoulli means included)
        out = model.decode(z, y)
        assert bool(((out >= 0) & (out <= 1)).all())


@pytest.mark.parametrize("family", FAMILIES)
def test_decode_groups_by_chart(family: str) -> None:
    """decode(z, y) in eval mode equals decode_all(z broadcast)[i, y_i]: each point goes through its own chart."""
    model = tiny(family, 4).eval()
    z, y = torch.randn(8, 2), torch.tensor([3, 0, 1, 3, 2, 0, 2, 1])
    with torch.no_grad():
        alls = model.decode_all(z[:, None, :].expand(8, 4, 2).contiguous())
        torch.testing.assert_close(model.decode(z, y), alls[torch.arange(8), y])


# ----------------------------------------------------------------------------------------------- objectives
@given(
    arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 5)), elements=st.floats(0, 50, allow_nan=False)),
    st.floats(0.1, 10),
)
def test_cae_labels_favour_the_smallest_error(err: np.ndarray, temperature: float) -> None:
    labels = chart_labels(torch.from_numpy(err), temperature).numpy()
    expected = np.exp(-(err - err.min(1, keepdims=True)) / temperature)
    np.testing.assert_allclose(labels, expected / expected.sum(1, keepdims=True), rtol=1e-9, atol=1e-12)
    for row_e, row_l in zip(err, labels):
        assert row_l[np.argmin(row_e)] == row_l.max()  # the chart with the smallest error gets the largest label
        order = np.argsort(row_e, kind="stable")
        assert np.all(np.diff(row_l[order]) <= 1e-15)  # labels never increase with the error


def test_cae_labels_direction_and_detach() -> None:
    err = torch.tensor([[3.0, 0.5, 2.0], [0.0, 4.0, 1.0]], requires_grad=True)
    labels = chart_labels(err)
    assert labels.argmax(1).tolist() == [1, 0]
    assert labels.argmin(1).tolist() == [0, 1]
    assert not labels.requires_grad
    with pytest.raises(ValueError, match="temperature"):
        chart_labels(err, 0.0)
    with pytest.raises(ValueError, match=r"err must have shape \(B, m\)"):
        chart_labels(err[0])


def test_cae_loss_brute_force() -> None:
    gen = torch.Generator().manual_seed(1)
    x, recon = torch.rand(4, 3, generator=gen), torch.rand(4, 2, 3, generator=gen)
    log_psi = torch.log_softmax(torch.randn(4, 2, generator=gen), 1)
    out = cae_loss(x, recon, log_psi, temperature=0.5)
    rec, pred = 0.0, 0.0
    for i in range(4):
        e = [float(((recon[i, c] - x[i]) ** 2).sum()) for c in range(2)]
        w = [math.exp(-ec / 0.5) for ec in e]
        rec += min(e) / 4
        pred -= sum(wc / sum(w) * float(log_psi[i, c]) for c, wc in enumerate(w)) / 4
    assert float(out["rec"]) == pytest.approx(rec, rel=1e-5)
    assert float(out["pred"]) == pytest.approx(pred, rel=1e-5)
    assert float(out["total"]) == pytest.approx(rec + pred, rel=1e-5)


def test_vae_divergences_match_torch_distributions() -> None:
    mu, logvar = torch.randn(5, 3, 4), torch.randn(5, 3, 4)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p).sum(-1))
    log_psi = torch.log_softmax(torch.randn(5, 3), 1)
    cat = torch.distributions.Categorical(logits=log_psi)
    uni = torch.distributions.Categorical(logits=torch.zeros(5, 3))
    torch.testing.assert_close(categorical_kl_uniform(log_psi), torch.distributions.kl_divergence(cat, uni))


@pytest.mark.parametrize(("likelihood", "shape"), [("gaussian", FLAT), ("bernoulli", FLAT), ("bernoulli", IMAGE)])
@pytest.mark.parametrize("m", CHARTS)
def test_vae_elbo_is_the_exact_sum_over_charts(likelihood: str, m: int, shape: tuple[int, ...]) -> None:
    """losses()["elbo"] against a chart-by-chart evaluation with torch.distributions (same reparameterisation noise)."""
    model = tiny("avae", m, shape, likelihood=likelihood).eval()
    if m > 1:  # a far-from-uniform psi, so that KL(psi || U) matters
        with torch.no_grad():
            model.encoder.psi_head[-1].weight.mul_(50.0)
            model.encoder.psi_head[-1].bias.copy_(torch.arange(m) * 1.5)
    x = torch.rand(6, *shape).round() if likelihood == "bernoulli" else torch.randn(6, *shape)
    with torch.no_grad():
        torch.manual_seed(5)
        out = model.losses(x)
        mu, logvar, log_psi = model.posterior(x)
        torch.manual_seed(5)
        eps = torch.randn_like(mu)
        elbo = -torch.distributions.kl_divergence(
            torch.distributions.Categorical(logits=log_psi), torch.distributions.Categorical(logits=torch.zeros(6, m))
        )
        for c in range(m):
            z = mu[:, c] + eps[:, c] * torch.exp(0.5 * logvar[:, c])
            mean = model.decode(z, torch.full((6,), c))
            if likelihood == "bernoulli":
                ll = torch.distributions.Bernoulli(probs=mean).log_prob(x).flatten(1).sum(1)
            else:
                ll = torch.distributions.Normal(mean, float(model.log_obs_std.exp())).log_prob(x).sum(1)
            kl = torch.distributions.kl_divergence(
                torch.distributions.Normal(mu[:, c], torch.exp(0.5 * logvar[:, c])),
                torch.distributions.Normal(torch.zeros_like(z), torch.ones_like(z)),
            ).sum(1)
            elbo = elbo + log_psi[:, c].exp() * (ll - kl)
    assert float(out["kl_y"]) > (0.05 if m > 1 else -1.0)
    torch.testing.assert_close(out["elbo"], elbo.mean(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(out["total"], -out["elbo"])


@pytest.mark.parametrize("m", (2, 4))
def test_vae_mutual_information_term(m: int) -> None:
    model = tiny("avae", m, mi_weight=0.5).eval()
    like = torch.zeros(1)
    with torch.no_grad():
        torch.manual_seed(3)
        mi = model.mutual_information(3, like)
        torch.manual_seed(3)
        z = torch.randn(3, m, 2)
        gen = model.decode_all(z).reshape(3 * m, *FLAT)
        y = torch.arange(m).repeat(3)
        expected = math.log(m) + model.partition(gen).log()[torch.arange(3 * m), y].mean()
    torch.testing.assert_close(mi, expected)
    assert float(mi) <= math.log(m) + 1e-6
    assert float(tiny("avae", 1, mi_weight=1.0).mutual_information(3, like)) == 0.0


def test_infogan_losses_brute_force() -> None:
    model = tiny("infogan", 3).eval()
    x = torch.randn(4, *FLAT)
    with torch.no_grad():
        x_gen, y = model.generate(2, x)
        d = model.discriminator_losses(x, x_gen, y)
        g = model.generator_losses(x_gen, y)
        real, _ = model.discriminate(x)
        fake, log_q = model.discriminate(x_gen)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    assert y.tolist() == [0, 1, 2, 0, 1, 2]
    torch.testing.assert_close(d["disc"], bce(real, torch.ones(4)) + bce(fake, torch.zeros(6)))
    torch.testing.assert_close(g["gen"], bce(fake, torch.ones(6)))  # non-saturating: -log D(G(z))
    nll = -sum(float(log_q[k, y[k]]) for k in range(6)) / 6
    assert float(g["info"]) == pytest.approx(nll, rel=1e-5)
    assert float(g["mi"]) == pytest.approx(math.log(3) - nll, abs=1e-5)
    torch.testing.assert_close(g["total"], g["gen"] + model.lam * g["info"])


# ----------------------------------------------------------------------------------------------- gradients
def _chart_grads(layer: Any) -> list[float]:
    return [float(layer.weight.grad[c].abs().sum()) for c in range(layer.n_charts)]


@pytest.mark.parametrize("m", CHARTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_gradients_reach_every_chart_and_psi(family: str, m: int) -> None:
    model = tiny(family, m, hidden=4).train()
    x = torch.randn(64, *FLAT)
    if family == "infogan":
        x_gen, y = model.generate(8, x)
        loss = model.discriminator_losses(x, x_gen.detach(), y)["total"] + model.generator_losses(x_gen, y)["total"]
    else:
        losses = model.losses(x)
        loss = losses["total"]
    loss.backward()
    dec = _chart_grads(chart_decoder_head(model))
    enc = None if family == "infogan" else _chart_grads(model.encoder.chart_fc)
    if family == "cae":  # only the best chart of a sample gets reconstruction gradient: let every chart win once
        assert set(losses["err"].argmin(1).tolist()) == set(range(m)), "precondition: every chart must win a sample"
    assert all(g > 0 for g in dec), dec
    assert enc is None or all(g > 0 for g in enc), enc
    if m == 1:
        assert psi_head(model) is None
    else:
        assert all(float(p.grad.abs().sum()) > 0 for p in psi_head(model).parameters())


def test_cae_losing_chart_gets_no_reconstruction_gradient() -> None:
    """The min of eq. 7: a chart that is nowhere the best gets exactly zero gradient (eval mode: in training mode the
    shared decoder tail's batch statistics couple the charts)."""
    model = tiny("cae", 2).eval()
    x = torch.randn(16, *FLAT)
    z, log_psi = model.encoder(x)
    recon = model.decoder.forward_all(z)
    recon = torch.stack([recon[:, 0], recon[:, 1] + 1e3], 1)  # chart 1 loses on every sample
    cae_loss(x, recon, log_psi)["total"].backward()
    assert _chart_grads(model.decoder.chart_head[0])[1] == 0.0
    assert _chart_grads(model.encoder.chart_fc)[1] == 0.0
    assert _chart_grads(model.decoder.chart_head[0])[0] > 0.0


def test_vae_mi_term_trains_decoders_and_psi() -> None:
    model = tiny("avae", 3, hidden=4, mi_weight=1.0).train()
    model.mutual_information(4, torch.zeros(1)).backward()
    assert all(g > 0 for g in _chart_grads(model.decoder.chart_head[0]))
    assert all(float(p.grad.abs().sum()) > 0 for p in model.encoder.psi_head.parameters())


# ----------------------------------------------------------------------------------------------- training
def _gen_distance(model: Any, data: torch.Tensor) -> float:
    """Mean distance from 200 decoded prior samples (charts in turn) to their nearest data point."""
    model.eval()
    gen = torch.Generator().manual_seed(123)
    z = torch.randn(200, model.latent_dim, generator=gen)
    with torch.no_grad():
        out = model.decode(z, torch.arange(200) % model.n_charts)
    return float(torch.cdist(out, data).min(1).values.mean())


@pytest.mark.parametrize("m", CHARTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_short_training_lowers_loss(family: str, m: int) -> None:
    data = circle()
    cfg = config(family, m, epochs=8)
    if family != "infogan":
        hist = train(cfg, data=data, progress=False).history
        assert hist[-1]["total"] < 0.9 * hist[0]["total"], [h["total"] for h in hist]
        key = "rec"  # CAE: the label term stays near log m on the circle (errors << 1: soft labels); AVAE: -E log p
        assert hist[-1][key] < 0.5 * hist[0][key], [h[key] for h in hist]
        return
    torch.manual_seed(cfg.seed)
    before = _gen_distance(build_model("infogan", m, (2,), **cfg.model_kwargs()), data)
    res = train(cfg, data=data, progress=False)
    after = _gen_distance(res.model, data)
    assert after < 0.85 * before, (before, after)  # generated points approach the circle
    if m > 1:  # Q learns to recognise the chart of a generated point: the MI bound rises towards log m
        assert res.history[-1]["info"] < 0.5 * res.history[0]["info"], [h["info"] for h in res.history]
        assert res.history[-1]["mi"] > 0.5 * math.log(m)


@pytest.mark.parametrize("m", CHARTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_checkpoint_round_trip(family: str, m: int, tmp_path: Path) -> None:
    data = circle()
    res = train(config(family, m, epochs=1), out_dir=tmp_path, data=data, progress=False)
    assert res.checkpoint is not None
    loaded: Any
    loaded, cfg, state = load_checkpoint(res.checkpoint)
    trained: Any = res.model
    assert type(loaded) is type(trained) and loaded.spec() == trained.spec()
    assert cfg.model == family and state["epoch"] == 1 and set(state["optimizers"]) == set(LR[family])
    x, z, y = data[:16], torch.randn(16, 1), torch.arange(16) % m
    with torch.no_grad():
        assert torch.equal(loaded.decode(z, y), trained.decode(z, y))
        assert torch.equal(loaded.partition(x), trained.partition(x))
        if family != "infogan":
            assert torch.equal(loaded.encode(x), trained.encode(x))
    spec = dict(trained.spec())
    rebuilt = build_model(spec.pop("name"), spec.pop("n_charts"), spec.pop("data_shape"), **spec)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in trained.state_dict().items()
    }


# ----------------------------------------------------------------------------------------------- input checks
@pytest.mark.parametrize("family", FAMILIES)
def test_bad_construction(family: str) -> None:
    with pytest.raises(ValueError, match="n_charts must be an int >= 1"):
        build_model(family, 0, FLAT)
    with pytest.raises(ValueError, match="data_shape"):
        build_model(family, 2, (3, 4))
    with pytest.raises(ValueError, match="hidden and latent_dim must be >= 1"):
        build_model(family, 2, FLAT, hidden=0)
    with pytest.raises(ValueError, match="lr must give"):
        tiny(family, 2).make_optimizers({"encoder": 1e-3}, (0.5, 0.999))


def test_family_options_checked() -> None:
    for family in ("cae", "avae"):  # no divergence weight: the trainer passes lam only at its default, never to them
        assert TrainConfig(model=family, lam=DEFAULT_LAM).model_kwargs() == {}
        with pytest.raises(ValueError, match=f"model '{family}' has no divergence weight lam; got lam=3.0"):
            TrainConfig(model=family, lam=3.0).model_kwargs()
        with pytest.raises(ValueError, match=rf"model '{family}' takes no option \['lam'\]; its options: \["):
            build_model(family, 2, FLAT, lam=DEFAULT_LAM)
    for family in ("awae", "wae", "infogan"):
        assert TrainConfig(model=family, lam=3.0, hidden=5).model_kwargs() == {"lam": 3.0, "hidden": 5}
    with pytest.raises(ValueError, match="unknown model 'vae'"):
        TrainConfig(model="vae").model_kwargs()
    with pytest.raises(ValueError, match="temperature must be > 0"):
        build_model("cae", 2, FLAT, temperature=-1.0)
    with pytest.raises(ValueError, match="likelihood must be one of"):
        build_model("avae", 2, FLAT, likelihood="poisson")
    with pytest.raises(ValueError, match="mi_weight must be >= 0"):
        build_model("avae", 2, FLAT, mi_weight=-0.1)
    with pytest.raises(ValueError, match="obs_std must be > 0"):
        build_model("avae", 2, FLAT, obs_std=0.0)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        build_model("infogan", 2, FLAT, lam=-1.0)


@pytest.mark.parametrize("family", FAMILIES)
def test_bad_inputs(family: str) -> None:
    model = tiny(family, 2).eval()
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3\)"):
        model.partition(torch.zeros(4, 2))
    with pytest.raises(TypeError, match="x must be a floating-point"):
        model.partition(torch.zeros(4, 3, dtype=torch.int64))
    with pytest.raises(IndexError, match=r"chart indices in \[0, 2\)"):
        model.decode(torch.zeros(2, 2), torch.tensor([0, 2]))
    with pytest.raises(TypeError, match="y must be an int64"):
        model.decode(torch.zeros(2, 2), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"z must have shape \(B, 2, 2\)"):
        model.decode_all(torch.zeros(2, 3, 2))
    if family != "infogan":
        with pytest.raises(ValueError, match=r"x must have shape"):
            model.encode(torch.zeros(4, 3, 1))
