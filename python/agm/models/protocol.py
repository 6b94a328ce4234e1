"""The atlas interface: what the geodesic code needs from a generative model.

Any object with these attributes and methods is an AGM for agm's purposes; no inheritance from agm is needed
(structural typing through :class:`typing.Protocol`).  There is no fused ``encode_partition``: callers use
``encode`` and ``partition`` (agm's families run the shared trunk once for each, plus that map's own head).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class SemiAtlasModel(Protocol):
    """A semi-AGM (e.g. InfoGAN): chart decoders G_y and a partition of unity psi, but no chart encoders.

    Attributes:
        n_charts: m, the number of charts (discrete latent values).
        latent_dim: d, the dimension of each chart's continuous latent space R^d.
    """

    n_charts: int
    latent_dim: int

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Chart inverses G_y(z).

        Args:
            z: (B, latent_dim) float tensor on the model's device.
            y: (B,) int64 tensor of chart indices in [0, n_charts). One batch may mix charts: row b is decoded in
                chart y[b] (agm packs the points of many edges, of several charts, into one call).

        Returns:
            (B, *S) float tensor: the decoded data points (means for a probabilistic decoder), S the shape of one
            data point (compared with the data's once, when a graph is built).

        Geodesic refinement (``path.refine()``, ``agm.geodesic.refine_paths``, ``frechet_mean``) optimises latents
        by gradients through this method, so it needs decode to be differentiable in z: torch operations from z
        to the output, no numpy round trip, ``.detach()``, ``.item()`` or ``torch.no_grad()`` inside. The graph and
        its queries run it under ``torch.no_grad()`` and need no gradients.
        """
        ...

    def partition(self, x: torch.Tensor) -> torch.Tensor:
        """Partition of unity psi(x), psi_y(x) = q(y | x).

        Args:
            x: (B, *S) float tensor on the model's device.

        Returns:
            (B, n_charts) float tensor, each row on the probability simplex.
        """
        ...


@runtime_checkable
class AtlasModel(SemiAtlasModel, Protocol):
    """An Atlas Generative Model: chart encoders F_y, chart decoders G_y and a partition of unity psi."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Chart maps F_y(x) for every chart y.

        Args:
            x: (B, *S) float tensor on the model's device.

        Returns:
            (B, n_charts, latent_dim) float tensor (means for a probabilistic encoder).
        """
        ...


def model_device(model: object) -> torch.device:
    """The device of a model's parameters (CPU for a model without parameters)."""
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
        for b in model.buffers():
            return b.device
    dev = getattr(model, "device", None)
    return torch.device(dev) if dev is not None else torch.device("cpu")
