"""Ctrl-C during ``agm train`` (a real SIGINT to a real process): one line saying how to resume, exit status 130."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agm.cli import main
from agm.training import read_checkpoint

#: Seconds after which a child that never reaches its next event is taken as hung (killed, the test fails).
HANG_S = 900.0
POLL_S = 0.05


@pytest.mark.slow
def test_sigint_after_the_first_checkpoint_prints_the_resume_command(tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "agm", "train", "--dataset", "glyph-loop", "--charts", "2", "--preset", "tiny"]
    command += ["--n-train", "64", "--epochs", "10000", "--out", str(out), "--device", "cpu", "--threads", "1"]
    proc = subprocess.Popen([*command, "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The event is the first checkpoint; a loaded machine may take minutes to get there. The only bound is a
        # guard against a hung child (HANG_S), never a measure of speed.
        waited = 0
        while not (out / "checkpoint.pt").exists():
            assert proc.poll() is None, "agm train ended before its first checkpoint"
            assert waited < HANG_S / POLL_S, f"agm train wrote no checkpoint in {HANG_S} s: hung?"
            time.sleep(POLL_S)
            waited += 1
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=HANG_S)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # reaps the child and closes both pipes, whatever happened above
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


def test_a_ctrl_c_while_a_checkpoint_is_written_is_raised_once_it_is_recorded() -> None:
    """The SIGINT above once landed between the checkpoint's rename and its record ("no checkpoint written yet"
    with the file on disk): the trainer holds Ctrl-C back over both and raises it after."""
    from agm.training.trainer import _sigint_deferred

    steps = []
    with pytest.raises(KeyboardInterrupt), _sigint_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        steps.append("written")
        steps.append("recorded")
    assert steps == ["written", "recorded"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is restored
