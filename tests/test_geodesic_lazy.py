"""Lazy weights (LazySP): graph, attachment and direct edges start at their decoded chords and are decoded only
when a path needs them; lengths must equal the eager graph's (issue 12, sections 2 and 2b)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agm import geodesic
from agm._core import AtlasGraph
from agm.geodesic.graph.completion import evaluate_all
from agm.geodesic.graph.file import read_graph
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.query import lazysp
from agm.geodesic.query.attach import attach
from agm.geodesic.query.lazysp import LazyStats
from agm.models.analytic import CircleAtlas, CylinderAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: float32 decodings computed in other batches (lazy: a few edges; eager: all) differ by ~1 ulp per point, so
#: path lengths agree to ~1.5e-6 relative, weights to ~1e-6.
PATH_RTOL = 2e-6
WEIGHT_RTOL = 1e-6
POLICY = DecodePolicy(threads=None, batch_size=37)  # an odd batch: packed calls cross edge boundaries


class BumpyCylinder(CylinderAtlas):
    """The cylinder with its height bumped by amp * sin(f theta) cos(f h): edges weigh well above their chords."""

    def __init__(self, amp: float, freq: int) -> None:
        super().__init__()
        self.amp, self.freq = amp, freq
        self.decoded = 0

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.decoded += int(z.shape[0])
        theta = z[:, 0] / self.radius + self.offsets[y]
        return self.points(theta, z[:, 1] + self.amp * torch.sin(self.freq * theta) * torch.cos(self.freq * z[:, 1]))


def _cylinder_points(model: CylinderAtlas, n: int, g: torch.Generator) -> torch.Tensor:
    return model.points(torch.rand(n, generator=g) * 6.28 - 3.14, torch.rand(n, generator=g))


def _pairs(model: CylinderAtlas, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x0, x1 = _cylinder_points(model, n, g), _cylinder_points(model, n, g)
    x1[0] = x0[0]  # d(x, x) = 0: a direct route
    x1[1] = model.points(*[c + 0.01 for c in model.cylindrical(x0[1:2])])[0]  # a close pair: a direct edge
    return x0, x1


def _lengths(paths: Sequence[geodesic.GeodesicPath | None]) -> np.ndarray:
    return np.array([math.inf if p is None else p.length for p in paths])


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(3, 8),
    n_steps=st.integers(1, 6),
    amp=st.floats(0.0, 0.3),
    freq=st.integers(1, 4),
)
def test_lazy_lengths_equal_eager_on_random_graphs(seed: int, k: int, n_steps: int, amp: float, freq: int) -> None:
    model = BumpyCylinder(amp, freq)
    g = torch.Generator().manual_seed(seed)
    data = _cylinder_points(model, 160, g)
    kwargs = {"k": k, "n_steps": n_steps, "progress": False, "decode_policy": POLICY}
    eager = geodesic.build_graph(model, data, weights="eager", **kwargs)  # type: ignore[arg-type]
    lazy = geodesic.build_graph(model, data, weights="lazy", **kwargs)  # type: ignore[arg-type]
    x0, x1 = _pairs(model, 8, g)
    want = _lengths(geodesic.shortest_paths(model, x0, x1, eager, raise_unreachable=False))
    got = _lengths(geodesic.shortest_paths(model, x0, x1, lazy, raise_unreachable=False))
    np.testing.assert_allclose(got, want, rtol=PATH_RTOL)
    assert got[0] == 0.0
    # every weight is a lower bound of the eager one, and exact where evaluated
    done = lazy.edge_weights.evaluated
    w_lazy, w_eager = lazy.native.weights, eager.native.weights
    np.testing.assert_allclose(w_lazy[done], w_eager[done], rtol=WEIGHT_RTOL)
    assert np.all(w_lazy <= w_eager * (1 + WEIGHT_RTOL))


@pytest.fixture(scope="module")
def cylinder() -> tuple[BumpyCylinder, torch.Tensor]:
    model = BumpyCylinder(0.0, 1)  # the exact cylinder (distances in closed form)
    return model, _cylinder_points(model, 600, torch.Generator().manual_seed(0))


def test_lazy_equals_eager_and_the_closed_form_on_the_exact_cylinder(
    cylinder: tuple[BumpyCylinder, torch.Tensor],
) -> None:
    model, data = cylinder
    eager = geodesic.build_graph(model, data, k=10, n_steps=4, progress=False, weights="eager", decode_policy=POLICY)
    lazy = geodesic.build_graph(model, data, k=10, n_steps=4, progress=False, decode_policy=POLICY)
    assert lazy.weights_evaluated == 0.0 and eager.weights_evaluated == 1.0
    assert lazy.stats() == eager.stats()  # Table 1's statistics need no weights
    g = torch.Generator().manual_seed(5)
    th0, h0, th1, h1 = (torch.rand(30, generator=g) * s - s / 2 for s in (6.28, 1.0, 6.28, 1.0))
    x0, x1 = model.points(th0, h0 + 0.5), model.points(th1, h1 + 0.5)
    stats = LazyStats()
    lazy_len = _lengths(geodesic.shortest_paths(model, x0, x1, lazy, lazy_stats=stats))
    np.testing.assert_allclose(lazy_len, _lengths(geodesic.shortest_paths(model, x0, x1, eager)), rtol=PATH_RTOL)
    true = model.distance(th0, h0 + 0.5, th1, h1 + 0.5).numpy()
    assert np.all(lazy_len >= true * (1 - 1e-3)) and np.median(lazy_len / true - 1) < 0.05
    assert stats.rounds >= 2 and stats.graph_edges > 0
    assert 0.0 < lazy.weights_evaluated < 0.5  # 30 pairs evaluate a small part of the graph


def test_lazy_circle_single_query_and_evaluate_all() -> None:
    model = CircleAtlas()
    g = torch.Generator().manual_seed(0)
    data = model.points((torch.arange(300) + torch.rand(300, generator=g)) / 300 * 2 * math.pi - math.pi)
    eager = geodesic.build_graph(model, data, k=6, n_steps=5, progress=False, weights="eager", decode_policy=POLICY)
    lazy = geodesic.build_graph(model, data, k=6, n_steps=5, progress=False, decode_policy=POLICY)
    x0, x1 = model.points(torch.tensor([0.1])), model.points(torch.tensor([1.0]))  # 14% of the circle
    got = geodesic.shortest_path(model, x0[0], x1[0], lazy).length
    assert got == pytest.approx(geodesic.shortest_path(model, x0[0], x1[0], eager).length, rel=PATH_RTOL)
    assert got == pytest.approx(0.9, rel=1e-2)  # the arc
    before = lazy.weights_evaluated
    assert 0.0 < before < lazysp.EAGER_SWITCH
    lazy.evaluate_all()
    assert lazy.weights_evaluated == 1.0 and lazy.edge_weights.complete
    np.testing.assert_allclose(lazy.native.weights, eager.native.weights, rtol=WEIGHT_RTOL)
    assert evaluate_all(lazy.record, model) == 0  # nothing left


def test_lazy_attachments_decode_at_most_half_of_eager(cylinder: tuple[BumpyCylinder, torch.Tensor]) -> None:
    model, data = cylinder
    graph = geodesic.build_graph(model, data, k=10, n_steps=6, progress=False, weights="eager", decode_policy=POLICY)
    g = torch.Generator().manual_seed(7)
    x0, x1 = _cylinder_points(model, 10, g), _cylinder_points(model, 10, g)
    model.decoded = 0
    geodesic.shortest_paths(model, x0, x1, graph)
    lazy_decodes = model.decoded
    with torch.no_grad():
        att = attach(graph.record, model, torch.cat([x0, x1]), 64, torch.device("cpu"))
    eager_decodes = att.copy_chart.size + att.nodes.size * (graph.n_steps - 1)  # before: every attachment edge
    assert lazy_decodes <= eager_decodes / 2, (lazy_decodes, eager_decodes)


def test_lazy_graph_file_keeps_evaluated_edges_and_policy(
    cylinder: tuple[BumpyCylinder, torch.Tensor], tmp_path: Path
) -> None:
    model, data = cylinder
    policy = DecodePolicy(threads=1, batch_size=48)
    graph = geodesic.build_graph(model, data[:300], k=6, n_steps=3, progress=False, decode_policy=policy)
    x0, x1 = _cylinder_points(model, 5, torch.Generator().manual_seed(3)), data[300:305]
    first = _lengths(geodesic.shortest_paths(model, x0, x1, graph))
    graph.save(tmp_path / "g.agm")
    loaded = geodesic.load_graph(tmp_path / "g.agm", model)
    assert loaded.native.heuristic_checked  # like a built graph: the first query pays no O(E D) pass
    np.testing.assert_array_equal(loaded.edge_weights.evaluated, graph.edge_weights.evaluated)
    np.testing.assert_array_equal(loaded.native.weights, graph.native.weights)
    assert loaded.decode_policy == DecodePolicy(threads=1, batch_size=48) and loaded.decode_policy.batch_size == 48
    model.decoded = 0
    again = _lengths(geodesic.shortest_paths(model, x0, x1, loaded))
    np.testing.assert_allclose(again, first, rtol=PATH_RTOL)
    assert loaded.weights_evaluated == graph.weights_evaluated  # nothing new was needed


def test_graph_file_without_lazy_fields_loads_as_eager(
    cylinder: tuple[BumpyCylinder, torch.Tensor], tmp_path: Path
) -> None:
    model, data = cylinder
    graph = geodesic.build_graph(model, data[:200], k=5, n_steps=2, progress=False, decode_policy=POLICY)
    graph.save(tmp_path / "new.agm")
    native = AtlasGraph.load(str(tmp_path / "new.agm"))
    meta = json.loads(native.metadata)
    assert "evaluated" in meta and meta["decode_policy"]["batch_size"] == 37
    old = {k: v for k, v in meta.items() if k not in ("evaluated", "decode_policy")}
    native.save(str(tmp_path / "old.agm"), json.dumps(old))
    loaded = read_graph(tmp_path / "old.agm")
    assert loaded.edge_weights.complete and loaded.decode_policy is None
    native.save(str(tmp_path / "bad.agm"), json.dumps({**meta, "evaluated": "AAAA"}))
    with pytest.raises(ValueError, match="bits for"):
        read_graph(tmp_path / "bad.agm")


def test_bad_weights_and_policy_arguments(cylinder: tuple[BumpyCylinder, torch.Tensor]) -> None:
    model, data = cylinder
    with pytest.raises(ValueError, match="weights must be one of 'lazy', 'eager'; got 'bogus'"):
        geodesic.build_graph(model, data, progress=False, weights="bogus")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="decode_policy must be an agm.geodesic.DecodePolicy or None; got dict"):
        geodesic.build_graph(model, data, progress=False, decode_policy={"threads": 1})  # type: ignore[arg-type]
    graph = geodesic.build_graph(model, data[:200], k=5, n_steps=2, progress=False, decode_policy=POLICY)
    with pytest.raises(TypeError, match="decode_policy must be"):
        geodesic.shortest_paths(model, data[:2], data[2:4], graph, decode_policy=64)  # type: ignore[call-overload]


def test_queries_past_the_eager_switch_complete_the_graph(
    cylinder: tuple[BumpyCylinder, torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agm.geodesic.query import lazysp

    model, data = cylinder
    eager = geodesic.build_graph(
        model, data[:300], k=6, n_steps=3, progress=False, weights="eager", decode_policy=POLICY
    )
    lazy = geodesic.build_graph(model, data[:300], k=6, n_steps=3, progress=False, decode_policy=POLICY)
    monkeypatch.setattr(lazysp, "EAGER_SWITCH", 0.0)  # the first round with a graph edge completes the graph
    x0, x1 = data[300:306], data[306:312]
    got = _lengths(geodesic.shortest_paths(model, x0, x1, lazy))
    assert lazy.edge_weights.complete
    np.testing.assert_allclose(got, _lengths(geodesic.shortest_paths(model, x0, x1, eager)), rtol=PATH_RTOL)
    np.testing.assert_allclose(lazy.native.weights, eager.native.weights, rtol=WEIGHT_RTOL)
