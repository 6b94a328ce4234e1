"""Atomic file writes: a temp file in the target's folder, flushed and fsynced, ``os.replace``, then the folder fsynced.

A crash, ``kill -9`` or an exception while writing never leaves a half-written file under the final name: readers see
the old file or the new one. Temp files are named ``.{name}.{pid}-{random}.part`` (the native ``AtlasGraph.save``
uses the same names); one left behind by a killed writer (its pid no longer alive) is removed by the next write of
the same target. Files are created with the mode ``0o666 & ~umask``, like any other file the user writes.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_path", "atomic_write", "part_files", "remove_stale_parts"]

_MODES = {"wb": "xb", "w": "x"}


def _part_pattern(target: Path) -> re.Pattern[str]:
    """Names of the temp files of ``target``: ``.{name}.{pid}-{random}.part``; group 1 is the writer's pid."""
    return re.compile(re.escape(f".{target.name}.") + r"(\d+)-[^./]+\.part")


def _process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (one of another user counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def part_files(path: str | os.PathLike[str]) -> list[Path]:
    """The temp files of ``path`` in its folder (of any writer, alive or not), sorted by name."""
    target = Path(path)
    pattern = _part_pattern(target)
    try:
        names = os.listdir(target.parent)
    except FileNotFoundError:
        return []
    return sorted(target.parent / n for n in names if pattern.fullmatch(n))


def remove_stale_parts(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temp files of ``path`` left by writers that are no longer alive; returns the removed paths.

    Temp files of live processes (a concurrent writer) are kept; files that vanish meanwhile are skipped.
    """
    target = Path(path)
    pattern = _part_pattern(target)
    removed = []
    for part in part_files(target):
        match = pattern.fullmatch(part.name)
        if match is not None and not _process_alive(int(match.group(1))):
            part.unlink(missing_ok=True)
            removed.append(part)
    return removed


def _fsync_path(path: Path, *, folder: bool) -> None:
    """fsync a file, or a folder (so a rename in it is durable; skipped where folders cannot be opened)."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if folder else 0)
    try:
        fd = os.open(path, flags)
    except (IsADirectoryError, PermissionError):
        if folder:
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside ``path`` for a writer that needs a path; on success the file replaces ``path``.

    The writer must create the temp file (it does not exist yet). On normal exit the file is fsynced, renamed over
    ``path`` with ``os.replace`` and the folder fsynced; on an exception it is removed. The folder is created if
    missing, and stale temp files of ``path`` (see :func:`remove_stale_parts`) are removed first.

    Raises:
        FileNotFoundError: the writer did not create the temp file.
        OSError: the folder cannot be created or written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(target)
    tmp = target.parent / f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.part"
    try:
        yield tmp
        if not tmp.is_file():
            raise FileNotFoundError(f"the writer of {target} did not create its temp file {tmp}")
        _fsync_path(tmp, folder=False)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_path(target.parent, folder=True)


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path`` for writing; on success it replaces ``path``, on error it is removed.

    Args:
        path: the final file; its folder is created if missing.
        mode: "wb" (bytes) or "w" (text, UTF-8).

    Raises:
        ValueError: another mode.
        OSError: as :func:`atomic_path`.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be 'wb' or 'w'; got {mode!r}")
    with atomic_path(path) as tmp:
        encoding = "utf-8" if mode == "w" else None
        with open(tmp, _MODES[mode], encoding=encoding) as handle:
            yield handle
            handle.flush()
