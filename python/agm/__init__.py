"""agm: Atlas Generative Models and geodesic interpolation across their charts."""

from __future__ import annotations

__version__ = "0.1.0"
