"""The decode policy off the critical path (issue 19, item 5): measured on the node decodes themselves (no probe
decodes), remembered per decoder architecture and machine in the process and in a user cache folder (atomic,
checked when read, switchable off)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.geodesic._support.checks import DECODE_SHAPE_PROBES
from agm.geodesic.graph import measured_decode
from agm.geodesic.graph.fingerprint import PROBES_PER_CHART
from agm.geodesic.graph.measured_decode import decode_nodes_measured
from agm.geodesic.graph.policy import DecodePolicy, TrialResult, Work, run_trial
from agm.geodesic.graph.policy_cache import (
    ENV,
    cache_folder,
    cached_policy,
    forget_policies,
    policy_key,
    remember_policy,
)
from agm.models.analytic import CylinderAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class Counted(CylinderAtlas):
    """The cylinder, counting decoded points."""

    def __init__(self) -> None:
        super().__init__()
        self.decoded = 0

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.decoded += int(z.shape[0])
        return super().decode(z, y)


def _data(model: CylinderAtlas, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g) * 2)


def test_measured_node_decodes_equal_plain_ones_and_decode_each_node_once() -> None:
    model = Counted()
    g = torch.Generator().manual_seed(3)
    latents = torch.rand(5000, 2, generator=g) * 2 - 1
    charts = (torch.arange(5000) >= 2600).long()
    with torch.no_grad():
        got, trial = decode_nodes_measured(model, latents, charts, torch.device("cpu"))
        want = model.decode(latents, charts).reshape(5000, -1)
    assert model.decoded == 2 * 5000  # the trial's calls and the rest: every node once, plus the oracle's
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
    assert trial.policy.batch_size >= 1


class Slow(Counted):
    """The cylinder on a fake clock (timings injected): 50 ms per call, whatever the batch."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.now += 0.05
        return super().decode(z, y)


def test_a_lazy_build_decodes_only_its_nodes_and_remembers_a_complete_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    model = Slow()
    monkeypatch.setattr(measured_decode, "run_trial", lambda work: run_trial(work, clock=lambda: model.now))
    graph = geodesic.build_graph(model, _data(model, 400), k=6, n_steps=4, progress=False, node_decodes="build")
    fingerprint = model.n_charts * PROBES_PER_CHART + DECODE_SHAPE_PROBES  # the fingerprint's and shape check's
    assert model.decoded == graph.native.n_nodes + fingerprint  # no probe decodes
    assert graph.decode_policy.batch_size == 16  # the first size already costs more than a call may
    forget_policies()  # a new process: the folder holds the trial's choice
    assert cached_policy(policy_key(model, torch.device("cpu"))) == graph.decode_policy
    model.decoded = 0
    again = geodesic.build_graph(model, _data(model, 400), k=6, n_steps=4, progress=False, node_decodes="build")
    assert again.decode_policy == graph.decode_policy and model.decoded == again.native.n_nodes + fingerprint


def test_an_unfinished_trial_is_not_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    model = Counted()
    calls: list[bool] = []

    def short_trial(work: Work) -> TrialResult:
        while work(DecodePolicy(threads=1, batch_size=64)) == 64:
            pass
        calls.append(True)
        return TrialResult(DecodePolicy(threads=1, batch_size=64, measured=1.0), complete=False)

    monkeypatch.setattr(measured_decode, "run_trial", short_trial)
    graph = geodesic.build_graph(model, _data(model, 300), k=6, n_steps=4, progress=False, node_decodes="build")
    assert calls and graph.decode_policy.batch_size == 64
    assert model.decoded == graph.native.n_nodes + model.n_charts * PROBES_PER_CHART + DECODE_SHAPE_PROBES
    assert cached_policy(policy_key(model, torch.device("cpu"))) is None and not list(tmp_path.iterdir())


def test_a_remembered_policy_is_used_without_measuring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    model = Counted()
    key = policy_key(model, torch.device("cpu"))
    remember_policy(key, DecodePolicy(threads=1, batch_size=37, measured=1e5))
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and json.loads(files[0].read_text())["policy"]["batch_size"] == 37
    forget_policies()  # a new process: only the folder remains
    graph = geodesic.build_graph(model, _data(model, 300), k=6, n_steps=4, progress=False)
    assert graph.decode_policy == DecodePolicy(threads=1, batch_size=37, measured=1e5)
    monkeypatch.setenv(ENV, "off")
    forget_policies()
    assert cache_folder() is None and cached_policy(key) is None  # the folder is off: measured again


def test_the_key_holds_architecture_threads_and_device() -> None:
    a, b = CylinderAtlas(), CylinderAtlas(radius=3.0)
    cpu = torch.device("cpu")
    assert policy_key(a, cpu) == policy_key(b, cpu)  # the same computation: values do not matter
    before = torch.get_num_threads()
    torch.set_num_threads(before + 1)
    try:
        assert policy_key(a, cpu)["threads"] == before + 1
    finally:
        torch.set_num_threads(before)
    mlp = torch.nn.Linear(3, 4)
    mlp.latent_dim, mlp.n_charts = 3, 1  # type: ignore[assignment]
    assert policy_key(mlp, cpu)["tensors"] == [["weight", [4, 3], "torch.float32"], ["bias", [4], "torch.float32"]]


def test_bad_or_foreign_cache_files_are_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    model = CylinderAtlas()
    key = policy_key(model, torch.device("cpu"))
    remember_policy(key, DecodePolicy(threads=1, batch_size=64))
    (path,) = list(tmp_path.iterdir())
    for text in [
        "{not json",
        json.dumps({"key": {"other": 1}, "policy": {"threads": 1, "batch_size": 64}}),
        json.dumps({"key": key, "policy": {"threads": 0, "batch_size": 64}}),
        "[]",
    ]:
        path.write_text(text)
        forget_policies()
        assert cached_policy(key) is None, text
    remember_policy(key, DecodePolicy(threads=2, batch_size=16))  # replaced atomically
    forget_policies()
    assert cached_policy(key) == DecodePolicy(threads=2, batch_size=16)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_an_unwritable_cache_folder_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(ENV, str(blocker / "sub"))  # a folder under a file cannot be created
    model = CylinderAtlas()
    key = policy_key(model, torch.device("cpu"))
    remember_policy(key, DecodePolicy(threads=1, batch_size=8))
    assert cached_policy(key) == DecodePolicy(threads=1, batch_size=8)  # remembered in the process
