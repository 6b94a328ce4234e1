"""A graph whose nodes are decoded on demand chooses its decode policy on the node decodes its queries make
(``agm.geodesic.graph.node_trial``): the trial of a build, fed piece by piece, without a decode of its own."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agm import geodesic
from agm._threads import scope_entered
from agm.geodesic.graph import node_trial
from agm.geodesic.graph.curves import PointTable, packed_lengths
from agm.geodesic.graph.node_positions import complete_positions, ensure_positions
from agm.geodesic.graph.policy import SCOPE, DecodePolicy, ResumableTrial, applied, run_trial, thread_candidates
from agm.geodesic.graph.policy_cache import ENV, cached_policy, forget_policies, policy_key
from agm.models.analytic import CylinderAtlas

KW = {"k": 8, "eps": 0.05, "n_steps": 5, "progress": False}
RTOL, ATOL = 2e-6, 1e-7


def _cost(policy: DecodePolicy) -> float:
    """A fake decoder's seconds for one call: per-call overhead, one thread 1 us a point, more threads 0.6 us."""
    return 2e-3 + (1e-6 if policy.threads == 1 else 6e-7) * policy.batch_size


def _one_piece_calls() -> tuple[list[DecodePolicy], object]:
    """The calls and result of run_trial on unlimited work with :func:`_cost` on a fake clock."""
    now, calls = [0.0], []

    def work(policy: DecodePolicy) -> int:
        calls.append(policy)
        now[0] += _cost(policy)
        return policy.batch_size

    return calls, run_trial(work, clock=lambda: now[0])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 40_000), min_size=1, max_size=30))
def test_a_trial_fed_in_pieces_makes_the_calls_of_one_trial(pieces: list[int]) -> None:
    """Fed with pieces of work of any sizes (what a piece holds short of the next call is not timed), the trial
    times a prefix of the calls of one trial on unlimited work, and ends with its result when it gets them all."""
    want_calls, want = _one_piece_calls()
    trial, calls, now = ResumableTrial(), [], 0.0
    for rows in pieces:
        while trial.request is not None and rows >= trial.request.batch_size:
            calls.append(trial.request)
            rows -= trial.request.batch_size
            started, now = now, now + _cost(calls[-1])  # the same clock as run_trial's
            trial.record(now - started)
    assert calls == want_calls[: len(calls)]
    if trial.result is not None:
        assert len(calls) == len(want_calls) and trial.result == want
        assert trial.best() == want.policy  # type: ignore[attr-defined]
    else:
        assert trial.request == want_calls[len(calls)]
        with pytest.raises(RuntimeError, match="the trial has ended"):
            done = ResumableTrial()
            while done.request is not None:
                done.record(_cost(done.request))
            done.record(1.0)


class Clocked(CylinderAtlas):
    """The cylinder on a fake clock (50 ms a call, whatever its size), recording the size of every call."""

    def __init__(self) -> None:
        super().__init__(radius=0.7, ambient_shape=(6,))
        self.now, self.sizes = 0.0, []

    @property
    def decoded(self) -> int:
        return sum(self.sizes)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.now += 0.05
        self.sizes.append(int(z.shape[0]))
        return super().decode(z, y)


def _points(model: CylinderAtlas, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g) * 2)


def _on_demand(model: Clocked, n: int, monkeypatch: pytest.MonkeyPatch, **kw: object) -> geodesic.GeodesicGraph:
    monkeypatch.setattr(node_trial, "CLOCK", lambda: model.now)
    return geodesic.build_graph(model, _points(model, n, 0), node_decodes="on_demand", **KW, **kw)  # type: ignore[arg-type]


def _decoded_right(graph: geodesic.GeodesicGraph, model: CylinderAtlas) -> None:
    """Every decoded node's position is its own decoding (the trial's calls kept the rows in order)."""
    pending = graph.record.pending_nodes
    rows = np.flatnonzero(pending.decoded) if pending is not None else np.arange(graph.n_nodes)
    with torch.no_grad():
        want = CylinderAtlas.decode(
            model,
            torch.from_numpy(graph.record.latents[rows]),
            torch.from_numpy(graph.record.node_chart[rows]),
        ).reshape(rows.size, -1)
    np.testing.assert_allclose(graph.record.positions[rows], want.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bulk", ["distances", "evaluate_all"])
def test_bulk_node_decodes_choose_the_policy_that_follows_and_it_is_remembered(
    bulk: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    model = Clocked()
    graph = _on_demand(model, 1500, monkeypatch)
    trial = graph.record.policy_trial
    assert graph.record.pending_nodes is not None and trial is not None and graph.record.decode_policy.measured == 0.0
    asked = trial.trial.request
    x = model.points(torch.tensor([-2.5, 0.3, 2.0]), torch.tensor([0.2, 1.8, 0.5]))
    graph.shortest_path(x[0], x[1])  # a query's own node decodes are not timed
    trial = graph.record.policy_trial
    assert trial is not None and trial.trial.request == asked and trial.trial.best() is None
    model.sizes.clear()
    if bulk == "distances":
        graph.distances(_points(model, 30, 9))  # enough edges for the edge trial with two thread candidates
    else:
        graph.evaluate_all()
    # the nodes' trial ended in the completion, then the edges' on the bulk edge decodes (50 ms a call: 16 wins)
    assert graph.record.pending_nodes is None and graph.record.policy_trial is None, "the bulk did not end the trials"
    policy = graph.record.decode_policy
    assert policy.measured > 0.0 and policy.batch_size == 16  # every call costs 50 ms: the climb stops at 16
    assert policy.threads in thread_candidates()
    assert max(model.sizes) == 16  # the trial's calls, then the chosen policy's (the default batch is 256)
    _decoded_right(graph, model)
    forget_policies()  # a new process: the folder holds the trial's choice
    assert cached_policy(policy_key(model, torch.device("cpu"))) == policy
    again = _on_demand(model, 1500, monkeypatch)
    assert again.record.decode_policy == policy and again.record.policy_trial is None


def test_the_trial_decodes_nothing_of_its_own() -> None:
    """Completing the positions through the trial decodes each undecoded node once; a trial the nodes cannot
    finish (a cheap decoder climbs to batches larger than the graph) leaves the best candidate, not remembered."""
    model = Clocked()
    graph = geodesic.build_graph(model, _points(model, 600, 0), node_decodes="on_demand", **KW)  # type: ignore[arg-type]
    pending = graph.record.pending_nodes
    assert pending is not None and graph.record.policy_trial is not None
    left = int((~pending.decoded).sum())
    model.sizes.clear()
    assert complete_positions(graph.record, model) == left
    assert model.decoded == left  # the real clock: calls of microseconds, the climb outgrows the graph
    assert graph.record.pending_nodes is None
    policy = graph.record.decode_policy
    assert policy.measured > 0.0 and policy.threads in thread_candidates()
    assert cached_policy(policy_key(model, torch.device("cpu"))) is None  # unfinished: not remembered
    _decoded_right(graph, model)


def test_no_trial_where_the_policy_is_given_or_the_threads_are_held(monkeypatch: pytest.MonkeyPatch) -> None:
    model = Clocked()
    given_policy = DecodePolicy(threads=1, batch_size=64)
    graph = _on_demand(model, 600, monkeypatch, decode_policy=given_policy)
    assert graph.record.policy_trial is None
    measured = _on_demand(model, 600, monkeypatch)
    trial = measured.record.policy_trial
    assert measured.record.pending_nodes is not None and trial is not None
    asked = trial.trial.request
    complete_positions(measured.record, model, policy=DecodePolicy(threads=1, batch_size=32))  # a policy of its own
    assert trial.trial.request == asked and trial.trial.best() is None
    assert measured.record.pending_nodes is None and measured.record.decode_policy.measured == 0.0
    measured = _on_demand(model, 600, monkeypatch)
    with applied(DecodePolicy(threads=1, batch_size=8)):  # a thread count held: no candidate could set its own
        assert scope_entered(SCOPE)
        complete_positions(measured.record, model)
    assert not scope_entered(SCOPE)
    assert measured.record.decode_policy.measured == 0.0 and measured.record.pending_nodes is None
    _decoded_right(measured, model)


def test_concurrent_queries_and_completions_equal_a_built_graphs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads querying one graph while others complete its positions through the trial: the built graph's
    lengths and distances, every node decoded right, the trial ended."""
    model = Clocked()
    built = geodesic.build_graph(model, _points(model, 1200, 0), **KW)  # type: ignore[arg-type]
    graph = _on_demand(model, 1200, monkeypatch)
    g = torch.Generator().manual_seed(3)
    x0 = model.points(torch.rand(12, generator=g) * 6 - 3, torch.rand(12, generator=g) * 2)
    x1 = model.points(torch.rand(12, generator=g) * 6 - 3, torch.rand(12, generator=g) * 2)
    want = np.array([p.length for p in built.shortest_paths(x0, x1)])
    want_d = built.distances(x0[:5])

    def job(t: int) -> object:
        if t % 2:
            return graph.distances(x0[:5])
        return [graph.shortest_path(x0[i], x1[i]).length for i in range(t, 12, 4)]

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(job, range(4)))
    np.testing.assert_allclose(np.concatenate([got[0], got[2]]), want[np.r_[0:12:4, 2:12:4]], rtol=RTOL, atol=ATOL)
    for d in (got[1], got[3]):
        np.testing.assert_allclose(d, want_d, rtol=RTOL, atol=ATOL)
    assert graph.record.pending_nodes is None  # (whether a trial ended depends on which thread decoded what first)
    _decoded_right(graph, model)


@pytest.mark.parametrize("bulk", ["evaluate_all", "distances"])
def test_when_the_queries_decoded_every_node_the_bulk_edge_decodes_choose(
    bulk: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nodes all decoded by queries (not timed): the trial falls to the bulk edge decodes (``evaluate_all``, the
    exact exports, ``distances``), which choose the policy, remember it, and give the built graph's results."""
    monkeypatch.setenv(ENV, str(tmp_path))
    model = Clocked()
    data = _points(model, 1000, 0)
    built = geodesic.build_graph(model, data, weights="eager", **KW)  # type: ignore[arg-type]
    want = built.distances(data[:40])
    graph = _on_demand(model, 1000, monkeypatch)
    record = graph.record
    ensure_positions(record, model, np.arange(record.n_nodes), torch.device("cpu"), record.decode_policy)  # a query's
    assert record.pending_nodes is None and record.policy_trial is not None and record.decode_policy.measured == 0.0
    model.sizes.clear()
    if bulk == "evaluate_all":
        assert graph.evaluate_all() == record.native.n_intra_edges
        np.testing.assert_allclose(record.edge_weights.values, built.record.edge_weights.values, rtol=RTOL, atol=ATOL)
    else:
        np.testing.assert_allclose(graph.distances(data[:40]), want, rtol=RTOL, atol=ATOL)
    assert record.policy_trial is None, "the edge decodes did not end the trial"
    policy = record.decode_policy
    assert policy.measured > 0.0 and policy.batch_size == 16  # 50 ms a call: the climb stops at 16
    if bulk == "evaluate_all":  # (distances bound edges and attach their points in the default policy first)
        assert max(model.sizes) == 16  # the trial's calls, then the chosen policy's (the default batch is 256)
    forget_policies()
    assert cached_policy(policy_key(model, torch.device("cpu"))) == policy


@pytest.mark.parametrize("n_steps", [1, 2, 5])
def test_the_edge_feed_gives_packed_lengths(n_steps: int) -> None:
    """The edge trial's stream gives :func:`packed_lengths`' lengths whatever its calls (chords for n_steps = 1,
    where nothing is decoded or timed), and an empty set of segments gives none."""
    model = CylinderAtlas(radius=0.7, ambient_shape=(6,))
    g = torch.Generator().manual_seed(5)
    latents, charts = torch.rand(40, 2, generator=g), (torch.arange(40) >= 20).long()
    with torch.no_grad():
        table = PointTable(latents, model.decode(latents, charts).reshape(40, -1), charts)
        ends = torch.stack([torch.arange(0, 38), torch.arange(1, 39)], dim=1)
        ends = ends[charts[ends[:, 0]] == charts[ends[:, 1]]]
        feed = node_trial.EdgeFeed(node_trial.NodeTrial({}), lambda policy: None)
        got = feed.lengths(model.decode, table, ends, n_steps, DecodePolicy(threads=None, batch_size=7))
        want = packed_lengths(model.decode, table, ends, n_steps, 64)
        assert feed.lengths(model.decode, table, ends[:0], n_steps, DecodePolicy()).shape == (0,)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)
    assert (feed.node_trial.edges.request == DecodePolicy(threads=1, batch_size=4)) == (n_steps == 1)
