"""A very cheap decoder's evaluation by central differences of every row (no backward pass): the energy, its
gradient and the Gauss-Newton step agree with autograd's evaluation to what the differences' float32 rounding
allows; the layout chooses it only for a fused decoder whose shifted rows fit the budget and one call; it decodes
once per evaluation with autograd off; refined paths match the backward-pass ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from agm import geodesic
from agm.geodesic.paths import refine as refine_module
from agm.geodesic.refinement import evaluation
from agm.geodesic.refinement.curve_batch import CurveBatch, pad_curves
from agm.geodesic.refinement.energy_layout import energy_layout
from agm.geodesic.refinement.evaluation import Evaluation, begin_curves
from agm.models.analytic import SphereAtlas

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: Enough shifted rows for every curve set of these tests.
ALL_ROWS = 10**7


class _BentSphere(SphereAtlas):
    """The sphere's decoder plus a smooth MLP term: a decoder whose Jacobians no closed form gives."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.mlp = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 3))

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return super().decode(z, y) + 0.1 * torch.tanh(self.mlp(z.to(self.embedding.dtype)))


def _curves(seed: int) -> CurveBatch:
    """Three noisy curves of 10 points: two in chart 0, one that changes to chart 1 half way (a transition)."""
    g = torch.Generator().manual_seed(seed)
    latents, charts = [], []
    for switch in (False, False, True):
        a, b = torch.randn(2, generator=g) * 0.6, torch.randn(2, generator=g) * 0.6
        z = a[None] + torch.linspace(0, 1, 10)[:, None] * (b - a)[None]
        z[1:-1] += 0.2 * torch.randn(8, 2, generator=g)
        latents.append(z)
        charts.append(torch.tensor([0] * 5 + [1] * 5 if switch else [0] * 10, dtype=torch.int64))
    return pad_curves(latents, charts, torch.tensor([10.0, 5.0, 2.0], dtype=torch.float64), 100.0)


def _evaluated(model: nn.Module, curves: CurveBatch, difference_rows: int) -> tuple[Evaluation, np.ndarray]:
    """The whole evaluation and the points' Jacobians (P, d, D) it used."""
    with torch.no_grad():
        pending = begin_curves(model, curves, 4, None, (3,), 4096, True, difference_rows)
        out = pending.finish(None, None, None)
    jt = pending.jacobians[0]
    assert jt is not None
    return out, jt


def _true_jacobians(model: nn.Module, curves: CurveBatch) -> np.ndarray:
    """(P, d, D) float64 J^T of every curve point, by autograd on a float64 copy of the decoder."""
    valid = curves.valid
    z, y = curves.latents[valid].double(), curves.charts[valid]
    double = model.double()
    try:
        rows = [
            torch.autograd.functional.jacobian(lambda p, c=c: double.decode(p[None], c[None])[0], p).T
            for p, c in zip(z, y)
        ]
    finally:
        model.float()
    return torch.stack(rows).numpy()


@pytest.mark.parametrize("model", [SphereAtlas(), _BentSphere()], ids=["sphere", "sphere+mlp"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_central_differences_give_the_gradient_autograd_gives_and_the_true_jacobians(
    model: nn.Module, seed: int
) -> None:
    curves = _curves(seed)
    model.eval()
    assert energy_layout(curves, 4, 4096, True, ALL_ROWS).differenced
    assert not energy_layout(curves, 4, 4096, True, 0).differenced
    (exact, _), (differenced, jt) = _evaluated(model, curves, 0), _evaluated(model, curves, ALL_ROWS)
    # the rows decoded in another call: float32 rounding of another batch composition (equal on this CPU; another
    # CPU's kernels may round the MLP's products differently, and the energy's differences of close points amplify it)
    np.testing.assert_allclose(differenced.energy, exact.energy, rtol=1e-5)
    np.testing.assert_allclose(differenced.length, exact.length, rtol=1e-5)
    scale = np.abs(exact.gradient).max()
    assert scale > 0
    np.testing.assert_allclose(differenced.gradient, exact.gradient, rtol=0, atol=1e-3 * scale)
    true = _true_jacobians(model, curves)
    np.testing.assert_allclose(jt, true, rtol=0, atol=1e-3 * np.abs(true).max())
    assert (differenced.slope < 0).all()  # a descent direction for every curve


def test_the_layout_differences_only_a_fused_decoder_within_the_budget_and_one_call() -> None:
    curves = _curves(0)
    rows = energy_layout(curves, 4, 4096).n_rows
    shifted = 2 * 2 * rows  # d = 2
    assert energy_layout(curves, 4, 4096, True, shifted).differenced
    assert not energy_layout(curves, 4, 4096, True, shifted - 1).differenced  # beyond the budget
    assert not energy_layout(curves, 4, 4096, False, ALL_ROWS).differenced  # not fused: the backward pass
    assert not energy_layout(curves, 4, 5 * rows - 1, True, ALL_ROWS).differenced  # not one call
    assert energy_layout(curves, 4, 5 * rows, True, ALL_ROWS).differenced
    grouped = energy_layout(curves, 4, rows // 2, True, ALL_ROWS)  # the curves in groups: never differenced
    assert grouped.groups is not None and not grouped.differenced
    assert not any(part.differenced for _, part in grouped.groups)
    differenced = energy_layout(curves, 4, 4096, True, ALL_ROWS)
    assert differenced.decode_charts.shape == (5 * rows,)
    charts = differenced.decode_charts.numpy().reshape(5, rows)  # the rows' charts, then every shifted copy's
    assert (charts == charts[:1]).all() and np.array_equal(charts[0, : differenced.n_points], differenced.point_charts)


def test_a_differenced_evaluation_is_one_decoder_call_without_autograd(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _BentSphere().eval()
    curves = _curves(1)
    calls: list[tuple[int, bool]] = []
    decode = model.decode

    def counted(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append((z.shape[0], torch.is_grad_enabled() or z.requires_grad))
        return decode(z, y)

    monkeypatch.setattr(model, "decode", counted)
    rows = energy_layout(curves, 4, 4096).n_rows
    _evaluated(model, curves, ALL_ROWS)
    assert calls == [(5 * rows, False)]
    calls.clear()
    _evaluated(model, curves, 0)  # fused, backward pass: one call of the rows and the points' shifted copies
    assert len(calls) == 1 and calls[0][1]


def _sphere_paths(n_pairs: int) -> tuple[np.ndarray, list[geodesic.GeodesicPath]]:
    """Graph paths between random sphere points and their great-circle distances (n_pairs,) float64."""
    model = SphereAtlas()
    g = torch.Generator().manual_seed(5)
    graph = geodesic.build_graph(
        model, model.points(torch.randn(800, 3, generator=g)), k=10, eps=0.05, n_steps=8, progress=False
    )
    a, b = model.points(torch.randn(n_pairs, 3, generator=g)), model.points(torch.randn(n_pairs, 3, generator=g))
    return model.distance(a, b).numpy(), [graph.shortest_path(a[i], b[i]) for i in range(n_pairs)]


def test_refined_paths_by_differences_match_those_by_the_backward_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    true, paths = _sphere_paths(6)
    differenced: list[int] = []
    begin_differenced = evaluation._begin_differenced

    def counted(*args: Any) -> Any:
        differenced.append(1)
        return begin_differenced(*args)

    monkeypatch.setattr(evaluation, "_begin_differenced", counted)
    lengths = {}
    for budget in (0.0, 1.0):  # no differences; differences for any curve of this size
        monkeypatch.setattr(refine_module, "DIFFERENCE_S", budget)
        differenced.clear()
        refined = [p.refine() for p in paths]
        assert bool(differenced) == (budget > 0)
        lengths[budget] = np.array([r.length for r in refined])
        assert all(r.length <= p.length * (1 + 1e-6) for r, p in zip(refined, paths))
    assert (true > 0.1).all()
    np.testing.assert_allclose(lengths[1.0], lengths[0.0], rtol=2e-5)
    np.testing.assert_allclose(lengths[1.0], true, rtol=2e-3)
