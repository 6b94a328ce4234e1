"""GraphWeights (geodesic/graph/weights.py): stores cost O(changed edges) (in place, counts kept), and the mask as of an
earlier moment stays answerable (``pending(..., as_of=version)``) for readers that searched on older weights."""

from __future__ import annotations

import numpy as np
import pytest

from agm import _core as core
from agm.geodesic.graph.weights import GraphWeights


def _weights(rng: np.random.Generator) -> GraphWeights:
    n = 400
    latents = [rng.random((n, 2)), rng.random((n, 2))]
    ids = [np.arange(n, dtype=np.int64), np.arange(n // 2, n + n // 2, dtype=np.int64)]
    native = core.AtlasGraph(latents, ids, 6)
    native.set_weights(rng.uniform(1.0, 2.0, size=native.n_edges))
    evaluated = np.zeros(native.n_edges, dtype=bool)
    evaluated[native.n_intra_edges :] = True  # cross-chart edges are exact from the start
    return GraphWeights(native, evaluated)


def test_store_updates_in_place_with_counts_equal_to_the_masks(rng: np.random.Generator) -> None:
    w = _weights(rng)
    n_intra, n = w.native.n_intra_edges, w.native.n_edges
    values, mask = w.values, w.evaluated
    oracle = w.values.copy()
    for _ in range(6):
        ids = rng.choice(n, size=int(rng.integers(1, 200)), replace=False)
        new = rng.uniform(2.0, 3.0, size=ids.size)
        w.store(ids, new)
        oracle[ids] = new
        assert w.values is values and w.evaluated is mask  # in place, no O(n_edges) copy
        np.testing.assert_array_equal(w.values, oracle)
        np.testing.assert_array_equal(w.native.weights, oracle)
        assert w.fraction_evaluated == pytest.approx(mask[:n_intra].mean())
        assert w.complete == bool(mask.all())
    w.store(np.flatnonzero(~mask), oracle[~mask])
    assert w.complete and w.fraction_evaluated == 1.0


def test_pending_as_of_an_earlier_version(rng: np.random.Generator) -> None:
    w = _weights(rng)
    first = np.arange(10, dtype=np.int64)
    w.store(first, w.values[first] * 1.5)
    seen = w.version  # a reader searches on the weights of this moment
    later = np.arange(10, 30, dtype=np.int64)
    w.store(later, w.values[later] * 1.5)
    ids = np.arange(-1, 40, dtype=np.int64)
    np.testing.assert_array_equal(w.pending(ids), np.arange(30, 40))
    np.testing.assert_array_equal(w.pending(ids, as_of=seen), np.arange(10, 40))  # 10-29 were chords then
    np.testing.assert_array_equal(w.pending(ids, as_of=w.version), np.arange(30, 40))
    np.testing.assert_array_equal(w.pending(ids, as_of=0), np.arange(0, 40))


def test_a_refused_store_changes_nothing(rng: np.random.Generator) -> None:
    w = _weights(rng)
    before, mask, version = w.values.copy(), w.evaluated.copy(), w.version
    with pytest.raises(ValueError, match="weights must be finite"):
        w.store(np.array([0, 1]), np.array([1.0, np.nan]))
    with pytest.raises(IndexError, match="edge_ids"):
        w.store(np.array([0, w.native.n_edges]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="unique"):
        w.store(np.array([3, 3]), np.array([1.0, 1.0]))
    np.testing.assert_array_equal(w.values, before)
    np.testing.assert_array_equal(w.evaluated, mask)
    assert w.version == version and w.fraction_evaluated == 0.0
