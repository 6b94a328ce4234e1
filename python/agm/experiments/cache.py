"""Reuse of saved intermediate results (graphs, geodesic lengths), keyed by the parameters that made them."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from agm._files import atomic_write


def param_key(params: dict[str, Any]) -> str:
    """A short stable key (12 hex digits) of JSON-serialisable parameters (order of dict keys ignored)."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def array_key(array: np.ndarray) -> str:
    """A short key (12 hex digits) of an array's dtype, shape and bytes (e.g. the indices of the chosen points)."""
    a = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{a.dtype}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:12]


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become None, numpy scalars/arrays become Python values."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | os.PathLike[str], payload: Any) -> Path:
    """Write strict JSON atomically (NaN/inf written as null, numpy values converted; folder created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as fh:
        json.dump(_clean(payload), fh, indent=2, allow_nan=False)
    return path


def read_json(path: str | os.PathLike[str]) -> Any | None:
    """The JSON content of ``path``, or None when the file is missing or unreadable (then it is recomputed)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
