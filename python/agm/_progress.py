"""When agm shows progress: the convention every long loop follows (issue 23, item 4).

Library calls take ``progress: bool | None = None``. None shows a bar only when the work is long (estimated over
:data:`LONG_S` seconds) *and* someone can see it (stderr is a terminal, or the code runs in a notebook kernel); True
or False force it either way. The command line always passes True (``--quiet`` passes False). Bars are
``tqdm.auto`` bars (widgets in notebooks), and the one-line estimates printed before long work follow the same
rule.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

from tqdm.auto import tqdm

#: Work estimated to take longer than this (seconds) shows progress when someone can see it.
LONG_S = 5.0
#: Points decoded per second assumed when nothing was measured: slow enough that long work is not hidden (the
#: paper's decoder decodes about 1,000 points per second on one 2-core CPU).
UNMEASURED_RATE = 1000.0


def interactive() -> bool:
    """Whether a progress bar can be seen: stderr is a terminal, or this runs in a Jupyter/IPython kernel."""
    stream = sys.stderr
    if stream is not None and getattr(stream, "isatty", lambda: False)():
        return True
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None) if shell is not None else None
    ip = get() if callable(get) else None
    return ip is not None and "ipykernel" in sys.modules


def show(progress: bool | None, seconds: float) -> bool:
    """Whether to show progress for work estimated at ``seconds``: ``progress`` if given (True/False), else only
    long work (> :data:`LONG_S`) where it can be seen (:func:`interactive`)."""
    if progress is not None:
        return bool(progress)
    return seconds > LONG_S and interactive()


def decode_seconds(n_decodes: int, rate: float) -> float:
    """Estimated seconds of ``n_decodes`` decoded points at ``rate`` points per second (measured by the decode
    policy; 0 or less: :data:`UNMEASURED_RATE`)."""
    return float(n_decodes) / (rate if rate > 0 else UNMEASURED_RATE)


def say(message: str, shown: bool) -> None:
    """Print a one-line message beside the bars (``tqdm.write``, to stderr) when ``shown``."""
    if shown:
        tqdm.write(message, file=sys.stderr)


class Bar(Protocol):
    """What agm's loops do with a progress bar (a tqdm bar, or :class:`QuietBar`)."""

    def update(self, n: float = 1) -> bool | None:
        """Advance the bar by ``n``."""
        ...

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        """Show values beside the bar."""
        ...


class QuietBar:
    """A bar nobody sees: it does nothing. Building a disabled tqdm bar costs about 12 us, and a geodesic query of
    a cheap decoder makes several (its whole query is about 2 ms)."""

    def update(self, n: float = 1) -> bool | None:
        """Nothing."""
        return None

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def __enter__(self) -> QuietBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def progress_bar(shown: bool, total: float, desc: str, unit: str) -> Any:
    """A tqdm bar of ``total`` ``unit`` named ``desc`` (not left on screen) when ``shown``, else a
    :class:`QuietBar`; either is a context manager yielding a :class:`Bar`."""
    if not shown:
        return QuietBar()
    return tqdm(total=total, desc=desc, unit=unit, leave=False)
