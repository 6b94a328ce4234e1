"""Bad input to the geodesic API: typed errors naming the argument, the model method or the query point."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.geodesic.graph.curves import edge_lengths, segment_lengths
from agm.models.analytic import CircleAtlas, CylinderAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _data(model: CylinderAtlas, n: int = 200, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g))


@pytest.fixture(scope="module")
def model_and_graph() -> tuple[CylinderAtlas, geodesic.GeodesicGraph]:
    model = CylinderAtlas()
    return model, geodesic.build_graph(model, _data(model), k=6, n_steps=2, progress=False)


def test_numpy_scalars_are_accepted(model_and_graph: tuple[CylinderAtlas, geodesic.GeodesicGraph]) -> None:
    model, ref = model_and_graph
    # numpy scalars are accepted at run time (numbers.Integral / numbers.Real); the annotations say int / float
    numbers: dict[str, Any] = {
        "k": np.int64(6),
        "eps": np.float32(0.05),
        "n_steps": np.int32(2),
        "decode_policy": geodesic.DecodePolicy(batch_size=np.int64(64)),
    }
    graph = geodesic.build_graph(model, _data(model), progress=False, **numbers)
    np.testing.assert_array_equal(graph.native.edges, ref.native.edges)
    assert (type(graph.k), type(graph.eps), type(graph.n_steps)) == (int, float, int)
    x = _data(model, 4, seed=3)
    scalars: dict[str, Any] = {
        "decode_policy": geodesic.DecodePolicy(batch_size=np.int64(32)),
        "n_threads": np.int64(1),
    }
    path = geodesic.shortest_paths(model, x[:2], x[2:], graph, **scalars)[0]
    assert path.interpolate(np.int64(4)).x.shape == (4, 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": True}, "k must be a positive int; got True"),
        ({"k": 2.0}, "k must be a positive int; got 2.0"),
        ({"eps": np.bool_(False)}, "eps must be a number in"),
        ({"n_steps": np.int64(0)}, r"n_steps must be a positive int; got np.int64\(0\)"),
    ],
)
def test_bad_numbers_are_refused_naming_the_argument(kwargs: dict[str, Any], match: str) -> None:
    model = CylinderAtlas()
    with pytest.raises(ValueError, match=match):
        geodesic.build_graph(model, _data(model), progress=False, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_device_is_a_value_error_naming_it(
    model_and_graph: tuple[CylinderAtlas, geodesic.GeodesicGraph],
) -> None:
    model, graph = model_and_graph
    with pytest.raises(ValueError, match=r"device must be available; got 'cuda', but this machine has only cpu"):
        geodesic.build_graph(model, _data(model), device="cuda", progress=False)
    x = _data(model, 2)
    with pytest.raises(ValueError, match="device must be available; got 'cuda:1'"):
        geodesic.shortest_path(model, x[0], x[1], graph, device="cuda:1")
    with pytest.raises(ValueError, match="device must be a torch device or its name; got 'gpu'"):
        geodesic.build_graph(model, _data(model), device="gpu", progress=False)


def test_data_of_the_wrong_shape_names_decode_before_any_other_model_call() -> None:
    model = CylinderAtlas()  # decodes (B, 3): data of shape (5,) cannot be its points
    with pytest.raises(
        ValueError,
        match=r"model\.decode must return \(B, \*S\) with the data's point shape S = \(5,\); got shape \(1, 3\)",
    ):
        geodesic.build_graph(model, torch.zeros(200, 5), progress=False)


class BrokenDecoder(CircleAtlas):
    """Decodes chart 1 at angles above 2 to NaN, or raises an IndexError (like a model fed the wrong shape)."""

    def __init__(self, fail: str) -> None:
        super().__init__()
        self.fail = fail
        self.armed = False

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = super().decode(z, y)
        if self.armed and self.fail == "raise":
            raise IndexError("index 7 is out of bounds for dimension 0 with size 2")
        if self.armed and self.fail == "nan":
            out = torch.where(((y == 1) & (z[:, 0] > 0.5))[:, None], torch.nan, out)
        return out


def _circle(model: CircleAtlas) -> torch.Tensor:
    return model.points(torch.linspace(-3.1, 3.1, 300))


def test_a_decoder_returning_nan_is_named_with_its_chart_and_latent() -> None:
    model = BrokenDecoder("nan")
    model.armed = True
    with pytest.raises(
        ValueError, match=r"model\.decode must return finite values; got NaN or inf for chart 1, latent \["
    ):
        geodesic.build_graph(model, _circle(model), k=5, n_steps=2, progress=False)


def test_a_failing_decoder_keeps_its_exception_type_and_names_the_call() -> None:
    model = BrokenDecoder("raise")
    geodesic.build_graph(model, _circle(model), k=5, n_steps=2, progress=False)
    x = model.points(torch.tensor([0.1, 2.0]))
    model.armed = True
    with pytest.raises(
        IndexError,
        match=r"model\.decode\(\(\d+, 1\) float32 on cpu, \(\d+,\) int64 on cpu\) failed: IndexError: index 7",
    ):
        geodesic.shortest_path(model, x[0], x[1])


def test_a_query_whose_decodings_are_nan_is_named() -> None:
    model = BrokenDecoder("nan")
    graph = geodesic.build_graph(model, model.points(torch.linspace(-1.4, 1.4, 200)), k=5, n_steps=2, progress=False)
    model.armed = True  # graph built; now chart-1 latents above 0.5 (angles in (-pi + 0.5, 0)) decode to NaN
    x = model.points(torch.tensor([0.0, -2.0, -2.1]))
    with pytest.raises(ValueError, match=r"NaN or inf \(X1\[1\]'s copy in chart 1\) for chart 1"):
        geodesic.shortest_paths(model, x[:2], x[1:], graph, raise_unreachable=False)


def test_an_off_manifold_query_is_named() -> None:
    class Exploding(CircleAtlas):
        def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = super().decode(z, y) * torch.where(z.abs() > 10, 3e38, 1.0)
            return out

        def encode(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = super().encode(x) * torch.linalg.vector_norm(x, dim=1)[:, None, None]
            return out

    model = Exploding()
    graph = geodesic.build_graph(model, model.points(torch.linspace(-3.1, 3.1, 300)), k=5, n_steps=2, progress=False)
    far = model.points(torch.tensor([1.0]))[0] * 30  # encodes to latent 30: decodings of magnitude 1e40 overflow
    with pytest.raises(ValueError, match=r"x1's copy in chart 0: model\.decode gives decodings too large to measure"):
        geodesic.shortest_path(model, model.points(torch.tensor([0.0]))[0], far, graph)


def test_eq_10_n_steps_segments_with_n_minus_one_interior_decodings() -> None:
    """t_i = i/n, i = 0..n: on the unit circle the n-segment polyline of an arc phi is 2 n sin(phi / 2n)."""
    model = CircleAtlas()
    calls: list[int] = []

    def decode(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(z.shape[0])
        return model.decode(z, y)

    z0, z1 = torch.tensor([[0.0]]), torch.tensor([[1.2]])
    y = torch.zeros(1, dtype=torch.int64)
    x0, x1 = model.decode(z0, y), model.decode(z1, y)
    for n in (1, 2, 15):
        calls.clear()
        length = float(segment_lengths(decode, z0, z1, y, x0, x1, n)[0])
        assert length == pytest.approx(2 * n * math.sin(1.2 / (2 * n)), rel=1e-6)
        assert sum(calls) == n - 1
    edges = np.array([[0, 1]], dtype=np.int64)
    both = torch.cat([z0, z1])
    w = edge_lengths(model.decode, both, torch.cat([x0, x1]), torch.zeros(2, dtype=torch.int64), edges, 15, 64)
    assert w[0] == pytest.approx(30 * math.sin(1.2 / 30), rel=1e-6)
