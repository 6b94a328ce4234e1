"""Thread counts from any source (an argument, a command-line flag, a graph file) bounded by this process's cores.

``torch.set_num_threads`` takes any positive count as it is: a count of 10**6 (a typo, a crafted graph file) made
torch start that many OpenMP workers and crash the process. Every thread count agm applies goes through
:func:`clamp_threads` first: at most :func:`usable_cores`, the cores this process may run on
(``len(os.sched_getaffinity(0))``: a container's or ``taskset``'s limit, not the machine's core count). The native
core clamps its search threads to the same number (``agm._core.hardware_threads()``).
"""

from __future__ import annotations

import numbers
import os

__all__ = ["clamp_threads", "usable_cores"]


def usable_cores() -> int:
    """The cores this process may run on: ``len(os.sched_getaffinity(0))`` (``os.cpu_count()`` where the platform
    has no affinity masks), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no sched_getaffinity on this platform
        return max(1, os.cpu_count() or 1)


def clamp_threads(name: str, threads: int) -> int:
    """``threads`` (an int >= 1, Python or numpy) limited to :func:`usable_cores`.

    Args:
        name: the argument's name, for the error message.
        threads: the requested count.

    Raises:
        TypeError: ``threads`` is not an int (bools refused).
        ValueError: ``threads`` < 1.
    """
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
        raise TypeError(f"{name} must be an int; got {type(threads).__name__}")
    if threads < 1:
        raise ValueError(f"{name} must be >= 1; got {threads}")
    return min(int(threads), usable_cores())
