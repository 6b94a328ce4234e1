"""Thread counts from any source (an argument, a command-line flag, a graph file) bounded by this process's cores.

``torch.set_num_threads`` takes any positive count as it is: a count of 10**6 (a typo, a crafted graph file) made
torch start that many OpenMP workers and crash the process. Every thread count agm applies goes through
:func:`clamp_threads` first: at most :func:`usable_cores`, the cores this process may run on
(``len(os.sched_getaffinity(0))``: a container's or ``taskset``'s limit, not the machine's core count). The native
core clamps its search threads to the same number (``agm._core.hardware_threads()``).

:func:`torch_threads` is the one context that sets torch's intra-op thread count around a block (clamped) and
restores it afterwards. torch's count is process-global (``torch.set_num_threads``), so entries that name the same
``scope`` are reference-counted under one lock: the outermost entry in any thread sets it, inner and concurrent
entries of that scope only count (they run with the outermost entry's setting), and the last exit restores the
value found by the first. Without a scope an entry sets its own count and restores the previous one on exit, so
unscoped entries nest like a stack (the innermost wins) within one thread. torch is imported when the context is
entered, not with this module (``agm --help`` imports it and no torch).
"""

from __future__ import annotations

import numbers
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["clamp_threads", "torch_threads", "usable_cores"]


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


class _Scope:
    """The entries of one scope of :func:`torch_threads` now inside their block, and the counts they share."""

    def __init__(self, saved: int, used: int) -> None:
        self.depth = 0
        self.saved = saved  # the count found by the outermost entry, restored by the last exit
        self.used = used  # the count set by the outermost entry, in effect for every entry of the scope


_LOCK = threading.Lock()
_SCOPES: dict[str, _Scope] = {}


def scope_entered(scope: str) -> bool:
    """Whether an entry of ``scope`` of :func:`torch_threads` is inside its block now (in any thread): a new entry
    of the scope would then run with that entry's count, whatever it asks for."""
    with _LOCK:
        return scope in _SCOPES


@contextmanager
def torch_threads(n: int | None, name: str = "threads", *, scope: str | None = None) -> Iterator[int]:
    """Run the block with ``n`` torch intra-op threads (:func:`clamp_threads`) and restore the count afterwards.

    Args:
        n: threads (an int >= 1, Python or numpy), or None to leave torch's count as it is. A count above
            :func:`usable_cores` is clamped to it.
        name: the argument's name, for the error messages.
        scope: None: this entry sets ``n`` and its exit restores the count it found (unscoped entries nest like a
            stack within one thread; concurrent unscoped entries in several threads would undo each other's
            settings). A name: the entries of that scope, nested or in concurrent threads, share one setting:
            the outermost sets it, the others run with it (whatever their ``n``; an inner entry sets it again
            where an unscoped entry in between changed it, and gives that count back on exit), the last exit
            restores the count the outermost found (see the module docstring).

    Yields:
        The thread count in effect inside the block.

    Raises:
        TypeError: ``n`` is not an int or None (bools refused).
        ValueError: ``n`` < 1.
    """
    import torch

    if n is None:
        yield torch.get_num_threads()
        return
    used = clamp_threads(name, n)
    if scope is None:
        previous = torch.get_num_threads()
        if previous != used:
            torch.set_num_threads(used)
        try:
            yield used
        finally:
            if torch.get_num_threads() != previous:
                torch.set_num_threads(previous)
        return
    with _LOCK:
        found = torch.get_num_threads()
        shared = _SCOPES.get(scope)
        outermost = shared is None
        if shared is None:
            shared = _SCOPES[scope] = _Scope(found, used)
        reapplied = not outermost and found != shared.used  # an unscoped entry in between changed the count
        if found != shared.used:
            torch.set_num_threads(shared.used)
        shared.depth += 1
    try:
        yield shared.used
    finally:
        with _LOCK:
            shared.depth -= 1
            restore = shared.saved if shared.depth == 0 else found if reapplied else None
            if shared.depth == 0:
                del _SCOPES[scope]
            if restore is not None and torch.get_num_threads() != restore:
                torch.set_num_threads(restore)
