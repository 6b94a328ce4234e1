"""agm._files: atomic writes survive kill -9, stale temp files are cleaned, modes follow the umask, errors are clear."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import agm._files as files
from agm._files import atomic_path, atomic_write, part_files, remove_stale_parts

# The writer loads agm/_files.py on its own (stdlib only), so each of the 20 processes starts in milliseconds.
_WRITER = r"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("files_under_test", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
size, i = int(sys.argv[3]), 0
while True:
    block = bytes([65 + i % 2]) * size
    with mod.atomic_write(sys.argv[2], "wb") as fh:
        for start in range(0, size, 1 << 16):
            fh.write(block[start : start + (1 << 16)])
    if i == 0:
        print("ready", flush=True)
    i += 1
"""


def _dead_pid() -> int:
    """A pid no process can have: above the kernel's pid_max (a reaped child's pid may be reused at once where
    pid_max is small: 32,768 here)."""
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    except (OSError, ValueError):
        return (1 << 22) + 1  # Linux's largest pid_max


def _pid_of(part: Path) -> int:
    return int(part.name.rsplit(".", 2)[-2].split("-")[0])


def _of_dead_writers(parts: list[Path], current: int) -> list[Path]:
    """The temp files of writers other than ``current`` that are not alive now (a killed writer's pid may have
    been reused by an unrelated process meanwhile: its file is then rightly kept as a live writer's)."""
    return [p for p in parts if _pid_of(p) != current and not files._process_alive(_pid_of(p))]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_kill_9_leaves_old_or_new_and_the_next_write_cleans_up(tmp_path: Path) -> None:
    target, size = tmp_path / "graph.bin", 1 << 20
    contents = {b"A" * size, b"B" * size}
    rng = random.Random(0)
    interrupted = 0
    for _ in range(20):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, files.__file__, str(target), str(size)], stdout=subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        # the first write of this writer removed the part file of the previous (killed, waited-for) one
        assert _of_dead_writers(part_files(target), proc.pid) == []
        time.sleep(rng.uniform(0.0, 0.02))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        assert target.read_bytes() in contents  # never partial
        interrupted += bool(part_files(target))
    assert interrupted >= 1, "no kill hit a write: the test did not exercise an interrupted write"
    with atomic_write(target) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new" and _of_dead_writers(part_files(target), os.getpid()) == []
    assert _of_dead_writers([p for p in tmp_path.iterdir() if p.name != "graph.bin"], os.getpid()) == []


def test_mode_follows_the_umask_and_missing_folders_are_created(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        target = tmp_path / "a" / "b" / "out.json"
        with atomic_write(target, "w") as fh:
            fh.write("é")
        assert target.read_text(encoding="utf-8") == "é"
        assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~0o027
    finally:
        os.umask(old)
    with atomic_write(target) as fh:
        fh.write(b"x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()


def test_an_error_keeps_the_old_file_and_removes_the_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(target) as fh:
        fh.write(b"partial")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old" and part_files(target) == []


def test_stale_parts_of_dead_writers_only_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "g.bin"
    dead = tmp_path / f".g.bin.{_dead_pid()}-0a1b.part"
    live = tmp_path / f".g.bin.{os.getpid()}-ffff.part"
    other = tmp_path / f".h.bin.{_dead_pid()}-0a1b.part"  # another target's temp file
    for p in (dead, live, other):
        p.write_bytes(b"junk")
    assert part_files(target) == sorted([dead, live])
    assert remove_stale_parts(target) == [dead]
    assert live.exists() and other.exists() and not dead.exists()


def test_atomic_path_for_writers_that_need_a_path(tmp_path: Path) -> None:
    target = tmp_path / "native.bin"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".native.bin.") and tmp.name.endswith(".part")
        assert not tmp.exists() and target.read_bytes() == b"old"
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and part_files(target) == []
    with pytest.raises(FileNotFoundError, match="did not create its temp file"), atomic_path(target):
        pass
    assert target.read_bytes() == b"new"


def test_bad_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode must be 'wb' or 'w'; got 'a'"), atomic_write(tmp_path / "x", "a"):
        pass
    assert list(tmp_path.iterdir()) == []
