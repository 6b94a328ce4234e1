"""Helpers shared by the experiments' stages: torch's thread count for a stage, and wall/CPU clocks per stage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from agm._threads import clamp_threads


@contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run the block with ``n`` torch intra-op threads and restore the previous count afterwards.

    Args:
        n: threads (>= 1), or None to keep the current count; more than the cores this process may use
            (:func:`agm._threads.usable_cores`) are clamped to them.

    Yields:
        The thread count in effect inside the block.

    Raises:
        ValueError: n < 1.
    """
    if n is not None and (isinstance(n, bool) or int(n) != n or n < 1):
        raise ValueError(f"threads: expected an int >= 1 or None, got {n!r}")
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(clamp_threads("threads", int(n)))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


class StageClock:
    """Wall and process-CPU seconds per named stage (a stage timed twice adds up).

    Attributes:
        wall_s, cpu_s: stage name -> seconds.
    """

    def __init__(self) -> None:
        self.wall_s: dict[str, float] = {}
        self.cpu_s: dict[str, float] = {}
        self._start = (time.perf_counter(), time.process_time())

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name``."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall_s[name] = self.wall_s.get(name, 0.0) + time.perf_counter() - wall
            self.cpu_s[name] = self.cpu_s.get(name, 0.0) + time.process_time() - cpu

    def finish(self) -> None:
        """Record the stage "total": wall and CPU seconds since the clock was made."""
        self.wall_s["total"] = time.perf_counter() - self._start[0]
        self.cpu_s["total"] = time.process_time() - self._start[1]
