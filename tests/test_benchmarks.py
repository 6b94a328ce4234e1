"""Smoke test of the benchmark scripts: each runs in --quick mode, writes its JSON and passes its correctness
checks (timings are recorded, never asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
CASE_KEYS = {
    "bench_knn": {"n", "d", "k", "timings", "ratio_to_scipy_workers1", "correct"},
    "bench_paths": {
        "n",
        "d",
        "k",
        "n_pairs",
        "n_batch",
        "graph",
        "timings",
        "per_query_s",
        "ratio_to_scipy",
        "batch_speedup_2_threads",
        "correct",
    },
}


@pytest.mark.parametrize("name", sorted(CASE_KEYS))
def test_benchmark_quick(name: str, tmp_path: Path) -> None:
    out = tmp_path / f"{name}.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # keep pykdtree off the other cores in a test run
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{name}.py"), "--quick", "--repeats", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert {"benchmark", "mode", "seed", "environment", "notes", "cases", "correctness_passed"} <= set(result)
    assert result["benchmark"] == name and result["mode"] == "quick"
    assert result["correctness_passed"] is True
    env_keys = {"git_commit", "cpu_count", "versions", "python", "agm_hardware_threads"}
    assert env_keys <= set(result["environment"])
    assert {"numpy", "scipy", "agm"} <= set(result["environment"]["versions"])
    assert result["cases"]
    for case in result["cases"]:
        assert CASE_KEYS[name] <= set(case)
        assert case["n"] == 2_000
        assert case["correct"] and all(case["correct"].values())
        assert set(case["correct"]) == set(case["timings"])
        for timing in case["timings"].values():
            assert timing["min_s"] > 0 and timing["repeats"] >= 1
    if name == "bench_knn":  # ChartIndex.query visited in input order vs sorted by leaf: identical results
        assert result["query_order"] and all(all(c["correct"].values()) for c in result["query_order"])


def test_geodesic_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_geodesic.json"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_geodesic.py"), "--quick", "--threads", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"bench_geodesic failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["benchmark"] == "bench_geodesic" and result["mode"] == "quick"
    assert result["correctness_passed"] is True
    res = result["results"]
    assert res["graph"]["n_nodes"] >= 200 and res["graph"]["n_edges"] > res["graph"]["n_nodes"]
    # eq. (10) with n = 3 segments: n - 1 = 2 interior decodings per intra-chart edge, one per node
    assert res["minimal_decodings"] == res["graph"]["n_nodes"] + res["graph"]["n_intra_edges"] * 2
    assert res["lazy_all_pairs_decoded"] < res["eager_first_decoded"]
    assert 0.0 < res["lazy_fraction_evaluated"] < 1.0
    assert res["build_s"] > 0 and res["limit_s"] > 0 and res["query_single_s"] > 0
    assert res["limit_real_inputs_s"] > 0 and res["build_over_limit_real_inputs"] > 0
    assert all(rate > 0 for rates in res["real_input_throughput"].values() for rate in rates.values())


def test_decode_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_decode.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_decode.py"), "--quick", "--repeats", "1", "--threads", "1"]
    proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench_decode failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["benchmark"] == "bench_decode" and result["mode"] == "quick"
    assert result["correctness_passed"] is True and result["cases"]
    for case in result["cases"]:
        assert case["correct"] and all(case["correct"].values())  # the folded decoder equals the unfolded one
        assert all(rate > 0 for rate in case["points_per_s"].values())


def test_distances_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_distances.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_distances.py"), "--quick", "--repeats", "1"]
    proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench_distances failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["benchmark"] == "bench_distances" and result["mode"] == "quick"
    assert result["correct"] is True  # distances == shortest_paths lengths == scipy on the same graph
    assert {"distances n_threads=1", "rows: native distances_many n_threads=2", "shortest_paths", "scipy"} <= set(
        result["timings"]
    )
    assert result["ratio_shortest_paths_to_distances"] > 0
    assert set(result["ratio_scipy_rows_to_native_rows"]) == {"1", "2"}


def test_sharded_build_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_sharded_build.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_sharded_build.py"), "--quick", "--repeats", "1"]
    proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench_sharded_build failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["benchmark"] == "bench_sharded_build" and result["mode"] == "quick"
    # two gloo ranks built bitwise the same graph, equal to one process's to float32 rounding
    assert result["correctness_passed"] is True and all(result["correct"].values())
    assert len(result["sharded"]["decoded_per_rank"]) == 2 and len(result["one_rank"]["decoded_per_rank"]) == 1
    assert max(result["sharded"]["decoded_per_rank"]) < result["one_rank"]["decoded_per_rank"][0]  # shares
    assert {"edge_weights_wall", "edge_weights_cpu", "build_wall"} <= set(result["ratios"])
    assert all(ratio > 0 for ratio in result["ratios"].values())
    assert {"cpu_model", "load_average_at_start", "load_average_at_end"} <= set(result["environment"])
    assert len(result["sharded"]["load_at_start"]) == 1  # the load each run started under


def test_lazy_rounds_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_lazy_rounds.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_lazy_rounds.py"), "--quick", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench_lazy_rounds failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["benchmark"] == "bench_lazy_rounds" and result["mode"] == "quick"
    assert result["correctness_passed"] is True  # costs after the stores == scipy's on the same weights
    (case,) = result["cases"]
    assert case["round_median_s"] > 0 and case["native"]["update_weights_plus_search_s"] > 0


def test_stats_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_stats.json"
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_stats.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"bench_stats failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["benchmark"] == "bench_stats" and result["correctness_passed"] is True
    assert {c["kind"] for c in result["cases"]} == {"square", "cube", "cylinder"}
    for case in result["cases"]:
        assert case["correct"] and case["build_s"] > 0 and case["stats_s"] > 0
        assert set(case["methods"]) == {"auto", "bounds", "ifub"}
        assert all(m["diameter"] == case["diameter_hops"] and m["n_bfs"] >= 1 for m in case["methods"].values())


def test_targets_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_targets.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_targets.py"), "--quick", "--repeats", "1", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench_targets failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["benchmark"] == "bench_targets" and result["mode"] == "quick"
    # lazy lengths == eager, input order == leaf order, stats' diameter == another exact method's
    assert result["correctness_passed"] is True and result["failures"] == []
    assert {"cpu_model", "load_average_at_start", "load_average_at_end"} <= set(result["environment"])
    rows = {row["target"]: row for row in result["rows"]}
    assert {"first_geodesic", "pairs_decodes", "one_query_decodes", "one_query_time"} <= set(rows)
    assert {"cheap_build_threads_wall", "cheap_build_threads_cpu", "query_order[1 thread]"} <= set(rows)
    assert sum(name.startswith("stats_vs_build[") for name in rows) == 2
    for row in rows.values():
        assert row["ratio"] > 0 and row["met"] in (True, False, None)
        assert row["met"] is None or row["met"] == (row["ratio"] <= row["threshold"])
    check = result["details"]["pairs_decodes"]["exactness_check"]
    assert (
        check["passed"]
        and check["eager_decoded_counted"] == check["eager_decoded_formula"] + check["fingerprint_probe_decodes"]
    )
    assert result["details"]["one_query"]["eager_count_matches_formula"] is True
    assert set(result["details"]["seconds"]) == {
        "first_geodesic",
        "pairs_decodes",
        "one_query",
        "cheap_build_threads",
        "stats_vs_build",
        "query_order",
    }


def test_switches_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_switches.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_switches.py"), "--quick", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench_switches failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["benchmark"] == "bench_switches" and result["correctness_passed"] is True
    assert [c["atlas"].split()[0] for c in result["cases"]] == ["cylinder", "sphere", "flat"]
    for case in result["cases"]:
        assert set(case["variants"]) == {
            "search",
            *(f"tau={t}" for t in ("0", "0.001", "0.003", "0.01", "0.02", "0.03")),
        }
        assert sum(case["needed_histogram"]) == case["pairs"] == 20
        v = case["variants"]
        # more tolerance, no more surplus; the search's own paths have at least as many
        assert v["search"]["surplus_pairs"] >= v["tau=0"]["surplus_pairs"] >= v["tau=0.01"]["surplus_pairs"]


def test_close_pairs_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_close_pairs.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_close_pairs.py"), "--quick", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench_close_pairs failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["benchmark"] == "bench_close_pairs" and result["correctness_passed"] is True
    (case,) = result["cases"]
    assert 0 < case["direct_pairs"] < case["pairs"] and case["graph_ratio_max"] >= case["direct_ratio_max"]


def test_lazy_distances_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench_lazy_distances.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_lazy_distances.py"), "--quick", "--floor", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench_lazy_distances failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["benchmark"] == "bench_lazy_distances" and result["mode"] == "quick"
    assert result["correctness_passed"] is True  # the lazy matrix == the completed graph's
    lazy, eager = result["lazy"], result["evaluate_all"]
    assert lazy["rounds"] >= 1 and lazy["graph_edges"] > 0 and sum(lazy["edges_per_round"]) > 0
    assert lazy["bounded_edges"] > 0  # midpoint bounds were taken
    assert 0 < lazy["decodes"] and eager["decodes"] > 0 and 0.0 < lazy["weights_evaluated"] < 1.0
    # the floor: every pair's exact route, its cost equal to the matrix entry; no more than the lazy call decoded
    floor = result["floor"]
    assert floor["routes"] == 30 * 29 // 2 and floor["worst_route_cost_error"] <= 1e-6
    assert 0 < floor["decodes"] <= lazy["graph_edges"] * 7 + lazy["attachment_edges"] * 7
    assert eager["decodes"] == result["graph"]["n_intra_edges"] * 7  # evaluate_all: n_steps - 1 = 7 an edge


def test_nodes_on_demand_benchmark_quick(tmp_path: Path) -> None:
    """The prototype of node decodes on demand (issue 19, item 6) gives agm's exact lengths."""
    out = tmp_path / "bench_nodes_on_demand.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_nodes_on_demand.py"), "--quick", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench_nodes_on_demand failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["equal"] is True
    on_demand = [row for row in result["rows"] if row["peer"] == "on_demand"]
    assert on_demand and all(0 < row["nodes_decoded"] <= row["nodes_total"] for row in on_demand)
    assert all(row["rounds"] >= 1 for row in on_demand)


def test_bound_first_benchmark_quick(tmp_path: Path) -> None:
    """shortest_paths with and without bound levels: the same lengths, and the bounds were taken (the sphere's
    rounds would decode in full within FULL_ROUND_S: 0 keeps the levels)."""
    out = tmp_path / "bench_bound_first.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_bound_first.py"), "--quick", "--full-round-s", "0"]
    cmd += ["--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench_bound_first failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["benchmark"] == "bench_bound_first" and result["correctness_passed"] is True
    on = [row for row in result["rows"] if row["bound_first"]]
    off = [row for row in result["rows"] if not row["bound_first"]]
    assert on and off and all(row["bounded_edges"] > 0 for row in on) and all(row["bounded_edges"] == 0 for row in off)


def test_nodes_on_demand_pairs_benchmark_quick(tmp_path: Path) -> None:
    """node_decodes="on_demand" and "auto" against "build" over many pairs: equal lengths, fewer decodes to the first
    on demand, and the default's timed sample recorded."""
    out = tmp_path / "bench_nodes_on_demand_pairs.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_nodes_on_demand_pairs.py"), "--quick", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench_nodes_on_demand_pairs failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["correctness_passed"] is True
    assert result["over_build"]["on_demand"]["first_decodes"] < 1.0
    auto = [row for row in result["rows"] if row["mode"] == "auto"]
    assert auto and all(row["seconds_per_node"] > 0 for row in auto)  # the default timed its sample


def test_packed_stream_benchmark_quick(tmp_path: Path) -> None:
    """The packed stream against plain decoder calls: equal lengths at every batch, both thread counts timed."""
    out = tmp_path / "bench_packed_stream.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_packed_stream.py"), "--quick", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench_packed_stream failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["correctness_passed"] is True and result["mode"] == "quick"
    assert sorted(row["threads"] for row in result["rows"]) == [1, 2]
    assert all(row["stream_cpu_s"] > 0 and row["plain_cpu_s"] > 0 for row in result["rows"])


def test_node_trial_benchmark_quick(tmp_path: Path) -> None:
    """The on-demand graph's policy trial, and the watched default, against the fixed default: equal matrices, a
    measured policy only where the trial ran, no watch on the fixed default, every ratio recorded."""
    out = tmp_path / "bench_node_trial.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_node_trial.py"), "--quick", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"bench_node_trial failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["checks"] == {"results_equal": True, "trial_measured_others_not": True, "fixed_unwatched": True}
    assert {run["peer"] for run in result["runs"]} == {"trial", "fixed", "watched"}
    assert all(run["nodes_completed"] > 0 for run in result["runs"])
    keys = ("complete_wall", "complete_cpu", "bulk_wall", "bulk_cpu")
    assert set(result["ratios"]) == {f"{peer}/fixed {key}" for peer in ("trial", "watched") for key in keys}
