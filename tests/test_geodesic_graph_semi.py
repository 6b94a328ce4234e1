"""Geodesics without encoders (semi-AGMs): prior-sampled nodes matched across charts by latent search."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.models.analytic import CircleAtlas, CylinderAtlas
from agm.models.protocol import AtlasModel, SemiAtlasModel


class SemiCylinder(torch.nn.Module):
    """The closed-form cylinder with its encoders hidden: decoders and partition only.

    Latents are drawn from N(0, I): scale them so the prior covers the whole cylinder in both charts.
    """

    n_charts = 2
    latent_dim = 2

    def __init__(self) -> None:
        super().__init__()
        self.inner = CylinderAtlas(radius=1.0)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.inner.decode(torch.stack([1.3 * z[:, 0], 0.5 + 0.5 * z[:, 1]], dim=1), y)

    def partition(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.partition(x)


def test_semi_model_has_no_encoder() -> None:
    model = SemiCylinder()
    assert isinstance(model, SemiAtlasModel) and not isinstance(model, AtlasModel)


def test_semi_agm_geodesics_are_within_a_few_percent_of_the_truth() -> None:
    model = SemiCylinder()
    nodes = geodesic.DecoderNodes(n_samples=6000, search_steps=10)
    graph = geodesic.build_graph(model, nodes=nodes, k=15, n_steps=3, progress=False)
    assert graph.nodes == "decoder" and set(graph.charts) == {0, 1}
    stats = graph.stats()
    assert stats["n_cross_edges"] > 100 and stats["n_components"] == 1
    # cross-chart matches are found by search: the decoded distance of each cross edge is near zero
    cross = graph.native.weights[graph.native.n_intra_edges :]
    assert float(np.median(cross)) < 1e-3
    g = torch.Generator().manual_seed(2)
    th0 = (torch.rand(8, generator=g) * 2 - 1) * math.pi
    th1 = th0 + (0.5 + torch.rand(8, generator=g)) * math.pi * torch.sign(torch.rand(8, generator=g) - 0.5)
    h0, h1 = 0.3 + 0.4 * torch.rand(8, generator=g), 0.3 + 0.4 * torch.rand(8, generator=g)
    paths = geodesic.shortest_paths(model, model.inner.points(th0, h0), model.inner.points(th1, h1))
    true = model.inner.distance(th0, h0, th1, h1).numpy()
    rel = np.array([p.length for p in paths]) / true - 1
    # polylines of chords are slightly shorter than the curves they sample, graph paths slightly longer than geodesics
    assert np.all(rel > -0.03) and np.median(rel) < 0.05 and np.max(rel) < 0.1, rel


def test_decoder_mode_on_an_agm_agrees_with_encoder_mode() -> None:
    model = CircleAtlas()
    g = torch.Generator().manual_seed(0)
    data = model.points((torch.arange(400) + torch.rand(400, generator=g)) / 400 * 2 * math.pi - math.pi)
    enc = geodesic.build_graph(model, data, k=6, n_steps=4, progress=False)
    dec = geodesic.build_graph(
        model, data, k=12, n_steps=4, nodes=geodesic.DecoderNodes(n_samples=4000), progress=False
    )
    a, b = model.points(torch.tensor([2.8]))[0], model.points(torch.tensor([0.4]))[0]
    true = 2.4
    assert geodesic.shortest_path(model, a, b, enc).length == pytest.approx(true, rel=0.02)
    assert geodesic.shortest_path(model, a, b, dec).length == pytest.approx(true, rel=0.02)


def test_decoder_mode_needs_no_data_but_encoder_mode_does() -> None:
    with pytest.raises(ValueError, match="data is required"):
        geodesic.build_graph(CircleAtlas(), nodes="encoder", progress=False)
    with pytest.raises(TypeError, match="atlas interface"):
        geodesic.build_graph(SemiCylinder(), torch.zeros(10, 3), nodes="encoder", progress=False)
    with pytest.raises(ValueError, match="nodes must be"):
        geodesic.build_graph(CircleAtlas(), nodes="both", progress=False)  # type: ignore[arg-type]
