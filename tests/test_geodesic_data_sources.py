"""Torch data sources wherever agm takes data: tensors, arrays, Datasets of tensors or (x, ...) tuples, DataLoaders
and agm's own Dataset give the same graphs and distances (checks.data_tensor, the one conversion)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from agm import geodesic
from agm.data import Dataset as AgmDataset
from agm.data import load_dataset
from agm.models.analytic import CircleAtlas, CylinderAtlas


def _points(n: int = 150, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return CylinderAtlas().points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g))


class PointsOnly(Dataset[torch.Tensor]):
    """A map-style Dataset whose items are bare tensors."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


class Triples(Dataset[tuple[torch.Tensor, int, str]]):
    """Items (x, label, name): only x is data."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        return self.x[i], i % 3, f"point {i}"


class Stream(IterableDataset[tuple[torch.Tensor, torch.Tensor]]):
    """An iterable Dataset of (x, label) items."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return ((row, torch.tensor(0)) for row in self.x)


SOURCES = {
    "array": lambda x: x.numpy(),
    "TensorDataset": lambda x: TensorDataset(x, torch.arange(len(x))),
    "Dataset of tensors": PointsOnly,
    "Dataset of (x, label, name)": Triples,
    "IterableDataset": Stream,
    "DataLoader of (x, label)": lambda x: DataLoader(TensorDataset(x, torch.arange(len(x))), batch_size=37),
    "DataLoader of tensors": lambda x: DataLoader(PointsOnly(x), batch_size=64),
    "agm Dataset": lambda x: AgmDataset(
        x=x, labels=torch.zeros(len(x), dtype=torch.int64), params=None, name="c", shape=(3,)
    ),  # noqa: E501
}


@pytest.mark.parametrize("source", list(SOURCES))
def test_every_source_builds_the_graph_of_the_tensor(source: str) -> None:
    model = CylinderAtlas()
    x = _points()
    reference = geodesic.build_graph(model, x, k=6, n_steps=2, progress=False)
    graph = geodesic.build_graph(model, SOURCES[source](x), k=6, n_steps=2, progress=False)
    np.testing.assert_array_equal(graph.native.edges, reference.native.edges)
    np.testing.assert_array_equal(graph.latents, reference.latents)
    assert graph.data_shape == (3,)


def test_distances_and_batched_queries_take_loaders() -> None:
    model = CylinderAtlas()
    x = _points()
    graph = geodesic.build_graph(model, x, k=6, n_steps=2, progress=False)
    queries = _points(12, seed=1)
    loader = DataLoader(TensorDataset(queries, torch.zeros(12)), batch_size=5)
    np.testing.assert_array_equal(
        geodesic.distances(model, loader, graph=graph), geodesic.distances(model, queries, graph=graph)
    )
    paths = geodesic.shortest_paths(model, loader, PointsOnly(queries.flip(0)), graph)
    expected = geodesic.shortest_paths(model, queries, queries.flip(0), graph)
    assert [p.length for p in paths] == [p.length for p in expected]


def test_agm_dataset_is_a_torch_dataset_of_x_label_pairs() -> None:
    ds = load_dataset("circle", "train", n=100)
    assert isinstance(ds, Dataset)
    x, label = ds[3]
    assert torch.equal(x, ds.x[3]) and torch.equal(label, ds.labels[3])
    batches = list(DataLoader(ds, batch_size=40))
    assert [len(b[0]) for b in batches] == [40, 40, 20]
    assert torch.equal(torch.cat([b[0] for b in batches]), ds.x)
    assert torch.equal(torch.cat([b[1] for b in batches]), ds.labels)
    graph = geodesic.build_graph(CircleAtlas(), ds, k=5, n_steps=2, progress=False)  # the README's load_dataset(...)
    assert graph.n_nodes >= len(ds)


class Dicts(Dataset[dict[str, Any]]):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"x": torch.zeros(3)}


def test_sources_of_the_wrong_kind_are_named() -> None:
    model = CylinderAtlas()
    with pytest.raises(
        TypeError, match="data must yield tensors or \\(x, ...\\) tuples of tensors; got dict at batch 0"
    ):
        geodesic.build_graph(model, Dicts(), progress=False)
    with pytest.raises(ValueError, match="data must hold at least one data point; got an empty TensorDataset"):
        geodesic.build_graph(model, DataLoader(TensorDataset(torch.zeros(0, 3))), progress=False)
    with pytest.raises(TypeError, match="data must be a tensor, an array or a torch Dataset/DataLoader; got object"):
        geodesic.build_graph(model, object(), progress=False)
