"""Reconstruction error of an atlas model, as reported in the paper's Table 1.

Definition (the same for every model, WAE-GAN included)::

    err(x)  = || x - G_{y*}(F_{y*}(x)) ||^2 ,   y* = argmax_y psi_y(x)      (squared error summed over all entries of x)
    error   = mean of err(x) over the test points

i.e. every point is reconstructed through its most likely chart, the chart it is assigned to when the atlas is used
(geodesic graph nodes, Fig. 2).  The psi-weighted cost minimised in training (an average over charts) is not what
is reported.  For m = 1 this is the ordinary autoencoder reconstruction error.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from agm.models.protocol import AtlasModel, model_device


@dataclass(frozen=True)
class ReconstructionReport:
    """Per-point results of :func:`reconstruction_errors` (CPU tensors).

    Attributes:
        errors: (N,) float32 squared errors through the most likely chart.
        charts: (N,) int64 most likely chart argmax_y psi_y(x).
        confidence: (N,) float32 max_y psi_y(x).
    """

    errors: torch.Tensor
    charts: torch.Tensor
    confidence: torch.Tensor

    @property
    def mean_error(self) -> float:
        """The Table 1 number: mean squared reconstruction error over the points."""
        return float(self.errors.mean())

    def __repr__(self) -> str:
        used = int((self.charts.bincount() > 0).sum()) if self.charts.numel() else 0
        return (
            f"ReconstructionReport({self.errors.numel()} points, mean error {self.mean_error:.4g}, "
            f"charts used {used}, mean confidence {float(self.confidence.mean()):.3f})"
        )


@torch.no_grad()
def reconstruction_errors(model: AtlasModel, x: torch.Tensor, batch_size: int = 500) -> ReconstructionReport:
    """Reconstruct every point through its most likely chart (the model should be in eval mode).

    Args:
        model: any :class:`agm.models.AtlasModel`.
        x: (N, *S) float tensor (any device; moved to the model's device in batches).
        batch_size: points per forward pass.

    Returns:
        A :class:`ReconstructionReport`.

    Raises:
        ValueError: ``x`` is empty or ``batch_size`` < 1.
    """
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one point; got 0")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    device = model_device(model)
    errs, charts, conf = [], [], []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size].to(device=device, dtype=torch.float32)
        both = getattr(model, "encode_partition", None)  # one trunk pass when the model offers it
        z, psi = both(xb) if callable(both) else (model.encode(xb), model.partition(xb))
        c, y = psi.max(1)
        rec = model.decode(z[torch.arange(xb.shape[0], device=device), y], y)
        errs.append((rec - xb).pow(2).flatten(1).sum(1).cpu())
        charts.append(y.cpu())
        conf.append(c.cpu())
    return ReconstructionReport(torch.cat(errs), torch.cat(charts), torch.cat(conf))
