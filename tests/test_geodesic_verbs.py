"""The geodesic API's contract: errors, model mode, statistics, persistence, the default graph."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import agm
from agm import geodesic
from agm.geodesic.graph.file import read_graph
from agm.models.analytic import CircleAtlas, CylinderAtlas


def _data(model: CylinderAtlas, n: int = 300, seed: int = 0, h_max: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g) * h_max)


class RecordingCylinder(CylinderAtlas):
    """Records the training flag seen by decode, and whether autograd was on."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(3)
        self.seen: set[tuple[bool, bool]] = set()

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.seen.add((self.training, torch.is_grad_enabled()))
        return super().decode(z, y)


@pytest.fixture(scope="module")
def model_and_graph() -> tuple[CylinderAtlas, geodesic.GeodesicGraph]:
    model = CylinderAtlas()
    return model, geodesic.build_graph(model, _data(model), k=8, n_steps=3, progress=False)


def test_model_is_evaluated_without_gradients_and_its_mode_restored() -> None:
    model = RecordingCylinder().train()
    data = _data(model)
    geodesic.build_graph(model, data, k=6, n_steps=3, progress=False)
    geodesic.shortest_path(model, data[0], data[1])
    assert model.seen == {(False, False)}
    assert model.training and model.bn.training
    model.bn.eval()  # a mixed state is restored module by module
    geodesic.shortest_path(model, data[0], data[1])
    assert model.training and not model.bn.training


def test_stats_match_the_native_graph(model_and_graph: tuple[CylinderAtlas, geodesic.GeodesicGraph]) -> None:
    _, graph = model_and_graph
    stats = graph.stats()
    assert stats["n_nodes"] == graph.n_nodes == graph.native.n_nodes
    assert stats["n_edges"] == stats["n_intra_edges"] + stats["n_cross_edges"] == graph.n_edges
    assert stats["n_components"] == 1 and stats["diameter_hops"] >= 1
    assert stats == graph.stats(diameter="exact")  # a small graph: the budget gives the exact diameter
    assert stats["n_charts"] == len(graph.charts)
    with pytest.raises(ValueError, match="diameter must be 'auto' or 'exact'; got 'bounds'"):
        graph.stats(diameter="bounds")  # type: ignore[arg-type]
    # cross-chart edges join the two nodes of every data point that lies in both charts
    in_both = np.bincount(graph.node_point, minlength=300) == 2
    assert stats["n_cross_edges"] == int(in_both.sum())


def test_save_load_round_trip_and_model_check(
    tmp_path: Path, model_and_graph: tuple[CylinderAtlas, geodesic.GeodesicGraph]
) -> None:
    model, graph = model_and_graph
    file = tmp_path / "g.agm"
    graph.save(file)
    loaded = geodesic.load_graph(file, model)
    # In the state of a built graph: A*'s consistency pass done by the load, not left to the first query
    assert graph.native.heuristic_checked and loaded.native.heuristic_checked
    np.testing.assert_array_equal(loaded.native.edges, graph.native.edges)
    np.testing.assert_array_equal(loaded.native.weights, graph.native.weights)
    assert (loaded.charts, loaded.eps, loaded.k, loaded.n_steps, loaded.data_shape) == (
        graph.charts,
        graph.eps,
        graph.k,
        graph.n_steps,
        graph.data_shape,
    )
    x = _data(model, 2, seed=9)
    # bitwise-equal weights and the same query batch: the same float computations, so equal to float64 rounding
    assert geodesic.shortest_path(model, x[0], x[1], loaded).length == pytest.approx(
        geodesic.shortest_path(model, x[0], x[1], graph).length, rel=1e-12
    )
    with pytest.raises(ValueError, match="another model"):
        geodesic.load_graph(file, CylinderAtlas(radius=2.0))
    with pytest.raises(ValueError, match="another model"):
        geodesic.shortest_path(CylinderAtlas(radius=2.0), x[0], x[1], graph)
    (tmp_path / "junk").write_bytes(b"not a graph at all" * 10)
    with pytest.raises(ValueError):
        read_graph(tmp_path / "junk")


def test_default_graph_is_the_latest_for_that_model() -> None:
    model = CylinderAtlas()
    with pytest.raises(ValueError, match="no graph has been built"):
        geodesic.shortest_path(model, _data(model, 1)[0], _data(model, 1, 1)[0])
    data = _data(model)
    g1 = geodesic.build_graph(model, data, k=5, n_steps=2, progress=False)
    assert geodesic.latest_graph(model).record is g1.record
    g2 = geodesic.build_graph(model, data, k=7, n_steps=2, progress=False)
    assert geodesic.latest_graph(model).record is g2.record


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"eps": 1.0}, ValueError, "eps"),
        ({"eps": -0.1}, ValueError, "eps"),
        ({"k": 0}, ValueError, "k must"),
        ({"k": 400}, ValueError, "chart 0 gets"),
        ({"n_steps": 0}, ValueError, "n_steps must be a positive int; got 0"),
        ({"nodes": "sideways"}, ValueError, "nodes must be one of"),
        ({"decode_policy": {"batch_size": 64}}, TypeError, "decode_policy must be an agm.geodesic.DecodePolicy"),
    ],
)
def test_build_graph_rejects_bad_parameters(kwargs: dict[str, Any], exc: type, match: str) -> None:
    model = CylinderAtlas()
    with pytest.raises(exc, match=match):
        geodesic.build_graph(model, _data(model), progress=False, **kwargs)


def test_build_graph_rejects_bad_data_and_models() -> None:
    model = CylinderAtlas()
    data = _data(model)
    bad = data.clone()
    bad[17, 1] = float("nan")
    with pytest.raises(ValueError, match=r"data must be finite; got NaN or inf \(first at row 17\)"):
        geodesic.build_graph(model, bad, progress=False)
    with pytest.raises(ValueError, match="data must have shape"):
        geodesic.build_graph(model, data[0], progress=False)
    with pytest.raises(TypeError, match="floating dtype"):
        geodesic.build_graph(model, data.long(), progress=False)
    with pytest.raises(TypeError, match="atlas interface"):
        geodesic.build_graph(object(), data, progress=False)


def test_a_chart_without_points_is_an_error_unless_skipped() -> None:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(0)
    # every angle within 30 degrees of 0: psi_1 = sigmoid(-4 cos) < eps there, so chart 1 gets nothing
    data = model.points((torch.rand(200, generator=g) - 0.5) * math.radians(60), torch.rand(200, generator=g))
    with pytest.raises(ValueError, match="chart 1 gets 0 points"):
        geodesic.build_graph(model, data, k=5, progress=False)
    graph = geodesic.build_graph(model, data, k=5, progress=False, skip_small_charts=True)
    assert graph.charts == (0,)
    path = geodesic.shortest_path(model, data[0], data[1])
    assert set(path.charts.tolist()) == {0}


def test_query_errors(model_and_graph: tuple[CylinderAtlas, geodesic.GeodesicGraph]) -> None:
    model, graph = model_and_graph
    x = _data(model, 2, seed=4)
    with pytest.raises(ValueError, match=r"x0 must have the data shape \(3,\)"):
        geodesic.shortest_path(model, x, x[1], graph)
    with pytest.raises(ValueError, match="x1 must be finite"):
        geodesic.shortest_path(model, x[0], torch.full((3,), float("inf")), graph)
    with pytest.raises(ValueError, match="method"):
        geodesic.shortest_path(model, x[0], x[1], graph, method="bfs")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same number"):
        geodesic.shortest_paths(model, x, x[:1], graph)
    with pytest.raises(TypeError, match="GeodesicGraph"):
        geodesic.shortest_path(model, x[0], x[1], graph.native)  # type: ignore[arg-type]


def test_unreachable_pair_raises_the_native_exception() -> None:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(1)
    theta = torch.rand(400, generator=g) * 2 * math.pi - math.pi
    height = torch.where(torch.arange(400) < 200, torch.rand(400, generator=g), 50 + torch.rand(400, generator=g))
    data = model.points(theta, height)
    graph = geodesic.build_graph(model, data, k=5, n_steps=2, progress=False)
    assert graph.stats()["n_components"] >= 2
    with pytest.raises(agm.UnreachableError, match=r"x0 in charts \[.*\], components .*x1 in charts") as info:
        geodesic.shortest_path(model, data[0], data[300], graph)
    assert isinstance(info.value, ValueError)
    paths = geodesic.shortest_paths(model, data[[0, 1]], data[[300, 2]], graph, raise_unreachable=False)
    assert paths[0] is None and paths[1] is not None
    # a batch of 4 points vs 2: float32 encodings/decodings may differ by ~1 ulp (SIMD lanes, GEMM rows)
    assert paths[1].length == pytest.approx(geodesic.shortest_path(model, data[1], data[2], graph).length, rel=1e-5)


def test_one_chart_model_is_chen_et_al() -> None:
    """With one chart there are no cross edges and the query attaches to k nodes of that chart only."""

    class OneChart(CircleAtlas):
        n_charts = 1

        def encode(self, x: torch.Tensor) -> torch.Tensor:
            return super().encode(x)[:, :1]

        def partition(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ones(x.shape[0], 1)

    model = OneChart()
    g = torch.Generator().manual_seed(0)
    data = model.points((torch.rand(300, generator=g) - 0.5) * 5.0)  # an arc avoiding the seam at pi
    graph = geodesic.build_graph(model, data, k=6, n_steps=4, progress=False)
    assert graph.stats()["n_cross_edges"] == 0
    path = geodesic.shortest_path(model, model.points(torch.tensor([-2.0]))[0], model.points(torch.tensor([2.0]))[0])
    assert path.chart_changes.size == 0
    assert path.length == pytest.approx(4.0, rel=0.01)


class SlotCircle:
    """An atlas model that cannot be weakly referenced (no __weakref__ slot): it can have no default graph."""

    __slots__ = ("inner",)
    n_charts = 2
    latent_dim = 1

    def __init__(self) -> None:
        self.inner = CircleAtlas()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.encode(x)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.inner.decode(z, y)

    def partition(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.partition(x)


def test_a_model_without_weak_references_has_no_default_graph_and_says_so() -> None:
    model = SlotCircle()
    data = model.inner.points(torch.linspace(-3.1, 3.1, 200))
    graph = geodesic.build_graph(model, data, k=5, n_steps=2, progress=False)
    with pytest.raises(ValueError, match="graph must be passed for a SlotCircle: it cannot be weakly referenced"):
        geodesic.shortest_path(model, data[0], data[1])
    with pytest.raises(TypeError, match="model must be weakly referenceable to have a default graph"):
        geodesic.register_graph(model, graph)
    assert geodesic.shortest_path(model, data[0], data[50], graph).length > 0


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_samples": 0}, ValueError, "n_samples must be a positive int; got 0"),
        ({"search_steps": -1}, ValueError, "search_steps must be an int >= 0; got -1"),
        ({"seed": 1.5}, ValueError, "seed must be an int >= 0; got 1.5"),
    ],
)
def test_decoder_nodes_refuse_bad_options_naming_them(kwargs: dict[str, Any], exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        geodesic.DecoderNodes(**kwargs)


def test_the_object_and_the_verbs_refuse_what_is_not_a_graph_or_not_its_model(
    model_and_graph: tuple[CylinderAtlas, geodesic.GeodesicGraph],
) -> None:
    model, graph = model_and_graph
    x = _data(model, 2, seed=4)
    with pytest.raises(TypeError, match="record must be a GraphRecord; got GeodesicGraph"):
        geodesic.GeodesicGraph(graph, model)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="another model"):
        geodesic.GeodesicGraph(graph.record, CylinderAtlas(radius=2.0))
    with pytest.raises(TypeError, match="graph must be a GeodesicGraph; got dict"):
        geodesic.shortest_path(model, x[0], x[1], {})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="graph must be a GeodesicGraph; got str"):
        geodesic.register_graph(model, "graph")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="another model"):
        geodesic.distances(CylinderAtlas(radius=2.0), x, graph=graph)
    # another model object that behaves the same (a closed-form model): its fingerprint matches, so the graph serves it
    same = geodesic.shortest_path(CylinderAtlas(), x[0], x[1], graph)
    assert same.length == pytest.approx(graph.shortest_path(x[0], x[1]).length, rel=1e-6)
