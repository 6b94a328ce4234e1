"""Atomic file writes: a temp file in the target's folder, flushed and fsynced, ``os.replace``, then the folder fsynced.

A crash, ``kill -9`` or an exception while writing never leaves a half-written file under the final name: readers see
the old file or the new one. Temp files are named ``.{name}.{pid}-{random}.part`` (the native ``AtlasGraph.save``
uses the same names); one left behind by a killed writer (its pid no longer alive) is removed by the next write of
the same target. Files are created with the mode ``0o666 & ~umask``, like any other file the user writes.

A command's output folder holds several files that belong together (``agm geodesic --out DIR``: strips.png,
geodesics.json, distances.npy/.json). :func:`run_folder` writes them aside (a stage folder
``DIR/.{command}-run.{pid}-{random}.part``) and commits them as one run: a manifest ``DIR/{command}-manifest.json``
listing every file with its size and SHA-256 is written atomically (the commit point), then the files are renamed
into place, then the manifest is rewritten without the stage's name. :func:`read_run` checks a folder against its
manifest (ValueError naming the first file that differs) after finishing a commit a crash interrupted (the stage is
named in the manifest: its files are renamed into place). So ``kill -9`` at any moment leaves the previous run
(killed before the manifest was replaced) or the new one (after), never a mix; files of the folder that no run
lists (the user's own, the models a command caches) are left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_path", "atomic_write", "manifest_path", "part_files", "read_run", "remove_stale_parts", "run_folder"]

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


RUN_FORMAT = "agm.run/1"


def manifest_path(folder: str | os.PathLike[str], command: str) -> Path:
    """The manifest of ``command``'s run in ``folder``: ``folder/{command}-manifest.json``."""
    return Path(folder) / f"{command}-manifest.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stage_pattern(command: str) -> re.Pattern[str]:
    return re.compile(re.escape(f".{command}-run.") + r"(\d+)-[0-9a-f]+\.part")


def _read_manifest(folder: Path, command: str) -> dict[str, Any]:
    path = manifest_path(folder, command)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{folder} holds no complete {command} run (no {path.name})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a run manifest ({err})") from err
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if manifest.get("format") != RUN_FORMAT or not isinstance(files, dict):
        raise ValueError(f"{path} is not a run manifest (format {RUN_FORMAT!r} with a files object)")
    for name, entry in files.items():
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or not isinstance(entry, dict) or "sha256" not in entry:
            raise ValueError(f"{path}: bad entry {name!r}")
    checked: dict[str, Any] = manifest
    return checked


def _write_manifest(folder: Path, command: str, manifest: dict[str, Any]) -> None:
    with atomic_write(manifest_path(folder, command), "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)


def _finish_commit(folder: Path, command: str) -> None:
    """Complete a commit that a crash interrupted: rename the staged files named by the manifest into place."""
    try:
        manifest = _read_manifest(folder, command)
    except ValueError:
        return
    staged = manifest.get("staged")
    if not isinstance(staged, str) or not _stage_pattern(command).fullmatch(staged):
        return
    stage = folder / staged
    for name in manifest["files"]:
        if (stage / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / name, folder / name)
    _fsync_path(folder, folder=True)
    del manifest["staged"]
    _write_manifest(folder, command, manifest)
    shutil.rmtree(stage, ignore_errors=True)


def read_run(folder: str | os.PathLike[str], command: str) -> dict[str, Path]:
    """The files of ``command``'s last complete run in ``folder`` (name relative to it -> path), each checked
    against the manifest's size and SHA-256; a commit a crash interrupted is finished first.

    Raises:
        ValueError: no manifest, a bad one, or a file missing or differing from it (named).
    """
    root = Path(folder)
    _finish_commit(root, command)
    manifest = _read_manifest(root, command)
    out = {}
    for name, entry in manifest["files"].items():
        path = root / name
        if not path.is_file() or path.stat().st_size != entry.get("bytes") or _sha256(path) != entry["sha256"]:
            raise ValueError(f"{path} differs from {manifest_path(root, command).name}: the run in {root} is not whole")
        out[name] = path
    return out


def _commit(folder: Path, command: str, stage: Path) -> None:
    """Commit the files under ``stage`` into ``folder`` as ``command``'s run (see the module docstring)."""
    files = {}
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        _fsync_path(path, folder=False)
        files[path.relative_to(stage).as_posix()] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
    for sub in sorted({p.parent for p in stage.rglob("*")} | {stage}):
        _fsync_path(sub, folder=True)
    _write_manifest(folder, command, {"format": RUN_FORMAT, "command": command, "files": files, "staged": stage.name})
    _finish_commit(folder, command)


@contextmanager
def run_folder(folder: str | os.PathLike[str], command: str) -> Iterator[Path]:
    """Yield a stage folder for ``command``'s output files; on normal exit they become ``folder``'s run at once.

    Write every file of the run under the yielded folder (subfolders allowed), with any writer. On normal exit the
    files are committed (module docstring): ``folder`` then holds them under the same relative names, listed in
    ``{command}-manifest.json``. On an exception the stage is removed and ``folder`` keeps its previous run. An
    interrupted commit of an earlier run is finished, and stages of dead writers removed, first.

    Raises:
        ValueError: ``command`` is not a plain name.
        OSError: the folder cannot be created or written.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", command):
        raise ValueError(f"command must be a lower-case name; got {command!r}")
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    _finish_commit(root, command)
    pattern = _stage_pattern(command)
    for name in os.listdir(root):
        match = pattern.fullmatch(name)
        if match is not None and not _process_alive(int(match.group(1))):
            shutil.rmtree(root / name, ignore_errors=True)
    stage = root / f".{command}-run.{os.getpid()}-{secrets.token_hex(4)}.part"
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    _commit(root, command, stage)  # past its manifest's write a failure leaves the stage for _finish_commit
