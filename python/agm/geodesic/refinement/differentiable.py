"""Refinement optimises latent curves by gradients through ``model.decode``: check that it has them, once, first."""

from __future__ import annotations

import weakref

import numpy as np
import torch

from agm.geodesic._support.evaluating import evaluating
from agm.models.protocol import SemiAtlasModel

#: What refinement needs from the model, in the words of the error below and of the Protocol's docstring.
NEEDS = (
    "refine needs a differentiable model.decode: the curve's latents are optimised by gradient descent through "
    "the decoder, so decode(z, y) must compute its output from z with torch operations (no numpy round trip, "
    ".detach(), .item() or torch.no_grad() inside)"
)


#: Models (weakly held) whose decode passed the check, with the devices it passed on: a model is checked once, not
#: on every refine call (the check decodes with autograd on: ~0.3 ms, a tenth of a sphere geodesic's refinement).
_PASSED: weakref.WeakKeyDictionary[object, set[str]] = weakref.WeakKeyDictionary()


def check_differentiable(model: SemiAtlasModel, latent: np.ndarray, chart: int, device: torch.device) -> None:
    """Decode one latent with gradients on and check that the output depends on it through autograd (once per
    model and device).

    Args:
        latent: (d,) float latent of chart ``chart`` (e.g. a path's first point).
        device: the model's device.

    Raises:
        TypeError: decode fails with gradients on, returns no tensor, or returns one without a gradient path to z
            (the message says what refinement needs).
    """
    try:
        if str(device) in _PASSED.get(model, ()):
            return
    except TypeError:  # a model that cannot be held weakly: checked every time
        pass
    z = torch.as_tensor(np.asarray(latent, dtype=np.float32)[None, :], device=device).requires_grad_(True)
    y = torch.full((1,), int(chart), dtype=torch.int64, device=device)
    with evaluating(model), torch.enable_grad():
        try:
            out = model.decode(z, y)
        except RuntimeError as err:
            raise TypeError(f"{NEEDS}; decode raised with gradients on: {type(err).__name__}: {err}") from err
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        got = f"a {type(out).__name__}" if not isinstance(out, torch.Tensor) else "a tensor without a gradient path"
        raise TypeError(f"{NEEDS}; got {got} from decode((1, {z.shape[1]}) latent with requires_grad=True)")
    try:
        _PASSED.setdefault(model, set()).add(str(device))
    except TypeError:
        pass
