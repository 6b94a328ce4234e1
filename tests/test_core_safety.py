"""agm._core under hostile conditions: concurrent set_weights, callers that mutate their arrays during a call,
kill -9 during save, crafted graph files, absurd thread counts, huge float32 coordinates, inconsistent A*
heuristics and unaligned arrays (contract: python/agm/_core.pyi). Every test reproduces a fault of issue 9.
"""

from __future__ import annotations

import os
import random
import re
import resource
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse.csgraph import dijkstra

from _core_oracles import make_atlas, symmetric_csr
from agm import _core as core

I64 = np.int64


def _graph(
    rng: np.random.Generator, sizes: list[int], d: int = 3, k: int = 5, dtype: type = np.float64
) -> core.AtlasGraph:
    latents, point_ids = make_atlas(rng, sizes, d, dtype)
    return core.AtlasGraph(latents, point_ids, k)


def _euclidean_graph(
    rng: np.random.Generator, sizes: list[int], d: int = 3, k: int = 5, dtype: type = np.float64
) -> core.AtlasGraph:
    """A weighted graph whose positions are the latents: weights ||P[u] - P[v]|| make A* consistent."""
    graph = _graph(rng, sizes, d, k, dtype)
    positions = graph.latents  # a fresh C-contiguous copy of the latents
    e = graph.edges
    p64 = positions.astype(np.float64)
    graph.set_weights(np.linalg.norm(p64[e[:, 0]] - p64[e[:, 1]], axis=1) * 1.01)
    graph.set_positions(positions)
    return graph


# --- 1. set_weights against concurrent readers -----------------------------------------------------------------


def _run_threads(targets: list[Callable[[], None]], seconds: float) -> list[BaseException]:
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop(fn: Callable[[], None]) -> None:
        try:
            while not stop.is_set():
                fn()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=loop, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return errors


def test_readers_never_see_a_torn_or_freed_weight_array(tmp_path: Path, rng: np.random.Generator) -> None:
    graph = _graph(rng, [3000, 3000], d=2, k=6)
    base = rng.integers(1, 1000, size=graph.n_edges).astype(np.float64)
    scales = (1.0, 2.0, 4.0)  # powers of two: every ratio and scaled path cost is exact
    versions = [base * v for v in scales]
    graph.set_weights(versions[0])
    ref_path, ref_cost = graph.shortest_path(0, graph.n_nodes - 1, method="dijkstra")
    csr_base = graph.csr()[2]

    def version_of(values: np.ndarray, reference: np.ndarray) -> None:
        ratio = values / reference
        assert np.all(ratio == ratio[0]) and ratio[0] in scales, "torn read"

    def writer() -> None:
        graph.set_weights(versions[random.randrange(3)])

    def read_weights() -> None:
        version_of(graph.weights, base)

    def read_csr() -> None:
        version_of(graph.csr()[2], csr_base)

    def read_search() -> None:
        cost = graph.shortest_path(0, graph.n_nodes - 1, method="dijkstra")[1]
        assert cost in [v * ref_cost for v in scales]

    def read_save() -> None:
        path = tmp_path / f"g{threading.get_ident()}.agm"
        graph.save(str(path))
        version_of(core.AtlasGraph.load(str(path)).weights, base)

    errors = _run_threads([writer, writer, read_weights, read_csr, read_search, read_save], 1.5)
    assert not errors, errors[0]


# --- 2. callers that mutate their index arrays during a call -------------------------------------------------


def test_mutating_the_callers_index_arrays_cannot_make_the_core_read_out_of_bounds(rng: np.random.Generator) -> None:
    graph = _euclidean_graph(rng, [400, 400])
    n = graph.n_nodes
    good_s = rng.integers(0, n, size=2000).astype(I64)
    good_t = rng.integers(0, n, size=2000).astype(I64)
    ref_costs = graph.shortest_paths(good_s, good_t, method="dijkstra", raise_unreachable=False)[1]
    sources, targets = good_s.copy(), good_t.copy()
    offsets = np.arange(2001, dtype=I64)
    costs = np.zeros(2000)

    def mutate() -> None:  # valid, then far out of range (a crash if the core reads the caller's buffer again)
        sources[:] = good_s
        offsets[:] = np.arange(2001)
        sources[:] = 10**12
        offsets[1:-1] = 10**12

    def call_paths() -> None:
        try:
            got = graph.shortest_paths(sources, good_t, method="dijkstra", raise_unreachable=False)[1]
        except IndexError:
            return
        np.testing.assert_array_equal(got, ref_costs)

    def call_many() -> None:
        try:
            got = graph.search_many(
                offsets, sources, costs, offsets, good_t, costs, method="dijkstra", raise_unreachable=False
            )[1]
        except (IndexError, ValueError):
            return
        np.testing.assert_array_equal(got, ref_costs)

    del targets
    errors = _run_threads([mutate, call_paths, call_many], 1.0)
    assert not errors, errors[0]


# --- 3. kill -9 during save ----------------------------------------------------------------------------------

# One warm helper process builds the graph once, then forks a writer per round that overwrites the target in a loop
# (fork is safe here: the helper is single-threaded); the test kill -9s each writer at a random moment.
_SAVER = textwrap.dedent(
    """
    import importlib.util, os, sys
    import numpy as np
    spec = importlib.util.spec_from_file_location("agm._core", sys.argv[1])
    core = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(core)
    rng = np.random.default_rng(0)
    z = np.ascontiguousarray(rng.normal(size=(20000, 4)))
    g = core.AtlasGraph([z], [np.arange(20000, dtype=np.int64)], 8, n_threads=1)
    g.set_weights(rng.uniform(size=g.n_edges))
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            i = 0
            while True:
                g.save(sys.argv[2], metadata="new-%d" % i)
                i += 1
        print(pid, flush=True)
        os.waitpid(int(sys.stdin.readline()), 0)  # the test sends the pid back once it has killed it
    """
)


def test_save_is_atomic_under_kill_9(tmp_path: Path, rng: np.random.Generator) -> None:
    target = tmp_path / "graph.agm"
    _graph(rng, [30]).save(str(target), metadata="old")
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    helper = subprocess.Popen(
        [sys.executable, str(script), core.__file__, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert helper.stdin is not None and helper.stdout is not None
    unloadable = 0
    try:
        for kill in range(20):
            helper.stdin.write("fork\n")
            helper.stdin.flush()
            pid = int(helper.stdout.readline())
            time.sleep(random.Random(kill).uniform(0.0, 0.1))
            os.kill(pid, signal.SIGKILL)
            helper.stdin.write(f"{pid}\n")
            helper.stdin.flush()
            time.sleep(0.01)  # let the helper reap it
            try:
                meta = core.AtlasGraph.load(str(target)).metadata
            except ValueError:
                unloadable += 1
                continue
            assert meta == "old" or meta.startswith("new-")
    finally:
        helper.kill()
        helper.wait()
        helper.stdin.close()
        helper.stdout.close()
    assert unloadable == 0, f"{unloadable} of 20 kills left an unloadable file"
    _graph(rng, [30]).save(str(target), metadata="final")  # cleans the part files of the killed writers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.agm", "saver.py"]
    assert core.AtlasGraph.load(str(target)).metadata == "final"


def test_save_follows_the_umask_creates_folders_leaves_no_part_file(tmp_path: Path, rng: np.random.Generator) -> None:
    graph = _graph(rng, [30])
    old = os.umask(0o022)
    try:
        target = tmp_path / "new" / "folder" / "g.agm"
        graph.save(str(target))
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644
    assert os.listdir(target.parent) == ["g.agm"]
    alive = tmp_path / "new" / "folder" / f".g.agm.{os.getpid()}-abc.part"
    alive.write_bytes(b"x")  # a live writer's part file is left alone
    graph.save(str(target))
    assert alive.exists()


def test_save_error_removes_the_part_file(tmp_path: Path, rng: np.random.Generator) -> None:
    graph = _graph(rng, [30])
    (tmp_path / "g.agm").mkdir()  # rename onto a folder fails
    with pytest.raises(OSError, match="g.agm"):
        graph.save(str(tmp_path / "g.agm"))
    assert os.listdir(tmp_path) == ["g.agm"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match="file"):
        graph.save(str(tmp_path / "file" / "g.agm"))


def test_load_of_a_missing_file_or_a_folder_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.agm"):
        core.AtlasGraph.load(str(tmp_path / "missing.agm"))
    with pytest.raises((IsADirectoryError, ValueError), match=str(tmp_path)):
        core.AtlasGraph.load(str(tmp_path))


# --- 4. crafted headers ----------------------------------------------------------------------------------------


def _fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


HEADER_FIELDS = ["n_charts", "n_nodes", "latent_dim", "k", "n_edges", "n_intra_edges", "positions_dim", "metadata"]


@pytest.mark.parametrize("value", [2**63, 2**64 - 1, 2**40, 2**31 - 1, 3000])
@pytest.mark.parametrize("field", range(8), ids=HEADER_FIELDS)
def test_crafted_header_with_a_valid_checksum_is_refused_before_allocating(
    field: int, value: int, tmp_path: Path, rng: np.random.Generator
) -> None:
    graph = _euclidean_graph(rng, [20, 25], d=2, k=3)
    src = tmp_path / "g.agm"
    graph.save(str(src), metadata="m")
    blob = bytearray(src.read_bytes()[:-8])
    struct.pack_into("<Q", blob, 20 + 8 * field, value)
    blob += struct.pack("<Q", _fnv1a64(bytes(blob)))
    crafted = tmp_path / "crafted.agm"
    crafted.write_bytes(bytes(blob))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match="cannot load AtlasGraph from .*crafted.agm"):
        core.AtlasGraph.load(str(crafted))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: no large allocation


def _resealed(blob: bytes | bytearray) -> bytes:
    return bytes(blob) + struct.pack("<Q", _fnv1a64(bytes(blob)))


@pytest.mark.parametrize("value", [-5, 1, 2**26, 2**62, -(2**62), 10**6 + 1])
@pytest.mark.parametrize("chart", [1, 2])
def test_crafted_chart_offsets_are_refused_before_node_charts_are_made(
    chart: int, value: int, tmp_path: Path, rng: np.random.Generator
) -> None:
    """Offsets out of order or beyond n_nodes (a valid checksum): refused before the per-node chart array is
    made (chart_offsets[1] = 2**30 used to allocate and touch 4 GiB, 2**26 256 MiB)."""
    graph = _euclidean_graph(rng, [20, 25, 30], d=2, k=3)
    src = tmp_path / "g.agm"
    graph.save(str(src), metadata="m")
    blob = bytearray(src.read_bytes()[:-8])
    struct.pack_into("<q", blob, 84 + 8 * chart, value)
    crafted = tmp_path / "crafted.agm"
    crafted.write_bytes(_resealed(blob))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=r"chart_offsets\[\d\] = -?\d+ is not in|a chart has k or fewer points"):
        core.AtlasGraph.load(str(crafted))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: no large allocation


def test_point_ids_implying_more_cross_edges_than_stated_are_refused(tmp_path: Path) -> None:
    """300 charts of 2 nodes sharing point 0: 44,850 implied cross-chart edges against the 0 the file states (the
    pairs were made before, then compared past the end of the stored edges)."""
    n_charts = 300
    n = 2 * n_charts
    sizes = [n_charts, n, 2, 1, n_charts, n_charts, 0, 0]
    body = b"AGMGRAPH" + struct.pack("<II", 1, 0x01020304) + bytes([1, 0, 0, 0]) + struct.pack("<8Q", *sizes)
    body += np.arange(0, n + 1, 2, dtype="<i8").tobytes()
    points = np.zeros(n, dtype="<i8")
    points[1::2] = np.arange(1, n_charts + 1)
    body += points.tobytes() + np.random.default_rng(0).standard_normal((n, 2)).astype("<f4").tobytes()
    body += np.stack([np.arange(0, n, 2), np.arange(1, n, 2)], axis=1).astype("<i4").tobytes()
    crafted = tmp_path / "bomb.agm"
    crafted.write_bytes(_resealed(body))
    with pytest.raises(ValueError, match="point ids imply more than 0 cross-chart edges"):
        core.AtlasGraph.load(str(crafted))


def test_ids_beyond_32_bits_are_refused_naming_the_value_never_wrapped(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """The core keeps point ids, node ids and CSR offsets in 32 bits: the largest that fits is kept exactly, one
    more is refused (at construction, and in a file with a valid checksum), naming the argument and the value."""
    latents, point_ids = make_atlas(rng, [20, 25], 2, np.float64)
    ids = [p.copy() for p in point_ids]
    ids[0][3] = 2**31 - 1
    graph = core.AtlasGraph(latents, ids, 3)
    assert graph.node_point.dtype == np.int64 and graph.node_point[3] == 2**31 - 1
    graph.save(str(tmp_path / "g.agm"), metadata="m")
    assert core.AtlasGraph.load(str(tmp_path / "g.agm")).node_point[3] == 2**31 - 1
    ids[0][3] = 2**31
    with pytest.raises(ValueError, match=r"point_ids\[0\] must be in \[0, 2\^31\); got 2147483648 at index 3"):
        core.AtlasGraph(latents, ids, 3)
    blob = bytearray((tmp_path / "g.agm").read_bytes()[:-8])
    struct.pack_into("<q", blob, 84 + 8 * 3 + 8 * 3, 2**31)  # header, 3 chart offsets, node_point[3]
    (tmp_path / "crafted.agm").write_bytes(_resealed(blob))
    with pytest.raises(ValueError, match="point id 2147483648 >= 2\\^31"):
        core.AtlasGraph.load(str(tmp_path / "crafted.agm"))
    # n * (n - 1) > 2^31 - 1: the k-NN edges alone would need more CSR slots than 32-bit offsets hold; refused
    # before the k-NN search allocates its n * k neighbours (16 GiB here)
    n = 46342
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=r"k must be <= 46339 for 46342 nodes .*; got k = 46341"):
        core.AtlasGraph([np.arange(n, dtype=np.float64)[:, None]], [np.arange(n, dtype=np.int64)], n - 1)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: no large allocation


@pytest.mark.parametrize("bad", [b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"])
def test_metadata_that_is_not_utf8_is_refused_at_load(bad: bytes, tmp_path: Path, rng: np.random.Generator) -> None:
    graph = _euclidean_graph(rng, [20, 25], d=2, k=3)
    src = tmp_path / "g.agm"
    graph.save(str(src), metadata="é-ok" + "x" * len(bad))
    blob = bytearray(src.read_bytes()[:-8])
    blob[len(blob) - len(bad) :] = bad
    crafted = tmp_path / "crafted.agm"
    crafted.write_bytes(_resealed(blob))
    with pytest.raises(ValueError, match="the metadata is not UTF-8 \\(byte 5\\)"):
        core.AtlasGraph.load(str(crafted))
    assert core.AtlasGraph.load(str(src)).metadata == "é-ok" + "x" * len(bad)  # valid UTF-8 still loads


# --- 5. thread counts ------------------------------------------------------------------------------------------


def test_thread_counts_are_clamped_to_the_cores_and_the_work(rng: np.random.Generator) -> None:
    graph = _euclidean_graph(rng, [300, 300])
    n = graph.n_nodes
    per_workspace = 32 * (n + 1)
    src, dst = rng.integers(0, n, size=(2, 500)).astype(I64)
    graph.shortest_paths(src, dst, n_threads=128, raise_unreachable=False)
    assert graph.workspace_bytes() <= core.hardware_threads() * per_workspace * 2
    graph.shortest_paths(src[:1], dst[:1], n_threads=128, raise_unreachable=False)
    assert graph.workspace_bytes() <= core.hardware_threads() * per_workspace * 2
    assert core.hardware_threads() == len(os.sched_getaffinity(0))  # the cores this process may use
    assert graph.diameter_hops(10**6) == graph.diameter_hops(1)  # 10**6 threads would not start (clamped)
    assert graph.stats(n_threads=10**6)["n_nodes"] == n
    with pytest.raises(ValueError, match="n_threads must be >= 0.*-1"):
        graph.shortest_paths(src, dst, n_threads=-1)
    with pytest.raises(ValueError, match="n_threads must be >= 0.*-3"):
        graph.diameter_hops(-3)


# --- 6. float32 magnitudes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1.8e19, 3e38])
def test_float32_points_beyond_the_float32_limit_are_refused(scale: float) -> None:
    points = np.zeros((10, 4), dtype=np.float32)
    points[3, 1] = np.float32(scale)
    with pytest.raises(ValueError, match=r"points must have coordinates of magnitude <= .*float32.*at \[3, 1\]"):
        core.ChartIndex(points)
    index = core.ChartIndex(np.zeros((10, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"queries must have coordinates of magnitude <= .*at \[3, 1\]"):
        index.query(points, 2)
    with pytest.raises(ValueError, match=r"latents\[1\] must have coordinates of magnitude"):
        core.AtlasGraph([np.zeros((10, 4), dtype=np.float32), points], [np.arange(10, dtype=I64)] * 2, 2)


def test_float32_points_just_below_the_limit_work() -> None:
    limit = np.sqrt(np.finfo(np.float32).max / 4) / 4
    points = np.zeros((10, 4), dtype=np.float32)
    points[3] = np.float32(limit * 0.99)
    ids, dists = core.ChartIndex(points).query(points[3:4].copy(), 1)
    assert ids[0, 0] == 3 and dists[0, 0] == 0.0


# --- 7. A* needs a consistent heuristic --------------------------------------------------------------------------


def test_astar_on_an_inconsistent_graph_names_the_worst_edge(rng: np.random.Generator) -> None:
    graph = _euclidean_graph(rng, [60, 60])
    e = graph.edges
    w = graph.weights
    w[17] = 0.25 * np.linalg.norm(graph.positions[e[17, 0]] - graph.positions[e[17, 1]])
    graph.set_weights(w)
    with pytest.raises(ValueError, match=rf"edge 17 \({e[17, 0]}, {e[17, 1]}\).*method='dijkstra'"):
        graph.shortest_path(0, 1)
    with pytest.raises(ValueError, match="edge 17"):
        graph.shortest_paths(np.array([0], I64), np.array([1], I64))
    # Dijkstra keeps working and agrees with scipy
    matrix = symmetric_csr(graph.n_nodes, e, w)
    ref = dijkstra(matrix, indices=0)[1]
    assert graph.shortest_path(0, 1, method="dijkstra")[1] == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("n_threads", [1, 2, 0])
def test_check_heuristic_counts_the_violations_up_front_and_the_search_reports_the_same(
    n_threads: int, rng: np.random.Generator
) -> None:
    graph = _euclidean_graph(rng, [300, 300])
    e, p = graph.edges, graph.positions
    chord = np.linalg.norm(p[e[:, 0]] - p[e[:, 1]], axis=1)
    assert not graph.heuristic_checked  # set_positions made a new block: its verdict is not computed yet
    assert graph.check_heuristic(n_threads) == 0
    assert graph.heuristic_checked
    graph.shortest_path(0, 1)  # consistent: A* works
    bad = np.array([3, 17, graph.n_edges - 1], I64)  # one at either end of the edge list too
    w = graph.weights
    w[bad] = 0.25 * chord[bad]
    graph.set_weights(w)
    assert not graph.heuristic_checked
    assert graph.check_heuristic(n_threads) == 3  # the parallel pass finds them; the ids from the full pass
    assert graph.check_heuristic(n_threads) == 3  # cached
    assert re.search(rf"\(3 of {graph.n_edges} edges violate it\)", _astar_refusal(graph))
    graph.update_weights(bad, chord[bad] * 1.01)
    assert graph.heuristic_checked  # carried over, re-checked at the updated edges only
    assert graph.check_heuristic(n_threads) == 0
    graph.shortest_path(0, 1)
    bare = _graph(rng, [30], 2, 3, np.float64)
    assert not bare.heuristic_checked and bare.check_heuristic(n_threads) == 0 and not bare.heuristic_checked


def _astar_refusal(graph: core.AtlasGraph) -> str:
    with pytest.raises(ValueError) as info:
        graph.shortest_paths(np.array([0], I64), np.array([1], I64))
    return str(info.value)


@pytest.mark.parametrize("searched", [True, False], ids=["verdict-computed", "verdict-pending"])
def test_astar_refuses_an_edge_made_inconsistent_by_update_weights_as_set_weights_does(
    searched: bool, rng: np.random.Generator
) -> None:
    graph = _euclidean_graph(rng, [60, 60])
    e, p = graph.edges, graph.positions
    chord = np.linalg.norm(p[e[:, 0]] - p[e[:, 1]], axis=1)
    cross = graph.n_edges - 1  # a cross-chart edge: its weight may be updated too
    if searched:
        graph.shortest_path(0, 1)  # computes the verdict that update_weights then re-checks at its edges only
    graph.update_weights(np.array([cross, 17], I64), np.array([0.5 * chord[cross], 0.25 * chord[17]]))
    refused = _astar_refusal(graph)
    assert re.search(rf"edge ({cross}|17) .*\(2 of {graph.n_edges} edges violate it\)", refused)
    graph.set_weights(graph.weights)  # the same weights, verdict from a full check
    assert _astar_refusal(graph) == refused
    graph.update_weights(np.array([17], I64), np.array([chord[17] * 1.01]))  # repairs edge 17 only
    refused = _astar_refusal(graph)
    assert re.search(rf"edge {cross} \({e[cross, 0]}, {e[cross, 1]}\).*\(1 of {graph.n_edges} edges violate", refused)
    graph.set_weights(graph.weights)
    assert _astar_refusal(graph) == refused
    graph.update_weights(np.array([cross], I64), np.array([chord[cross] * 1.01]))
    matrix = symmetric_csr(graph.n_nodes, e, graph.weights)
    assert graph.shortest_path(0, 1)[1] == pytest.approx(dijkstra(matrix, indices=0)[1], rel=1e-12)


def test_concurrent_update_weights_lose_no_update(rng: np.random.Generator) -> None:
    graph = _graph(rng, [500, 500], d=2, k=6)
    graph.set_weights(np.zeros(graph.n_edges))
    halves = np.array_split(rng.permutation(graph.n_edges).astype(I64), 2)
    counters = [0, 0]

    def writer(side: int) -> Callable[[], None]:
        def write() -> None:  # edge i of this side gets the count of this side's writes so far
            counters[side] += 1
            ids = halves[side][: 1 + counters[side] % halves[side].size]
            graph.update_weights(ids, np.full(ids.size, float(counters[side])))

        return write

    def read() -> None:
        graph.shortest_path(0, graph.n_nodes - 1, method="dijkstra")

    errors = _run_threads([writer(0), writer(1), read], 0.5)
    assert not errors, errors[0]
    w = graph.weights
    for side in (0, 1):  # each side's last write is there: the other side's writes did not overwrite it
        n = counters[side]
        assert np.all(w[halves[side][: 1 + n % halves[side].size]] == float(n))


def test_astar_virtual_target_costs_must_not_undercut_the_heuristic(rng: np.random.Generator) -> None:
    graph = _euclidean_graph(rng, [60, 60])
    goal = graph.positions[5:6] + 1.0
    dist = float(np.linalg.norm(graph.positions[5] - goal[0]))
    nodes = np.array([0], I64)
    zero = np.zeros(1)
    with pytest.raises(ValueError, match=r"target_costs\[1\].*method='dijkstra'"):
        graph.search(nodes, zero, np.array([4, 5], I64), np.array([10.0, 0.5 * dist]), goals=goal)
    path, cost = graph.search(nodes, zero, np.array([4, 5], I64), np.array([10.0, dist]), goals=goal)
    assert cost == pytest.approx(
        graph.search(nodes, zero, np.array([4, 5], I64), np.array([10.0, dist]), method="dijkstra")[1], rel=1e-12
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_astar_equals_scipy_on_random_consistent_graphs(dtype: type, rng: np.random.Generator) -> None:
    for _ in range(5):
        graph = _euclidean_graph(rng, [40, 50], d=3, k=4, dtype=dtype)
        matrix = symmetric_csr(graph.n_nodes, graph.edges, graph.weights)
        src = rng.integers(0, graph.n_nodes, size=30).astype(I64)
        dst = rng.integers(0, graph.n_nodes, size=30).astype(I64)
        got = graph.shortest_paths(src, dst, raise_unreachable=False)[1]
        ref = dijkstra(matrix, indices=src)[np.arange(30), dst]
        np.testing.assert_allclose(got, ref, rtol=1e-12)


# --- 8. unaligned and empty arrays -----------------------------------------------------------------------------


def _unaligned(values: np.ndarray) -> np.ndarray:
    buf = bytearray(values.nbytes + 1)
    out = np.frombuffer(buf, dtype=values.dtype, offset=1, count=values.size).reshape(values.shape)
    out[...] = values
    assert not out.flags.aligned
    return out


def test_unaligned_arrays_are_refused_with_a_type_error_naming_the_argument(rng: np.random.Generator) -> None:
    graph = _euclidean_graph(rng, [30, 30])
    nodes = np.array([0, 1], I64)
    with pytest.raises(TypeError, match="points must be aligned"):
        core.ChartIndex(_unaligned(np.zeros((5, 2))))
    with pytest.raises(TypeError, match="queries must be aligned"):
        core.ChartIndex(np.zeros((5, 2))).query(_unaligned(np.zeros((2, 2))), 1)
    with pytest.raises(TypeError, match=r"latents\[0\] must be aligned"):
        core.AtlasGraph([_unaligned(np.zeros((5, 2)))], [np.arange(5, dtype=I64)], 1)
    with pytest.raises(TypeError, match="weights must be aligned"):
        graph.set_weights(_unaligned(graph.weights))
    with pytest.raises(TypeError, match="positions must be aligned"):
        graph.set_positions(_unaligned(graph.positions))
    with pytest.raises(TypeError, match="sources must be aligned"):
        graph.shortest_paths(_unaligned(nodes), nodes)
    with pytest.raises(TypeError, match="source_costs must be aligned"):
        graph.search(nodes, _unaligned(np.zeros(2)), nodes, np.zeros(2), method="dijkstra")


def test_empty_batches_work(rng: np.random.Generator) -> None:
    graph = _euclidean_graph(rng, [30, 30])
    empty = np.zeros(0, I64)
    paths, costs = graph.shortest_paths(empty, empty)
    assert paths == [] and costs.shape == (0,)
    offsets = np.zeros(1, I64)
    paths, costs = graph.search_many(offsets, empty, np.zeros(0), offsets, empty, np.zeros(0), method="dijkstra")
    assert paths == [] and costs.shape == (0,)
    ids, dists = core.ChartIndex(np.zeros((5, 2))).query(np.zeros((0, 2)), 2)
    assert ids.shape == dists.shape == (0, 2)
