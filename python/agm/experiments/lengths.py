"""Reference lengths beside the geodesics: the straight latent line of a chart and the true arc of the glyph loop."""

from __future__ import annotations

import math

import numpy as np
import torch

from agm.data.embedded import render_glyph
from agm.models.protocol import AtlasModel, model_device


@torch.no_grad()
def encode_most_likely(model: AtlasModel, x: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Each point's encoding in its most likely chart.

    Args:
        model: an atlas model (``encode``/``partition``, or ``encode_partition``); should be in eval mode.
        x: (N, *S) float tensor (any device; moved in batches to the model's device).
        batch_size: points per forward call.

    Returns:
        z: (N, d) float32 CPU tensor F_{y*}(x) and y: (N,) int64 CPU tensor y* = argmax_y psi_y(x).
    """
    device = model_device(model)
    zs, ys = [], []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size].to(device=device, dtype=torch.float32)
        both = getattr(model, "encode_partition", None)
        z, psi = both(xb) if callable(both) else (model.encode(xb), model.partition(xb))
        y = psi.argmax(1)
        zs.append(z[torch.arange(xb.shape[0], device=device), y].float().cpu())
        ys.append(y.cpu())
    return torch.cat(zs), torch.cat(ys)


@torch.no_grad()
def straight_latent_lengths(
    model: AtlasModel, x0: torch.Tensor, x1: torch.Tensor, n_steps: int = 200, batch_size: int = 256
) -> np.ndarray:
    """Decoded length of the straight latent segment between the encodings of x0[b] and x1[b].

    Both points are encoded in their most likely chart; the segment z0 -> z1 is decoded at ``n_steps``
    intermediate points and the distances between consecutive decodings are summed (the graph's edge weight with a
    fine resolution). A straight line exists only inside one chart: pairs whose points lie in different charts get
    NaN. For a one-chart model (the WAE-GAN) every pair has a value.

    Args:
        model: an atlas model in eval mode.
        x0, x1: (P, *S) float tensors.
        n_steps: intermediate decodings per segment (>= 1).
        batch_size: decoded points per forward call.

    Returns:
        (P,) float64 array.

    Raises:
        ValueError: x0 and x1 of different lengths or n_steps < 1.
    """
    if x0.shape[0] != x1.shape[0]:
        raise ValueError(f"x0, x1 must have the same number of points; got {x0.shape[0]} and {x1.shape[0]}")
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1; got {n_steps}")
    device = model_device(model)
    z0, y0 = encode_most_likely(model, x0, batch_size)
    z1, y1 = encode_most_likely(model, x1, batch_size)
    t = torch.linspace(0.0, 1.0, n_steps + 2)
    out = np.full(x0.shape[0], np.nan)
    for b in range(x0.shape[0]):
        if y0[b] != y1[b]:
            continue
        line = z0[b][None, :] + t[:, None] * (z1[b] - z0[b])[None, :]
        dec = []
        for i in range(0, line.shape[0], batch_size):
            zb = line[i : i + batch_size].to(device)
            dec.append(model.decode(zb, y0[b].repeat(zb.shape[0]).to(device)).flatten(1).double().cpu())
        poly = torch.cat(dec)
        out[b] = float(torch.linalg.vector_norm(poly[1:] - poly[:-1], dim=1).sum())
    return out


def glyph_arc_lengths(theta0: np.ndarray, theta1: np.ndarray, size: int = 28, step_deg: float = 0.25) -> np.ndarray:
    """True length, in pixel space, of the glyph loop's shorter arc between two rotation angles.

    The glyph is rendered along the shorter rotation from theta0 to theta1 every ``step_deg`` degrees (or finer)
    and the Euclidean distances of consecutive images are summed: the length a perfect model's geodesic would
    have, in the units of the decoded path lengths (the images are (1, size, size) in [0, 1]).

    Args:
        theta0, theta1: (P,) angles in radians.
        size: image side (28 for the data set).
        step_deg: rendering step in degrees (> 0).

    Returns:
        (P,) float64 array.
    """
    theta0 = np.asarray(theta0, dtype=np.float64).reshape(-1)
    theta1 = np.asarray(theta1, dtype=np.float64).reshape(-1)
    if theta0.shape != theta1.shape:
        raise ValueError(f"theta0, theta1 must have the same shape; got {theta0.shape} and {theta1.shape}")
    if not step_deg > 0:
        raise ValueError(f"step_deg must be > 0; got {step_deg}")
    out = np.empty(theta0.shape[0])
    for b, (a, c) in enumerate(zip(theta0, theta1)):
        delta = (c - a + math.pi) % (2 * math.pi) - math.pi  # signed shorter rotation
        n = max(1, int(math.ceil(abs(math.degrees(delta)) / step_deg)))
        imgs = render_glyph(torch.from_numpy(a + delta * np.linspace(0.0, 1.0, n + 1)), size).flatten(1).double()
        out[b] = float(torch.linalg.vector_norm(imgs[1:] - imgs[:-1], dim=1).sum())
    return out


@torch.no_grad()
def track_on_loop(
    x: torch.Tensor, reference: torch.Tensor, reference_angles: torch.Tensor, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Where a sequence of points sits on a known loop: the angle of the nearest reference point and the distance.

    Args:
        x: (n, *S) float tensor, e.g. the decodings along a geodesic.
        reference: (R, *S) float tensor of exact loop points (e.g. glyphs rendered every 0.5 degrees).
        reference_angles: (R,) float tensor of their angles (radians).
        batch_size: points of x compared at once.

    Returns:
        angles (n,) float64 radians of the nearest reference point, and distances (n,) float64 to it (the
        distance of each point from the loop: large for "garbage" off the data manifold).
    """
    ref = reference.reshape(reference.shape[0], -1).double()
    angles, dists = [], []
    for i in range(0, x.shape[0], batch_size):
        d = torch.cdist(x[i : i + batch_size].reshape(-1, ref.shape[1]).double().cpu(), ref)
        best, idx = d.min(dim=1)
        angles.append(reference_angles.double()[idx].numpy())
        dists.append(best.numpy())
    return np.concatenate(angles), np.concatenate(dists)


def angle_travelled(angles: np.ndarray) -> float:
    """Total rotation (radians) of a sequence of loop angles: sum of |consecutive differences| wrapped to
    (-pi, pi]. A geodesic between glyphs 90 degrees apart travels about pi / 2 along the short way, about 3 pi / 2 when
    it goes round the other side of the loop."""
    steps = np.diff(np.asarray(angles, dtype=np.float64))
    return float(np.abs((steps + math.pi) % (2 * math.pi) - math.pi).sum())
