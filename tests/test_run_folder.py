"""A command's output folder is committed as one run (agm._files.run_folder, issue 20 item 4): kill -9 at any
moment leaves the previous run or the new one, checked by read_run; the distributed timeout and cleanup bounds."""

from __future__ import annotations

import datetime
import hashlib
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import agm._files as files
from agm import distributed
from agm._files import manifest_path, read_run, run_folder

_WRITER = r"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("files_under_test", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
i = 0
while True:
    with mod.run_folder(sys.argv[2], "geodesic") as stage:
        for name in ("strips.png", "geodesics.json", "sub/distances.npy"):
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            (stage / name).write_bytes(bytes([65 + i % 2]) * (1 << 19) + name.encode())
    if i == 0:
        print("ready", flush=True)
    i += 1
"""


def _run_contents(letter: int) -> dict[str, bytes]:
    return {n: bytes([letter]) * (1 << 19) + n.encode() for n in ("strips.png", "geodesics.json", "sub/distances.npy")}


def test_kill_9_inside_a_run_write_leaves_the_old_or_the_new_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("the user's own file")
    runs = [_run_contents(65), _run_contents(66)]
    interrupted = 0
    for kill in range(12):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, files.__file__, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"  # the event: one whole run
            threading.Event().wait(0.003 * kill)  # a moment inside the next runs' writes (any moment is valid)
        finally:
            proc.kill()
            proc.communicate()  # waits on the child it started and closes its pipes
        interrupted += any(p.name.startswith(".geodesic-run.") for p in out.iterdir())  # killed inside a run
        got = {name: path.read_bytes() for name, path in read_run(out, "geodesic").items()}
        assert got in runs, sorted(got)
        assert (out / "mine.txt").read_text() == "the user's own file"
    assert interrupted >= 1, "no kill hit a run's writes: the test did not exercise an interrupted run"
    with run_folder(out, "geodesic") as stage:
        (stage / "strips.png").write_bytes(b"last")
    assert {n: p.read_bytes() for n, p in read_run(out, "geodesic").items()} == {"strips.png": b"last"}
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".geodesic-run.")]
    assert leftovers == []  # stages of killed writers were removed by the next writer


def test_a_folder_mixing_two_runs_is_refused_naming_the_file(tmp_path: Path) -> None:
    with run_folder(tmp_path, "evaluate") as stage:
        (stage / "a.json").write_text("1")
        (stage / "b.png").write_bytes(b"png")
    (tmp_path / "b.png").write_bytes(b"another run's png")
    with pytest.raises(ValueError, match="b.png differs from evaluate-manifest.json"):
        read_run(tmp_path, "evaluate")
    with pytest.raises(ValueError, match="holds no complete demo run"):
        read_run(tmp_path, "demo")


def test_an_error_inside_the_run_keeps_the_previous_run(tmp_path: Path) -> None:
    with run_folder(tmp_path, "demo") as stage:
        (stage / "report.md").write_text("old")
    with pytest.raises(RuntimeError, match="boom"), run_folder(tmp_path, "demo") as stage:
        (stage / "report.md").write_text("new, partial")
        raise RuntimeError("boom")
    assert read_run(tmp_path, "demo")["report.md"].read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-manifest.json", "report.md"]


def test_a_commit_interrupted_after_its_manifest_is_finished_by_the_reader(tmp_path: Path) -> None:
    stage = tmp_path / ".reproduce-run.999999999-0a1b2c3d.part"  # as a writer killed mid-commit leaves it
    (stage / "figures").mkdir(parents=True)
    (stage / "figures" / "f.png").write_bytes(b"new figure")
    (tmp_path / "results.json").write_text("new results")  # already renamed into place
    entries = {
        "figures/f.png": {"bytes": 10, "sha256": hashlib.sha256(b"new figure").hexdigest()},
        "results.json": {"bytes": 11, "sha256": hashlib.sha256(b"new results").hexdigest()},
    }
    manifest: dict[str, Any] = {"format": files.RUN_FORMAT, "command": "reproduce", "files": entries}
    manifest["staged"] = stage.name
    manifest_path(tmp_path, "reproduce").write_text(files.json.dumps(manifest))
    got = read_run(tmp_path, "reproduce")
    assert got["figures/f.png"].read_bytes() == b"new figure" and not stage.exists()
    assert "staged" not in files.json.loads(manifest_path(tmp_path, "reproduce").read_text())


def test_the_process_group_gets_the_configured_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda *a, **kw: seen.update(kw))
    monkeypatch.setattr(distributed, "is_initialized", lambda: False)
    for name, value in {"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AGM_DIST_TIMEOUT_S", "7.5")
    assert distributed.init_from_env("cpu")
    assert seen["timeout"] == datetime.timedelta(seconds=7.5)
    monkeypatch.delenv("AGM_DIST_TIMEOUT_S")
    assert distributed.timeout_s() == distributed.DEFAULT_TIMEOUT_S
    for bad in ("0", "-1", "inf", "soon"):
        monkeypatch.setenv("AGM_DIST_TIMEOUT_S", bad)
        with pytest.raises(ValueError, match="AGM_DIST_TIMEOUT_S must be a number of seconds > 0"):
            distributed.init_from_env("cpu")


def test_cleanup_does_not_wait_for_a_group_whose_peer_died(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    monkeypatch.setattr(distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(distributed.dist, "destroy_process_group", release.wait)  # blocks like a dead peer's group
    try:
        assert distributed.cleanup(wait_s=0.05) is False  # returned although the destruction never finished
    finally:
        release.set()
