"""Shared helpers of the benchmark scripts: argument parsing, seeding, timing, environment capture, JSON output.

Every script records the environment (git commit, CPU count, load, library versions) next to its timings, so that
numbers in benchmarks/README.md can be traced back to a machine and a commit.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
T = TypeVar("T")


def parser(name: str, description: str) -> argparse.ArgumentParser:
    """An argparse parser with the options every benchmark has: --quick, --out, --seed, --repeats.

    Args:
        name: benchmark name; the default output is benchmarks/results/<name>.json.
        description: shown by --help.
    """
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="smallest sizes only (a smoke test, seconds)")
    p.add_argument("--out", type=Path, default=RESULTS / f"{name}.json", help="JSON output path")
    p.add_argument("--seed", type=int, default=0, help="seed of the random data")
    p.add_argument("--repeats", type=int, default=None, help="timing repeats (default: by size)")
    return p


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """A generator for one case: independent of the order in which cases run."""
    return np.random.default_rng([seed, *keys])


@dataclass
class Timing:
    """Wall-clock and CPU times (all threads of this process) of repeated calls, in seconds.

    On a shared machine the wall time of a threaded call includes waiting for cores; the CPU time shows the work.
    """

    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.times)

    def record(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` once, appending its wall and CPU time; return its result."""
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        self.times.append(time.perf_counter() - t0)
        self.cpu_times.append(time.process_time() - c0)
        return result

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "min_s": min(self.times),
            "median_s": float(np.median(self.times)),
            "repeats": len(self.times),
        }
        if self.cpu_times:
            out["cpu_min_s"] = min(self.cpu_times)
            out["cpu_median_s"] = float(np.median(self.cpu_times))
        return out


def timeit(fn: Callable[[], T], repeats: int, warmup: int = 1) -> tuple[Timing, T]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed (perf_counter).

    Returns:
        (timing, the result of the last call) so the caller can check correctness on what was timed.
    """
    result = None
    for _ in range(warmup):
        result = fn()
    timing = Timing()
    for _ in range(repeats):
        result = timing.record(fn)
    return timing, result  # type: ignore[return-value]


def _version(module: str) -> str | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return str(getattr(mod, "__version__", "unknown"))


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def cpu_model() -> str | None:
    """The CPU's model name (Linux /proc/cpuinfo), e.g. 'Intel(R) Xeon(R) Processor'; None where unknown."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the platform has none)."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def environment() -> dict[str, Any]:
    """Commit, machine and library versions (a missing optional library is recorded as null)."""
    try:
        from agm import _core

        hardware_threads: int | None = _core.hardware_threads()
    except ImportError:
        hardware_threads = None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "agm_hardware_threads": hardware_threads,
        "load_average_at_start": load_average(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "versions": {m: _version(m) for m in ("agm", "numpy", "scipy", "networkx", "pykdtree", "torch")},
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run_in_peer(python_path: str, script: str, args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``script`` with ``args`` in a fresh process whose PYTHONPATH starts with ``python_path`` ("" = this
    checkout) and return the JSON object its last stdout line holds (a peer checkout's ``case`` result)."""
    environ = dict(os.environ, **(env or {}))
    command = [sys.executable, script, *args]
    if python_path:
        environ["PYTHONPATH"] = python_path
        command = [os.path.realpath(sys.base_prefix + "/bin/python3"), *command[1:]]  # no editable install hook
    out = subprocess.run(command, env=environ, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON, creating the parent folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    env = payload.get("environment")
    if isinstance(env, dict):
        env["load_average_at_end"] = load_average()
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")


def print_table(title: str, rows: list[tuple[str, float, str]], baseline: float | None) -> None:
    """Print one case: method, best time and the time ratio to the baseline (> 1 means slower than it)."""
    print(f"\n{title}")
    for name, seconds, note in rows:
        ratio = f"{seconds / baseline:7.2f}x" if baseline else "      -"
        print(f"  {name:<34s} {seconds * 1e3:10.2f} ms  {ratio}  {note}")
