"""Lazy distance matrices (one-to-many LazySP, issue 19 item 1): ``distances`` on a lazy graph equals the eager
graph's matrix and decodes only the edges of the rows' shortest routes; progress follows the convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agm import geodesic
from agm.geodesic.graph.policy import DecodePolicy
from agm.geodesic.query.lazysp import LazyStats
from agm.models.analytic import CylinderAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: float32 decodings in other batches (lazy: a few edges per call; eager: all): lengths agree to ~1.5e-6 relative.
RTOL, ATOL = 2e-6, 1e-7
POLICY = DecodePolicy(threads=None, batch_size=37)  # an odd batch: packed calls cross edge boundaries


class BumpyCylinder(CylinderAtlas):
    """The cylinder with its height bumped by amp * sin(f theta) cos(f h): weights above chords; counts decodes."""

    def __init__(self, amp: float, freq: int) -> None:
        super().__init__()
        self.amp, self.freq = amp, freq
        self.decoded = 0

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.decoded += int(z.shape[0])
        theta = z[:, 0] / self.radius + self.offsets[y]
        return self.points(theta, z[:, 1] + self.amp * torch.sin(self.freq * theta) * torch.cos(self.freq * z[:, 1]))


def _points(model: CylinderAtlas, n: int, g: torch.Generator) -> torch.Tensor:
    return model.points(torch.rand(n, generator=g) * 6.28 - 3.14, torch.rand(n, generator=g))


def _graphs(
    model: CylinderAtlas, data: torch.Tensor, **kw: object
) -> tuple[geodesic.GeodesicGraph, geodesic.GeodesicGraph]:
    kw = {"progress": False, "decode_policy": POLICY, **kw}
    eager = geodesic.build_graph(model, data, weights="eager", **kw)  # type: ignore[arg-type]
    return eager, geodesic.build_graph(model, data, weights="lazy", **kw)  # type: ignore[arg-type]


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(3, 8),
    n_steps=st.integers(1, 9),
    amp=st.floats(0.0, 0.3),
    freq=st.integers(1, 4),
    n_x=st.integers(1, 9),
    n_y=st.integers(1, 9),
)
def test_lazy_distances_equal_eager_on_random_graphs(
    seed: int, k: int, n_steps: int, amp: float, freq: int, n_x: int, n_y: int
) -> None:
    model = BumpyCylinder(amp, freq)  # every weight >= its chord (the bound LazySP needs)
    g = torch.Generator().manual_seed(seed)
    data = _points(model, 160, g)
    eager, lazy = _graphs(model, data, k=k, n_steps=n_steps)
    X = torch.cat([_points(model, n_x, g), data[:2]])  # off-graph points and data points
    Y = torch.cat([_points(model, n_y, g), X[:1]])  # X[0] == Y[-1]
    np.testing.assert_allclose(
        geodesic.distances(model, X, Y, graph=lazy), geodesic.distances(model, X, Y, graph=eager), rtol=RTOL, atol=ATOL
    )
    np.testing.assert_allclose(
        geodesic.distances(model, X, graph=lazy), geodesic.distances(model, X, graph=eager), rtol=RTOL, atol=ATOL
    )
    # what the rows evaluated is exact, the rest still a lower bound
    done = lazy.edge_weights.evaluated
    np.testing.assert_allclose(lazy.native.weights[done], eager.native.weights[done], rtol=1e-6)
    assert np.all(lazy.native.weights <= eager.native.weights * (1 + 1e-6))


def test_lazy_distances_on_the_exact_cylinder_decode_a_fraction_of_eager() -> None:
    model = BumpyCylinder(0.0, 1)  # the exact cylinder: distances in closed form
    g = torch.Generator().manual_seed(0)
    data = _points(model, 1500, g)
    eager, lazy = _graphs(model, data, k=10, n_steps=6)
    th, h = torch.rand(40, generator=g) * 6.28 - 3.14, torch.rand(40, generator=g) * 0.8 + 0.1
    X = model.points(th, h)
    model.decoded = 0
    stats = LazyStats()
    D = geodesic.distances(model, X, graph=lazy, lazy_stats=stats)
    lazy_decodes = model.decoded
    assert stats.rounds >= 2 and stats.graph_edges > 0 and stats.attachment_edges > 0
    model.decoded = 0
    E = geodesic.distances(model, X, graph=eager)
    np.testing.assert_allclose(D, E, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(D, D.T)
    true = model.distance(th[:, None], h[:, None], th[None, :], h[None, :]).numpy()
    off = ~np.eye(40, dtype=bool)
    assert np.all(D[off] >= true[off] * (1 - 1e-3)) and np.median(D[off] / true[off] - 1) < 0.05
    inner = lazy.n_steps - 1
    eager_decodes = lazy.native.n_intra_edges * inner  # what evaluate_all would have decoded
    assert 0.0 < lazy.weights_evaluated < 0.5
    assert lazy_decodes < 0.5 * eager_decodes


def test_unreachable_pairs_stay_inf_on_a_lazy_graph() -> None:
    from agm.models.analytic import CircleAtlas

    model = CircleAtlas()
    theta = torch.cat([torch.linspace(-0.5, 0.5, 60), torch.linspace(2.6, 3.7, 60)])
    data = model.points(theta)
    graph = geodesic.build_graph(model, data, k=4, eps=0.01, n_steps=3, progress=False)
    D = geodesic.distances(model, data[[0, 30, 90]], graph=graph)
    assert np.isfinite(D[0, 1]) and D[0, 2] == np.inf and D[2, 0] == np.inf
    assert graph.weights_evaluated < 1.0


def test_distances_progress_is_quiet_by_default_and_forced_by_true(capsys: pytest.CaptureFixture[str]) -> None:
    model = BumpyCylinder(0.1, 2)
    data = _points(model, 300, torch.Generator().manual_seed(4))
    graph = geodesic.build_graph(model, data, k=6, n_steps=4, progress=False)
    capsys.readouterr()
    geodesic.distances(model, data[:5], graph=graph)  # progress=None, stderr captured (not a terminal)
    assert capsys.readouterr().err == ""
    geodesic.distances(model, data[5:10], graph=graph, progress=True)
    err = capsys.readouterr().err
    assert "at most ~" in err and "decodings" in err and "distances" in err
