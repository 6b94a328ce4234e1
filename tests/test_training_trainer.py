"""Trainer: loss goes down on embedded data, CPU reproducibility, resume == uninterrupted run, presets, LR schedule,
batch order, bad data and diverging runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from agm.evaluation import reconstruction_errors
from agm.training import TrainableModel, TrainConfig, load_checkpoint, make_config, resolve_device, train
from agm.training.trainer import TrainingInterrupted, batch_loader, epoch_seed, make_schedulers


def _circle_in_r5(n: int = 256, seed: int = 0) -> torch.Tensor:
    """Points of a unit circle embedded in R^5 by a fixed random orthonormal 2-frame."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=g) * 2 * math.pi
    frame, _ = torch.linalg.qr(torch.randn(5, 2, generator=g))
    points: torch.Tensor = torch.stack([t.cos(), t.sin()], 1) @ frame.T
    return points


def _config(**kw: Any) -> TrainConfig:
    base = dict(epochs=2, n_train=None, hidden=4, batch_size=32, device="cpu")
    base.update(kw)
    return make_config("tiny", "awae", 4, "circle", **base)


def _state_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_training_lowers_reconstruction_error() -> None:
    x = _circle_in_r5(512)
    cfg = _config(epochs=0)
    untrained: Any = train(cfg, None, data=x, progress=False).model
    before = reconstruction_errors(untrained, x).mean_error
    result = train(cfg.replace(epochs=12), None, data=x, progress=False)
    trained: Any = result.model
    after = reconstruction_errors(trained, x).mean_error
    assert isinstance(result.model, TrainableModel)
    assert len(result.history) == 12 and all(math.isfinite(h["total"]) for h in result.history)
    assert after < 0.5 * before, (before, after)
    assert result.history[-1]["rec"] < result.history[0]["rec"]


def test_same_seed_same_weights_other_seed_differs() -> None:
    x = _circle_in_r5(96)
    a = train(_config(seed=3), None, data=x, progress=False).model
    b = train(_config(seed=3), None, data=x, progress=False).model
    c = train(_config(seed=4), None, data=x, progress=False).model
    assert _state_equal(a, b)
    assert not _state_equal(a, c)


def test_resume_equals_uninterrupted_run(tmp_path: Path) -> None:
    x = _circle_in_r5(96)
    full = train(_config(epochs=3), tmp_path / "full", data=x, progress=False)
    train(_config(epochs=1), tmp_path / "split", data=x, progress=False)
    resumed = train(_config(epochs=3), tmp_path / "split", data=x, resume=True, progress=False)
    assert _state_equal(full.model, resumed.model)
    _, _, s_full = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    _, cfg, s_res = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert s_full["epoch"] == s_res["epoch"] == 3 and cfg.epochs == 3
    for name in ("autoencoder", "discriminator"):
        fa, fb = s_full["optimizers"][name]["state"], s_res["optimizers"][name]["state"]
        assert all(torch.equal(fa[k]["exp_avg"], fb[k]["exp_avg"]) for k in fa)
    assert [h["rec"] for h in s_full["history"]] == [h["rec"] for h in s_res["history"]]


def test_resume_with_data_of_another_shape_is_an_error(tmp_path: Path) -> None:
    train(_config(epochs=1), tmp_path, data=_circle_in_r5(64), progress=False)
    with pytest.raises(
        ValueError, match=r"data: points of shape \(4,\), but the model in .*checkpoint.pt takes \(5,\)"
    ):
        train(_config(epochs=2), tmp_path, data=_circle_in_r5(64)[:, :4], resume=True, progress=False)


def test_resume_without_checkpoint_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="resume=True needs an existing checkpoint"):
        train(_config(), tmp_path, data=_circle_in_r5(64), resume=True, progress=False)


def test_paper_presets_follow_the_paper() -> None:
    mn = make_config("paper", "awae", 8, "mnist")
    assert (mn.batch_size, mn.epochs, mn.lr_milestones, mn.betas) == (100, 80, (5, 25, 50), (0.5, 0.999))
    assert mn.lr == {"autoencoder": 2e-4, "generator": 2e-4, "discriminator": 1e-4}
    assert mn.hidden is None and mn.lam == 10.0
    fm = make_config("paper", "wae", 1, "fashion-mnist")
    assert (fm.batch_size, fm.lr_milestones) == (128, (15, 30, 50, 70))
    assert fm.lr["autoencoder"] == 1e-4 and fm.lr["discriminator"] == 5e-5
    assert make_config("cpu", epochs=None).epochs == make_config("cpu").epochs  # None overrides are ignored
    with pytest.raises(ValueError, match="preset must be one of"):
        make_config("huge")
    with pytest.raises(ValueError, match="TrainConfig.batch_size must be an int >= 2; got 1"):
        make_config("tiny", batch_size=1)
    with pytest.raises(ValueError, match="TrainConfig.n_charts must be an int >= 1; got 0"):
        make_config("tiny", n_charts=0)


def _old_learning_rate(config: TrainConfig, name: str, epoch: int) -> float:
    """The schedule as the trainer computed it before MultiStepLR (the oracle)."""
    return config.lr[name] * config.lr_factor ** sum(epoch >= m for m in config.lr_milestones)


def _two_optimizers() -> dict[str, torch.optim.Optimizer]:
    p = torch.nn.Parameter(torch.zeros(1))
    return {"autoencoder": torch.optim.Adam([p]), "discriminator": torch.optim.Adam([p])}


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_learning_rate_halving_schedule(dataset: str) -> None:
    cfg = make_config("paper", "awae", 2, dataset)
    opts = _two_optimizers()
    schedulers = make_schedulers(opts, cfg)
    if dataset == "mnist":
        expected = {0: 2e-4, 4: 2e-4, 5: 1e-4, 24: 1e-4, 25: 5e-5, 50: 2.5e-5, 79: 2.5e-5}
    else:
        expected = {0: 1e-4, 14: 1e-4, 15: 5e-5, 30: 2.5e-5, 50: 1.25e-5, 70: 6.25e-6, 79: 6.25e-6}
    for epoch in range(cfg.epochs):
        for name, opt in opts.items():  # halving is exact in binary: the same floats as before MultiStepLR
            assert opt.param_groups[0]["lr"] == _old_learning_rate(cfg, name, epoch)
        if epoch in expected:
            assert math.isclose(opts["autoencoder"].param_groups[0]["lr"], expected[epoch], rel_tol=1e-12)
            assert math.isclose(opts["discriminator"].param_groups[0]["lr"], expected[epoch] / 2, rel_tol=1e-12)
        for opt in opts.values():  # (MultiStepLR expects an optimizer step before its own)
            opt.step()
        for scheduler in schedulers.values():
            scheduler.step()


def test_schedulers_resumed_at_any_epoch_equal_an_uninterrupted_schedule() -> None:
    cfg = make_config("tiny", "awae", 2, "circle", lr_milestones=(0, 2, 2, 5), lr_factor=0.3, epochs=8)
    opts = _two_optimizers()
    schedulers = make_schedulers(opts, cfg)
    for epoch in range(cfg.epochs):
        resumed = _two_optimizers()
        make_schedulers(resumed, cfg, start=epoch)
        for name in opts:
            assert resumed[name].param_groups[0]["lr"] == opts[name].param_groups[0]["lr"]  # bit for bit
            old = _old_learning_rate(cfg, name, epoch)  # factor 0.3 is inexact: old formula within rounding
            assert math.isclose(opts[name].param_groups[0]["lr"], old, rel_tol=1e-14)
        for opt in opts.values():
            opt.step()
        for scheduler in schedulers.values():
            scheduler.step()
    with pytest.raises(ValueError, match="optimizer 'critic' has no learning rate in config.lr"):
        make_schedulers({"critic": opts["autoencoder"]}, cfg)


@pytest.mark.parametrize(("n", "batch_size", "seed"), [(70, 32, 1), (64, 64, 0), (5, 32, 3)])
def test_batch_order_is_the_seeded_permutation_as_before(n: int, batch_size: int, seed: int) -> None:
    x = torch.arange(n, dtype=torch.float32)[:, None]  # row i holds i: batches show their indices
    loader, sampler = batch_loader(x, batch_size, seed)
    rng_before = torch.get_rng_state()
    for epoch in (0, 2, 3):
        sampler.set_epoch(epoch)
        got = [b[:, 0].long().tolist() for b in loader]
        # the order before the DataLoader: a seeded randperm cut into full batches (the incomplete one dropped)
        assert epoch_seed(seed, epoch) == seed * 1_000_003 + epoch
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        bs = min(batch_size, n)
        assert got == [perm[i : i + bs].tolist() for i in range(0, n - bs + 1, bs)]
        assert len(got) == len(loader) == n // bs
    assert torch.equal(torch.get_rng_state(), rng_before)  # batching draws nothing from the global RNG


@pytest.mark.parametrize(("n", "world_size"), [(70, 2), (64, 4), (9, 3)])
def test_the_ranks_batches_together_are_the_one_process_batches(n: int, world_size: int) -> None:
    x = torch.arange(n, dtype=torch.float32)[:, None]
    per_rank, seed, epoch = 2, 5, 1
    one, one_sampler = batch_loader(x, per_rank * world_size, seed)
    one_sampler.set_epoch(epoch)
    ranks = []
    for rank in range(world_size):
        loader, sampler = batch_loader(x, per_rank, seed, rank=rank, world_size=world_size)
        sampler.set_epoch(epoch)
        ranks.append([set(b[:, 0].long().tolist()) for b in loader])
    together = [set().union(*batches) for batches in zip(*ranks, strict=True)]  # every rank: the same step count
    assert together == [set(b[:, 0].long().tolist()) for b in one]
    assert not set().union(*ranks[0]) & set().union(*ranks[1])  # no row on two ranks
    with pytest.raises(ValueError, match=r"rank must be in \[0, world_size\) .* got 2, 2"):
        batch_loader(x, per_rank, seed, rank=2, world_size=2)


def test_nan_training_data_is_refused_with_its_row() -> None:
    x = _circle_in_r5(64)
    x[17, 3] = float("nan")
    with pytest.raises(ValueError, match=r"data: training data contains NaN or inf \(first at row 17: nan\)"):
        train(_config(), None, data=x, progress=False)
    x[17, 3], x[40, 0] = 0.0, -math.inf
    with pytest.raises(ValueError, match=r"first at row 40: -inf"):
        train(_config(), None, data=x, progress=False)
    with pytest.raises(ValueError, match=r"data: training data must be a float tensor \(N, \*S\) with N >= 2"):
        train(_config(), None, data=torch.zeros(1, 5), progress=False)


def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    x = _circle_in_r5(96)
    train(_config(epochs=1), tmp_path, data=x, progress=False)
    good = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(
        FloatingPointError,
        match=r"training diverged: (loss '\w+' = (nan|inf|-inf) in epoch 2/3, step \d+/3|weight .* after epoch 2/3)"
        rf".*the last checkpoint is {tmp_path / 'checkpoint.pt'} \(epoch 1\)",
    ):
        train(_config(epochs=3), tmp_path, data=x * 1e30, resume=True, progress=False)  # squares overflow float32
    assert (tmp_path / "checkpoint.pt").read_bytes() == good


def test_a_loss_that_is_nan_in_the_first_step_names_epoch_and_step() -> None:
    x = _circle_in_r5(96) * 1e30  # finite data whose squares overflow float32
    with pytest.raises(FloatingPointError, match=r"loss '\w+' = (nan|inf) in epoch 1/2, step 1/3; no checkpoint"):
        train(_config(), None, data=x, progress=False)


def test_relative_data_dir_is_stored_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = train(_config(epochs=0, data_dir="data/../sets"), None, data=_circle_in_r5(64), progress=False)
    assert result.config.data_dir == str(tmp_path.resolve() / "sets")
    assert "TrainResult(model=AWAEGAN, awae m=4 on circle, epochs=0" in repr(result)


def test_device_resolution() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def _patched_step(monkeypatch: pytest.MonkeyPatch, at_call: int, action: Any) -> None:
    """Make the AWAE-GAN's training step call ``action(model)`` after its ``at_call``-th call (1-based)."""
    from agm.models import AWAEGAN

    original, calls = AWAEGAN.training_step, [0]

    def step(self: Any, batch: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        losses = original(self, batch, optimizers)
        calls[0] += 1
        if calls[0] == at_call:
            action(self)
        return losses

    monkeypatch.setattr(AWAEGAN, "training_step", step)


def test_a_weight_that_turns_nan_with_finite_losses_is_caught_before_saving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def poison(model: torch.nn.Module) -> None:
        with torch.no_grad():
            next(model.parameters()).view(-1)[0] = float("nan")

    _patched_step(monkeypatch, 6, poison)  # 3 steps per epoch: the last step of epoch 2
    with pytest.raises(FloatingPointError, match=r"weight '[\w.]+' is not finite after epoch 2/3; the last checkpoint"):
        train(_config(epochs=3), tmp_path, data=_circle_in_r5(96), progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.pt")[2]["epoch"] == 1


def test_ctrl_c_says_how_far_the_run_got(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(model: torch.nn.Module) -> None:
        raise KeyboardInterrupt

    _patched_step(monkeypatch, 4, interrupt)  # the 1st step of epoch 2
    with pytest.raises(TrainingInterrupted, match="training interrupted in epoch 2/3") as info:
        train(_config(epochs=3), tmp_path, data=_circle_in_r5(96), progress=False)
    assert isinstance(info.value, KeyboardInterrupt)
    assert (info.value.epoch, info.value.checkpoint, info.value.checkpoint_epoch) == (2, tmp_path / "checkpoint.pt", 1)
    assert load_checkpoint(tmp_path / "checkpoint.pt")[2]["epoch"] == 1
