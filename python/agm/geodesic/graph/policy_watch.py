"""A graph's decode policy kept under watch on its bulk edge decodes: checked now and then against the other thread
count, and swapped while it loses.

A decode policy is chosen by a trial of a few seconds (:mod:`agm.geodesic.graph.policy`) and then decodes for minutes
(``evaluate_all`` of the trained 8-chart MNIST model: 616k decodings), while the machine's load changes. Beside two
CPU-bound processes on the 2-core machine, that model's edge stream decoded 3,500-3,600 points per second with one
thread and batch 64, 1,550 with two threads and batch 256 (torch's default) and 510-520 with two threads and batch 64,
the choice a trial made in one run that had measured two threads ahead in its seconds (``benchmarks/README.md``,
"Issue 19, the on-demand graph's decode policy"). So a policy with a thread count is never trusted for good: after
a period of calls under the current policy (:data:`WATCH_PERIOD_S` seconds, doubled after each check the rival loses,
up to :data:`MAX_WATCH_PERIOD_S`), :data:`CHECK_CALLS` calls of the same batch size with the other thread count (its
rival: one thread for a multi-thread policy, torch's thread count for a one-thread policy; see :func:`rival_of`)
decode the next points of the same stream, and the rival takes over when its score beats the current policy's by
:data:`SWAP` (scores as in the trial: more threads must win by :data:`agm.geodesic.graph.policy.MULTI_THREAD_MARGIN`).
Every watched call decodes points the work needs; the watch costs the rival's few calls per period, and nothing where
the stream is shorter than a period.

Watched: the edge decodes of ``evaluate_all`` (so of the exact exports) and of the rounds of ``distances``, the rest of
an edge trial's stream and of an eager build's revised one. Not the rounds of ``shortest_path(s)``: measured beside two
busy processes, 100 pairs took a third of the unwatched time in a run where the watch never swapped, so the gain was not
the watch's, and a query's call chain stays within six package files (``tests/test_layout.py``). Each graph keeps one
watch for its own policy (:class:`PolicyWatch`, in memory, never in the graph file); its periods run on across calls
(rounds are short). A policy passed to a call, or given to the build, is not watched; nor is anything while a thread
count is held (:func:`agm.geodesic.graph.policy.threads_held`) or another thread feeds the watch (that call decodes
under the watch's current policy, untimed).

Floor: :mod:`agm.geodesic.graph`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import torch

from agm._progress import Bar, progress_bar
from agm.geodesic.graph.curves import Decoder, PackedStream, PointTable, interior_decodings, packed_lengths
from agm.geodesic.graph.policy import (
    ELIMINATION,
    Clock,
    DecodePolicy,
    applied,
    score,
    thread_candidates,
    threads_held,
)

#: Seconds of calls under the current policy before the first check of its rival, and after each swap.
WATCH_PERIOD_S = 2.0
#: Each check the rival loses doubles the period, up to this many seconds: a losing rival's calls cost up to 10% of
#: the time beside busy processes (two threads at batch 64 decoded 7x slower than one there), about 1.5% at 16 s.
MAX_WATCH_PERIOD_S = 16.0
#: Timed calls of the rival per check.
CHECK_CALLS = 2
#: The rival takes over when its score (points per second, more threads divided by the margin) is this many times the
#: current policy's over the last period: a rival measured ahead by less does not swap (no flip-flopping on noise).
SWAP = ELIMINATION
#: Seconds for the watched calls (injectable for tests).
CLOCK: Clock = time.perf_counter
#: Decodes the next at most ``size`` points of a stream and returns how many it decoded (0: nothing left).
Step = Callable[[int], int]
#: The watch of a policy, or None where it is not watched (a graph's: :class:`GraphWatch`).
WatchOf = Callable[[DecodePolicy], "PolicyWatch | None"]


def rival_of(policy: DecodePolicy) -> DecodePolicy | None:
    """The policy a watch compares ``policy`` with: the same batch size with the other thread count of
    :func:`agm.geodesic.graph.policy.thread_candidates` (call outside any thread-holding ``applied`` block); None when
    there is no other (one usable core, or torch set to one thread)."""
    candidates = thread_candidates()
    own = policy.threads if policy.threads is not None else max(candidates)
    others = [t for t in candidates if t != min(own, max(candidates))]
    if not others:
        return None
    return DecodePolicy(threads=max(others), batch_size=policy.batch_size)


class PolicyWatch:
    """A decode policy under watch (see the module docstring). Not thread-safe: its user holds :attr:`lock`.

    Attributes:
        base: the policy the watch started from (the graph's policy when it was made).
        current: the policy of the next calls (``base`` or its rival, whichever won the last check).
        rival: the policy it is checked against.
        swaps: how many times the rival took over.
        period: seconds of the current policy's calls between two checks (doubling while the rival loses).
        lock: held by the one call that feeds the watch.
    """

    def __init__(self, base: DecodePolicy, rival: DecodePolicy) -> None:
        self.base, self.current, self.rival = base, base, rival
        self.swaps = 0
        self.period = WATCH_PERIOD_S
        self.lock = threading.Lock()
        self._points, self._seconds = 0, 0.0

    @property
    def due(self) -> bool:
        """Whether the current policy has run a period since the last check."""
        return self._seconds >= self.period

    def record(self, points: int, seconds: float) -> None:
        """One call of the current policy: ``points`` decoded in ``seconds``."""
        self._points += points
        self._seconds += seconds

    def check(self, points: int, seconds: float) -> None:
        """The rival's calls of a check: ``points`` in ``seconds``; the rival takes over when it wins by
        :data:`SWAP` (the period starts again at :data:`WATCH_PERIOD_S`), else the period doubles. Starts the next
        period."""
        swapped = False
        if points > 0 and seconds > 0.0 and self._points > 0:
            mine = score(self.current, self._points / max(self._seconds, 1e-9))
            theirs = score(self.rival, points / seconds)
            swapped = theirs > SWAP * mine
        if swapped:
            self.current, self.rival = self.rival, self.current
            self.swaps += 1
            self.period = WATCH_PERIOD_S
        else:
            self.period = min(MAX_WATCH_PERIOD_S, 2 * self.period)
        self._points, self._seconds = 0, 0.0


def watch_for(policy: DecodePolicy) -> PolicyWatch | None:
    """A new watch of ``policy``, or None where it has no rival (:func:`rival_of`)."""
    rival = rival_of(policy)
    return PolicyWatch(policy, rival) if rival is not None else None


class WatchedGraph(Protocol):
    """What :class:`GraphWatch` reads and keeps on a graph (:class:`agm.geodesic.graph.record.GraphRecord`)."""

    decode_policy: DecodePolicy | None
    policy_watch: PolicyWatch | None


class GraphWatch:
    """A graph's :data:`WatchOf`: the graph's one watch of its current policy (made anew when the policy changed), for
    that policy only (None for a policy passed to a call); the caller decides whether the graph is watched at all
    (:func:`agm.geodesic.graph.completion.graph_watch`)."""

    def __init__(self, graph: WatchedGraph) -> None:
        self.graph = graph

    def __call__(self, policy: DecodePolicy) -> PolicyWatch | None:
        graph = self.graph
        if policy is not graph.decode_policy:
            return None
        watch = graph.policy_watch
        if watch is None or watch.base != policy:
            watch = graph.policy_watch = watch_for(policy)
        return watch


#: Drives a stream to its end: called with its :data:`Step` and its remaining points (:func:`stream_lengths`).
Drive = Callable[[Step, Callable[[], int]], None]


def stream_lengths(
    decode: Decoder, table: PointTable, ends: torch.Tensor, n_steps: int, drive: Drive, progress: bool = False
) -> torch.Tensor:
    """:func:`agm.geodesic.graph.curves.packed_lengths` of the segments, their stream decoded by ``drive`` (call under
    ``evaluating``; chords where n_steps = 1 or there are no segments: nothing to decode).

    Args:
        ends: (E, 2) int64 rows of ``table`` on the decoder's device.
        drive: decodes the stream to its end, in calls of any size (the lengths do not depend on them).
        progress: a bar over the segments.

    Returns:
        (E,) float64 lengths on the decoder's device.
    """
    if interior_decodings(n_steps) == 0 or ends.shape[0] == 0:
        return packed_lengths(decode, table, ends, n_steps, 1)
    stream = PackedStream(decode, table, ends, n_steps)
    with progress_bar(progress, int(ends.shape[0]), "edge weights", "edge") as bar:
        drive(stream_step(stream, bar), lambda: stream.remaining)
    return stream.lengths


def watched_lengths(
    decode: Decoder,
    table: PointTable,
    ends: torch.Tensor,
    n_steps: int,
    policy: DecodePolicy,
    watch: PolicyWatch | None,
    progress: bool = False,
) -> torch.Tensor:
    """:func:`stream_lengths` decoded by :func:`decode_rest` under ``watch`` (else ``policy``). (E,) float64."""

    def drive(step: Step, remaining: Callable[[], int]) -> None:
        decode_rest(step, remaining, policy, watch)

    return stream_lengths(decode, table, ends, n_steps, drive, progress)


def stream_step(stream: PackedStream, bar: Bar) -> Step:
    """The :data:`Step` of ``stream``, its finished segments counted on ``bar``."""

    def step(size: int) -> int:
        decoded, finished = stream.decode_next(size)
        bar.update(finished)
        return decoded

    return step


def decode_rest(step: Step, remaining: Callable[[], int], policy: DecodePolicy, watch: PolicyWatch | None) -> None:
    """Decode a stream to its end (``step`` until ``remaining()`` is 0): under ``watch`` where one is given and free
    (:func:`run_watched`; its current policy where another call feeds it), else under ``policy``."""
    if watch is not None and not threads_held() and watch.lock.acquire(blocking=False):
        try:
            run_watched(step, remaining, watch)
        finally:
            watch.lock.release()
        return
    used = watch.current if watch is not None else policy
    with applied(used):
        while remaining():
            step(used.batch_size)


def run_watched(step: Step, remaining: Callable[[], int], watch: PolicyWatch) -> None:
    """Decode a stream to its end under ``watch`` (hold its lock): periods of the current policy's calls, each
    followed by a check of the rival on the next calls of the stream. Only calls of a full batch are timed."""
    while remaining():
        policy = watch.current
        with applied(policy):
            while remaining() and not watch.due:
                points, seconds = _timed_call(step, policy.batch_size)
                if points == policy.batch_size:
                    watch.record(points, seconds)
        if not remaining():
            return
        rival, points, seconds = watch.rival, 0, 0.0
        with applied(rival):
            for _ in range(CHECK_CALLS):
                if remaining() < rival.batch_size:
                    break
                done, took = _timed_call(step, rival.batch_size)
                points, seconds = points + done, seconds + took
        watch.check(points, seconds)


def _timed_call(step: Step, size: int) -> tuple[int, float]:
    """One call of ``step``: the points it decoded and its seconds."""
    started = CLOCK()
    points = step(size)
    return points, CLOCK() - started
