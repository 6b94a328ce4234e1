"""One entry point for every data set: ``load_dataset(name, split, ...) -> Dataset``."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

from .embedded import ManifoldSample, circle, glyph_loop, sphere, torus
from .mnist import MNIST_NAMES, load_mnist
from .summary import tensor_summary

__all__ = ["DATASETS", "DEFAULT_SIZES", "N_ANGLE_BINS", "Dataset", "load_dataset"]

#: Names :func:`load_dataset` accepts: the two IDX-file image sets and the embedded manifolds.
DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist", "circle", "sphere", "torus", "glyph-loop")

#: Number of generated samples per split of the embedded sets when ``n`` is None.
DEFAULT_SIZES: dict[str, dict[str, int]] = {
    "circle": {"train": 4096, "test": 1024},
    "sphere": {"train": 8192, "test": 2048},
    "torus": {"train": 8192, "test": 2048},
    "glyph-loop": {"train": 4096, "test": 1024},
}

#: Embedded sets label each point by the bin of its periodic angle among this many equal bins of [0, 2 pi).
N_ANGLE_BINS = 8

_SPLIT_STREAM = {"train": 0, "test": 1}


@dataclass(frozen=True)
class Dataset(TorchDataset[tuple[torch.Tensor, torch.Tensor]]):
    """A data set held in memory (CPU tensors), and a torch ``Dataset``: ``ds[i]`` is ``(x[i], labels[i])``, so a
    ``torch.utils.data.DataLoader(ds, batch_size=...)`` yields ``(x, labels)`` batches; every agm function that
    takes data takes it whole (``build_graph(model, ds)``).

    Attributes:
        x: (N, *shape) float32 data: images in [0, 1] for MNIST/FashionMNIST (1, 28, 28) and the glyph loop
            (1, 28, 28); points (D,) for circle (D=2), sphere (D=3), torus (D=4).
        labels: (N,) int64. MNIST/FashionMNIST: class 0-9. Embedded sets: bin index in [0, N_ANGLE_BINS) of the
            periodic angle (circle/glyph loop: the angle; sphere: the azimuth; torus: the major angle), handy to
            colour plots; not a class.
        params: (N, k) float32 intrinsic coordinates (see :class:`agm.data.embedded.ManifoldSample`), None for
            MNIST/FashionMNIST.
        name: data set name (one of :data:`DATASETS`).
        shape: S, the shape of one sample.
    """

    x: torch.Tensor
    labels: torch.Tensor
    params: torch.Tensor | None
    name: str
    shape: tuple[int, ...]

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x[index], labels[index])``: a (*shape) float32 tensor and a () int64 tensor, both on the CPU."""
        return self.x[index], self.labels[index]

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, {len(self)} points of shape {self.shape}, x={tensor_summary(self.x)}, "
            f"labels={tensor_summary(self.labels)}, params={tensor_summary(self.params)})"
        )


def _angle_bins(angle: torch.Tensor) -> torch.Tensor:
    bins = torch.floor(torch.remainder(angle.to(torch.float64), 2 * math.pi) / (2 * math.pi) * N_ANGLE_BINS)
    return bins.to(torch.int64).clamp_(0, N_ANGLE_BINS - 1)


def _check_int(arg: str, value: object, minimum: int) -> int:
    """``value`` as a Python int: any integer (numpy's too, bools refused) >= ``minimum``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)) or int(value) < minimum:
        raise ValueError(f"{arg} must be an int >= {minimum}; got {value!r}")
    return int(value)


#: The most bytes of points :func:`load_dataset` generates for an embedded set (n beyond it is refused, naming n).
MAX_GENERATED_BYTES = 1 << 30

_GENERATORS: dict[str, Callable[..., ManifoldSample]] = {
    "circle": circle,
    "sphere": sphere,
    "torus": torus,
    "glyph-loop": glyph_loop,
}


def _check_generated_size(name: str, count: int) -> None:
    """ValueError naming n when ``count`` points of the embedded set ``name`` exceed :data:`MAX_GENERATED_BYTES`."""
    generate = _GENERATORS.get(name)
    if generate is None:
        return
    one = generate(1, seed=0, stream=0).x  # one point tells its size in bytes
    point_bytes = one[0].numel() * one.element_size()
    if count * point_bytes > MAX_GENERATED_BYTES:
        raise ValueError(
            f"n: {count} points of {name} ({point_bytes} bytes each) exceed the {MAX_GENERATED_BYTES >> 20} MiB "
            f"agm generates at once; got n={count}"
        )


def load_dataset(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    n: int | np.integer[Any] | None = None,
    seed: int | np.integer[Any] = 0,
    download: bool = True,
    verify: bool = True,
) -> Dataset:
    """Load a data set by name.

    Args:
        name: one of :data:`DATASETS`.
        split: ``"train"`` or ``"test"``. For embedded sets the test split uses another random stream of the
            same ``seed`` (same embedding, independent points).
        data_dir: MNIST/FashionMNIST only: directory searched first (see :func:`agm.data.mnist.load_mnist`).
        n: MNIST/FashionMNIST: keep a random subset of n samples (chosen with ``seed``, in file order); None keeps
            all. Embedded sets: number of points to generate; None means :data:`DEFAULT_SIZES`.
        seed: random seed (subset choice, or generation of embedded sets); n and seed may be numpy integers.
        download: MNIST/FashionMNIST only: download missing files.
        verify: MNIST/FashionMNIST only: check SHA-256 of found files (False for self-generated test files).

    Returns:
        A :class:`Dataset` of CPU tensors.

    Raises:
        ValueError: unknown name (the message lists valid names), bad split, n or seed, or n larger than the
            data set.
        agm.data.mnist.DatasetNotFoundError: MNIST files missing (FileNotFoundError subclass).
        agm.data.mnist.ChecksumError: MNIST file with the wrong checksum.
    """
    if name not in DATASETS:
        raise ValueError(f"name: unknown data set {name!r}; valid names: {', '.join(DATASETS)}")
    if split not in _SPLIT_STREAM:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    seed = _check_int("seed", seed, 0)
    if n is not None:
        n = _check_int("n", n, 1)

    if name in MNIST_NAMES:
        x, labels = load_mnist(name, split, data_dir=data_dir, download=download, verify=verify)
        if n is not None:
            if n > len(x):
                raise ValueError(f"n: {name} {split} has {len(x)} samples, got n={n}")
            generator = torch.Generator().manual_seed(seed)
            keep = torch.randperm(len(x), generator=generator)[:n].sort().values
            x, labels = x[keep], labels[keep]
        return Dataset(x=x, labels=labels, params=None, name=name, shape=tuple(x.shape[1:]))

    count = DEFAULT_SIZES[name][split] if n is None else n
    stream = _SPLIT_STREAM[split]
    _check_generated_size(name, count)
    if name == "circle":
        sample = circle(count, seed=seed, stream=stream)
        periodic = sample.params[:, 0]
    elif name == "sphere":
        sample = sphere(count, seed=seed, stream=stream)
        periodic = sample.params[:, 1]
    elif name == "torus":
        sample = torus(count, seed=seed, stream=stream)
        periodic = sample.params[:, 0]
    else:
        sample = glyph_loop(count, seed=seed, stream=stream)
        periodic = sample.params[:, 0]
    return Dataset(
        x=sample.x, labels=_angle_bins(periodic), params=sample.params, name=name, shape=tuple(sample.x.shape[1:])
    )
