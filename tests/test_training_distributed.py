"""Data-parallel training: one process is bitwise the one-process trainer of before, two gloo processes launched by
torchrun (``torchrun -m agm train``) equal a one-process replay of two per-rank-BN replicas, rank 0 alone writes the
checkpoint with world_size 2, a one-process resume continues it, and the process-group helpers' errors.

Two processes are launched once (a module fixture, ~20-40 s on a loaded 2-core machine: two torch imports); every
other test runs in this process.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from agm import distributed
from agm.models.family import frozen
from agm.models.registry import build_model
from agm.training import TrainConfig, load_checkpoint, make_config, train
from agm.training import trainer as trainer_module
from agm.training.data_parallel import rank_batch_size, rank_seed
from agm.training.trainer import epoch_seed, load_training_data, make_schedulers

CHARTS, N_TRAIN, GLOBAL_BATCH, EPOCHS, SEED = 2, 128, 32, 2, 3


def _config(**changes: Any) -> TrainConfig:
    """The tiny AWAE-GAN run of the two-process launch (the circle in R^2, 2 charts, global batch 32)."""
    base = dict(epochs=EPOCHS, n_train=N_TRAIN, batch_size=GLOBAL_BATCH, seed=SEED, device="cpu")
    return make_config("tiny", "awae", CHARTS, "circle", **{**base, **changes})


def _step_schedulers(schedulers: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "scheduler.step() before optimizer.step()" (no step yet)
        for scheduler in schedulers.values():
            scheduler.step()


def _one_process_epochs(
    model: Any, optimizers: dict[str, torch.optim.Optimizer], config: TrainConfig, x: torch.Tensor, start: int
) -> None:
    """The one-process trainer as it was before data parallelism (the oracle): epochs [start, config.epochs), each
    the seeded permutation ``randperm(N, epoch_seed)`` cut into full batches, ``training_step`` on each."""
    schedulers = make_schedulers(optimizers, config, start)
    n, batch = x.shape[0], min(config.batch_size, x.shape[0])
    for epoch in range(start, config.epochs):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(config.seed, epoch)))
        for k in range(n // batch):
            model.training_step(x[perm[k * batch : (k + 1) * batch]], optimizers)
        _step_schedulers(schedulers)


def _states_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(("model", "charts"), [("awae", 3), ("infogan", 2), ("cae", 2)])
def test_one_process_is_bitwise_the_trainer_before_data_parallelism(model: str, charts: int) -> None:
    config = make_config("tiny", model, charts, "circle", epochs=2, n_train=None, batch_size=32, seed=1, device="cpu")
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))  # 100 rows: the last 4 are dropped
    result = train(config, None, data=x, progress=False)
    torch.manual_seed(config.seed)
    reference: Any = build_model(model, charts, (2,), **config.model_kwargs())
    _one_process_epochs(reference, reference.make_optimizers(config.lr, config.betas), config, x, 0)
    assert _states_equal(result.model.state_dict(), reference.state_dict())


# --------------------------------------------------------------------------------------------- two processes


#: What a busy machine makes torchrun fail with before training starts (then the launch is retried on a fresh port
#: after a back-off); the seconds waited after each attempt; a guard against a hung launch (not a measurement).
START_FAILURES = (
    "Resource temporarily unavailable",
    "pthread_create failed",
    "The client socket has timed out",
    "DistNetworkError",
    "Address already in use",
)
START_BACKOFF_S = (5.0, 20.0, 60.0)
HANG_S = 1200


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``torchrun --standalone --nproc_per_node 2 -m agm train`` of :func:`_config` (gloo, CPU, this process's
    torch thread count); returns (out folder, stdout)."""
    base = tmp_path_factory.mktemp("two-ranks")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    argv = ["-m", "agm", "train", "--model", "awae", "--charts", str(CHARTS), "--dataset", "circle"]
    argv += ["--preset", "tiny", "--epochs", str(EPOCHS), "--n-train", str(N_TRAIN), "--batch-size", str(GLOBAL_BATCH)]
    argv += ["--seed", str(SEED), "--device", "cpu", "--threads", str(torch.get_num_threads()), "--quiet"]
    failures = []
    for attempt, backoff_s in enumerate(START_BACKOFF_S):
        run_out = base / f"run{attempt}"  # a fresh folder and (torchrun --standalone) a fresh port each time
        done = subprocess.run(
            launcher + argv + ["--out", str(run_out)], capture_output=True, text=True, timeout=HANG_S, check=False
        )
        cause = next((c for c in START_FAILURES if c in done.stderr), None)
        if done.returncode == 0 or cause is None:
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[:6000]
            return run_out, done.stdout
        failures.append(f"attempt {attempt + 1}: {cause}")
        time.sleep(backoff_s)
    pytest.fail("torchrun could not start 2 gloo ranks on this machine: " + "; ".join(failures))


def _average_gradients(parts: list[nn.Module]) -> None:
    """What DDP's reducer does with two ranks' gradients: each divided by 2, then summed."""
    for params in zip(*(part.parameters() for part in parts), strict=True):
        grads = [p.grad for p in params]
        assert all(g is not None for g in grads)
        mean = sum(g / len(grads) for g in grads if g is not None)
        for p in params:
            p.grad = torch.as_tensor(mean).clone()


def _two_replica_replay(config: TrainConfig, x: torch.Tensor) -> tuple[Any, list[dict[str, float]]]:
    """The oracle of a two-rank run, in one process: two replicas of the AWAE-GAN, replica r on rows r, r+2, ...
    of the epoch's permutation in batches of B/2 (its own batch-norm statistics), the latent prior drawn from rank
    r's stream (rank 0: the one-process stream; rank 1: reseeded with rank_seed each epoch), every optimizer step
    on the average of the two replicas' gradients, running statistics and epoch losses averaged after each epoch.
    The step is AWAEGAN.training_step's, written out so the gradients can be averaged between its two updates."""
    torch.manual_seed(config.seed)
    first: Any = build_model("awae", CHARTS, tuple(x.shape[1:]), **config.model_kwargs())
    replicas: list[Any] = [first, copy.deepcopy(first)]
    optimizers = [r.make_optimizers(config.lr, config.betas) for r in replicas]
    schedulers = [make_schedulers(o, config) for o in optimizers]
    streams: list[torch.Tensor] = [torch.get_rng_state(), torch.get_rng_state()]
    n, per_rank = x.shape[0] // 2 * 2, config.batch_size // 2
    history = []
    for epoch in range(config.epochs):
        torch.manual_seed(rank_seed(config.seed, epoch, 1))
        streams[1] = torch.get_rng_state()
        perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(epoch_seed(config.seed, epoch)))
        shards = [perm[:n][r::2] for r in (0, 1)]
        sums: list[dict[str, float]] = [{}, {}]
        steps = len(shards[0]) // per_rank
        for k in range(steps):
            batches = [x[s[k * per_rank : (k + 1) * per_rank]] for s in shards]
            losses, priors = [], []
            for r, (model, batch) in enumerate(zip(replicas, batches, strict=True)):
                torch.set_rng_state(streams[r])
                priors.append(torch.randn(per_rank, CHARTS, model.latent_dim))
                streams[r] = torch.get_rng_state()
                model.train()
                with frozen(model.discriminator):
                    losses.append(model.autoencoder_losses(batch, priors[r]))
                optimizers[r]["autoencoder"].zero_grad(set_to_none=True)
                losses[r]["total"].backward()
            _average_gradients([nn.ModuleList([m.encoder, m.decoder]) for m in replicas])
            for o in optimizers:
                o["autoencoder"].step()
            for r, model in enumerate(replicas):
                d_loss = model.discriminator_step_loss(losses[r]["z"], losses[r]["psi"], priors[r])
                optimizers[r]["discriminator"].zero_grad(set_to_none=True)
                d_loss.backward()
                losses[r]["disc"] = d_loss.detach()
            _average_gradients([m.discriminator for m in replicas])
            for r, o in enumerate(optimizers):
                o["discriminator"].step()
                for key in ("rec", "adv", "marg", "total", "disc"):
                    sums[r][key] = sums[r].get(key, 0.0) + float(losses[r][key].detach())
        for buffers in zip(*(m.buffers() for m in replicas), strict=True):
            if buffers[0].is_floating_point():
                mean = (buffers[0] + buffers[1]) / 2
                for b in buffers:
                    b.copy_(mean)
        history.append({k: (sums[0][k] / steps + sums[1][k] / steps) / 2 for k in sums[0]})
        for s in schedulers:
            _step_schedulers(s)
    assert _states_equal(replicas[0].state_dict(), replicas[1].state_dict())
    return replicas[0], history


def test_two_ranks_equal_a_one_process_replay_of_two_per_rank_bn_replicas(two_rank_run: tuple[Path, str]) -> None:
    out, _ = two_rank_run
    module, config, state = load_checkpoint(out / "checkpoint.pt")
    x = load_training_data(config)
    replay, history = _two_replica_replay(config, x)
    # Same kernels on the same rows with the same thread count; the only difference allowed is float32 rounding
    # (the all-reduce adds the two halves of each gradient in another order): rtol 1e-5 of float32 round-off.
    for name, value in module.state_dict().items():
        torch.testing.assert_close(value, replay.state_dict()[name], rtol=1e-5, atol=1e-6, msg=name)
    for got, want in zip(state["history"], history, strict=True):
        assert {k: got[k] for k in want} == pytest.approx(want, rel=1e-5, abs=1e-6)
    # Per-rank batch norm is not one-process batch norm: the global-batch run of one process differs.
    single = train(config, None, data=x, progress=False).model.state_dict()
    assert not all(torch.allclose(single[k], v, rtol=1e-3, atol=1e-5) for k, v in module.state_dict().items())


def test_rank_zero_writes_one_checkpoint_that_records_two_processes(two_rank_run: tuple[Path, str]) -> None:
    out, stdout = two_rank_run
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]  # no temp file left by atomic_write
    assert stdout.count(f"checkpoint: {out / 'checkpoint.pt'}") == 1  # only rank 0 prints
    _, config, state = load_checkpoint(out / "checkpoint.pt")
    assert (state["world_size"], state["epoch"], config.batch_size) == (2, EPOCHS, GLOBAL_BATCH)


def test_a_two_rank_checkpoint_resumes_on_one_process(two_rank_run: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = two_rank_run
    (tmp_path / "checkpoint.pt").write_bytes((out / "checkpoint.pt").read_bytes())
    result = train(_config(epochs=EPOCHS + 1), tmp_path, resume=True, progress=False)
    _, _, state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert (state["world_size"], state["epoch"], len(state["history"])) == (1, EPOCHS + 1, EPOCHS + 1)
    # the oracle: the saved weights, optimizer and RNG states, then one one-process epoch of the global batch
    model: Any
    model, config, saved = load_checkpoint(out / "checkpoint.pt")
    optimizers = model.make_optimizers(config.lr, config.betas)
    for name, opt in optimizers.items():
        opt.load_state_dict(saved["optimizers"][name])
    torch.set_rng_state(saved["rng"]["torch"])
    _one_process_epochs(model, optimizers, config.replace(epochs=EPOCHS + 1), load_training_data(config), EPOCHS)
    assert _states_equal(result.model.state_dict(), model.state_dict())


# --------------------------------------------------------------------------------------------- one process


def test_a_process_other_than_rank_zero_trains_but_writes_no_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trainer_module._Ranks, "main", property(lambda self: False))  # as ranks >= 1 see it
    result = train(_config(epochs=1), tmp_path, progress=False)
    assert result.history and not (tmp_path / "checkpoint.pt").exists()


def test_batch_size_per_rank_and_its_errors() -> None:
    assert [rank_batch_size(96, w) for w in (1, 2, 4, 8)] == [96, 48, 24, 12]
    with pytest.raises(
        ValueError,
        match=r"batch_size 100 \(the global batch\) is not a multiple of world_size 8: "
        r"pass a batch size that is, e.g. --batch-size 96 or 104",
    ):
        rank_batch_size(100, 8)
    with pytest.raises(ValueError, match=r"gives 1 row\(s\) a rank; batch norm needs >= 2: pass --batch-size >= 8"):
        rank_batch_size(4, 4)
    with pytest.raises(ValueError, match="world_size must be >= 1; got 0"):
        rank_batch_size(4, 0)


def test_without_torchrun_there_is_a_group_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in distributed.TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert distributed.init_from_env("cpu") is False and not distributed.is_initialized()
    assert (distributed.rank(), distributed.world_size(), distributed.local_rank()) == (0, 1, 0)
    assert distributed.world() == (0, 1)
    assert distributed.is_main_process()
    distributed.barrier()  # no-ops without a group
    distributed.cleanup()
    assert [distributed.backend_for(d) for d in ("cpu", torch.device("cpu"), "cuda", "cuda:1")] == [
        "gloo",
        "gloo",
        "nccl",
        "nccl",
    ]
    assert distributed.rank_device(torch.device("cuda")) == torch.device("cuda")  # no group: no LOCAL_RANK index


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RANK": "x", "WORLD_SIZE": "2"}, "environment variable RANK must be an int >= 0; got 'x'"),
        ({"RANK": "0", "WORLD_SIZE": "-2"}, "environment variable WORLD_SIZE must be an int >= 0; got -2"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "environment variable RANK must be < WORLD_SIZE = 2; got 2"),
        ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_PORT": "1"}, "environment variable MASTER_ADDR is not set"),
        ({"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "h"}, "environment variable MASTER_PORT is not set"),
    ],
)
def test_a_bad_torchrun_environment_is_refused_by_name(
    env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in distributed.TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        distributed.init_from_env("cpu")
    assert not distributed.is_initialized()


def test_backend_for_refuses_what_is_not_a_device() -> None:
    with pytest.raises(ValueError, match="device must be a torch.device or a device string; got 'gpu0'"):
        distributed.backend_for("gpu0")


#: One process joins a gloo group of one through init_from_env, imports what an optimizer's first step imports
#: (torch._dynamo imports torch.distributed.nn.functional, whose ``group=group.WORLD`` defaults are evaluated then),
#: leaves it with cleanup and prints: threads before joining, threads after leaving, and the Python references left
#: to the group. ``sys.argv[1] == "unguarded"`` skips agm's early import of those defaults (the behaviour before).
_LEAVE_A_GROUP = """
import os, sys
import torch.distributed as dist
from agm import distributed
if sys.argv[1] == "unguarded":
    distributed._import_group_defaults = lambda: None
threads = lambda: len(os.listdir("/proc/self/task"))
before = threads()
assert distributed.init_from_env("cpu")
group = dist.distributed_c10d._get_default_group()
import torch.distributed.nn.functional
assert distributed.cleanup()
references = sys.getrefcount(group) - 2  # beyond this name and getrefcount's argument
del group
print(before, threads(), references)
"""


def _leave_a_group(guard: str) -> tuple[int, int, int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}
    env["MASTER_PORT"] = str(port)
    done = subprocess.run(
        [sys.executable, "-c", _LEAVE_A_GROUP, guard], capture_output=True, text=True, env=env, timeout=HANG_S
    )
    assert done.returncode == 0, done.stderr[-3000:]
    before, after, references = (int(v) for v in done.stdout.split()[-3:])
    return before, after, references


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc (Linux)")
def test_cleanup_frees_the_group_and_its_gloo_threads_whatever_is_imported_after_joining() -> None:
    """The group's last reference goes with cleanup, so gloo's worker threads end before the interpreter does (a
    collective finishing on one of them during Python's shutdown aborts the process: SIGABRT after a complete
    run); the control shows the test can fail: without the early import the group outlives cleanup."""
    before, after, references = _leave_a_group("guarded")
    assert after == before and references == 0
    before, after, references = _leave_a_group("unguarded")
    assert after > before and references > 0
