"""Terms of the AWAE-GAN objective, as pure functions of tensors.

Notation: a batch x_1..x_B, charts y = 1..m, z_{i,y} = F_y(x_i) (B, m, d), psi_{i,y} = psi_y(x_i) (B, m),
discriminator logits l_{i,y} = D_y(z_{i,y}) with sigmoid(l) = probability "drawn from the prior".

Encoded distribution  Q(Z, Y) = E_x[ sum_y psi_y(x) delta(Z - F_y(x)) 1{Y = y} ]; prior P(Z, Y) = N(0, I) x U{1..m}.

* Reconstruction: E_x sum_y psi_y(x) ||x - G_y(F_y(x))||^2 (the expected cost under q(y|x) = psi_y(x); psi gets the
  gradient ||x - G_y(F_y(x))||^2 and learns to route x to the charts that reconstruct it).
* Joint adversarial JS estimate: discriminator D_y of chart y (one per chart, not shared) sees the pair (z, y) as
  z = F_y(x_i) with importance weight psi_y(x_i) / B (a weighted sample of Q(Z, Y = y)) against prior samples
  z ~ N(0, I) with weight 1/m (a weighted sample of P(Z, Y = y)).  Both classes of D_y then carry the masses
  Q(Y = y) and 1/m, the optimum is D_y*(z) = p(z, y) / (p(z, y) + q(z, y)), and the discriminator's loss is
  log 4 - 2 JS(Q(Z, Y) || P(Z, Y)) at the optimum: the JS divergence of the joint, discrete part included.
  The encoder minimises the non-saturating form sum_y E_x psi_y(x) [-log D_y(F_y(x))] (as in the WAE-GAN).
* Marginal term: JS(Q(Y) || U) computed in closed form from the batch mean of psi.  Y is discrete and P(Y) known,
  so this part of the divergence needs no adversary; by data processing JS(Q(Y)||P(Y)) <= JS(Q(Z,Y)||P(Z,Y)), so it
  is a lower bound of the same divergence, exact and low-variance.  It is what prevents a collapse of psi onto one
  chart: the reconstruction term alone rewards sending every x to whichever chart currently reconstructs best, and
  the adversarial weights move slowly; the closed-form term pushes back immediately.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def weighted_reconstruction(x: torch.Tensor, recon: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """E_x sum_y psi_y(x) ||x - G_y(F_y(x))||^2.

    Args:
        x: (B, *S) data.  recon: (B, m, *S) reconstructions through every chart.  psi: (B, m) partition of unity.

    Returns:
        Scalar tensor: the batch mean of the psi-weighted squared errors (summed over the entries of S).
    """
    err = (recon - x.unsqueeze(1)).pow(2).flatten(2).sum(2)  # (B, m)
    return (psi * err).sum(1).mean()


def encoder_adversarial(logits_q: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """Non-saturating adversarial loss of the encoders: sum_y E_x psi_y(x) [-log D_y(F_y(x))].

    Args:
        logits_q: (B, m) discriminator logits of the encoded points.  psi: (B, m) weights (not detached).
    """
    return (psi * F.softplus(-logits_q)).sum(1).mean()


def discriminator_loss(logits_p: torch.Tensor, logits_q: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
    """Weighted binary cross-entropy: prior samples (weight 1/m per chart) vs encoded samples (weight psi / B).

    Args:
        logits_p: (Bp, m) logits of prior samples z ~ N(0, I), one column per chart.
        logits_q: (B, m) logits of encoded samples.  psi: (B, m) weights (detach them for the discriminator step).

    Returns:
        Scalar: -E_P[log D_Y(Z)] - E_Q[log(1 - D_Y(Z))] with the joint expectations above.
    """
    m = logits_p.shape[1]
    real = F.softplus(-logits_p).mean(0).sum() / m
    fake = (psi * F.softplus(logits_q)).sum(1).mean()
    return real + fake


def marginal_js(psi: torch.Tensor) -> torch.Tensor:
    """JS(mean_x psi(x) || uniform) in nats, in [0, log 2]; 0 for m = 1.

    Args:
        psi: (B, m) partition of unity of a batch.
    """
    m = psi.shape[1]
    q = psi.mean(0)
    u = torch.full_like(q, 1.0 / m)
    mid = 0.5 * (q + u)
    kl_q = (q * (torch.log(q.clamp_min(1e-12)) - torch.log(mid))).sum()
    kl_u = (u * (math.log(1.0 / m) - torch.log(mid))).sum()
    return 0.5 * (kl_q + kl_u)
