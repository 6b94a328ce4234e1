"""The decode policy (threads, batch size): packed decoder calls, the thread context, the measurement, and the
policy stored with the graph and used by its queries (issue 12, section 1)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.geodesic._support.checks import DECODE_SHAPE_PROBES
from agm.geodesic.graph.curves import PointTable, packed_lengths, segment_lengths
from agm.geodesic.graph.policy import (
    BATCH_CANDIDATES,
    DEFAULT_TRIAL_BATCH,
    ELIMINATION,
    MULTI_THREAD_MARGIN,
    REPEATS,
    WARM_UP_POINTS,
    DecodePolicy,
    _final,
    applied,
    measure_policy,
    run_trial,
)
from agm.models.analytic import CylinderAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class Recorder(CylinderAtlas):
    """The cylinder, recording the size of every decoder call and torch's thread count during it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, int]] = []

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls.append((int(z.shape[0]), torch.get_num_threads()))
        return super().decode(z, y)


@pytest.mark.parametrize("n_steps", [1, 2, 5])
@pytest.mark.parametrize("batch", [1, 7, 64])
def test_packed_lengths_equal_one_segment_per_call_and_fill_every_call(n_steps: int, batch: int) -> None:
    model = Recorder()
    g = torch.Generator().manual_seed(n_steps * 100 + batch)
    latents = torch.rand(30, 2, generator=g) * 2 - 1
    charts = (torch.arange(30) >= 15).long()  # nodes 0-14 in chart 0, 15-29 in chart 1
    u = torch.randint(15, (23,), generator=g)
    v = (u + 1 + torch.randint(14, (23,), generator=g)) % 15
    side = (torch.arange(23) % 2) * 15
    ends = torch.stack([u + side, v + side], dim=1)
    with torch.no_grad():
        positions = model.decode(latents, charts).reshape(30, -1)
        model.calls.clear()
        got = packed_lengths(model.decode, PointTable(latents, positions, charts), ends, n_steps, batch)
        sizes = [c for c, _ in model.calls]
        oracle = torch.cat(
            [
                segment_lengths(
                    model.decode,
                    latents[u, None],
                    latents[v, None],
                    charts[u, None],
                    positions[u, None],
                    positions[v, None],
                    n_steps,
                )
                for u, v in ends.tolist()
            ]
        )
    # float32 decodings in other batches: ~1 ulp per point, lengths to ~1e-6 relative
    np.testing.assert_allclose(got.numpy(), oracle.numpy(), rtol=1e-6)
    total = ends.shape[0] * (n_steps - 1)
    assert sum(sizes) == total
    assert all(s == batch for s in sizes[:-1]) and (not sizes or 0 < sizes[-1] <= batch)


def test_applied_sets_and_restores_threads_nested_and_across_threads() -> None:
    before = torch.get_num_threads()
    with applied(DecodePolicy(threads=1, batch_size=8)):
        assert torch.get_num_threads() == 1
        with applied(DecodePolicy(threads=2, batch_size=8)):  # inner entries run with the outermost setting
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                with applied(DecodePolicy(threads=1, batch_size=8)):
                    pass
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and torch.get_num_threads() == before
    with applied(DecodePolicy(threads=None, batch_size=8)):
        assert torch.get_num_threads() == before


class FakeClock:
    """Seconds that pass only when a fake decoder says so: timings injected, never measured."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Timed(Recorder):
    """The cylinder on a fake clock: a call takes ``per_call_s + per_point_s[threads] * points`` seconds."""

    def __init__(self, clock: FakeClock, per_point_s: dict[int, float], per_call_s: float = 0.0) -> None:
        super().__init__()
        self.clock, self.per_point_s, self.per_call_s = clock, per_point_s, per_call_s

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.clock.now += self.per_call_s + self.per_point_s[torch.get_num_threads()] * z.shape[0]
        return super().decode(z, y)


def _measured(model: Timed, threads: int = 1, **kw: float) -> DecodePolicy:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return measure_policy(model.decode, torch.rand(64, 2), 0, torch.device("cpu"), clock=model.clock, **kw)
    finally:
        torch.set_num_threads(before)


def test_measure_policy_is_cheap_for_an_expensive_decoder() -> None:
    model = Timed(FakeClock(), {1: 0.0}, per_call_s=0.05)  # 50 ms per call, whatever the batch
    policy = _measured(model)
    assert policy.batch_size in BATCH_CANDIDATES and policy.threads == 1
    assert policy.measured == pytest.approx(16 / 0.05)
    assert [s for s, _ in model.calls] == [WARM_UP_POINTS] + [16] * REPEATS  # the first size exceeds the budget
    assert model.clock.now < 1.0


def test_measure_policy_climbs_for_a_cheap_decoder() -> None:
    model = Timed(FakeClock(), {1: 1e-7}, per_call_s=1e-3)  # per-call overhead dominates small batches
    policy = _measured(model)
    assert policy.batch_size == BATCH_CANDIDATES[-1]
    assert max(s for s, _ in model.calls) == BATCH_CANDIDATES[-1]


@pytest.mark.parametrize(
    ("per_point_s", "expected"),
    [
        ({1: 2e-5, 2: 1e-5}, 2),  # 2x faster with two threads: above the margin
        ({1: 2e-5, 2: 1.9e-5}, 1),  # 5% faster: below it
        ({1: 2e-5, 2: 2e-5 / (MULTI_THREAD_MARGIN * 0.99)}, 1),  # just below the margin
        ({1: 2e-5, 2: 2e-5 / (MULTI_THREAD_MARGIN * 1.01)}, 2),  # just above it
        ({1: 1e-5, 2: 2e-5}, 1),  # slower
    ],
)
def test_more_threads_need_the_margin_over_the_final(per_point_s: dict[int, float], expected: int) -> None:
    model = Timed(FakeClock(), per_point_s, per_call_s=1e-4)
    policy = _measured(model, threads=2, final_s=0.05)
    assert policy.threads == expected
    assert policy.measured > 0
    assert MULTI_THREAD_MARGIN > 1


def test_measure_policy_times_thread_counts_round_robin() -> None:
    """Each batch size is timed for every thread count before the next size (a noisy spell hits both alike)."""
    model = Timed(FakeClock(), {1: 1e-7, 2: 1e-7}, per_call_s=1e-3)
    _measured(model, threads=2)
    timed = [(size, threads) for size, threads in model.calls if size in BATCH_CANDIDATES]
    first, second = BATCH_CANDIDATES[:2]
    assert (
        timed[: 4 * REPEATS]
        == [(first, 1)] * REPEATS + [(first, 2)] * REPEATS + [(second, 1)] * REPEATS + [(second, 2)] * REPEATS
    )  # each size for both thread counts before the next size
    assert model.calls[:2] == [(WARM_UP_POINTS, 1), (WARM_UP_POINTS, 2)]


@pytest.mark.parametrize("slow", [1.0, ELIMINATION * 0.98, ELIMINATION * 1.02, 3.0])
def test_the_final_drops_a_finalist_clearly_behind(slow: float) -> None:
    """A finalist whose points per second fall below the best's by ELIMINATION (from the second round) leaves the
    final and keeps its rate; the final ends when one is left; within the factor, all run for the whole final."""
    clock, calls = FakeClock(), []
    per_point = {16: 1e-5 * slow, 64: 1e-5, 256: 1.1e-5}  # batch 16 is the slow one (1 thread each)

    def work(policy: DecodePolicy) -> int:
        calls.append(policy.batch_size)
        clock.now += per_point[policy.batch_size] * policy.batch_size
        return policy.batch_size

    finalists = [DecodePolicy(threads=1, batch_size=b) for b in (64, 256, 16)]
    rates = _final(work, finalists, 1.0, clock)
    assert rates == pytest.approx([1e5, 1 / 1.1e-5, 1e5 / slow])
    if slow > ELIMINATION:
        assert calls.count(16) == 2  # the first two rounds only
        assert calls.count(64) > 2 and calls.count(64) - calls.count(256) in (0, 1)
    else:
        assert calls.count(16) == calls.count(64) == calls.count(256) > 2  # all to the end
    assert 1.0 <= clock.now <= 1.0 + 5e-3
    calls.clear()
    duel = [DecodePolicy(threads=1, batch_size=64), DecodePolicy(threads=1, batch_size=16)]
    assert _final(work, duel, 1.0, clock) == pytest.approx([1e5, 1e5 / slow])
    assert calls == [64, 16, 64, 16] if slow > ELIMINATION else len(calls) > 4  # one left: the final is over


def test_trial_on_useful_work_that_runs_out_keeps_the_best_seen() -> None:
    clock, calls = FakeClock(), []
    left = [100]

    def work(policy: DecodePolicy) -> int:
        taken = min(left[0], policy.batch_size)
        left[0] -= taken
        calls.append(taken)
        clock.now += 1e-3 + 1e-6 * taken
        return taken

    result = run_trial(work, clock=clock)
    assert not result.complete and left[0] == 0
    assert result.policy == DecodePolicy(threads=1, batch_size=16, measured=pytest.approx(16 / (1e-3 + 16e-6)))
    nothing = run_trial(lambda policy: 0, clock=clock)
    assert not nothing.complete and nothing.policy == DecodePolicy(threads=None, batch_size=DEFAULT_TRIAL_BATCH)


def test_bad_policies() -> None:
    with pytest.raises(ValueError, match="DecodePolicy.threads must be a positive int; got 0"):
        DecodePolicy(threads=0, batch_size=8)
    with pytest.raises(ValueError, match="DecodePolicy.batch_size must be a positive int; got -1"):
        DecodePolicy(threads=None, batch_size=-1)
    assert DecodePolicy.from_json(DecodePolicy(threads=2, batch_size=64).to_json()) == DecodePolicy(2, 64)


def test_build_and_queries_use_the_policy_and_restore_threads() -> None:
    model = Recorder()
    g = torch.Generator().manual_seed(0)
    data = model.points(torch.rand(300, generator=g) * 6.28 - 3.14, torch.rand(300, generator=g))
    before = torch.get_num_threads()
    policy = DecodePolicy(threads=1, batch_size=24)
    graph = geodesic.build_graph(model, data, k=6, n_steps=4, progress=False, weights="eager", decode_policy=policy)
    assert graph.decode_policy == policy and graph.decode_policy.batch_size == 24
    # the decode-shape check runs first, before a policy is chosen; the fingerprint's probe runs outside it
    assert model.calls and model.calls[0][0] == DECODE_SHAPE_PROBES
    assert all(t == 1 for _, t in model.calls[DECODE_SHAPE_PROBES:-8])
    assert sum(s != 24 for s, _ in model.calls[:-1]) <= 4  # packed: short calls only at the ends of stages
    assert torch.get_num_threads() == before
    model.calls.clear()
    geodesic.shortest_paths(model, data[:6], data[6:12], graph)
    assert model.calls and max(s for s, _ in model.calls) <= 24 and all(t == 1 for _, t in model.calls)
    assert torch.get_num_threads() == before
