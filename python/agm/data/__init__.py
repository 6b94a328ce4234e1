"""Data sets: MNIST/FashionMNIST from IDX files and generated manifolds with known geodesics.

Front door: :func:`load_dataset` (names in :data:`DATASETS`), returning a :class:`Dataset` of CPU tensors.

Floor: the lowest package above ``agm``'s private base modules (``agm._files``, ``agm._threads``, ...); imports
nothing else of agm (``tests/test_layout.py``).
"""

from __future__ import annotations

from .embedded import (
    ManifoldSample,
    angular_distance,
    circle,
    glyph_loop,
    random_embedding,
    render_glyph,
    sphere,
    sphere_distance,
    torus,
    torus_distance,
)
from .idx import read_idx, write_idx
from .mnist import ChecksumError, DatasetNotFoundError, load_mnist
from .registry import DATASETS, Dataset, load_dataset

__all__ = [
    "DATASETS",
    "ChecksumError",
    "Dataset",
    "DatasetNotFoundError",
    "ManifoldSample",
    "angular_distance",
    "circle",
    "glyph_loop",
    "load_dataset",
    "load_mnist",
    "random_embedding",
    "read_idx",
    "render_glyph",
    "sphere",
    "sphere_distance",
    "torus",
    "torus_distance",
    "write_idx",
]
