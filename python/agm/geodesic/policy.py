"""How the decoder is run for geodesics: one decode policy (torch threads, batch size), measured, stored, applied.

A :class:`DecodePolicy` says how many points one decoder call takes and how many intra-op threads torch uses for
it. Both depend on the decoder and on the machine (on a busy 2-core machine one thread beat two for the paper's
decoder by 1.4-5x; on an idle one two threads won by 1.7-1.9x), so by default they are chosen together by
measurement (:func:`measure_policy`): every candidate is timed several times on single-chart batches (as edges
are decoded) and its median kept, which survives a noisy neighbour. The policy is stored in the graph file and
reused by queries; ``build_graph(..., decode_policy=DecodePolicy(threads=1, batch_size=64))`` (and the same
argument of the queries) sets it explicitly.

:func:`applied` sets torch's thread count around the decode loops and restores it afterwards. The thread count
is process-global in torch (``torch.set_num_threads``), so the context is reference-counted under one lock, like
:func:`agm.geodesic._context.evaluating`: the outermost entry in any thread sets it, inner and concurrent entries
only count (they run with the outermost entry's setting), and the last exit restores the value found by the
first. Code outside agm that changes the thread count meanwhile is overridden until that last exit.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch

from agm._threads import clamp_threads
from agm.geodesic.inputs import call_model, check_int_in, check_positive_int

Decoder = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

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
#: The largest batch size a graph file may state (64x the largest batch ever chosen, CUDA_BATCH).
MAX_FILE_BATCH = 1 << 20
#: The largest thread count a graph file may state (a policy chosen on a bigger machine is clamped when applied).
MAX_FILE_THREADS = 1 << 16


@dataclass(frozen=True)
class DecodePolicy:
    """How to run the decoder: ``batch_size`` points per call with ``threads`` torch intra-op threads.

    Attributes:
        threads: torch intra-op threads during decoding, >= 1; None leaves torch's setting alone.
        batch_size: decoded points per forward call, >= 1.
        measured: points per second measured for this policy (0.0 when it was not measured).
    """

    threads: int | None
    batch_size: int
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


_LOCK = threading.Lock()
_DEPTH = 0
_SAVED = 0


@contextmanager
def applied(policy: DecodePolicy) -> Iterator[None]:
    """Run the block with ``policy.threads`` torch threads, at most the cores this process may use
    (:func:`agm._threads.clamp_threads`; process-global: see the module docstring)."""
    global _DEPTH, _SAVED
    if policy.threads is None:
        yield
        return
    threads = clamp_threads("DecodePolicy.threads", policy.threads)
    with _LOCK:
        if _DEPTH == 0:
            _SAVED = torch.get_num_threads()
            if _SAVED != threads:
                torch.set_num_threads(threads)
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0 and torch.get_num_threads() != _SAVED:
                torch.set_num_threads(_SAVED)


def _median_seconds(decode: Decoder, z: torch.Tensor, y: torch.Tensor, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call_model("decode", decode, z, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def thread_candidates() -> tuple[int, ...]:
    """Torch thread counts worth trying: 1 and torch's current setting."""
    current = torch.get_num_threads()
    return (1,) if current <= 1 else (1, current)


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
) -> DecodePolicy:
    """Choose (threads, batch size) together by measurement on single-chart batches (call under ``evaluating``).

    Batch sizes are tried from the smallest up, each timed ``repeats`` times with the median kept, for every
    thread count of :func:`thread_candidates` in turn (round-robin, one warm-up call each first). A thread count
    stops climbing at the first size whose median call exceeds ``call_budget_s`` or when its share of
    ``total_budget_s`` is spent. So an expensive decoder is measured with a few small calls (about a second in
    all), a cheap one climbs to large batches where per-call overhead vanishes. A final then decides between the
    ``FINALISTS`` fastest candidates of the climb and the fastest one-thread one: they take one call each in
    turn for ``final_s`` seconds (at least two rounds), and the most points per second over the final wins, more
    threads only by ``MULTI_THREAD_MARGIN`` (see there): the medians of a few short calls each, taken at
    different moments, were 10-25% apart from rates over longer runs. On CUDA nothing is measured:
    (None, 16384).

    Args:
        decode: the model's ``decode(z, y)``.
        z: (N, d) float32 latents of one chart (rows are repeated to fill a batch).
        chart: the chart of ``z``.
        device: the decoder's device.

    Returns:
        The chosen candidate (its rate, points per second, in ``measured``).
    """
    if device.type == "cuda":
        return DecodePolicy(threads=None, batch_size=CUDA_BATCH)
    candidates = thread_candidates()
    measured: list[DecodePolicy] = []
    spent = dict.fromkeys(candidates, 0.0)
    share = total_budget_s / len(candidates)
    for threads in candidates:
        with applied(DecodePolicy(threads=threads, batch_size=1)):
            started = time.perf_counter()
            zb, yb = _batch(z, chart, min(4, z.shape[0]), device)  # first-call allocations
            call_model("decode", decode, zb, yb)
            spent[threads] += time.perf_counter() - started
    climbing = list(candidates)
    for size in BATCH_CANDIDATES:
        zb, yb = _batch(z, chart, size, device)
        for threads in list(climbing):
            with applied(DecodePolicy(threads=threads, batch_size=1)):
                started = time.perf_counter()
                seconds = _median_seconds(decode, zb, yb, repeats)
                spent[threads] += time.perf_counter() - started
            rate = size / max(seconds, 1e-9)
            measured.append(DecodePolicy(threads=threads, batch_size=size, measured=rate))
            if seconds > call_budget_s or spent[threads] > share:
                climbing.remove(threads)
        if not climbing:
            break
    finalists = _finalists(measured)
    if len(finalists) == 1:
        return finalists[0]
    rates = _final(decode, z, chart, device, finalists, final_s)

    def score(i: int) -> float:  # more threads must win by the margin
        return rates[i] / (MULTI_THREAD_MARGIN if finalists[i].threads != 1 else 1.0)

    winner = max(range(len(finalists)), key=score)
    return replace(finalists[winner], measured=rates[winner])


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


def _final(
    decode: Decoder,
    z: torch.Tensor,
    chart: int,
    device: torch.device,
    policies: list[DecodePolicy],
    seconds: float,
) -> list[float]:
    """Points per second of each policy over rounds of one call each, in turn, for about ``seconds`` in all and at
    least two rounds: a busy neighbour's effect on longer runs, and the cache state between calls, show in all."""
    batches = [_batch(z, chart, p.batch_size, device) for p in policies]
    points, taken = [0] * len(policies), [0.0] * len(policies)
    started, rounds = time.perf_counter(), 0
    while rounds < 2 or time.perf_counter() - started < seconds:
        for i, policy in enumerate(policies):
            with applied(policy):
                t0 = time.perf_counter()
                call_model("decode", decode, *batches[i])
                taken[i] += time.perf_counter() - t0
            points[i] += policy.batch_size
        rounds += 1
    return [p / max(t, 1e-9) for p, t in zip(points, taken, strict=True)]
