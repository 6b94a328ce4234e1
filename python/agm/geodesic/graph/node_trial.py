"""The decode policy of a graph whose nodes are decoded on demand, chosen on its bulk decodes.

A build that decodes its nodes chooses its decode policy on them (:mod:`agm.geodesic.graph.measured_decode`) and an
eager build revises it on its edges (:mod:`agm.geodesic.graph.measured_edges`). A graph built with
``node_decodes="on_demand"`` decodes nothing at build time, so it starts with torch's threads and the device's default
batch, unmeasured. Where no policy was given or remembered (and on the CPU) it carries a :class:`NodeTrial`: the same
trial (:class:`agm.geodesic.graph.policy.ResumableTrial`: the climb, the final, the thread margin) timed call by call on
the bulk decodes the graph makes anyway, in the order they come, first on its nodes (the completion of its positions
before ``distances``, ``evaluate_all``, an export or a save), then again on its edges (``evaluate_all`` and so the exact
exports, and the rounds of ``distances``; :class:`EdgeFeed`), as an eager build revises on its edges what its nodes
chose (a node trial picks smaller batches than an edge stream wants). A piece of node work shorter than the trial's next
call is decoded with the best candidate so far (under one batch of points); edge work the trial does not time (a
stream's tail, another thread's call, midpoint bounds) uses its choice once it has ended, else the graph's policy. No
point is decoded for the measurement alone. Each trial's choice becomes the graph's policy when it ends (for what
follows, later queries, the graph file) and is remembered for the decoder and machine
(:mod:`agm.geodesic.graph.policy_cache`); a graph whose nodes are all decoded before the node trial ends takes the best
candidate it measured, if any.

A query's own decodes are not timed: on the trained 8-chart MNIST model (3,240 nodes, all decoded by its first query:
past half of the nodes a query decodes the rest at once) a trial on them cost that query 12-20% of its wall time on
an idle machine and 26-45% beside two busy processes, against the default policy (``benchmarks/README.md``, "Issue
19, the on-demand graph's decode policy").

Floor: :mod:`agm.geodesic.graph`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from agm.geodesic.graph.curves import (
    Decoder,
    PointTable,
    checked_decode,
    decode_points,
)
from agm.geodesic.graph.policy import DecodePolicy, ResumableTrial, TrialResult, applied, threads_held, timed_call
from agm.geodesic.graph.policy_cache import remember_policy
from agm.geodesic.graph.policy_watch import Step, WatchOf, decode_rest, stream_lengths
from agm.models.protocol import SemiAtlasModel

#: Seconds for the trial's calls (injectable for tests).
CLOCK = time.perf_counter
#: Seconds of timed calls in the final of the trial on the edges (bulk work: a longer final than the nodes').
EDGE_FINAL_S = 1.0


@dataclass
class NodeTrial:
    """The decode policy trials of a graph whose nodes are decoded on demand, and where their choices are remembered.

    Attributes:
        key: the decoder's policy key (:func:`agm.geodesic.graph.policy_cache.policy_key`).
        trial: the trial on the bulk node decodes, timed call by call (under the graph's pending-nodes lock).
        edges: the trial on the bulk edge decodes (:class:`EdgeFeed`; a final of :data:`EDGE_FINAL_S`).
        lock: serialises the edge trial (a call that finds it taken decodes without timing).
    """

    key: dict[str, Any]
    trial: ResumableTrial = field(default_factory=ResumableTrial)
    edges: ResumableTrial = field(default_factory=lambda: ResumableTrial(final_s=EDGE_FINAL_S))
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ended(self) -> bool:
        """Whether the trial on the node decodes has ended (its choice is then the graph's policy)."""
        return self.trial.result is not None


class EdgeFeed:
    """A graph's trial on its bulk edge decodes (:attr:`NodeTrial.edges`) as the edge decodes see it
    (:class:`agm.geodesic.graph.edge_kinds.DecodeContext`), and what its end does (``on_end``: the policy it chose)."""

    def __init__(self, node_trial: NodeTrial, on_end: Callable[[DecodePolicy], None]) -> None:
        self.node_trial, self._on_end, self._ended = node_trial, on_end, False

    @property
    def running(self) -> bool:
        """Whether the trial on the edge decodes has not chosen yet (it times the streams of :meth:`lengths`)."""
        return self.node_trial.edges.result is None

    def lengths(
        self,
        decode: Decoder,
        table: PointTable,
        ends: torch.Tensor,
        n_steps: int,
        fallback: DecodePolicy,
        progress: bool = False,
        watch_of: WatchOf | None = None,
    ) -> torch.Tensor:
        """:func:`agm.geodesic.graph.curves.packed_lengths` of the segments with the trial's next calls timed on the
        stream (call under ``evaluating``); the rest, or all of it while another thread feeds the trial or a thread
        count is held, in :meth:`current`, under its watch where ``watch_of`` gives one
        (:mod:`agm.geodesic.graph.policy_watch`). (E,) float64 lengths."""

        def drive(step: Step, remaining: Callable[[], int]) -> None:
            if self.node_trial.lock.acquire(blocking=False):
                try:
                    self._feed(step, remaining)
                finally:
                    self.node_trial.lock.release()
            rest = self.current(fallback)
            decode_rest(step, remaining, rest, watch_of(rest) if watch_of is not None else None)

        return stream_lengths(decode, table, ends, n_steps, drive, progress)

    def _feed(self, step: Step, remaining: Callable[[], int]) -> None:
        """The trial's next calls on the stream, timed (hold the trial's lock); its end when it ends."""
        trial = self.node_trial.edges
        while remaining() and trial.request is not None and not threads_held():
            seconds = timed_call(lambda policy: step(policy.batch_size), trial.request, CLOCK)
            if seconds is not None:  # a short call (the stream's end) measures nothing
                trial.record(seconds)
        if trial.result is not None and not self._ended:
            self._end(trial.result)

    def current(self, fallback: DecodePolicy) -> DecodePolicy:
        """The policy of edge decodes that do not feed the trial (midpoint bounds, what is left of a stream): its
        choice once it has ended, else ``fallback`` (a candidate that leads early in the climb is no choice yet)."""
        result = self.node_trial.edges.result
        return result.policy if result is not None else fallback

    def _end(self, result: TrialResult) -> None:
        self._ended = True
        if result.complete:
            remember_policy(self.node_trial.key, result.policy)
        self._on_end(result.policy)


def decode_timed(
    node_trial: NodeTrial,
    model: SemiAtlasModel,
    latents: torch.Tensor,
    charts: torch.Tensor,
    device: torch.device,
    fallback: DecodePolicy,
) -> torch.Tensor:
    """The decodings of the rows, the trial's next calls timed on them (call under ``evaluating``, outside any
    thread-holding :func:`agm.geodesic.graph.policy.applied` block: :func:`agm.geodesic.graph.policy.threads_held`).

    Args:
        latents: (N, d) float32 on ``device``; charts: (N,) int64 on ``device``.
        fallback: the policy of the rows no call of the trial takes while it has measured nothing.

    Returns:
        (N, D) float32 on ``device``, row i the decoding of latents i.
    """
    trial, n = node_trial.trial, latents.shape[0]
    parts: list[torch.Tensor] = []
    done = 0

    def next_rows(policy: DecodePolicy) -> int:
        nonlocal done
        stop = done + policy.batch_size
        parts.append(checked_decode(model.decode, latents[done:stop], charts[done:stop]))
        done = stop
        return policy.batch_size

    while trial.request is not None and n - done >= trial.request.batch_size:
        seconds = timed_call(next_rows, trial.request, CLOCK)
        if seconds is None:
            raise AssertionError("a full batch of rows measured nothing")
        trial.record(seconds)
    if done < n:
        rest = trial.best() or fallback
        with applied(rest):
            parts.append(decode_points(model.decode, latents[done:], charts[done:], rest.batch_size, device))
    return torch.cat(parts)


def chosen_policy(node_trial: NodeTrial) -> DecodePolicy | None:
    """The trial's choice once it has ended (remembered for its key when it ran to its end), else None."""
    result = node_trial.trial.result
    if result is None:
        return None
    if result.complete:
        remember_policy(node_trial.key, result.policy)
    return result.policy


def unfinished_policy(node_trial: NodeTrial, current: DecodePolicy) -> DecodePolicy:
    """The policy of a graph whose nodes were all decoded before its trial ended: the best candidate measured (not
    remembered), else ``current``."""
    return node_trial.trial.best() or current
