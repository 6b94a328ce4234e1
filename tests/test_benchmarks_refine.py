"""Smoke test of the refinement benchmarks: each runs in --quick mode, writes its JSON and passes its correctness
checks (refined never above the graph path, batched equal to one by one); timings are recorded, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _run(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stdout}\n{proc.stderr}"


def test_bench_refine_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_refine.json"
    _run([str(BENCHMARKS / "bench_refine.py"), "--quick", "--before", "", "--tolerances", "1e-3", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["benchmark"] == "bench_refine" and result["correctness_passed"] is True
    methods = result["sphere"]["methods"]
    assert {"agm graph path", "agm refine, one by one", "agm refine, one by one, tolerance 0.001"} <= set(methods)
    n = result["sphere"]["n_pairs"]
    one, batch = (
        methods["agm per geodesic, one by one: shortest_path + refine()"],
        methods[f"agm per geodesic, {n} in one call: shortest_paths + refine_paths"],
    )
    pieces = (
        (one, ("agm graph path", "agm refine, one by one")),
        (batch, (f"agm graph paths, {n} in one call", f"agm refine_paths, {n} in one call")),
    )
    for total, parts in pieces:  # each round's total is its graph paths' time plus its refinement's
        assert total["per_geodesic"]["min_s"] >= sum(methods[p]["per_geodesic"]["min_s"] for p in parts) * (1 - 1e-9)
    assert result["sphere"]["correct"]["batched_paths_equal_one_by_one"] is True
    for row in methods.values():
        assert row["per_geodesic"]["min_s"] > 0 and row["deviation_rad_max"] >= 0
    assert methods["agm refine, one by one"]["length_error_max"] < methods["agm graph path"]["length_error_max"]
    assert set(result["first_call"]) == {"first_refine_s", "second_refine_s", "overhead_s"}


def test_bench_refine_runs_a_base_tree_and_this_checkout_in_fresh_processes(tmp_path: Path) -> None:
    """``--base DIR`` with DIR a copy of this checkout (its python/ tree and the installed core): both fresh-process
    peers run, and they refine the curves the in-process agm refines (the bench checks it and exits 1 otherwise)."""
    saved = list(sys.path)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from bench_refine import copy_checkout
    finally:
        sys.path[:] = saved
    base = copy_checkout(tmp_path / "base")
    out = tmp_path / "bench_refine.json"
    _run(
        [str(BENCHMARKS / "bench_refine.py"), "--quick", "--before", "", "--repeats", "1", "--base", str(base)]
        + ["--out", str(out)]
    )
    result = json.loads(out.read_text())
    assert result["correctness_passed"] is True
    assert result["sphere"]["correct"]["fresh_process_equals_in_process"] is True
    methods = result["sphere"]["methods"]
    for peer in ("--base", "now (fresh process)"):
        assert methods[f"agm refine of {peer}, one by one"]["length_error_max"] == pytest.approx(
            methods["agm refine, one by one"]["length_error_max"], rel=1e-4
        )


def test_bench_transitions_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_transitions.json"
    _run(
        [
            str(BENCHMARKS / "bench_transitions.py"),
            "--quick",
            "--pairs",
            "4",
            "--atlases",
            "flat torus",
            "--out",
            str(out),
        ]
    )
    result = json.loads(out.read_text())
    assert result["correctness_passed"] is True
    (case,) = result["cases"]
    assert case["atlas"] == "flat torus" and case["n_charts"] == 4 and case["n_pairs"] == 4
    assert case["refined"]["length_error_max"] < case["graph"]["length_error_max"]
