"""Every model family of the AGM class builds a graph and returns geodesics on embedded data (issue 6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.data import load_dataset
from agm.models import MODELS, AtlasModel
from agm.training import make_config, train

FAMILIES = sorted(MODELS)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_trains_builds_a_graph_and_returns_geodesics(family: str) -> None:
    torch.manual_seed(0)
    data = load_dataset("circle", n=400, seed=0).x
    charts = 1 if family == "wae" else 2
    config = make_config("tiny", model=family, n_charts=charts, dataset="circle", epochs=2, device="cpu")
    model = train(config, data=data, progress=False).model
    graph = geodesic.build_graph(model, data, k=15, eps=0.05, n_steps=4, skip_small_charts=True, progress=False)
    expected = "encoder" if isinstance(model, AtlasModel) else "decoder"
    assert graph.nodes == expected
    x = load_dataset("circle", split="test", n=6, seed=1).x
    paths = geodesic.shortest_paths(model, x[:3], x[3:], graph)
    for p in paths:
        assert np.isfinite(p.length) and p.length > 0
        dec = p.decode()
        assert dec.shape == (len(p), 2)
        assert p.length >= float(torch.linalg.vector_norm(dec[0] - dec[-1])) * (1 - 1e-5)
        assert p.interpolate(5).x.shape == (5, 2)
