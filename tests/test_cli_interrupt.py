"""Ctrl-C during ``agm train`` (a real SIGINT to a real process): one line saying how to resume, exit status 130."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agm.cli import main
from agm.training import read_checkpoint


@pytest.mark.slow
def test_sigint_after_the_first_checkpoint_prints_the_resume_command(tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "agm", "train", "--dataset", "glyph-loop", "--charts", "2", "--preset", "tiny"]
    command += ["--n-train", "64", "--epochs", "10000", "--out", str(out), "--device", "cpu", "--threads", "1"]
    proc = subprocess.Popen([*command, "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.pt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "agm train ended before its first checkpoint"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    lines = stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    saved = read_checkpoint(out / "checkpoint.pt")["epoch"]
    line = lines[0]
    assert line.startswith("agm train: interrupted in epoch ") and "/10000; last checkpoint " in line
    assert f"{out / 'checkpoint.pt'} (epoch {saved}); resume with: agm train --resume --out {out}" in line
    resume = shlex.split(line.split("resume with: ", 1)[1])
    assert resume[:2] == ["agm", "train"] and "--quiet" in resume and "--threads" in resume
    assert main([*resume[1:], "--epochs", str(saved + 1)]) == 0  # the printed command continues the run
    assert read_checkpoint(out / "checkpoint.pt")["epoch"] == saved + 1
