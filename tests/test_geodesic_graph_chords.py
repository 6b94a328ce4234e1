"""Chords of many segments in bounded chunks (``curves.indexed_chords``, the build's ``chord_weights``) and the data
distance of ``scales.record_data_gap``: equal to a one-shot float64 oracle whatever the chunk size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agm.geodesic import build_graph
from agm.geodesic.graph import curves, scales
from agm.geodesic.graph.weights import chord_weights
from agm.models.analytic import CylinderAtlas


def _oracle(positions: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    diff = positions[ends].astype(np.float64) - positions[starts].astype(np.float64)
    out: np.ndarray = np.sqrt((diff * diff).sum(axis=1))
    return out


@pytest.mark.parametrize("chunk_bytes", [1, 4 * 5 * 7, 4 * 5 * 64, curves.CHORD_CHUNK_BYTES])
def test_indexed_chords_equal_the_one_shot_chords_in_any_chunks(
    monkeypatch: pytest.MonkeyPatch, chunk_bytes: int
) -> None:
    monkeypatch.setattr(curves, "CHORD_CHUNK_BYTES", chunk_bytes)  # 1 byte: one segment per chunk
    g = torch.Generator().manual_seed(3)
    positions = torch.randn(40, 5, generator=g)
    starts, ends = torch.randint(0, 40, (333,), generator=g), torch.randint(0, 40, (333,), generator=g)
    got = curves.indexed_chords(positions, starts, ends)
    assert got.dtype == torch.float64 and got.shape == (333,)
    want = _oracle(positions.numpy(), starts.numpy(), ends.numpy())
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-7)
    assert curves.indexed_chords(positions, starts[:0], ends[:0]).shape == (0,)


def _cylinder(n: int) -> tuple[CylinderAtlas, torch.Tensor]:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(5)
    angle, height = torch.rand(n, generator=g) * 6.2 - 3.1, torch.rand(n, generator=g) * 2
    return model, model.points(angle, height)


def test_chord_weights_and_the_data_gap_do_not_depend_on_the_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    model, data = _cylinder(300)
    noisy = data + 0.05 * torch.randn(data.shape, generator=torch.Generator().manual_seed(6))
    graph = build_graph(model, noisy, k=6, n_steps=3, progress=False).record
    native, positions = graph.native, torch.from_numpy(graph.positions)
    whole = chord_weights(native, positions)
    gap = scales._DATA_GAPS[graph]
    np.testing.assert_allclose(whole, _oracle(graph.positions, native.edges[:, 0], native.edges[:, 1]), rtol=1e-6)
    # the data gap: the median over data points of the distance to the nearest decoding of their own nodes
    flat = noisy.reshape(noisy.shape[0], -1).double().numpy()
    dist = np.linalg.norm(flat[graph.node_point] - graph.positions.astype(np.float64), axis=1)
    nearest = np.full(flat.shape[0], np.inf)
    np.minimum.at(nearest, graph.node_point, dist)
    assert gap > 0.01
    assert gap == pytest.approx(float(np.median(nearest[np.isfinite(nearest)])), rel=1e-5)
    monkeypatch.setattr(curves, "CHORD_CHUNK_BYTES", 4 * noisy[0].numel() * 7)  # 7 rows per chunk
    np.testing.assert_allclose(chord_weights(native, positions), whole, rtol=1e-6, atol=1e-7)  # float32 per chunk
    scales.record_data_gap(graph, noisy)
    assert scales._DATA_GAPS[graph] == pytest.approx(gap, rel=1e-6)


def test_attachment_chords_do_not_depend_on_the_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from agm.geodesic.query import attach as attach_module

    model, data = _cylinder(300)
    graph = build_graph(model, data, k=6, n_steps=3, progress=False).record
    _, queries = _cylinder(40)
    with torch.no_grad():
        whole = attach_module.attach(graph, model, queries + 0.01, 256, torch.device("cpu"))
        monkeypatch.setattr(curves, "CHORD_CHUNK_BYTES", 4 * queries[0].numel() * 7)  # 7 edges per chunk
        chunked = attach_module.attach(graph, model, queries + 0.01, 256, torch.device("cpu"))
    assert whole.nodes.size > 7 * 3
    np.testing.assert_allclose(chunked.segments, whole.segments, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(chunked.costs, whole.costs, rtol=1e-6, atol=1e-7)
    # the chord of each attachment edge: its copy's decoding to its node's decoding (float64 oracle)
    owner = np.repeat(np.arange(whole.copy_chart.size), graph.k)
    want = np.linalg.norm(
        graph.positions[whole.nodes].astype(np.float64) - whole.copy_position[owner].astype(np.float64), axis=1
    )
    np.testing.assert_allclose(whole.segments, want, rtol=1e-6, atol=1e-7)
