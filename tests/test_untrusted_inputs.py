"""Nothing a file, a flag or an odd input can do crashes agm or allocates beyond the file (issue 20, items 1-3):
thread counts clamped to the usable cores, crafted graph files with valid checksums refused with typed errors and
without large allocations (measured in a fresh process), typed errors naming the field for odd inputs."""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from agm import _core as core
from agm import geodesic
from agm._threads import clamp_threads, torch_threads, usable_cores
from agm.commands._options import apply_threads
from agm.data import load_dataset
from agm.geodesic.graph.file import read_graph
from agm.geodesic.graph.policy import DecodePolicy, applied
from agm.models.analytic import CylinderAtlas
from agm.training import make_config

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

HEADER = 84  # magic 8, version 4, byte-order mark 4, flags 4, eight u64 sizes


def _fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _with_checksum(body: bytes) -> bytes:
    return body + struct.pack("<Q", _fnv1a64(body))


# --- 1. thread counts ------------------------------------------------------------------------------------------


def test_usable_cores_is_the_affinity_mask_and_the_native_core_agrees() -> None:
    assert usable_cores() == len(os.sched_getaffinity(0)) == core.hardware_threads()
    assert clamp_threads("t", 10**6) == usable_cores() and clamp_threads("t", 1) == 1
    with pytest.raises(ValueError, match="t must be >= 1; got 0"):
        clamp_threads("t", 0)
    with pytest.raises(TypeError, match="t must be an int; got float"):
        clamp_threads("t", 2.0)


def test_a_decode_policy_of_a_million_threads_runs_on_the_usable_cores() -> None:
    before = torch.get_num_threads()
    with applied(DecodePolicy(threads=10**6, batch_size=256)):  # torch.set_num_threads(10**6) crashed (SIGSEGV)
        assert 1 <= torch.get_num_threads() <= usable_cores()
    assert torch.get_num_threads() == before
    with torch_threads(10**6) as used:
        assert used == torch.get_num_threads() <= usable_cores()
    assert torch.get_num_threads() == before


def test_the_threads_flag_is_clamped_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    before = torch.get_num_threads()
    args = argparse.Namespace(threads=100000)
    try:
        apply_threads(args)
        assert args.threads == usable_cores() == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert f"--threads 100000 is more than the {usable_cores()} cores" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({"threads": 1, "batch_size": 10**12}, "decode_policy.batch_size must be an int in"),
        ({"threads": 10**9, "batch_size": 64}, "decode_policy.threads must be an int in"),
        ({"threads": 0, "batch_size": 64}, "decode_policy.threads"),
        ({"threads": 1, "batch_size": "64"}, "decode_policy.batch_size"),
        ({"threads": 1, "batch_size": 64, "measured": float("nan")}, "decode_policy.measured"),
        ({"batch_size": 64}, "decode_policy.threads is missing"),
        ([1, 64], "decode_policy must be an object"),
    ],
)
def test_a_decode_policy_from_a_file_is_refused_naming_the_field(meta: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DecodePolicy.from_json(meta)


# --- 2./3. crafted graph files ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(0)
    theta = torch.rand(120, generator=g) * 2 * torch.pi
    data = torch.stack([torch.cos(theta), torch.sin(theta), torch.rand(120, generator=g)], dim=1)
    graph = geodesic.build_graph(model, data, k=4, progress=False, decode_policy=DecodePolicy(1, 64))
    assert graph.native.n_charts >= 2
    path = tmp_path_factory.mktemp("graph") / "good.agmg"
    graph.save(path)
    return path


def _offsets_file(good: bytes, chart: int, value: int) -> bytes:
    body = bytearray(good[:-8])
    struct.pack_into("<q", body, HEADER + 8 * chart, value)
    return _with_checksum(bytes(body))


def _metadata_file(good: bytes, meta: bytes) -> bytes:
    """The graph with other metadata bytes (the header's metadata size and the checksum fixed)."""
    old = struct.unpack_from("<Q", good, HEADER - 8)[0]
    body = bytearray(good[: len(good) - 8 - old])
    struct.pack_into("<Q", body, HEADER - 8, len(meta))
    return _with_checksum(bytes(body) + meta)


def _cross_edge_bomb(n_charts: int) -> bytes:
    """n_charts charts of 2 nodes (k = 1) whose first nodes all hold point 0: n_charts^2 / 2 implied cross-chart
    edges, while the file states none (it holds only the n_charts intra-chart edges)."""
    n, dim = 2 * n_charts, 2
    sizes = [n_charts, n, dim, 1, n_charts, n_charts, 0, 0]
    body = b"AGMGRAPH" + struct.pack("<II", 1, 0x01020304) + bytes([1, 0, 0, 0]) + struct.pack("<8Q", *sizes)
    body += np.arange(0, n + 1, 2, dtype="<i8").tobytes()
    points = np.zeros(n, dtype="<i8")
    points[1::2] = np.arange(1, n_charts + 1)
    body += points.tobytes()
    body += np.random.default_rng(0).standard_normal((n, dim)).astype("<f4").tobytes()
    body += np.stack([np.arange(0, n, 2), np.arange(1, n, 2)], axis=1).astype("<i4").tobytes()
    return _with_checksum(body)


def _meta_variants(meta: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Crafted metadata, each with a valid checksum once written: every field bad in several ways."""
    bad_values: dict[str, list[Any]] = {
        "charts": [[10**12] * len(meta["charts"]), [0] * len(meta["charts"]), [-1], "x", [0.5, 1]],
        "data_shape": [[-1], [], [10**9, 10**9], "3", [3.5]],
        "k": [0, 10**9, "4", None],
        "n_steps": [0, 10**12, 2.5],
        "eps": [-1, 1.0, "0.1", float("inf")],
        "refine_steps": [-1, 10**12],
        "nodes": ["other", 3],
        "decode_policy": [{"threads": 10**6, "batch_size": 1}, {"threads": 1, "batch_size": 10**12}, 7],
        "evaluated": ["!!!", 3, "AAAA"],
        "watch_policy": ["no", 0, None],
        "format": ["agm.geodesic.graph/0"],
    }
    fp = meta["fingerprint"]
    fingerprints = [
        {k: v for k, v in fp.items() if k != "class"},
        {**fp, "n_charts": 2**31 - 1},
        {**fp, "n_charts": 10**12},
        {**fp, "latent_dim": 99},
        {**fp, "probe": ["x"]},
        {**fp, "probe": fp["probe"][:-1]},
        {**fp, "data_shape": [-1]},
        {**fp, "class": 3},
        [],
    ]
    out = []
    for key, values in bad_values.items():
        out += [(f"{key}={v!r:.40}", json.dumps({**meta, key: v}).encode()) for v in values]
    out += [(f"fingerprint {i}", json.dumps({**meta, "fingerprint": f}).encode()) for i, f in enumerate(fingerprints)]
    for key in meta:
        out.append((f"no {key}", json.dumps({k: v for k, v in meta.items() if k != key}).encode()))
    text = json.dumps(meta).encode()
    out += [("not UTF-8", text[:10] + b"\xff\xfe" + text[12:]), ("a list", b"[1, 2]"), ("not JSON", b"{")]
    return out


def _random_offset(rng: random.Random, n_nodes: int) -> int:
    return rng.choice([rng.randrange(-(2**62), 2**62), rng.randrange(-9, 2 * n_nodes)])


def _meta_of(good: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(good[len(good) - 8 - struct.unpack_from("<Q", good, HEADER - 8)[0] : -8])
    return meta


def _crafted_files(good: bytes, folder: Path) -> list[Path]:
    meta = _meta_of(good)
    n_charts, n_nodes = struct.unpack_from("<QQ", good, 20)
    rng = random.Random(20)
    files: list[tuple[str, bytes]] = [
        ("offset 2^26", _offsets_file(good, 1, 2**26)),
        ("offset 2^30", _offsets_file(good, 1, 2**30)),
        ("offset -5", _offsets_file(good, 1, -5)),
        ("offset n+1", _offsets_file(good, 1, n_nodes + 1)),
        ("cross-edge bomb", _cross_edge_bomb(6000)),
    ]
    files += [
        (
            f"offset[{c}] random",
            _offsets_file(good, c, rng.choice([rng.randrange(-(2**62), 2**62), rng.randrange(-9, 2 * n_nodes)])),
        )
        for c in [rng.randrange(1, n_charts + 1) for _ in range(40)]
    ]
    files += [(f"meta {name}", _metadata_file(good, meta_bytes)) for name, meta_bytes in _meta_variants(meta)]
    paths = []
    for i, (name, data) in enumerate(files):
        path = folder / f"{i:03d}.agmg"
        path.write_bytes(data)
        paths.append(path)
        (folder / f"{i:03d}.name").write_text(name)
    return paths


_LOADER = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np
    from agm.geodesic.graph.file import read_graph
    results, base = [], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for path in sys.argv[1:]:
        try:
            graph = read_graph(path)
            graph.node_at(np.arange(5), np.zeros(5, dtype=np.int64))
            if graph.decode_policy is not None:
                graph.decode_policy.batch_size
            outcome = "loaded"
        except Exception as error:
            outcome = type(error).__name__ + ": " + str(error)[:200]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        results.append([path, outcome, peak - base])
    print(json.dumps(results))
    """
)

#: The most a crafted file may grow the loader's peak memory: its size times this, plus a constant.
MEMORY_FACTOR, MEMORY_SLACK_KIB = 16, 48 * 1024


def test_crafted_graph_files_end_in_typed_errors_without_large_allocations(graph_file: Path, tmp_path: Path) -> None:
    good = graph_file.read_bytes()
    paths = _crafted_files(good, tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _LOADER, *map(str, paths)], capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]  # a crash (SIGSEGV, abort) ends here
    results = json.loads(done.stdout.splitlines()[-1])
    assert len(results) == len(paths)
    biggest = max(p.stat().st_size for p in paths) // 1024
    for path, outcome, grown_kib in results:
        name = Path(path).with_suffix(".name").read_text()
        optional = name in (
            "meta no decode_policy",
            "meta no evaluated",
            "meta no attach",
            "meta no watch_policy",
        )  # files written before these fields (watch_policy: or of a graph whose policy is watched)
        assert outcome.startswith("ValueError: ") or (optional and outcome == "loaded"), (name, outcome)
        assert grown_kib <= MEMORY_FACTOR * biggest + MEMORY_SLACK_KIB, (name, grown_kib)


def test_crafted_graph_file_errors_name_the_field(graph_file: Path, tmp_path: Path) -> None:
    good = graph_file.read_bytes()
    meta = _meta_of(good)
    cases = {
        "chart_offsets\\[1\\] = 1073741824 is not in": _offsets_file(good, 1, 2**30),
        "the metadata is not UTF-8": _metadata_file(good, json.dumps(meta).encode()[:-3] + b"\xc3\x28}"),
        "fingerprint.class is missing": _metadata_file(
            good,
            json.dumps(
                {**meta, "fingerprint": {k: v for k, v in meta["fingerprint"].items() if k != "class"}}
            ).encode(),
        ),
        "charts\\[i\\] must be an int in \\[0, 1\\]": _metadata_file(
            good,
            json.dumps({**meta, "charts": [0, 5][: len(meta["charts"])] + [7] * (len(meta["charts"]) - 2)}).encode(),
        ),
        "data_shape\\[i\\] must be an int in": _metadata_file(good, json.dumps({**meta, "data_shape": [-1]}).encode()),
        "decode_policy.batch_size": _metadata_file(
            good, json.dumps({**meta, "decode_policy": {"threads": 1, "batch_size": 10**12}}).encode()
        ),
        "watch_policy must be true or false": _metadata_file(good, json.dumps({**meta, "watch_policy": 1}).encode()),
        "more than 0 cross-chart edges": _cross_edge_bomb(50),
    }
    for match, data in cases.items():
        path = tmp_path / "crafted.agmg"
        path.write_bytes(data)
        with pytest.raises(ValueError, match=match):
            read_graph(path)


def test_a_graph_file_policy_of_many_threads_is_clamped_or_refused(graph_file: Path, tmp_path: Path) -> None:
    good = graph_file.read_bytes()
    meta = _meta_of(good)
    path = tmp_path / "threads.agmg"
    policy = {"threads": 4096, "batch_size": 64}  # a policy of a bigger machine: clamped when applied
    path.write_bytes(_metadata_file(good, json.dumps({**meta, "decode_policy": policy}).encode()))
    graph = read_graph(path)
    assert graph.decode_policy is not None and graph.decode_policy.threads == 4096
    model = CylinderAtlas()
    x = model.decode(torch.zeros(2, 2), torch.tensor([0, 1]))
    paths = geodesic.shortest_paths(model, x[:1].repeat(20, 1), x[1:].repeat(20, 1), graph, raise_unreachable=False)
    assert len(paths) == 20
    policy = {"threads": 10**6, "batch_size": 64}  # torch.set_num_threads(10**6) crashed the queries (SIGSEGV)
    path.write_bytes(_metadata_file(good, json.dumps({**meta, "decode_policy": policy}).encode()))
    with pytest.raises(ValueError, match="decode_policy.threads must be an int in \\[1, 65536\\]; got 1000000"):
        read_graph(path)


# --- 3. odd inputs ---------------------------------------------------------------------------------------------


def test_meta_tensors_are_refused_naming_the_argument(graph_file: Path) -> None:
    model = CylinderAtlas()
    x = torch.empty(3, device="meta")
    graph = read_graph(graph_file)
    with pytest.raises(ValueError, match="x0 must hold data; got a tensor on the meta device"):
        geodesic.shortest_path(model, x, x, graph=graph)
    with pytest.raises(ValueError, match="device must hold data"):
        geodesic.build_graph(model, torch.rand(50, 3), device="meta", progress=False)


def test_make_config_refuses_a_learning_rate_that_is_not_a_dict() -> None:
    with pytest.raises(TypeError, match="TrainConfig.lr must be a dict of learning rates"):
        make_config("tiny", lr=1e12)
    with pytest.raises(ValueError, match="TrainConfig.lr must hold finite learning rates > 0"):
        make_config("tiny", lr={"main": float("inf")})


@pytest.mark.parametrize("name", ["circle", "sphere", "torus", "glyph-loop"])
def test_a_generated_data_set_beyond_the_memory_cap_is_refused_naming_n(name: str) -> None:
    with pytest.raises(ValueError, match=r"^n: 1000000000 points of"):
        load_dataset(name, "test", n=10**9)
    assert load_dataset(name, "test", n=10).x.shape[0] == 10


def test_node_at_equals_a_dictionary_whatever_the_point_ids(graph_file: Path) -> None:
    """node_at's lookup takes O(n_nodes) memory (a table indexed by point id was as large as the largest id)."""
    graph = read_graph(graph_file)
    truth = {(int(p), int(c)): v for v, (p, c) in enumerate(zip(graph.node_point, graph.node_chart, strict=True))}
    rng = np.random.default_rng(3)
    points = np.concatenate([graph.node_point, rng.integers(-3, 200, 300), [2**62, -(2**62)]])
    charts = np.concatenate([graph.node_chart, rng.integers(-2, 4, 302)])
    expected = np.array([truth.get((int(p), int(c)), -1) for p, c in zip(points, charts, strict=True)])
    np.testing.assert_array_equal(graph.node_at(points, charts), expected)
    even = points.size // 2 * 2
    shaped = graph.node_at(points[:even].reshape(2, -1), charts[:even].reshape(2, -1))
    np.testing.assert_array_equal(shaped, expected[:even].reshape(2, -1))
