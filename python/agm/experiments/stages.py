"""Wall and CPU clocks per stage of the experiments (a stage's torch thread count is set by
:func:`agm._threads.torch_threads`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


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
