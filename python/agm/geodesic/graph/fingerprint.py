"""Which model a graph belongs to: a behavioural fingerprint that survives save/load and any model type.

A fixed set of probe latents (seeded, a few per chart) is decoded, and the decodings are passed back through the
partition of unity (and the encoders, when the model has them). Fixed random projections of these outputs form a
small vector that identifies the model's current weights: it changes when the model is trained further or
replaced, and it is the same for a model loaded back from a checkpoint, on any device (up to float tolerance).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from agm.geodesic._support.checks import call_model
from agm.geodesic._support.evaluating import evaluating
from agm.models.protocol import SemiAtlasModel

PROBES_PER_CHART = 4
PROJECTIONS = 8
_RTOL = 1e-3


def _project(out: torch.Tensor, seed: int) -> np.ndarray:
    flat = out.reshape(out.shape[0], -1).double().cpu()
    g = torch.Generator().manual_seed(seed)
    proj = torch.randn(flat.shape[1], PROJECTIONS, generator=g, dtype=torch.float64)
    return (flat @ proj).numpy().ravel()


def model_fingerprint(model: SemiAtlasModel, device: torch.device) -> dict[str, Any]:
    """Fingerprint of a model with the (semi-)atlas interface.

    Returns:
        A JSON-serialisable dict: class name, n_charts, latent_dim, data shape and the projected probe outputs.
    """
    m, d = int(model.n_charts), int(model.latent_dim)
    g = torch.Generator().manual_seed(12345)
    z = torch.randn(m * PROBES_PER_CHART, d, generator=g)
    y = torch.arange(m).repeat_interleave(PROBES_PER_CHART)
    with evaluating(model):
        x = call_model("decode", model.decode, z.to(device), y.to(device))
        parts = [_project(x, 1), _project(call_model("partition", model.partition, x), 2)]
        if hasattr(model, "encode"):
            parts.append(_project(call_model("encode", model.encode, x), 3))
    return {
        "class": type(model).__qualname__,
        "n_charts": m,
        "latent_dim": d,
        "data_shape": list(x.shape[1:]),
        "probe": np.concatenate(parts).tolist(),
    }


def fingerprints_match(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two fingerprints describe the same model (probe outputs equal up to a relative 1e-3)."""
    keys = ("class", "n_charts", "latent_dim", "data_shape")
    if any(a.get(k) != b.get(k) for k in keys):
        return False
    probe_a, probe_b = a.get("probe"), b.get("probe")  # a fingerprint read from a file may lack it
    if not isinstance(probe_a, list) or not isinstance(probe_b, list) or len(probe_a) != len(probe_b):
        return False
    pa, pb = np.asarray(probe_a, dtype=np.float64), np.asarray(probe_b, dtype=np.float64)
    return bool(np.all(np.abs(pa - pb) <= _RTOL * (np.abs(pa) + np.abs(pb)) + 1e-4))


def weight_versions(model: SemiAtlasModel) -> tuple[int, ...] | None:
    """A cheap signature of a module's parameters (id and in-place version counters); None for other objects.

    Optimiser steps and ``load_state_dict`` modify parameters in place and bump their version counters, so an
    unchanged signature means unchanged weights and the fingerprint need not be recomputed.
    """
    if not isinstance(model, torch.nn.Module):
        return None
    sig: list[int] = [id(model)]
    for t in list(model.parameters()) + list(model.buffers()):
        sig.extend((id(t), t._version))
    return tuple(sig)


class ModelCheck:
    """Checks that a model is the one a graph (and its paths) were computed with, recomputing the fingerprint
    only when the model's weights may have changed since the last successful check."""

    def __init__(self, fingerprint: dict[str, Any], verified: tuple[int, ...] | None = None) -> None:
        self.fingerprint = fingerprint
        self.verified = verified

    def matches(self, model: SemiAtlasModel, device: torch.device) -> bool:
        """Whether ``model`` (run on ``device``) behaves as the fingerprinted model."""
        sig = weight_versions(model)
        if sig is not None and sig == self.verified:
            return True
        if not fingerprints_match(model_fingerprint(model, device), self.fingerprint):
            return False
        self.verified = sig
        return True
