"""A query's paths carry their points' decodings (``GeodesicPath._positions``: the graph nodes' and the attached
copies'), so refinement does not decode them again. Oracles: ``path.decode()``; refining the same path without them
(lengths, curves); decode counts."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.geodesic.paths import refine as refine_module
from agm.geodesic.refinement import refine_curves
from agm.models.analytic import CylinderAtlas, SphereAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _sphere_paths(n_pairs: int = 4) -> tuple[SphereAtlas, list[geodesic.GeodesicPath]]:
    model = SphereAtlas()
    g = torch.Generator().manual_seed(5)
    graph = geodesic.build_graph(model, model.points(torch.randn(600, 3, generator=g)), k=10, n_steps=6, progress=False)
    x = model.points(torch.randn(2 * n_pairs, 3, generator=g))
    return model, [graph.shortest_path(x[i], x[n_pairs + i]) for i in range(n_pairs)]


def test_query_paths_carry_their_decodings() -> None:
    _, paths = _sphere_paths()
    for p in paths:
        assert p._positions is not None and p._positions.dtype == np.float32
        np.testing.assert_allclose(p._positions, p.decode().reshape(len(p), -1).numpy(), rtol=1e-6, atol=1e-6)


def test_refine_uses_them_and_refines_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    model, paths = _sphere_paths()
    decoded_in_resample: list[int] = []
    decode = refine_curves.decoded

    def counted(settings: object, curves: object) -> torch.Tensor:
        out: torch.Tensor = decode(settings, curves)  # type: ignore[arg-type]
        decoded_in_resample.append(int(out.shape[0] * out.shape[1]))
        return out

    original = refine_curves.resampled

    def resampled(*args: object, **kwargs: object) -> object:
        with monkeypatch.context() as m:
            m.setattr(refine_curves, "decoded", counted)
            return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(refine_module, "resampled", resampled)
    kept = geodesic.refine_paths(paths)
    assert decoded_in_resample == []  # the graph paths' points came with them
    fresh = geodesic.refine_paths([dataclasses.replace(p, _positions=None) for p in paths])
    assert len(decoded_in_resample) == 1  # without them: one decoding of the graph paths' points
    # the graph's decodings and a fresh one differ in float32 rounding (other batches, another CPU's kernels): the
    # descents may stop a step apart (a step moves no point by more than 2e-4 of the length), the lengths barely
    np.testing.assert_allclose([p.length for p in kept], [p.length for p in fresh], rtol=1e-5, atol=1e-7)
    for a, b in zip(kept, fresh):
        assert np.array_equal(a.charts, b.charts)
        np.testing.assert_allclose(a.latents, b.latents, rtol=0, atol=2e-3)
        assert a._positions is None  # a refined curve's points are decoded when refined again


def test_on_demand_graph_paths_decode_in_refine() -> None:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(2)
    data = model.points(torch.rand(400, generator=g) * 2 * math.pi - math.pi, torch.rand(400, generator=g))
    graph = geodesic.build_graph(model, data, k=8, n_steps=4, progress=False, node_decodes="on_demand")
    path = graph.shortest_path(data[0], data[1])
    assert graph.record.pending_nodes is not None and path._positions is None
