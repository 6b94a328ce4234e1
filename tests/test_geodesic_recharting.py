"""The re-charting of refined curves (``agm.geodesic.refinement.recharting``) on the exact four-chart flat torus: a
transition through the margin band (eps < psi <= MARGIN * eps in both charts of the overlap) is kept where the curve
is settled there; a point that touches the band at a corner (its local optimum outside) is not settled.

The flat torus's charts 0 and 3 overlap only diagonally (psi_0 = p_0(a) q_0(b), psi_3 = p_1(a) q_1(b)): along the
straight line below, min(psi_0, psi_3) peaks at 0.0546, inside the band (0.05, 0.06] for eps = 0.05, so no point of
it has both charts above the margin and the one transition 0 -> 3 the geometry needs is in the band."""

from __future__ import annotations

import numpy as np
import torch

from agm.geodesic.refinement.curve_batch import pad_curves
from agm.geodesic.refinement.recharting import MARGIN, _settled, rechart
from agm.models.flat_torus import FlatTorusAtlas

EPS, JUMP = 0.05, 100.0
START, GAP = torch.tensor([-1.0, 1.55]), torch.tensor([2.64, 1.16])  # angles (a, b) of the start, the line's span


def _curve(model: FlatTorusAtlas, angles: torch.Tensor, switch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents (n + 1, 2) and charts of a curve through the points at ``angles`` (n, 2): chart 0 up to position
    ``switch``, chart 3 from it (the transition's two copies at ``switch``)."""
    z = model.encode(model.points(angles[:, 0], angles[:, 1]))
    latents = torch.cat([z[: switch + 1, 0], z[switch:, 3]])
    charts = torch.tensor([0] * (switch + 1) + [3] * (angles.shape[0] - switch), dtype=torch.int64)
    return latents, charts


def _rechart(model: FlatTorusAtlas, latents: torch.Tensor, charts: torch.Tensor) -> tuple[list[int], np.ndarray]:
    """The chart sequence (charts in the order visited) of the re-charted curve and its points' psi in their own
    charts."""
    curves = pad_curves([latents], [charts], torch.ones(1, dtype=torch.float64), JUMP)
    out = rechart(model, curves, EPS, JUMP, (4,), 1024)[0]
    n = int(out.count[0])
    ch = out.charts[0, :n]
    psi = model.partition(model.decode(out.latents[0, :n], ch))
    own = psi.gather(1, ch[:, None])[:, 0].numpy()
    sequence = [int(ch[0])] + [int(c) for a, c in zip(ch[:-1], ch[1:]) if int(c) != int(a)]
    return sequence, own


def test_the_overlap_of_charts_0_and_3_lies_in_the_margin_band_on_the_line() -> None:
    model = FlatTorusAtlas()
    t = torch.linspace(0, 1, 2001)[:, None]
    angles = START[None] + t * GAP[None]
    psi = model.partition(model.points(angles[:, 0], angles[:, 1]))
    both = torch.minimum(psi[:, 0], psi[:, 3])
    assert EPS < float(both.max()) < MARGIN * EPS  # the precondition of the tests below


def test_rechart_keeps_a_transition_through_the_margin_band() -> None:
    # the straight line (the geodesic) in chart 0 then chart 3, switching where both psi are highest (in the band):
    # before, the margin forbade both charts there and the curve was sent through chart 1 (0 -> 1 -> 3)
    model = FlatTorusAtlas()
    angles = START[None] + torch.linspace(0, 1, 33)[:, None] * GAP[None]
    psi = model.partition(model.points(angles[:, 0], angles[:, 1]))
    switch = int(torch.minimum(psi[:, 0], psi[:, 3]).argmax())
    assert EPS < float(psi[switch, 0]) and EPS < float(psi[switch, 3])
    sequence, own = _rechart(model, *_curve(model, angles, switch))
    assert sequence == [0, 3]
    assert (own > EPS).all()  # every point inside its chart


def test_a_band_point_held_at_a_corner_is_not_settled() -> None:
    # the transition point of the line, once on the straight line (its local optimum, the midpoint of its
    # neighbours, is itself: settled in both charts) and once at a corner whose neighbours lie 0.3 rad further in b,
    # where charts 0 and 3 do not overlap (the descent would pull it out of the band: the line search holds it there,
    # and the margin must still move the transition off it)
    model = FlatTorusAtlas()
    angles = START[None] + torch.linspace(0, 1, 33)[:, None] * GAP[None]
    psi = model.partition(model.points(angles[:, 0], angles[:, 1]))
    switch = int(torch.minimum(psi[:, 0], psi[:, 3]).argmax())
    bent = angles + torch.tensor([0.0, 0.3])
    bent[switch] = angles[switch]
    for curve, expected in ((angles, True), (bent, False)):
        x = model.points(curve[:, 0], curve[:, 1])
        charts = torch.zeros(33, dtype=torch.int64)
        settled = _settled(model, x, charts, np.zeros(33, dtype=np.int64), EPS, (4,), 1024)
        assert bool(settled[switch, 0] and settled[switch, 3]) == expected
        assert settled[0].tolist() == (model.partition(x[:1])[0] > EPS).tolist()  # an end is its own optimum
