"""The nodes of Algorithm 1: data points encoded into every chart whose partition value exceeds eps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from tqdm.auto import tqdm

from agm.geodesic._support.checks import call_model, check_partition
from agm.models.protocol import AtlasModel, SemiAtlasModel


@dataclass(frozen=True)
class ChartNodes:
    """Per-chart node sets, ready for the native graph.

    Attributes:
        charts: model chart of each kept chart, in order.
        latents: one (N_c, d) float32 C-contiguous array per kept chart.
        point_ids: one (N_c,) int64 array per kept chart: index of each node's data point.
    """

    charts: tuple[int, ...]
    latents: tuple[np.ndarray, ...]
    point_ids: tuple[np.ndarray, ...]


def encode_atlas(
    model: SemiAtlasModel, data: torch.Tensor, batch_size: int, device: torch.device, progress: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Partition of unity and chart maps of many points, in batches (call under ``evaluating``).

    Args:
        data: (N, *S) float tensor (any device).

    Returns:
        psi (N, m) float32 and z (N, m, d) float32, both on the CPU.
    """
    m, d = model.n_charts, model.latent_dim
    psis, zs = [], []
    for start in tqdm(range(0, data.shape[0], batch_size), desc="encoding", disable=not progress, leave=False):
        xb = data[start : start + batch_size].to(device, torch.float32)
        if hasattr(model, "encode_partition"):  # one trunk pass for both (agm's own models)
            z, psi = call_model("encode_partition", model.encode_partition, xb)
        else:
            psi = call_model("partition", model.partition, xb)
            z = call_model("encode", cast(AtlasModel, model).encode, xb)  # an encoder mode: checked up front
        check_partition(psi, m)
        if tuple(z.shape) != (xb.shape[0], m, d):
            raise ValueError(f"model.encode must return shape ({xb.shape[0]}, {m}, {d}); got {tuple(z.shape)}")
        if not bool(torch.isfinite(z).all()):
            row = int((~torch.isfinite(z)).reshape(z.shape[0], -1).any(dim=1).nonzero()[0, 0])
            raise ValueError(f"model.encode must return finite latents; got NaN or inf for point {start + row}")
        psis.append(psi.float().cpu())
        zs.append(z.float().cpu())
    return torch.cat(psis), torch.cat(zs)


def partition_points(model: SemiAtlasModel, data: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Partition of unity of many points in batches (call under ``evaluating``).

    Args:
        data: (N, *S) float tensor (any device).

    Returns:
        (N, m) float32 tensor on ``device``, rows checked to lie on the simplex.
    """
    out = [
        call_model("partition", model.partition, data[s : s + batch_size].to(device, torch.float32))
        for s in range(0, data.shape[0], batch_size)
    ]
    psi = torch.cat(out).float()
    check_partition(psi, model.n_charts)
    return psi


def select_nodes(psi: torch.Tensor, z: torch.Tensor, eps: float, k: int, skip_small_charts: bool) -> ChartNodes:
    """Keep, in every chart y, the points with psi_y(x) > eps.

    Args:
        psi: (N, m) partition values.
        z: (N, m, d) chart maps.
        eps: threshold in [0, 1).
        k: neighbours per node; a chart needs more than k points.
        skip_small_charts: leave out charts with k or fewer points instead of raising.

    Raises:
        ValueError: a chart has k or fewer points (naming the chart, its count, eps and k) and
            ``skip_small_charts`` is False, or no chart is left.
    """
    charts, latents, ids = [], [], []
    for y in range(psi.shape[1]):
        members = torch.nonzero(psi[:, y] > eps).flatten()
        if members.numel() <= k:
            if skip_small_charts:
                continue
            raise ValueError(
                f"chart {y} gets {members.numel()} points with psi > eps={eps} but needs more than k={k}; "
                "pass more data, a smaller k or eps, or skip_small_charts=True"
            )
        charts.append(y)
        latents.append(np.ascontiguousarray(z[members, y].numpy(), dtype=np.float32))
        ids.append(members.numpy().astype(np.int64))
    if not charts:
        raise ValueError(f"no chart has more than k={k} points with psi > eps={eps}")
    return ChartNodes(tuple(charts), tuple(latents), tuple(ids))
