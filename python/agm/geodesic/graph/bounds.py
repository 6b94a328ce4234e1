"""Tighter lower bounds of unevaluated edges for one decoding each: the two-piece polyline through the middle step.

An edge's weight (eq. 10) is the length of the polyline through its n + 1 decoded points t_i = i / n. Dropping
every interior point but one, t_m with m = n // 2, gives a path with the same ends and fewer corners, so by the
triangle inequality ||G(z_m) - G(z_a)|| + ||G(z_b) - G(z_m)|| <= weight, and >= the chord. Where the decoded curve
bends away from the chord (the edges whose chords mislead LazySP most: a trained decoder's weight/chord reaches
3.6) this bound finds most of the gap for 1 decoding instead of n - 1. The decoded middle point is the one eq. 10
decodes (same latent arithmetic) up to the float32 rounding of another batch, which a relative margin of
:data:`MARGIN` covers.
"""

from __future__ import annotations

import torch

from agm.geodesic.graph.curves import Decoder, PointTable, checked_decode

#: Relative margin taken off every midpoint bound (float32 rounding of the decodings is ~1e-7 relative).
MARGIN = 1e-6


def midpoint_lengths(
    decode: Decoder, table: PointTable, ends: torch.Tensor, n_steps: int, batch_size: int
) -> torch.Tensor:
    """(E,) float64 lower bounds ||x_m - x_a|| + ||x_b - x_m|| (1 - MARGIN) of the segments ``ends`` ((E, 2) int64
    rows of ``table``, one chart each), x_m decoded at t = (n_steps // 2) / n_steps; the chord when n_steps < 2."""
    u, v = ends[:, 0], ends[:, 1]
    xa, xb = table.positions[u], table.positions[v]
    if n_steps < 2 or ends.shape[0] == 0:
        chord: torch.Tensor = torch.linalg.vector_norm(xb - xa, dim=1).double()
        return chord
    t = torch.tensor((n_steps // 2) / n_steps, dtype=table.latents.dtype, device=table.latents.device)
    out = torch.empty(ends.shape[0], dtype=torch.float64, device=table.latents.device)
    for s in range(0, ends.shape[0], batch_size):
        a, b = u[s : s + batch_size], v[s : s + batch_size]
        za = table.latents[a]
        xm = checked_decode(decode, za + t * (table.latents[b] - za), table.charts[a])
        pieces = torch.linalg.vector_norm(xm - xa[s : s + batch_size], dim=1) + torch.linalg.vector_norm(
            xb[s : s + batch_size] - xm, dim=1
        )
        out[s : s + a.shape[0]] = pieces.double()
    return out * (1.0 - MARGIN)
