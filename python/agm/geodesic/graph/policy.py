"""How the decoder is run for geodesics: one decode policy (torch threads, batch size), measured, stored, applied.

A :class:`DecodePolicy` says how many points one decoder call takes and how many intra-op threads torch uses for
it. Both depend on the decoder and on the machine (on a busy 2-core machine one thread beat two for the paper's
decoder by 1.4-5x; on an idle one two threads won by 1.7-1.9x), so by default they are chosen together by
measurement (:func:`run_trial`): every candidate is timed several times on single-chart batches (as edges are
decoded) and its median kept, which survives a noisy neighbour, then the best ones in turn. What is timed is a
``Work`` callable: the build's own node decodes (:mod:`agm.geodesic.graph.measured_decode`: the measurement decodes
nothing extra) or, in a process group where every rank needs the policy before the nodes, probe batches
(:func:`measure_policy`); or, call by call (:class:`ResumableTrial`), the node decodes of the queries on a graph
whose nodes are decoded on demand (:mod:`agm.geodesic.graph.node_trial`). A measured policy is remembered per decoder
architecture and machine (:mod:`agm.geodesic.graph.policy_cache`), so later builds do not measure. The policy is
stored in the graph file and reused by queries; ``build_graph(..., decode_policy=DecodePolicy(threads=1,
batch_size=64))`` (and the same argument of the queries) sets it explicitly.

:func:`applied` sets torch's thread count around the decode loops and restores it afterwards. The thread count
is process-global in torch (``torch.set_num_threads``), so the context is reference-counted under one lock, like
:func:`agm.geodesic._context.evaluating`: the outermost entry in any thread sets it, inner and concurrent entries
only count (they run with the outermost entry's setting), and the last exit restores the value found by the
first. Code outside agm that changes the thread count meanwhile is overridden until that last exit.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Generator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import torch

from agm._threads import scope_entered, torch_threads
from agm.geodesic._support.checks import call_model, check_int_in, check_positive_int

Decoder = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
T = TypeVar("T")

#: Batch sizes tried by :func:`measure_policy`, smallest first.
BATCH_CANDIDATES = (16, 64, 256, 1024, 4096, 16384)
#: Timed calls per candidate; the median is kept.
REPEATS = 3
#: Points per decoder call on CUDA (not measured: large batches always win there).
CUDA_BATCH = 16384
#: More than one thread is chosen only if, over the final (calls in turn, see :func:`measure_policy`), it
#: decodes this many times as many points per second as one thread. Medians of a few short calls alone misled:
#: with the exact cylinder decoder at 64k points on the 2-core machine beside two busy processes, two threads
#: measured 1.3-1.7x faster at the decoder and built 1.8-2.4x slower than one. The paper decoder on an idle
#: machine gains 1.7-1.9x from two threads, above it.
MULTI_THREAD_MARGIN = 1.2
#: Seconds of the final (see :func:`measure_policy`).
FINAL_S = 0.3
#: Policies in the final besides the fastest one-thread policy: the fastest of the climb.
FINALISTS = 2
#: From its second round on, the final drops a finalist whose score (its rate so far, more threads divided by the
#: margin) is below the best's by this factor, and it ends when one is left: on useful work (an eager build's edge
#: stream, see :mod:`agm.geodesic.graph.measured_edges`) every call of a losing finalist is a call at its speed.
ELIMINATION = 1.25
#: The largest batch size a graph file may state (64x the largest batch ever chosen, CUDA_BATCH).
MAX_FILE_BATCH = 1 << 20
#: The largest thread count a graph file may state (a policy chosen on a bigger machine is clamped when applied).
MAX_FILE_THREADS = 1 << 16
#: Batch size of a trial whose work ran out before any call was timed.
DEFAULT_TRIAL_BATCH = 256


@dataclass(frozen=True)
class DecodePolicy:
    """How to run the decoder: ``batch_size`` points per call with ``threads`` torch intra-op threads.

    Attributes:
        threads: torch intra-op threads during decoding, >= 1; None (default) leaves torch's setting alone.
        batch_size: decoded points per forward call, >= 1 (default :data:`DEFAULT_TRIAL_BATCH`).
        measured: points per second measured for this policy (0.0 when it was not measured).
    """

    threads: int | None = None
    batch_size: int = DEFAULT_TRIAL_BATCH
    measured: float = 0.0

    def __post_init__(self) -> None:
        if self.threads is not None:
            check_positive_int("DecodePolicy.threads", self.threads)
        check_positive_int("DecodePolicy.batch_size", self.batch_size)

    def to_json(self) -> dict[str, Any]:
        """The policy as a JSON-serialisable dict (stored in the graph file)."""
        return {"threads": self.threads, "batch_size": self.batch_size, "measured": self.measured}

    @classmethod
    def from_json(cls, meta: Any) -> DecodePolicy:
        """Inverse of :meth:`to_json` for a policy read from a file (untrusted): ValueError naming the field for a
        missing or bad value, a batch size above :data:`MAX_FILE_BATCH` or a thread count above
        :data:`MAX_FILE_THREADS` (counts up to it are clamped to this machine's cores when applied)."""
        if not isinstance(meta, dict):
            raise ValueError(f"decode_policy must be an object; got {type(meta).__name__}")
        for key in ("threads", "batch_size"):
            if key not in meta:
                raise ValueError(f"decode_policy.{key} is missing")
        threads, batch_size, measured = meta["threads"], meta["batch_size"], meta.get("measured", 0.0)
        if threads is not None:
            check_int_in("decode_policy.threads", threads, 1, MAX_FILE_THREADS)
        check_int_in("decode_policy.batch_size", batch_size, 1, MAX_FILE_BATCH)
        if isinstance(measured, bool) or not isinstance(measured, (int, float)) or not 0.0 <= measured < math.inf:
            raise ValueError(f"decode_policy.measured must be a finite number >= 0; got {measured!r}")
        return cls(threads=threads, batch_size=batch_size, measured=float(measured))


def check_policy(policy: Any) -> DecodePolicy | None:
    """A DecodePolicy or None (TypeError naming the argument otherwise)."""
    if policy is not None and not isinstance(policy, DecodePolicy):
        raise TypeError(f"decode_policy must be an agm.geodesic.DecodePolicy or None; got {type(policy).__name__}")
    return policy


#: The scope of :func:`agm._threads.torch_threads` that :func:`applied` enters.
SCOPE = "decode_policy"


def applied(policy: DecodePolicy) -> AbstractContextManager[int]:
    """A context that runs its block with ``policy.threads`` torch threads, at most the cores this process may use:
    the one thread context of the package (:func:`agm._threads.torch_threads`) in the decode policies' shared scope
    (nested and concurrent entries share one setting; process-global: see the module docstring). It yields the
    thread count in effect."""
    return torch_threads(policy.threads, "DecodePolicy.threads", scope=SCOPE)


def threads_held() -> bool:
    """Whether a policy with a thread count is applied now (in any thread): a trial's candidate would then not run
    with its own thread count, so no trial may time a call meanwhile."""
    return scope_entered(SCOPE)


Clock = Callable[[], float]
#: Decodes the next batch of at most ``policy.batch_size`` points under ``policy`` (thread count applied by the
#: caller) and returns how many it decoded; 0 when there is nothing left to decode.
Work = Callable[[DecodePolicy], int]
#: Points in the first call of each thread count (first-call allocations; not timed into any candidate).
WARM_UP_POINTS = 4


@dataclass
class TrialResult:
    """The outcome of :func:`run_trial`: the chosen policy, and whether the measurement ran to its end (a trial
    on useful work stops early when the work runs out; its choice is then the best seen so far)."""

    policy: DecodePolicy
    complete: bool


class _OutOfWork(Exception):
    """The work ran out during the trial."""


def thread_candidates() -> tuple[int, ...]:
    """Torch thread counts worth trying: 1 and torch's current setting."""
    current = torch.get_num_threads()
    return (1,) if current <= 1 else (1, current)


def run_trial(
    work: Work,
    *,
    call_budget_s: float = 0.04,
    total_budget_s: float = 0.6,
    repeats: int = REPEATS,
    final_s: float = FINAL_S,
    clock: Clock = time.perf_counter,
) -> TrialResult:
    """Choose (threads, batch size) by timing calls of ``work`` (see :func:`measure_policy` for the procedure).

    ``work`` may be synthetic (probe points decoded and thrown away) or useful (the next points a build needs
    anyway: then the measurement costs no extra decodes). ``clock`` returns seconds (injectable for tests).

    Returns:
        The chosen policy (its rate, points per second, in ``measured``) and whether the trial completed; when
        the work ran out before any call was timed the policy is torch's threads at ``DEFAULT_TRIAL_BATCH``.
    """
    budgets = dict(call_budget_s=call_budget_s, total_budget_s=total_budget_s, final_s=final_s)
    result: TrialResult = _drive(trial_steps([], repeats=repeats, **budgets), work, clock)
    return result


#: A trial as a generator: it yields the policy of the next call to time and is sent that call's seconds (None
#: when the call decoded fewer than the policy's batch size: the work ran out); it returns its result.
Steps = Generator[DecodePolicy, "float | None", T]


def trial_steps(
    measured: list[DecodePolicy],
    *,
    call_budget_s: float = 0.04,
    total_budget_s: float = 0.6,
    repeats: int = REPEATS,
    final_s: float = FINAL_S,
) -> Steps[TrialResult]:
    """:func:`run_trial`'s procedure call by call (:data:`Steps`), so that its calls can come from separate pieces
    of work (:class:`ResumableTrial`); the climb's candidates are appended to ``measured`` as they are timed."""
    candidates = thread_candidates()
    try:
        yield from _climb(candidates, measured, call_budget_s, total_budget_s, repeats)
        finalists = _finalists(measured)
        if len(finalists) == 1:
            return TrialResult(finalists[0], complete=True)
        rates = yield from _final_steps(finalists, final_s)
    except _OutOfWork:
        return TrialResult(_best_measured(measured), complete=False)
    winner = max(range(len(finalists)), key=lambda i: score(finalists[i], rates[i]))
    return TrialResult(replace(finalists[winner], measured=rates[winner]), complete=True)


class ResumableTrial:
    """A :func:`run_trial` whose calls are made by whoever has work at hand, one call at a time, across as many
    pieces of work as it takes (a graph's bulk node and edge decodes: see :mod:`agm.geodesic.graph.node_trial`). Not
    thread-safe: its user serialises it. ``final_s``: the final's seconds of timed calls.

    Attributes:
        request: the policy of the next call to time (None once the trial has ended).
        result: the trial's result once it has ended (None before).
    """

    def __init__(self, final_s: float = FINAL_S) -> None:
        self._measured: list[DecodePolicy] = []
        self._steps = trial_steps(self._measured, final_s=final_s)
        self.result: TrialResult | None = None
        self.request: DecodePolicy | None = None
        self._advance(None, first=True)

    def record(self, seconds: float) -> None:
        """The seconds of one full call (``request.batch_size`` points) under ``request``."""
        if self.request is None:
            raise RuntimeError("the trial has ended")
        self._advance(seconds)

    def best(self) -> DecodePolicy | None:
        """The trial's choice: its result once ended, else the best candidate measured so far (None: none yet)."""
        if self.result is not None:
            return self.result.policy
        return _best_measured(self._measured) if self._measured else None

    def _advance(self, seconds: float | None, first: bool = False) -> None:
        try:
            self.request = next(self._steps) if first else self._steps.send(seconds)
        except StopIteration as stop:
            self.request, self.result = None, stop.value


def _drive(steps: Steps[T], work: Work, clock: Clock) -> T:
    """Run ``steps`` to their end on calls of ``work`` timed by ``clock``."""
    try:
        policy = next(steps)
        while True:
            policy = steps.send(timed_call(work, policy, clock))
    except StopIteration as stop:
        out: T = stop.value
        return out


def timed_call(work: Work, policy: DecodePolicy, clock: Clock) -> float | None:
    """Seconds of one call of ``work`` under ``policy`` (its thread count applied around the call, timed by
    ``clock``); None when it decoded fewer than batch_size points (a short call is not a measurement of the batch
    size)."""
    with applied(policy):
        started = clock()
        done = work(policy)
        seconds = clock() - started
    return seconds if done >= policy.batch_size else None


def _call(policy: DecodePolicy) -> Steps[float]:
    """One timed call of ``policy``: its seconds; _OutOfWork when the work ran out."""
    seconds = yield policy
    if seconds is None:
        raise _OutOfWork
    return seconds


def _climb(
    candidates: tuple[int, ...],
    measured: list[DecodePolicy],
    call_budget_s: float,
    total_budget_s: float,
    repeats: int,
) -> Steps[None]:
    """The climb of :func:`measure_policy`: every thread count times each batch size in turn, smallest first;
    the measured candidates are appended to ``measured``."""
    spent = dict.fromkeys(candidates, 0.0)
    share = total_budget_s / len(candidates)
    for threads in candidates:  # first-call allocations
        spent[threads] += yield from _call(DecodePolicy(threads=threads, batch_size=WARM_UP_POINTS))
    climbing = list(candidates)
    for size in BATCH_CANDIDATES:
        for threads in list(climbing):
            policy = DecodePolicy(threads=threads, batch_size=size)
            times = []
            for _ in range(repeats):
                times.append((yield from _call(policy)))
            spent[threads] += sum(times)
            seconds = statistics.median(times)
            measured.append(replace(policy, measured=size / max(seconds, 1e-9)))
            if seconds > call_budget_s or spent[threads] > share:
                climbing.remove(threads)
        if not climbing:
            return


def score(policy: DecodePolicy, rate: float) -> float:
    """A policy's rate as compared in a choice: more threads must win by ``MULTI_THREAD_MARGIN``."""
    return rate / (MULTI_THREAD_MARGIN if policy.threads != 1 else 1.0)


def _best_measured(measured: list[DecodePolicy]) -> DecodePolicy:
    """The best of an unfinished trial by its medians (more threads by the margin), or torch's threads at
    ``DEFAULT_TRIAL_BATCH`` when nothing was measured."""
    if not measured:
        return DecodePolicy(threads=None, batch_size=DEFAULT_TRIAL_BATCH)
    return max(measured, key=lambda p: score(p, p.measured))


def measure_policy(
    decode: Decoder,
    z: torch.Tensor,
    chart: int,
    device: torch.device,
    *,
    call_budget_s: float = 0.04,
    total_budget_s: float = 0.6,
    repeats: int = REPEATS,
    final_s: float = FINAL_S,
    clock: Clock = time.perf_counter,
) -> DecodePolicy:
    """Choose (threads, batch size) together by measurement on single-chart probe batches (call under
    ``evaluating``); the decodings are thrown away (:func:`run_trial` measures on useful work instead).

    After one warm-up call per thread count, batch sizes are tried from the smallest up, each timed ``repeats``
    times with the median kept, for every thread count of :func:`thread_candidates` in turn (round-robin). A
    thread count stops climbing at the first size whose median call exceeds ``call_budget_s`` or when its share
    of ``total_budget_s`` is spent. So an expensive decoder is measured with a few small calls (about a second
    in all), a cheap one climbs to large batches where per-call overhead vanishes. A final then decides between
    the ``FINALISTS`` fastest candidates of the climb and the fastest one-thread one: they take one call each in
    turn for ``final_s`` seconds (at least two rounds; one clearly behind leaves early, see ``ELIMINATION``), and
    the most points per second over the final wins, more threads only by ``MULTI_THREAD_MARGIN`` (see there): the
    medians of a few short calls each, taken at different moments, were 10-25% apart from rates over longer runs.
    On CUDA nothing is measured:
    (None, 16384).

    Args:
        decode: the model's ``decode(z, y)``.
        z: (N, d) float32 latents of one chart (rows are repeated to fill a batch).
        chart: the chart of ``z``.
        device: the decoder's device.
        clock: seconds (injectable for tests).

    Returns:
        The chosen candidate (its rate, points per second, in ``measured``).
    """
    if device.type == "cuda":
        return DecodePolicy(threads=None, batch_size=CUDA_BATCH)
    batches: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def probe(policy: DecodePolicy) -> int:
        size = policy.batch_size
        if size not in batches:
            batches[size] = _batch(z, chart, size, device)
        call_model("decode", decode, *batches[size])
        return size

    trial = run_trial(
        probe, call_budget_s=call_budget_s, total_budget_s=total_budget_s, repeats=repeats, final_s=final_s, clock=clock
    )
    return trial.policy


def _finalists(measured: list[DecodePolicy]) -> list[DecodePolicy]:
    """The ``FINALISTS`` fastest measured policies, plus the fastest one-thread policy if it is not among them."""
    ranked = sorted(measured, key=lambda p: p.measured, reverse=True)
    chosen = ranked[:FINALISTS]
    single = next(p for p in ranked if p.threads == 1)
    return chosen if single in chosen else [*chosen, single]


def _batch(z: torch.Tensor, chart: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` rows of ``z`` (repeated as needed) and their chart, on ``device``."""
    idx = torch.arange(size) % z.shape[0]
    return z[idx].to(device), torch.full((size,), chart, dtype=torch.int64, device=device)


def _final(work: Work, policies: list[DecodePolicy], seconds: float, clock: Clock) -> list[float]:
    """:func:`_final_steps` run on calls of ``work`` timed by ``clock``."""
    rates: list[float] = _drive(_final_steps(policies, seconds), work, clock)
    return rates


def _final_steps(policies: list[DecodePolicy], seconds: float) -> Steps[list[float]]:
    """Points per second of each policy over rounds of one call each, in turn, for about ``seconds`` of timed calls
    in all and at least two rounds: a busy neighbour's effect on longer runs, and the cache state between calls,
    show in all. From the second round on, a policy whose score is below the best's by :data:`ELIMINATION` leaves
    the final (its rate stays what it measured), and the final ends when one policy is left."""
    points, taken = [0] * len(policies), [0.0] * len(policies)
    alive = list(range(len(policies)))
    rounds = 0
    while rounds < 2 or (len(alive) > 1 and sum(taken) < seconds):
        for i in alive:
            taken[i] += yield from _call(policies[i])
            points[i] += policies[i].batch_size
        rounds += 1
        if rounds >= 2:
            scores = {i: score(policies[i], points[i] / max(taken[i], 1e-9)) for i in alive}
            best = max(scores.values())
            alive = [i for i in alive if scores[i] * ELIMINATION >= best]
    return [p / max(t, 1e-9) for p, t in zip(points, taken, strict=True)]
