"""Trainer: loss goes down on embedded data, CPU reproducibility, resume == uninterrupted run, presets, LR schedule."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from agm.evaluation import reconstruction_errors
from agm.training import TrainableModel, load_checkpoint, make_config, resolve_device, train
from agm.training.trainer import _batches, _set_learning_rates


def _circle_in_r5(n: int = 256, seed: int = 0) -> torch.Tensor:
    """Points of a unit circle embedded in R^5 by a fixed random orthonormal 2-frame."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=g) * 2 * math.pi
    frame, _ = torch.linalg.qr(torch.randn(5, 2, generator=g))
    return torch.stack([t.cos(), t.sin()], 1) @ frame.T


def _config(**kw: object) -> object:
    base = dict(epochs=2, n_train=None, hidden=4, batch_size=32, device="cpu")
    base.update(kw)
    return make_config("tiny", "awae", 4, "circle", **base)


def _state_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_training_lowers_reconstruction_error() -> None:
    x = _circle_in_r5(512)
    cfg = _config(epochs=0)
    before = reconstruction_errors(train(cfg, None, data=x, progress=False).model, x).mean_error
    result = train(cfg.replace(epochs=12), None, data=x, progress=False)
    after = reconstruction_errors(result.model, x).mean_error
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
    with pytest.raises(ValueError, match="invalid TrainConfig.batch_size: 1"):
        make_config("tiny", batch_size=1)


def test_learning_rate_halving_schedule() -> None:
    cfg = make_config("paper", "awae", 2, "mnist")
    p = torch.nn.Parameter(torch.zeros(1))
    opts = {"autoencoder": torch.optim.Adam([p]), "discriminator": torch.optim.Adam([p])}
    expected = {0: 2e-4, 4: 2e-4, 5: 1e-4, 24: 1e-4, 25: 5e-5, 50: 2.5e-5, 79: 2.5e-5}
    for epoch, lr in expected.items():
        _set_learning_rates(opts, cfg, epoch)
        assert math.isclose(opts["autoencoder"].param_groups[0]["lr"], lr)
        assert math.isclose(opts["discriminator"].param_groups[0]["lr"], lr / 2)


def test_batches_are_a_seeded_partition() -> None:
    b1, b2 = _batches(70, 32, seed=1, epoch=2), _batches(70, 32, seed=1, epoch=2)
    assert [t.tolist() for t in b1] == [t.tolist() for t in b2] and len(b1) == 2
    flat = torch.cat(b1)
    assert flat.unique().numel() == 64 and int(flat.max()) < 70
    assert [t.tolist() for t in _batches(70, 32, seed=1, epoch=3)] != [t.tolist() for t in b1]


def test_device_resolution() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
