"""The decode policy revised on an eager build's edge decodes (issue 19, item 5 and the eager-build target): the
edges are decoded in calls of the trial's candidates, no point twice, with the lengths of a fixed policy; the
winner on the edges becomes the graph's policy and is remembered."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agm import geodesic
from agm.geodesic._support.checks import DECODE_SHAPE_PROBES
from agm.geodesic.graph import build, measured_decode, measured_edges
from agm.geodesic.graph.curves import PackedStream, PointTable, packed_lengths
from agm.geodesic.graph.fingerprint import PROBES_PER_CHART
from agm.geodesic.graph.policy import DecodePolicy, run_trial
from agm.geodesic.graph.policy_cache import ENV, cached_policy, forget_policies, policy_key
from agm.models.analytic import CylinderAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class Clocked(CylinderAtlas):
    """The cylinder on a fake clock: each call costs ``cost(batch)`` seconds, one rule for the node decodes and
    another for the edges (``phase``), and every decoded point is counted."""

    def __init__(self) -> None:
        super().__init__()
        self.now, self.decoded, self.phase = 0.0, 0, "nodes"

    def cost(self, batch: int) -> float:
        if self.phase == "nodes":
            return 0.05  # every call alike: the node trial stops at its first batch size, 16
        return 2e-3 + 1e-5 * batch  # per-call overhead: the edges favour the largest batch the climb reaches

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.now += self.cost(int(z.shape[0]))
        self.decoded += int(z.shape[0])
        return super().decode(z, y)


def _data(model: CylinderAtlas, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g) * 2)


def _clocked_trials(model: Clocked, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both trials on the model's clock; the edges' phase starts when the build revises on the edges."""

    def on_clock(work: Any, **kw: Any) -> Any:
        return run_trial(work, clock=lambda: model.now, **kw)

    monkeypatch.setattr(measured_decode, "run_trial", on_clock)
    monkeypatch.setattr(measured_edges, "run_trial", on_clock)
    revise = build.evaluate_edges_measured

    def edges_phase(*args: Any, **kw: Any) -> Any:
        model.phase = "edges"
        return revise(*args, **kw)

    monkeypatch.setattr(build, "evaluate_edges_measured", edges_phase)
    monkeypatch.setattr(measured_edges, "FINAL_CAP_S", 0.3)


def test_an_eager_build_revises_its_policy_on_the_edges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    forget_policies()
    model = Clocked()
    _clocked_trials(model, monkeypatch)
    kw: dict[str, Any] = dict(k=10, n_steps=16, weights="eager", progress=False)
    data = _data(model, 1000)
    graph = geodesic.build_graph(model, data, **kw)
    assert model.phase == "edges"  # expected edge time at the node trial's 320 points/s: far above REVISE_MIN_S
    n_intra = graph.native.n_intra_edges
    fixed_costs = model.n_charts * PROBES_PER_CHART + DECODE_SHAPE_PROBES
    assert model.decoded == graph.native.n_nodes + n_intra * 15 + fixed_costs  # no point decoded twice
    # The edges' winner (the largest batch the climb reached; one thread, as more threads must win by the margin),
    # not the nodes' 16, is the graph's policy and the remembered one.
    assert graph.decode_policy.batch_size == 4096 and graph.decode_policy.threads == 1
    assert cached_policy(policy_key(model, torch.device("cpu"))) == graph.decode_policy
    reference = geodesic.build_graph(CylinderAtlas(), data, decode_policy=DecodePolicy(threads=1, batch_size=64), **kw)
    assert np.array_equal(reference.native.edges, graph.native.edges)
    np.testing.assert_allclose(graph.native.weights, reference.native.weights, rtol=1e-5, atol=1e-7)
    assert graph.edge_weights.complete


def test_a_short_edge_job_keeps_the_node_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    forget_policies()
    model = Clocked()
    _clocked_trials(model, monkeypatch)
    monkeypatch.setattr(measured_edges, "REVISE_MIN_S", math.inf)
    graph = geodesic.build_graph(model, _data(model, 300), k=6, n_steps=4, weights="eager", progress=False)
    assert model.phase == "nodes" and graph.decode_policy.batch_size == 16
    assert cached_policy(policy_key(model, torch.device("cpu"))) == graph.decode_policy


def test_a_trial_the_edges_cut_short_keeps_the_node_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    forget_policies()
    model = Clocked()
    _clocked_trials(model, monkeypatch)
    monkeypatch.setattr(measured_edges, "FINAL_CAP_S", 1e6)  # a final longer than the edges
    graph = geodesic.build_graph(model, _data(model, 300), k=6, n_steps=4, weights="eager", progress=False)
    assert model.phase == "edges" and graph.decode_policy.batch_size == 16 and graph.edge_weights.complete
    n_intra = graph.native.n_intra_edges
    assert model.decoded == graph.native.n_nodes + n_intra * 3 + model.n_charts * PROBES_PER_CHART + DECODE_SHAPE_PROBES


@settings(max_examples=25, deadline=None)
@given(
    n_steps=st.integers(2, 7),
    cuts=st.lists(st.integers(1, 40), min_size=1, max_size=12),
    seed=st.integers(0, 2**16),
)
def test_a_stream_cut_anywhere_gives_the_packed_lengths(n_steps: int, cuts: list[int], seed: int) -> None:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(seed)
    latents = torch.rand(30, 2, generator=g) * 2 - 1
    charts = (torch.arange(30) >= 15).long()
    with torch.no_grad():
        positions = model.decode(latents, charts).reshape(30, -1)
        table = PointTable(latents, positions, charts)
        a = torch.randint(0, 15, (25,), generator=g)
        b = torch.randint(0, 15, (25,), generator=g)
        offset = (torch.arange(25) >= 12).long() * 15  # the first 12 segments in chart 0, the rest in chart 1
        ends = torch.stack([a + offset, b + offset], dim=1)
        want = packed_lengths(model.decode, table, ends, n_steps, 1 << 20)
        stream = PackedStream(model.decode, table, ends, n_steps)
        finished, i = 0, 0
        while stream.remaining:
            before = stream.remaining
            decoded, done = stream.decode_next(cuts[i % len(cuts)])
            assert decoded == min(cuts[i % len(cuts)], before)
            finished, i = finished + done, i + 1
    assert finished == 25 and stream.decode_next(5) == (0, 0)
    np.testing.assert_allclose(stream.lengths.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)


class Poisoned(CylinderAtlas):
    """The cylinder, whose ``bad_call``-th call returns ``value`` in row ``bad_row`` (or a row short)."""

    def __init__(self, bad_call: int, bad_row: int, value: float) -> None:
        super().__init__()
        self.calls, self.bad_call, self.bad_row, self.value = 0, bad_call, bad_row, value

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = super().decode(z, y)
        self.calls += 1
        if self.calls == self.bad_call:
            if math.isnan(self.value) and self.bad_row < 0:
                return out[1:]
            out = out.clone()
            out[self.bad_row] = self.value
        return out


@pytest.mark.parametrize("call_size", [5, 7])  # calls inside segments (the carry) or one segment each
@pytest.mark.parametrize("bad_row", [0, 3, 4])  # a call's first row, one inside, its last
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_stream_names_a_non_finite_decoding(call_size: int, bad_row: int, value: float) -> None:
    model = Poisoned(bad_call=3, bad_row=bad_row, value=value)
    latents = torch.linspace(-1, 1, 20)[:, None].repeat(1, 2)
    charts = torch.zeros(20, dtype=torch.int64)
    with torch.no_grad():
        table = PointTable(latents, CylinderAtlas().decode(latents, charts).reshape(20, -1), charts)
        stream = PackedStream(model.decode, table, torch.tensor([[0, 5], [5, 9], [9, 19], [2, 3]]), 8)  # 7 a segment
        with pytest.raises(ValueError, match=r"must return finite values; got NaN or inf for chart 0, latent \["):
            while stream.remaining:
                stream.decode_next(call_size)


def test_a_stream_names_a_short_decoding() -> None:
    model = Poisoned(bad_call=1, bad_row=-1, value=math.nan)
    latents = torch.rand(6, 2, generator=torch.Generator().manual_seed(0))
    charts = torch.zeros(6, dtype=torch.int64)
    table = PointTable(latents, CylinderAtlas().decode(latents, charts).reshape(6, -1), charts)
    with torch.no_grad(), pytest.raises(ValueError, match=r"one decoding per latent \(5\); got shape \(4, 3\)"):
        PackedStream(model.decode, table, torch.tensor([[0, 1]]), 6).decode_next(5)
