"""A graph's decode policy is watched on its bulk edge decodes (``agm.geodesic.graph.policy_watch``): checked now
and then against the other thread count on the same stream, swapped while it loses, every point decoded once."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from agm import geodesic
from agm._threads import torch_threads, usable_cores
from agm.geodesic.graph import policy_watch
from agm.geodesic.graph.file import read_graph
from agm.geodesic.graph.policy import MULTI_THREAD_MARGIN, DecodePolicy, applied
from agm.geodesic.graph.policy_watch import (
    CHECK_CALLS,
    MAX_WATCH_PERIOD_S,
    SWAP,
    PolicyWatch,
    decode_rest,
    rival_of,
    run_watched,
    watch_for,
)
from agm.models.analytic import CylinderAtlas

two_cores = pytest.mark.skipif(usable_cores() < 2, reason="needs two usable cores (two thread counts to compare)")
KW = {"k": 8, "eps": 0.05, "n_steps": 5, "progress": False}
RTOL, ATOL = 2e-6, 1e-7


class FakeCost:
    """A clock whose every read advances by the seconds of a call with torch's thread count now (so a timed call's
    seconds are its thread count's cost), and a stream of ``total`` points that logs each call's (size, threads)."""

    def __init__(self, total: int, cost: dict[int, float]) -> None:
        self.now, self.cost, self.left = 0.0, cost, total
        self.calls: list[tuple[int, int]] = []

    def clock(self) -> float:
        self.now += self.cost[torch.get_num_threads()]
        return self.now

    def step(self, size: int) -> int:
        done = min(size, self.left)
        self.left -= done
        self.calls.append((done, torch.get_num_threads()))
        return done

    def remaining(self) -> int:
        return self.left


@two_cores
def test_the_rival_is_the_other_thread_count_at_the_same_batch() -> None:
    with torch_threads(2):
        assert rival_of(DecodePolicy(threads=None, batch_size=64)) == DecodePolicy(threads=1, batch_size=64)
        assert rival_of(DecodePolicy(threads=2, batch_size=32)) == DecodePolicy(threads=1, batch_size=32)
        assert rival_of(DecodePolicy(threads=1, batch_size=16)) == DecodePolicy(threads=2, batch_size=16)
        assert rival_of(DecodePolicy(threads=1 << 12, batch_size=8)) == DecodePolicy(threads=1, batch_size=8)
    with torch_threads(1):  # torch at one thread: nothing to compare with
        assert rival_of(DecodePolicy(threads=1, batch_size=16)) is None
        assert watch_for(DecodePolicy(threads=None, batch_size=16)) is None


@given(
    current_threads=st.sampled_from([1, 2]),
    mine=st.floats(1.0, 1e5),
    ratio=st.floats(0.1, 10.0),
)
def test_the_rival_takes_over_only_when_it_wins_by_the_swap_factor(
    current_threads: int, mine: float, ratio: float
) -> None:
    """Scores as in the trial (more threads divided by the margin); the rival must beat the current policy's score
    by SWAP; each check starts a new period."""
    current = DecodePolicy(threads=current_threads, batch_size=64)
    rival = DecodePolicy(threads=3 - current_threads, batch_size=64)
    watch = PolicyWatch(current, rival)
    watch.record(int(mine * 10), 10.0)
    assert watch.due
    theirs = mine * ratio
    watch.check(int(theirs * 100), 100.0)
    margin = {1: 1.0, 2: MULTI_THREAD_MARGIN}
    score_mine = int(mine * 10) / 10.0 / margin[current_threads]
    score_theirs = int(theirs * 100) / 100.0 / margin[3 - current_threads]
    if not math.isclose(score_theirs, SWAP * score_mine, rel_tol=1e-9):
        swapped = score_theirs > SWAP * score_mine
        assert (watch.current, watch.rival, watch.swaps) == ((rival, current, 1) if swapped else (current, rival, 0))
    assert not watch.due


@two_cores
@pytest.mark.parametrize(("slow", "swapped"), [(2, True), (1, False)])
def test_a_watched_stream_moves_to_the_rival_while_it_wins(
    slow: int, swapped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two threads at 1 s a call of 64 points against one thread at 0.125 s: after the first period and check the
    calls run with one thread; when one thread is the slow one, two threads keep the stream (the rival's check
    calls run with one thread, then no more). Every point is decoded once, in calls of the batch size."""
    fake = FakeCost(10_000, {slow: 1.0, 3 - slow: 0.125})  # binary fractions: periods of exact call counts
    monkeypatch.setattr(policy_watch, "CLOCK", fake.clock)
    monkeypatch.setattr(policy_watch, "WATCH_PERIOD_S", 3.0)
    with torch_threads(2):
        watch = watch_for(DecodePolicy(threads=2, batch_size=64))
        assert watch is not None
        run_watched(fake.step, fake.remaining, watch)
        assert torch.get_num_threads() == 2  # restored
    assert fake.left == 0 and sum(size for size, _ in fake.calls) == 10_000
    assert all(size == 64 for size, _ in fake.calls[:-1])
    threads = [t for _, t in fake.calls]
    checks = CHECK_CALLS * (len(threads) // 24 + 1)  # at most: every 24 calls of the current policy
    if swapped:  # a period of two threads (3 calls of 1 s), then the check's one-thread calls win, and keep winning
        assert threads[:3] == [2, 2, 2] and threads[3 : 3 + CHECK_CALLS + 24] == [1] * (CHECK_CALLS + 24)
        assert threads[3 + CHECK_CALLS + 24 :][:CHECK_CALLS] == [2] * CHECK_CALLS  # the first check of two threads
        assert threads.count(2) <= 3 + checks and watch.current.threads == 1 and watch.swaps == 1
    else:  # two threads throughout but for the checks: CHECK_CALLS one-thread calls after every 24 two-thread calls
        assert threads[:24] == [2] * 24 and threads[24 : 24 + CHECK_CALLS] == [1] * CHECK_CALLS
        assert threads.count(1) <= checks and watch.current.threads == 2 and watch.swaps == 0


@two_cores
def test_the_period_doubles_while_the_rival_loses_and_restarts_after_a_swap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks after 2, 4, 8, ... seconds of the current policy's calls (up to MAX_WATCH_PERIOD_S) while the rival
    loses; a swap starts the period again at WATCH_PERIOD_S."""
    fake = FakeCost(64 * 400, {1: 0.25, 2: 0.25})  # equal rates: one thread wins on the margin, two never do
    monkeypatch.setattr(policy_watch, "CLOCK", fake.clock)
    monkeypatch.setattr(policy_watch, "WATCH_PERIOD_S", 2.0)
    with torch_threads(2):
        watch = PolicyWatch(DecodePolicy(threads=1, batch_size=64), DecodePolicy(threads=2, batch_size=64))
        run_watched(fake.step, fake.remaining, watch)
    threads = "".join(str(t) for _, t in fake.calls)
    runs = [len(run) for run in threads.split("2" * CHECK_CALLS) if run]
    periods = [min(MAX_WATCH_PERIOD_S, 2.0 * 2**i) for i in range(len(runs))]
    assert runs[:-1] == [int(p / 0.25) for p in periods[:-1]] and watch.swaps == 0
    assert watch.period == MAX_WATCH_PERIOD_S
    swapping = PolicyWatch(DecodePolicy(threads=2, batch_size=64), DecodePolicy(threads=1, batch_size=64))
    swapping.record(64, 1.0)
    swapping.check(64, 0.5)  # one thread twice as fast: it takes over, the period starts again
    assert swapping.current.threads == 1 and swapping.period == 2.0 and swapping.swaps == 1
    swapping.record(64, 1.0)
    swapping.check(64, 1.0)  # two threads as fast as one: no swap (the margin), the period doubles
    assert swapping.current.threads == 1 and swapping.period == 4.0


def test_a_stream_shorter_than_a_period_makes_no_check(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCost(500, {1: 0.01, 2: 0.01})
    monkeypatch.setattr(policy_watch, "CLOCK", fake.clock)
    watch = PolicyWatch(DecodePolicy(threads=1, batch_size=64), DecodePolicy(threads=2, batch_size=64))
    run_watched(fake.step, fake.remaining, watch)
    assert {t for _, t in fake.calls} == {1} and fake.left == 0 and not watch.due


@two_cores
def test_a_watch_fed_elsewhere_or_a_held_thread_count_decodes_untimed_in_the_current_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeCost(2_000, {1: 1.0, 2: 1.0})
    monkeypatch.setattr(policy_watch, "CLOCK", fake.clock)
    monkeypatch.setattr(policy_watch, "WATCH_PERIOD_S", 0.5)
    with torch_threads(2):
        watch = PolicyWatch(DecodePolicy(threads=1, batch_size=64), DecodePolicy(threads=2, batch_size=64))
        with watch.lock:  # another call feeds it
            decode_rest(fake.step, fake.remaining, DecodePolicy(threads=2, batch_size=7), watch)
        assert fake.left == 0 and {c for c in fake.calls} == {(64, 1), (2_000 % 64, 1)} and watch.swaps == 0
        fake.left, fake.calls = 2_000, []
        with applied(DecodePolicy(threads=2, batch_size=8)):  # a thread count held: no candidate may set its own
            decode_rest(fake.step, fake.remaining, DecodePolicy(threads=2, batch_size=7), watch)
        assert fake.left == 0 and {t for _, t in fake.calls} == {2} and not watch.due and watch.swaps == 0


class SlowTwoThreads:
    """A fake clock for the whole process: any read inside a call with two torch threads costs 1 s, else 0.01 s."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.now += 1.0 if torch.get_num_threads() == 2 else 0.01
            return self.now


@two_cores
@pytest.mark.parametrize("bulk", ["evaluate_all", "distances", "shortest_paths"])
def test_the_graphs_bulk_edge_decodes_watch_its_policy(bulk: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lazy graph whose own policy has two threads, made slow by a fake clock: its bulk edge decodes move to one
    thread and give the eager graph's results (its queries' rounds are not watched); the watch is the graph's, kept
    across calls; a policy given to the build, or a default standing in for none, is not watched."""
    monkeypatch.setattr(policy_watch, "CLOCK", SlowTwoThreads())
    monkeypatch.setattr(policy_watch, "WATCH_PERIOD_S", 3.0)
    model = CylinderAtlas(radius=0.7, ambient_shape=(6,))
    g = torch.Generator().manual_seed(2)
    data = model.points(torch.rand(900, generator=g) * 2 * math.pi - math.pi, torch.rand(900, generator=g) * 2)
    eager = geodesic.build_graph(model, data, weights="eager", **KW)  # type: ignore[arg-type]
    with torch_threads(2):
        graph = geodesic.build_graph(model, data, weights="lazy", **KW)  # type: ignore[arg-type]
        own = DecodePolicy(threads=2, batch_size=16, measured=1.0)
        graph.record.decode_policy = own  # as if its trial had chosen two threads
        if bulk == "evaluate_all":
            graph.evaluate_all()
            np.testing.assert_allclose(graph.record.edge_weights.values, eager.record.edge_weights.values, rtol=RTOL)
        elif bulk == "distances":
            np.testing.assert_allclose(graph.distances(data[:60]), eager.distances(data[:60]), rtol=RTOL, atol=ATOL)
        else:  # the queries' rounds are not watched (a query's call chain stays short: tests/test_layout.py)
            lengths = [p.length for p in graph.shortest_paths(data[:60], data[60:120])]
            want = [p.length for p in eager.shortest_paths(data[:60], data[60:120])]
            np.testing.assert_allclose(lengths, want, rtol=RTOL, atol=ATOL)
            assert graph.record.policy_watch is None
            return
        watch = graph.record.policy_watch
        assert watch is not None and watch.base is own and watch.current.threads == 1 and watch.swaps >= 1
        assert graph.record.decode_policy is own  # the watch decides the calls, not what the graph file says
        graph.distances(data[60:70])
        assert graph.record.policy_watch is watch  # one watch per graph and policy, across calls
        given = geodesic.build_graph(model, data, weights="lazy", decode_policy=own, **KW)  # type: ignore[arg-type]
        given.evaluate_all()
        assert given.record.policy_watch is None
        unstated = geodesic.build_graph(model, data, weights="lazy", **KW)  # type: ignore[arg-type]
        unstated.record.decode_policy = None  # a file from before policies were stored: a default, not the graph's
        unstated.evaluate_all()
        assert unstated.record.policy_watch is None


def test_a_given_policy_stays_unwatched_after_a_save_and_load(tmp_path: Path) -> None:
    """The graph file keeps whether the policy is watched: a policy given to the build is still not watched when the
    graph is read back; a graph's own policy is."""
    model = CylinderAtlas(radius=0.7, ambient_shape=(6,))
    g = torch.Generator().manual_seed(4)
    data = model.points(torch.rand(300, generator=g) * 2 * math.pi - math.pi, torch.rand(300, generator=g) * 2)
    given = geodesic.build_graph(model, data, decode_policy=DecodePolicy(threads=1, batch_size=64), **KW)  # type: ignore[arg-type]
    own = geodesic.build_graph(model, data, **KW)  # type: ignore[arg-type]
    for graph, watched in ((given, False), (own, True)):
        path = tmp_path / f"{watched}.agmg"
        graph.save(path)
        assert read_graph(path).watch_policy is watched
