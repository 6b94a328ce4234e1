"""Decoded curve lengths of straight latent segments, batched on the model's device (the paper's eq. 10).

The length of the segment z_a -> z_b in chart y with n steps (eq. 10 of the paper, literally) is
    sum_{i=0}^{n-1} || G_y(g(t_i)) - G_y(g(t_{i+1})) ||,   g(t) = z_a + t (z_b - z_a),   t_i = i / n,  i = 0..n,
so ``n_steps = n`` means n segments and n - 1 interior decodings (n = 1 is the decoded chord). Its endpoints
G_y(z_a), G_y(z_b) are the decodings of graph nodes, computed once per node and shared by all the node's edges,
so a segment costs exactly n - 1 decodings. Every weight is therefore at least ||G_y(z_a) - G_y(z_b)||,
which makes the A* heuristic consistent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from agm.geodesic.inputs import call_model, check_decoded

Decoder = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Decoded points per forward call when the caller does not choose and nothing was measured. Measured on the
#: 2-core CPU machine for the paper's h=48 conv decoder (one thread): 307 points/s at batch 16, 253 at 256, 177 at
#: 4096 (glibc malloc); a cheap decoder, on the other hand, is dominated by per-call overhead below thousands.
DEFAULT_CPU_BATCH = 256
DEFAULT_CUDA_BATCH = 16384
#: Candidate batch sizes tried by :func:`tune_batch_size`, smallest first.
CANDIDATES = (16, 64, 256, 1024, 4096, 16384)


def interior_decodings(n_steps: int) -> int:
    """Decodings inside one segment of ``n_steps`` steps (eq. 10: t_i = i / n, the two endpoints excluded)."""
    return max(0, n_steps - 1)


def checked_decode(
    decode: Decoder, z: torch.Tensor, y: torch.Tensor, row_name: Callable[[int], str] | None = None
) -> torch.Tensor:
    """``decode(z, y)`` flattened to (B, D) float32; a failing call or a NaN/inf decoding is a clear error.

    Errors name the model method and what was passed (see :func:`agm.geodesic.inputs.call_model`), or the chart
    and latent of the first non-finite decoding (:func:`agm.geodesic.inputs.check_decoded`).
    """
    out = check_decoded(call_model("decode", decode, z, y), z, y, z.shape[0], row_name)
    return out.reshape(z.shape[0], -1).to(torch.float32)


def default_batch_size(device: torch.device) -> int:
    """Decoded points per forward call: small on the CPU (allocator-bound), large on CUDA."""
    return DEFAULT_CUDA_BATCH if device.type == "cuda" else DEFAULT_CPU_BATCH


def tune_batch_size(
    decode: Decoder, z: torch.Tensor, y: torch.Tensor, device: torch.device, budget_s: float = 0.2
) -> int:
    """Choose the decoder batch size by measurement: the fastest of :data:`CANDIDATES` in points per second.

    Sizes are tried from the smallest up, one timed forward call each (after a small warm-up call), and the
    search stops at the first call that takes longer than ``budget_s``: an expensive decoder is measured with a
    few small calls (well under a second), a cheap one climbs to large batches where per-call overhead vanishes.

    Args:
        decode: the model's ``decode(z, y)`` (call under ``evaluating``).
        z: (N, d) latents to decode (rows are repeated to fill a batch).
        y: (N,) int64 charts.
        device: the decoder's device.

    Returns:
        The batch size (points per forward call) with the best measured throughput.
    """
    if device.type == "cuda":
        return DEFAULT_CUDA_BATCH
    n = z.shape[0]
    call_model("decode", decode, z[:16].to(device), y[:16].to(device))  # warm-up: first-call allocations
    best, best_rate = DEFAULT_CPU_BATCH, 0.0
    for size in CANDIDATES:
        idx = torch.arange(size) % n
        zb, yb = z[idx].to(device), y[idx].to(device)
        start = time.perf_counter()
        call_model("decode", decode, zb, yb)
        seconds = time.perf_counter() - start
        if size / seconds > best_rate:
            best, best_rate = size, size / seconds
        if seconds > budget_s:
            break
    return best


def decode_points(
    decode: Decoder,
    z: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    device: torch.device,
    row_name: Callable[[int], str] | None = None,
) -> torch.Tensor:
    """Decode many latent points in batches.

    Args:
        decode: the model's ``decode(z, y)``.
        z: (N, d) float tensor (any device).
        y: (N,) int64 tensor of charts.
        batch_size: decoded points per forward call.
        device: where to run the decoder.
        row_name: names row i in the error raised for a NaN/inf decoding (e.g. the query point it belongs to).

    Returns:
        (N, D) float32 tensor on ``device``: the flattened decodings.
    """
    out: list[torch.Tensor] = []
    for start in range(0, z.shape[0], batch_size):
        zb = z[start : start + batch_size].to(device, torch.float32)
        yb = y[start : start + batch_size].to(device)
        name = None if row_name is None else (lambda r, s=start: row_name(s + r))
        out.append(checked_decode(decode, zb, yb, name))
    if not out:
        return torch.empty(0, 0, device=device)
    return torch.cat(out)


def edges_per_batch(batch_size: int, n_steps: int) -> int:
    """Segments per decoder call so that one call decodes at most ``batch_size`` interior points."""
    return max(1, batch_size // max(1, interior_decodings(n_steps)))


def segment_lengths(
    decode: Decoder,
    z_start: torch.Tensor,
    z_end: torch.Tensor,
    charts: torch.Tensor,
    x_start: torch.Tensor,
    x_end: torch.Tensor,
    n_steps: int,
) -> torch.Tensor:
    """Decoded lengths of a batch of straight latent segments, one forward call.

    Args:
        decode: the model's ``decode(z, y)``.
        z_start, z_end: (E, d) float32 latent endpoints on the decoder's device.
        charts: (E,) int64 chart of each segment.
        x_start, x_end: (E, D) float32 decodings of the endpoints (flattened).
        n_steps: segments per curve (eq. 10's n), >= 1; n - 1 interior decodings per segment.

    Returns:
        (E,) float64 tensor of polyline lengths, on the decoder's device.
    """
    e = z_start.shape[0]
    inner_n = interior_decodings(n_steps)
    if inner_n == 0:
        chord: torch.Tensor = torch.linalg.vector_norm(x_end - x_start, dim=1).double()
        return chord
    t = torch.arange(1, n_steps, device=z_start.device, dtype=z_start.dtype) / n_steps
    z = z_start[:, None, :] + t[None, :, None] * (z_end - z_start)[:, None, :]  # (E, n-1, d)
    y = charts[:, None].expand(e, inner_n).reshape(-1)
    inner = checked_decode(decode, z.reshape(e * inner_n, -1), y).reshape(e, inner_n, -1)
    poly = torch.cat([x_start[:, None, :], inner, x_end[:, None, :]], dim=1)  # (E, n+1, D)
    lengths: torch.Tensor = torch.linalg.vector_norm(poly[:, 1:] - poly[:, :-1], dim=2).double().sum(dim=1)
    return lengths


def edge_lengths(
    decode: Decoder,
    latents: torch.Tensor,
    positions: torch.Tensor,
    node_chart: torch.Tensor,
    edges: np.ndarray,
    n_steps: int,
    batch_size: int,
    progress: bool = False,
    desc: str = "edge weights",
) -> np.ndarray:
    """Curve-length weights of intra-chart graph edges, streamed in batches (no Python per edge).

    Args:
        decode: the model's ``decode(z, y)``.
        latents: (N, d) float32 node latents on the decoder's device.
        positions: (N, D) float32 node decodings on the same device.
        node_chart: (N,) int64 node charts on the same device.
        edges: (E, 2) int64 numpy array of node pairs of the same chart.
        n_steps: segments per edge (eq. 10's n, >= 1).
        batch_size: decoded points per forward call; ``max(1, batch_size // (n_steps - 1))`` edges per batch, so
            peak memory is set by the batch size, not by E.
        progress: show a tqdm bar.

    Returns:
        (E,) float64 numpy array.
    """
    device = latents.device
    n_edges = edges.shape[0]
    per_batch = edges_per_batch(batch_size, n_steps)
    out = torch.empty(n_edges, dtype=torch.float64, device=device)
    ends = torch.from_numpy(edges).to(device)
    with tqdm(total=n_edges, desc=desc, unit="edge", disable=not progress, leave=False) as bar:
        for start in range(0, n_edges, per_batch):
            u, v = ends[start : start + per_batch].unbind(1)
            out[start : start + u.shape[0]] = segment_lengths(
                decode, latents[u], latents[v], node_chart[u], positions[u], positions[v], n_steps
            )
            bar.update(u.shape[0])
    return out.cpu().numpy()
