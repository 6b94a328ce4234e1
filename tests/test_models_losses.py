"""AWAE-GAN loss terms against closed forms / scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from agm.models.losses import discriminator_loss, encoder_adversarial, marginal_js, weighted_reconstruction


@given(st.integers(1, 6), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_marginal_js_matches_scipy(m: int, b: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    psi = torch.softmax(3 * torch.randn(b, m, generator=g, dtype=torch.float64), 1)
    ref = jensenshannon(psi.mean(0).numpy(), np.full(m, 1.0 / m)) ** 2  # scipy: sqrt of JS, natural log
    assert float(marginal_js(psi)) == pytest.approx(ref, abs=1e-9)


def test_marginal_js_extremes() -> None:
    assert float(marginal_js(torch.full((4, 5), 0.2))) == pytest.approx(0.0, abs=1e-7)
    collapsed = torch.zeros(3, 2)
    collapsed[:, 0] = 1
    # JS((1, 0), (1/2, 1/2)) = 0.5 * [log(4/3)] + 0.5 * [0.5 log(2/3) + 0.5 log 2]
    expected = 0.5 * math.log(4 / 3) + 0.25 * (math.log(2 / 3) + math.log(2))
    assert float(marginal_js(collapsed)) == pytest.approx(expected, rel=1e-6)
    assert float(marginal_js(torch.ones(7, 1))) == pytest.approx(0.0, abs=1e-7)


def test_weighted_reconstruction_is_expected_cost_under_psi() -> None:
    x = torch.zeros(2, 3)
    recon = torch.tensor([[[1.0, 0, 0], [2, 0, 0]], [[0, 0, 3], [0, 0, 0]]])  # errors [[1, 4], [9, 0]]
    psi = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    assert float(weighted_reconstruction(x, recon, psi)) == pytest.approx(((0.5 + 2) + (2.25 + 0)) / 2)


def test_discriminator_loss_at_chance_is_log4_and_weights_follow_psi() -> None:
    m, b = 3, 5
    psi = torch.softmax(torch.randn(b, m), 1)
    zero_p, zero_q = torch.zeros(7, m), torch.zeros(b, m)
    # D = 1/2 everywhere: the prior and the encoded classes each carry total mass 1 -> 2 log 2
    assert float(discriminator_loss(zero_p, zero_q, psi)) == pytest.approx(2 * math.log(2), rel=1e-6)
    assert float(encoder_adversarial(zero_q, psi)) == pytest.approx(math.log(2), rel=1e-6)
    # a chart with psi = 0 contributes nothing on the encoded side
    psi0 = torch.zeros(b, m)
    psi0[:, 0] = 1
    big = torch.zeros(b, m)
    big[:, 1:] = 50.0
    assert float(discriminator_loss(zero_p, big, psi0)) == pytest.approx(2 * math.log(2), rel=1e-6)
