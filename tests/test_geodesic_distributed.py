"""The graph build and the queries split across two torch.distributed ranks (gloo, CPU) against one process.

Two processes are started once for the module (torch.multiprocessing, a file rendezvous in a temporary folder);
each builds the same graphs of a closed-form cylinder AGM and runs the same queries inside the process group, and
writes what it got. The single-process results are computed here, without a process group. Ranks must agree
bitwise (they receive the same gathered bytes); against one process, float32-derived values are compared at
rel=1e-5 because a rank's decoder calls hold other points than one process's calls, and float32 kernels (sin, cos,
norms) may round differently with batch composition and vector width (~1e-7 relative per value).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch.multiprocessing.spawn import start_processes

from agm import distributed, geodesic
from agm.geodesic._support import sharding
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.query.lazysp import LazyStats
from agm.models.analytic import CylinderAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WORLD = 2
REL = 1e-5  # float32 rounding of decodings computed in other batches (see the module docstring)
POLICY = DecodePolicy(threads=1, batch_size=64)  # fixed: a measured policy could differ between processes
# spawn, never fork: a forked rank deadlocked in its first torch op when earlier tests of the same pytest process had
# run torch with 2 intra-op threads (the OpenMP pool does not survive fork; CI's second pass, AGM_TEST_THREADS=2).
# Spawned ranks import torch and agm again (about 10 s each on a loaded 2-core machine).
START = "spawn"


class CountingCylinder(CylinderAtlas):
    """The cylinder AGM counting the points it decodes (to see that each rank decodes only its share)."""

    def __init__(self) -> None:
        super().__init__(radius=1.0)
        self.decoded = 0

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.decoded += int(z.shape[0])
        out: torch.Tensor = super().decode(z, y)
        return out


def _points(model: CylinderAtlas, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    theta = torch.rand(n, generator=g) * 2 * math.pi - math.pi
    return model.points(theta, torch.rand(n, generator=g) * 2.0)


def _graph_arrays(graph: geodesic.GeodesicGraph) -> dict[str, np.ndarray]:
    return {
        "edges": graph.native.edges,
        "weights": graph.edge_weights.values.copy(),
        "evaluated": graph.edge_weights.evaluated.copy(),
        "positions": np.asarray(graph.positions).copy(),
        "latents": graph.latents.copy(),
    }


def scenarios() -> dict[str, Any]:
    """The builds and queries of the test, run the same way with and without a process group."""
    model = CountingCylinder()
    data = _points(model, 300, 0)
    x0, x1, xs, ys = _points(model, 7, 1), _points(model, 7, 2), _points(model, 5, 3), _points(model, 4, 4)
    out: dict[str, Any] = {}
    options: dict[str, Any] = {"k": 8, "n_steps": 4, "progress": False, "decode_policy": POLICY}
    eager = geodesic.build_graph(model, data, weights="eager", **options)
    out["eager_decoded"] = model.decoded
    out["eager"] = _graph_arrays(eager)
    out["eager_lengths"] = np.array([p.length for p in geodesic.shortest_paths(model, x0, x1, eager)])
    out["distances_xx"] = geodesic.distances(model, xs, graph=eager)
    out["distances_xy"] = geodesic.distances(model, xs, ys, graph=eager)
    out["distances_one_row"] = geodesic.distances(model, xs[:1], ys, graph=eager)  # one rank gets no row
    out["one_pair"] = np.array([p.length for p in geodesic.shortest_paths(model, x0[:1], x1[:1], eager)])

    model.decoded = 0
    lazy = geodesic.build_graph(model, data, weights="lazy", node_decodes="build", **options)  # as ranks build it
    out["lazy_decoded"] = model.decoded
    stats = LazyStats()
    out["lazy_lengths"] = np.array([p.length for p in geodesic.shortest_paths(model, x0, x1, lazy, lazy_stats=stats)])
    out["lazy_stats"] = (stats.rounds, stats.graph_edges)
    out["lazy_after_paths"] = _graph_arrays(lazy)
    out["lazy_distances_xx"] = geodesic.distances(model, xs, graph=lazy)  # completes the lazy graph
    out["lazy_complete"] = _graph_arrays(lazy)

    # two bands of heights far apart: two components; pair 1 (the second rank's share) joins the bands
    g = torch.Generator().manual_seed(5)
    theta = torch.rand(120, generator=g) * 2 * math.pi - math.pi
    bands = model.points(theta, torch.rand(120, generator=g) * 0.3 + 10.0 * (torch.arange(120) % 2))
    banded = geodesic.build_graph(model, bands, k=4, n_steps=2, progress=False, decode_policy=POLICY)
    ends = model.points(torch.tensor([0.0, 0.1, 0.2]), torch.tensor([0.1, 0.2, 10.1]))
    try:
        geodesic.shortest_paths(model, ends[[0, 0]], ends[[1, 2]], banded)
        out["unreachable"] = None
    except Exception as error:  # noqa: BLE001 - the type is checked by the test
        out["unreachable"] = (type(error).__name__, str(error))
    return out


def _failing_on_rank_one() -> int:
    if dist.get_rank() == 1:
        raise ValueError("batch_size must be >= 1; got 0")
    return 7


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(int(os.environ.get("AGM_TEST_THREADS", "1")))  # as conftest sets it for one process
    try:
        dist.init_process_group(
            "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world, timeout=timedelta(seconds=INIT_S)
        )
    except (RuntimeError, ValueError) as error:  # e.g. "Resource temporarily unavailable" on a busy machine
        (Path(out_dir) / f"rank{rank}.init-error").write_text(f"{type(error).__name__}: {error}")
        return
    try:
        result = scenarios()
        result["share"] = sharding.share(10)
        ragged = np.arange(3 * (rank + 1) * 2, dtype=np.float32).reshape(-1, 2) + 100 * rank  # rank r: 3(r+1) rows
        result["gathered"] = sharding.gather_rows(ragged)
        result["gathered_empty_rank"] = sharding.gather_rows(np.ones((0 if rank == 0 else 2, 3), dtype=np.int64))
        try:
            sharding.on_every_rank(_failing_on_rank_one)
            result["error"] = None
        except ValueError as error:
            result["error"] = (type(error).__name__, str(error))
        try:  # rank 0 gathers objects while rank 1 reports a step: each names the other's collective
            if rank == 0:
                sharding.gather_objects(4217)
            else:
                sharding.on_every_rank(lambda: 7)
            result["mismatch"] = None
        except sharding.CollectiveMismatchError as error:
            result["mismatch"] = str(error)
    finally:
        dist.destroy_process_group()
    (Path(out_dir) / f"rank{rank}.pkl").write_bytes(pickle.dumps(result))


#: Seconds a rank waits for its peers in init_process_group; attempts at starting the group, and the back-off
#: between them (a busy machine's gloo can refuse a connection: each attempt is a fresh rendezvous).
INIT_S = 120
ATTEMPTS = 4
BACKOFF_S = (1.0, 4.0, 10.0)


@pytest.fixture(scope="module")
def ranks() -> list[dict[str, Any]]:
    failures: list[str] = []
    for attempt in range(ATTEMPTS):
        with tempfile.TemporaryDirectory() as tmp:
            init_file = os.path.join(tmp, "rendezvous")  # a fresh rendezvous for every attempt
            start = (_worker, (WORLD, init_file, tmp), WORLD)
            start_processes(*start, join=True, start_method=START)  # type: ignore[no-untyped-call]
            errors = sorted(p.read_text() for p in Path(tmp).glob("rank*.init-error"))
            if not errors:
                return [pickle.loads((Path(tmp) / f"rank{r}.pkl").read_bytes()) for r in range(WORLD)]
            failures.append(f"attempt {attempt + 1}: {'; '.join(errors)}")
        time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
    pytest.fail("torch.distributed could not start a gloo group of 2 ranks here: " + " | ".join(failures))


@pytest.fixture(scope="module")
def single() -> dict[str, Any]:
    assert not sharding.is_sharded()
    return scenarios()


def test_sharded_eager_build_equals_single_process(ranks: list[dict[str, Any]], single: dict[str, Any]) -> None:
    for rank in ranks:
        got, want = rank["eager"], single["eager"]
        np.testing.assert_array_equal(got["edges"], want["edges"])
        assert got["evaluated"].all()
        np.testing.assert_allclose(got["latents"], want["latents"], rtol=REL, atol=0)
        np.testing.assert_allclose(got["positions"], want["positions"], rtol=REL, atol=1e-7)  # |x| <= 1: 1e-7 abs
        np.testing.assert_allclose(got["weights"], want["weights"], rtol=REL, atol=0)


def test_each_rank_decodes_only_its_share(ranks: list[dict[str, Any]], single: dict[str, Any]) -> None:
    # nodes + 3 interior points per intra-chart edge, plus the fingerprint's probes (decoded on every rank)
    alone = single["eager_decoded"]
    decoded = [r["eager_decoded"] for r in ranks]
    assert sum(decoded) >= alone
    assert all(d < 0.6 * alone for d in decoded), (decoded, alone)
    lazy_alone = single["lazy_decoded"]  # lazy: only the node decodings (and probes) are split
    assert all(r["lazy_decoded"] < 0.6 * lazy_alone for r in ranks), ([r["lazy_decoded"] for r in ranks], lazy_alone)


def test_ranks_hold_bitwise_the_same_graph_and_results(ranks: list[dict[str, Any]]) -> None:
    first, second = ranks
    for key in ("eager", "lazy_after_paths", "lazy_complete"):
        for name, array in first[key].items():
            np.testing.assert_array_equal(array, second[key][name], err_msg=f"{key}.{name}")
            assert array.tobytes() == second[key][name].tobytes()  # bitwise (assert_array_equal allows -0 == 0)
    for key in ("eager_lengths", "distances_xx", "distances_xy", "distances_one_row", "one_pair", "lazy_lengths"):
        assert first[key].tobytes() == second[key].tobytes(), key
    assert first["lazy_stats"] == second["lazy_stats"]


def test_sharded_queries_equal_single_process(ranks: list[dict[str, Any]], single: dict[str, Any]) -> None:
    for rank in ranks:
        for key in ("eager_lengths", "lazy_lengths", "distances_xx", "distances_xy", "distances_one_row", "one_pair"):
            assert rank[key].shape == single[key].shape, key
            np.testing.assert_allclose(rank[key], single[key], rtol=REL, atol=0, err_msg=key)
        assert np.all(np.diag(rank["distances_xx"]) == 0.0)
        assert rank["distances_one_row"].shape == (1, 4)
        # LazySP on two ranks: at most the rounds of one process (each rank solves fewer pairs), and at least the
        # edges one process decoded (shares may decode the same edge twice)
        assert 1 <= rank["lazy_stats"][0] <= single["lazy_stats"][0] + 1
        assert rank["lazy_stats"][1] >= single["lazy_stats"][1] > 0


def test_sharded_lazy_graph_completes_to_the_eager_one(ranks: list[dict[str, Any]], single: dict[str, Any]) -> None:
    eager = single["eager"]["weights"]
    for rank in ranks:
        after_paths = rank["lazy_after_paths"]
        assert 0 < after_paths["evaluated"].mean() < 1  # the paths decoded some edges, and every rank has them all
        done = after_paths["evaluated"]
        np.testing.assert_allclose(after_paths["weights"][done], eager[done], rtol=REL, atol=0)
        assert rank["lazy_complete"]["evaluated"].all()
        np.testing.assert_allclose(rank["lazy_complete"]["weights"], eager, rtol=REL, atol=0)


def test_an_error_on_one_rank_is_raised_on_every_rank(ranks: list[dict[str, Any]], single: dict[str, Any]) -> None:
    assert ranks[1]["error"] == ("ValueError", "batch_size must be >= 1; got 0")  # its own exception
    assert ranks[0]["error"] == ("ValueError", "on rank 1: batch_size must be >= 1; got 0")
    # an unreachable pair in the second rank's share: both ranks raise it, naming the pair by its batch index
    kind, message = single["unreachable"]
    assert kind == "UnreachableError" and message.startswith("pair 1: X0[1] and X1[1] attach to different")
    assert ranks[1]["unreachable"] == single["unreachable"]
    assert ranks[0]["unreachable"] == (kind, f"on rank 1: {message}")


def test_a_rank_in_another_collective_is_named_as_such(ranks: list[dict[str, Any]]) -> None:
    assert "rank 1 called another collective ('on_every_rank') while rank 0 called 'gather_objects'" in (
        ranks[0]["mismatch"] or ""
    )
    assert "rank 0 called another collective ('gather_objects') while rank 1 called 'on_every_rank'" in (
        ranks[1]["mismatch"] or ""
    )


def test_an_untagged_message_is_named_as_not_an_agm_collective() -> None:
    with pytest.raises(sharding.CollectiveMismatchError, match=r"rank 1 called another collective \(not an agm one\)"):
        sharding._untag("on_every_rank", 1, (4217, (), "<i8"))  # what a rank in gather_rows used to send


#: The crashed-peer test's group timeout (seconds), and how long its surviving rank may take in all before it
#: counts as hung (a guard, not a measurement: it includes spawning and importing torch on a loaded machine).
CRASH_TIMEOUT_S = 5
HANG_S = 600


def _crash_worker(rank: int, init_file: str, out_dir: str) -> None:
    """Rank 1 dies hard after joining; rank 0 then gathers, records what it got, leaves the group and returns."""
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"file://{init_file}",
            rank=rank,
            world_size=2,
            timeout=timedelta(seconds=CRASH_TIMEOUT_S),
        )
    except (RuntimeError, ValueError) as error:
        (Path(out_dir) / f"rank{rank}.init-error").write_text(f"{type(error).__name__}: {error}")
        return
    if rank == 1:
        os._exit(3)  # a hard crash: no cleanup, no goodbye to the peer
    try:
        sharding.gather_objects(rank)
        outcome = "no error"
    except RuntimeError as error:  # gloo's errors (DistBackendError included) are RuntimeErrors
        outcome = f"{type(error).__name__}: {error}"
    cleaned = distributed.cleanup(wait_s=5.0)
    (Path(out_dir) / "rank0.outcome").write_text(f"{cleaned}\n{outcome}")


@pytest.mark.slow
def test_a_rank_whose_peer_crashed_ends_with_an_error() -> None:
    context = multiprocessing.get_context(START)
    failures = []
    for attempt in range(ATTEMPTS):
        with tempfile.TemporaryDirectory() as tmp:
            procs = [
                context.Process(target=_crash_worker, args=(r, os.path.join(tmp, "rendezvous"), tmp)) for r in (0, 1)
            ]
            for p in procs:
                p.start()
            for p in procs:
                p.join(HANG_S)  # waits on the children it started
            alive = [p.pid for p in procs if p.is_alive()]
            for p in procs:
                if p.is_alive():
                    p.kill()
                    p.join()
            assert not alive, f"ranks {alive} did not end within {HANG_S} s of their peer's crash"
            errors = sorted(p.read_text() for p in Path(tmp).glob("rank*.init-error"))
            if not errors:
                assert procs[0].exitcode == 0 and procs[1].exitcode == 3
                outcome = (Path(tmp) / "rank0.outcome").read_text().split("\n", 1)[1]
                assert outcome != "no error" and "Error" in outcome.split(":")[0], outcome
                return
            failures.append(f"attempt {attempt + 1}: {'; '.join(errors)}")
        time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
    pytest.fail("torch.distributed could not start a gloo group of 2 ranks here: " + " | ".join(failures))


def test_gather_rows_of_ragged_shares(ranks: list[dict[str, Any]]) -> None:
    want = np.concatenate([np.arange(3 * (r + 1) * 2, dtype=np.float32).reshape(-1, 2) + 100 * r for r in range(WORLD)])
    for r, rank in enumerate(ranks):
        assert rank["share"] == sharding.share(10, r, WORLD)
        assert rank["gathered"].dtype == np.float32 and rank["gathered"].tobytes() == want.tobytes()
        np.testing.assert_array_equal(rank["gathered_empty_rank"], np.ones((2, 3), dtype=np.int64))


@pytest.mark.parametrize("n", [0, 1, 2, 7, 10])
@pytest.mark.parametrize("world_size", [1, 2, 3, 8])
def test_shares_cover_the_rows_in_order(n: int, world_size: int) -> None:
    parts = [sharding.share(n, r, world_size) for r in range(world_size)]
    covered = np.concatenate([np.arange(n)[p] for p in parts])
    np.testing.assert_array_equal(covered, np.arange(n))  # contiguous, in rank order, no overlap
    sizes = [p.stop - p.start for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert [len(part) for part in np.array_split(np.arange(n), world_size)] == sizes


def test_helpers_without_a_process_group_are_the_identity() -> None:
    assert sharding.world() == (0, 1) and not sharding.is_sharded()
    assert sharding.share(5) == slice(0, 5)
    rows = np.arange(6.0).reshape(3, 2)
    assert sharding.gather_rows(rows) is rows
    assert sharding.gather_objects("x") == ["x"]
    assert sharding.broadcast({"a": 1}) == {"a": 1}
    assert sharding.on_every_rank(lambda: 3) == 3
    with pytest.raises(KeyError, match="missing"):
        sharding.on_every_rank(lambda: dict[str, int]()["missing"])


@pytest.mark.parametrize(
    ("n", "rank", "world_size", "match"),
    [
        (-1, 0, 2, "n must be >= 0; got -1"),
        (4, 2, 2, r"rank must be in 0\.\.1; got 2"),
        (4, -1, 2, "rank must be in"),
        (4, 0, 0, "world_size must be >= 1; got 0"),
    ],
)
def test_share_rejects_bad_arguments(n: int, rank: int, world_size: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sharding.share(n, rank, world_size)
