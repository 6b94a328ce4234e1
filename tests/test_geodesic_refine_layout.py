"""Energy layouts are kept by structure and scaled on use; the re-charting check decodes only the curves it must.

Oracles: a layout built afresh (no cache) for the same curves, field by field; the near-edge check written out
on every curve's decodings."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agm.geodesic.refinement import energy_layout as layouts
from agm.geodesic.refinement.curve_batch import CurveBatch, pad_curves
from agm.geodesic.refinement.recharting import MARGIN
from agm.geodesic.refinement.refine_curves import RefineSettings, descend_and_measure, near_edge_or_switching
from agm.models.analytic import SphereAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _curves(seed: int, n_curves: int, jump_weight: float = 100.0) -> CurveBatch:
    rng = np.random.default_rng(seed)
    latents, charts = [], []
    for _ in range(n_curves):
        n = int(rng.integers(2, 9))
        latents.append(torch.from_numpy(rng.normal(size=(n, 2)).astype(np.float32)))
        charts.append(torch.from_numpy(rng.integers(0, 2, size=n).astype(np.int64)))
    scale = torch.from_numpy(rng.uniform(0.1, 50.0, size=n_curves))
    return pad_curves(latents, charts, scale, jump_weight)


def _same(kept: layouts.EnergyLayout, fresh: layouts.EnergyLayout) -> None:
    for field in dataclasses.fields(layouts.EnergyLayout):
        a, b = getattr(kept, field.name), getattr(fresh, field.name)
        if isinstance(a, scipy.sparse.spmatrix):
            assert (a != b).nnz == 0, field.name
        elif isinstance(a, torch.Tensor):
            assert torch.equal(a, b), field.name
        elif isinstance(a, tuple) and a and isinstance(a[0], np.ndarray):
            assert all(np.array_equal(x, y) for x, y in zip(a, b)), field.name
        elif isinstance(a, np.ndarray) and a.dtype == np.float64:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=field.name)
        elif isinstance(a, np.ndarray):
            assert np.array_equal(a, b), field.name
        else:
            assert a == b, field.name


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4), st.sampled_from([1, 3]), st.booleans())
def test_a_kept_layout_equals_one_built_afresh(seed: int, n_curves: int, sub_steps: int, fuse: bool) -> None:
    """Curves of one structure at other scales get the kept layout with their own weights: every field equals a
    layout built for them from nothing (weights to 1e-12: w * scale / scale is rounded)."""
    curves = _curves(seed, n_curves)
    layouts._KEPT.clear()
    first = layouts.energy_layout(curves, sub_steps, fuse=fuse)
    assert len(layouts._KEPT) == 1
    rescaled = dataclasses.replace(
        curves, scale=curves.scale * 3.7, weight=curves.weight * 3.7
    )  # one structure, other scales
    kept = layouts.energy_layout(rescaled, sub_steps, fuse=fuse)
    assert len(layouts._KEPT) == 1  # no second entry: the structure was found
    count, charts = curves.count.numpy(), curves.charts.numpy()
    for batch, layout in ((curves, first), (rescaled, kept)):
        fresh = layouts._layout(batch, count, charts, batch.weight.numpy(), sub_steps, 1 << 30, fuse)
        _same(layout, fresh)


def test_layouts_that_need_groups_or_are_large_are_built_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    curves = _curves(3, 4)
    layouts._KEPT.clear()
    grouped = layouts.energy_layout(curves, 3, batch_size=8)
    assert grouped.groups is not None
    assert all(kept.shape[0] == 1 and kept.groups is None for kept in layouts._KEPT.values())  # the groups' own
    layouts._KEPT.clear()
    zero_scale = dataclasses.replace(curves, scale=torch.zeros(4, dtype=torch.float64))
    layouts.energy_layout(zero_scale, 3)
    assert len(layouts._KEPT) == 0
    monkeypatch.setattr(layouts, "CACHE_ROWS", 4)
    layouts.energy_layout(curves, 3)
    assert len(layouts._KEPT) == 0


def test_the_cache_keeps_at_most_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layouts, "CACHE_SIZE", 3)
    layouts._KEPT.clear()
    for seed in range(6):
        layouts.energy_layout(_curves(seed, 2), 2)
    assert len(layouts._KEPT) == 3


def test_the_near_edge_check_decodes_only_curves_in_one_chart(
    count_decodes: Callable[[torch.nn.Module], list[int]],
) -> None:
    """A curve that changes chart needs re-charting without a decoding; for the others, a free point with
    psi_c <= MARGIN eps decides (written out on each curve's own decodings)."""
    model = SphereAtlas()
    eps = 0.3
    settings_ = RefineSettings(model, (3,), 3, eps, eps, 100.0, 3, 10, 4096)
    g = torch.Generator().manual_seed(5)
    latents = [torch.randn(6, 2, generator=g) * s for s in (0.3, 1.2, 0.5, 2.5, 0.9)]
    charts = [torch.zeros(6, dtype=torch.int64) for _ in latents]
    charts[2] = torch.tensor([0, 0, 0, 1, 1, 1])  # changes chart
    charts[4] = torch.tensor([1, 1, 0, 0, 0, 0])
    curves = pad_curves(latents, charts, torch.ones(5, dtype=torch.float64), 100.0)
    decoded_rows = count_decodes(model)
    oracle = SphereAtlas()  # an unwrapped twin for the expected values
    got, begun = near_edge_or_switching(settings_, curves)
    assert begun is None
    assert sum(decoded_rows) == 3 * 6  # the three curves in one chart only
    expected = []
    for z, c in zip(latents, charts):
        if bool((c[1:] != c[:-1]).any()):
            expected.append(True)
            continue
        psi = oracle.partition(oracle.decode(z, c))[torch.arange(6), c]
        expected.append(bool((psi[1:-1] <= MARGIN * eps).any()))
    assert got.tolist() == expected
    assert any(expected[i] for i in (0, 1, 3)) and not all(expected[i] for i in (0, 1, 3))  # both kinds occur
    decoded_rows.clear()
    both = curves.rows(torch.tensor([2, 4]))
    need, begun = near_edge_or_switching(settings_, both)
    assert need.tolist() == [True, True] and begun is None and decoded_rows == []


def test_a_cheap_decoders_check_begins_the_descent_and_the_descent_goes_on_from_it() -> None:
    """Curves all in one chart, a cheap decoder: the check is the first evaluation's forward half (its edges decide,
    as written out), and descending from it gives what descending afresh gives, bit for bit."""
    model = SphereAtlas()
    eps = 0.3
    fused = RefineSettings(model, (3,), 3, eps, eps, 100.0, 3, 20, 4096, fuse=True)
    g = torch.Generator().manual_seed(7)
    latents = [torch.randn(8, 2, generator=g) * s for s in (0.3, 1.1, 0.6, 2.0)]
    charts = [torch.zeros(8, dtype=torch.int64) for _ in latents]
    curves = pad_curves(latents, charts, torch.ones(4, dtype=torch.float64), 100.0)
    need, begun = near_edge_or_switching(fused, curves)
    assert begun is not None
    expected = []
    for z, c in zip(latents, charts):
        psi = model.partition(model.decode(z, c))[torch.arange(8), c]
        expected.append(bool((psi[1:-1] <= MARGIN * eps).any()))
    assert need.tolist() == expected and any(expected) and not all(expected)
    with torch.no_grad():
        went_on = descend_and_measure(fused, curves, None, begun)
        afresh = descend_and_measure(fused, curves)
    assert torch.equal(went_on[0].latents, afresh[0].latents)
    for a, b in zip(went_on[1:], afresh[1:]):
        assert np.array_equal(a, b)


def test_a_kept_layout_cannot_be_written_into() -> None:
    """Kept layouts are shared by every call of their structure: their arrays are read-only."""
    layouts._KEPT.clear()
    layouts.energy_layout(_curves(1, 2), 3)
    (kept,) = layouts._KEPT.values()
    with pytest.raises(ValueError, match="read-only"):
        kept.ia[0] = 1
    with pytest.raises(ValueError, match="read-only"):
        kept.order[0, 0] = 1
