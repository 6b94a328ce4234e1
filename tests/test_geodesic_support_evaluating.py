"""Concurrency and staleness: evaluating() is reentrant and thread-safe; paths refuse a changed model."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.geodesic._support.evaluating import evaluating
from agm.models.analytic import CylinderAtlas


class ModeSensitiveCylinder(CylinderAtlas):
    """A cylinder whose decodings are scaled by 2 in train mode, so a length computed in train mode shows."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.bn = torch.nn.BatchNorm1d(3)  # a submodule whose flag must be restored too

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = super().decode(z, y) * self.scale
        return out * 2 if self.training else out


def _data(model: CylinderAtlas, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g))


def test_eight_threads_query_a_model_in_train_mode_and_it_stays_in_train_mode() -> None:
    model = ModeSensitiveCylinder()
    graph = geodesic.build_graph(model, _data(model, 300, 0), k=6, n_steps=2, progress=False)
    x0, x1 = _data(model, 50, 1), _data(model, 50, 2)
    expected = np.array([p.length for p in geodesic.shortest_paths(model, x0, x1, graph)])
    model.train()
    model.bn.eval()  # a mixed state, restored module by module
    results: dict[int, list[float]] = {}
    barrier = threading.Barrier(8)

    def worker(t: int) -> None:
        barrier.wait()
        results[t] = [geodesic.shortest_path(model, x0[i], x1[i], graph).length for i in range(t, 50, 8)]

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t in range(8):  # every length computed in eval mode (train mode would double it)
        np.testing.assert_allclose(results[t], expected[t::8], rtol=1e-5)  # float32: batch of 1 vs 50
    assert model.training and not model.bn.training


def test_evaluating_is_reentrant_and_restores_only_on_the_outermost_exit() -> None:
    model = ModeSensitiveCylinder().train()
    with evaluating(model):
        with evaluating(model):
            assert not model.training and not torch.is_grad_enabled()
        assert not model.training  # the inner exit does not restore
    assert model.training and model.bn.training and torch.is_grad_enabled()
    with pytest.raises(RuntimeError, match="boom"), evaluating(model):
        raise RuntimeError("boom")
    assert model.training  # restored on an exception too


def test_a_path_refuses_to_decode_after_the_model_changed() -> None:
    model = ModeSensitiveCylinder()
    graph = geodesic.build_graph(model, _data(model, 300, 0), k=6, n_steps=2, progress=False)
    x = _data(model, 2, 5)
    path = geodesic.shortest_path(model, x[0], x[1], graph)
    assert path.decode().shape == (len(path), 3)
    with torch.no_grad():
        model.scale.mul_(1.5)
    with pytest.raises(ValueError, match="the model's weights changed since this path was computed"):
        path.decode()
    with pytest.raises(ValueError, match="the model's weights changed since this path was computed"):
        path.interpolate(5)
    with torch.no_grad():
        model.scale.fill_(1.0)  # back to the same behaviour: the path is valid again
    assert path.interpolate(5).x.shape == (5, 3)
