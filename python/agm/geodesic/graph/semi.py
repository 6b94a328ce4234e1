"""Geodesics without encoders (semi-AGMs such as InfoGAN): nodes sampled from the prior, charts joined by search.

The paper suggests building the graph of a semi-AGM from samples: draw (z, y) from the prior, decode, and join
nodes of different charts whenever G_y(z) lies in U_y' (psi_y'(G_y(z)) > eps). Without F_y' the matching latent
point z' of chart y' is found by search: start from the latent of the nearest decoded node of chart y' and refine
it with a few Levenberg-Marquardt steps on ||G_y'(z') - G_y(z)||^2. The node (y', z') then shares the sample's
point id, so the native graph joins it to (y, z) with the cross-chart weight ||G_y(z) - G_y'(z')||, exactly as for
an AGM. Query points are located the same way (:func:`locate`). Any AGM can use this path too (``nodes="decoder"``).
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from agm.geodesic._support.checks import call_model
from agm.geodesic.graph.curves import decode_points
from agm.geodesic.graph.nodes import ChartNodes, partition_points
from agm.models.protocol import SemiAtlasModel


def _nearest(queries: torch.Tensor, candidates: torch.Tensor, block: int = 1024) -> torch.Tensor:
    """Index of the nearest candidate (rows, Euclidean) of every query, in memory-bounded blocks."""
    out = torch.empty(queries.shape[0], dtype=torch.int64, device=queries.device)
    for s in range(0, queries.shape[0], block):
        out[s : s + block] = torch.cdist(queries[s : s + block], candidates).argmin(dim=1)
    return out


def refine(
    model: SemiAtlasModel,
    z: torch.Tensor,
    y: torch.Tensor,
    targets: torch.Tensor,
    steps: int,
    batch_size: int,
) -> torch.Tensor:
    """Minimise ||G_y(z) - target||^2 over z, independently for every row (Levenberg-Marquardt).

    The Jacobian of the decoder is taken by forward differences (d + 1 decodings per row and step), so no
    gradients flow through the model and any decoder works; with d <= 16 a step costs little more than a
    gradient step and converges quadratically near the solution. A row keeps its best iterate, so the result is
    never worse than its initial latent.

    Args:
        model: the (semi-)AGM.
        z: (P, d) float32 initial latents on the model's device.
        y: (P,) int64 charts.
        targets: (P, D) float32 flattened target points.
        steps: Levenberg-Marquardt iterations (0 returns z unchanged).
        batch_size: decoded points per forward call (a step decodes d + 1 points per row).

    Returns:
        (P, d) float32 refined latents.
    """
    out = z.clone()
    d = z.shape[1]
    eye = torch.eye(d, device=z.device, dtype=z.dtype)
    rows = max(1, batch_size // (d + 1))
    for s in range(0, z.shape[0], rows):
        zb, yb, tb = out[s : s + rows].clone(), y[s : s + rows], targets[s : s + rows]
        p = zb.shape[0]
        res = call_model("decode", model.decode, zb, yb).reshape(p, -1) - tb
        cost = res.square().sum(dim=1)
        damping = torch.full((p,), 1e-3, device=z.device, dtype=z.dtype)
        for _ in range(steps):
            h = 1e-3 * zb.abs().clamp(min=1.0)  # (P, d)
            probe = (zb[:, None, :] + h[:, :, None] * eye[None]).reshape(p * d, d)
            decoded = call_model("decode", model.decode, probe, yb.repeat_interleave(d)).reshape(p, d, -1)
            jac = (decoded - (res + tb)[:, None, :]) / h[:, :, None]
            a = jac @ jac.transpose(1, 2)  # (P, d, d) = J^T J
            g = (jac @ res[:, :, None])[:, :, 0]  # (P, d) = J^T r
            diag = torch.diagonal(a, dim1=1, dim2=2)
            step = torch.linalg.solve(a + damping[:, None, None] * torch.diag_embed(diag + 1e-9), -g)
            trial = zb + step
            trial_res = call_model("decode", model.decode, trial, yb).reshape(p, -1) - tb
            trial_cost = trial_res.square().sum(dim=1)
            ok = trial_cost < cost
            zb[ok], res[ok], cost[ok] = trial[ok], trial_res[ok], trial_cost[ok]
            damping = torch.where(ok, damping / 3, damping * 4).clamp(1e-9, 1e9)
        out[s : s + rows] = zb
    return out


def prior_nodes(
    model: SemiAtlasModel,
    n_per_chart: int,
    eps: float,
    k: int,
    batch_size: int,
    device: torch.device,
    *,
    search_steps: int,
    seed: int,
    skip_small_charts: bool,
    progress: bool,
) -> ChartNodes:
    """Nodes of a semi-AGM's graph (call under ``evaluating``).

    Args:
        model: a semi-AGM (n_charts, latent_dim, decode, partition).
        n_per_chart: prior samples z ~ N(0, I) drawn in every chart; a sample of chart y is kept when
            psi_y(G_y(z)) > eps.
        eps, k, skip_small_charts: as in ``build_graph``.
        search_steps: Levenberg-Marquardt iterations of the cross-chart matching (:func:`refine`).
        seed: seed of the prior samples.

    Returns:
        :class:`ChartNodes` whose point ids are sample ids: a sample's node in its own chart and its matched
        nodes in the other charts share one id.
    """
    m, d = model.n_charts, model.latent_dim
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(m * n_per_chart, d, generator=g).to(device)
    y = torch.arange(m, device=device).repeat_interleave(n_per_chart)
    shape = tuple(call_model("decode", model.decode, z[:1], y[:1]).shape[1:])
    x = decode_points(model.decode, z, y, batch_size, device)
    psi = partition_points(model, x.reshape(-1, *shape), batch_size, device)
    member = psi > eps  # (S, m): sample s lies in U_y'
    keep = member[torch.arange(z.shape[0], device=device), y]
    z, y, x, member = z[keep], y[keep], x[keep], member[keep]
    sample_id = torch.arange(z.shape[0], device=device)

    # cross-chart matches: every kept sample of chart y that lies in U_y' (y' != y) gets a node in chart y'
    pair_s, pair_c = torch.nonzero(member & (y[:, None] != torch.arange(m, device=device)[None, :]), as_tuple=True)
    pair_ok = torch.isin(pair_c, y)  # a chart without samples of its own has no node to start the search from
    pair_s, pair_c = pair_s[pair_ok], pair_c[pair_ok]
    z_match = torch.empty(pair_s.shape[0], d, device=device)
    for c in tqdm(range(m), desc="matching charts", disable=not progress, leave=False):
        rows = torch.nonzero(pair_c == c).flatten()
        if rows.numel() == 0:
            continue
        own = torch.nonzero(y == c).flatten()
        init = z[own[_nearest(x[pair_s[rows]], x[own])]]
        z_match[rows] = refine(model, init, pair_c[rows], x[pair_s[rows]], search_steps, batch_size)

    all_z = torch.cat([z, z_match]).cpu()
    all_y = torch.cat([y, pair_c]).cpu()
    all_id = torch.cat([sample_id, pair_s]).cpu()
    charts, latents, ids = [], [], []
    for c in range(m):
        rows = torch.nonzero(all_y == c).flatten()
        if rows.numel() <= k:
            if skip_small_charts:
                continue
            raise ValueError(
                f"chart {c} gets {rows.numel()} nodes from {n_per_chart} prior samples with psi > eps={eps} but "
                f"needs more than k={k}; draw more samples, or pass a smaller k or eps, or skip_small_charts=True"
            )
        order = rows[torch.argsort(all_id[rows])]
        charts.append(c)
        latents.append(np.ascontiguousarray(all_z[order].numpy(), dtype=np.float32))
        ids.append(all_id[order].numpy().astype(np.int64))
    if not charts:
        raise ValueError(f"no chart has more than k={k} nodes with psi > eps={eps}")
    return ChartNodes(tuple(charts), tuple(latents), tuple(ids))


def locate(
    model: SemiAtlasModel,
    x: torch.Tensor,
    charts: np.ndarray,
    node_latents: np.ndarray,
    node_positions: np.ndarray,
    node_chart: np.ndarray,
    *,
    steps: int,
    batch_size: int,
) -> np.ndarray:
    """Latent points of data points in given charts without an encoder (call under ``evaluating``).

    Args:
        x: (P, *S) float32 points on the model's device.
        charts: (P,) int64 model chart in which to locate each point.
        node_latents, node_positions, node_chart: the graph's nodes (latents, flattened decodings, charts).
        steps: Levenberg-Marquardt refinement of ||G_y(z) - x||^2 from the latent of the nearest decoded node of
            chart y.

    Returns:
        (P, d) float32 latents.
    """
    device = x.device
    flat = x.reshape(x.shape[0], -1).float()
    out = np.empty((x.shape[0], node_latents.shape[1]), dtype=np.float32)
    for c in np.unique(charts):
        rows = np.flatnonzero(charts == c)
        own = np.flatnonzero(node_chart == c)
        pos = torch.from_numpy(np.asarray(node_positions[own], dtype=np.float32)).to(device)
        near = _nearest(flat[rows], pos).cpu().numpy()
        init = torch.from_numpy(np.ascontiguousarray(node_latents[own[near]], dtype=np.float32)).to(device)
        y = torch.full((rows.size,), int(c), dtype=torch.int64, device=device)
        out[rows] = refine(model, init, y, flat[rows], steps, batch_size).cpu().numpy()
    return out
