"""MNIST and FashionMNIST from the standard gzipped IDX files: lookup, checksum check, optional download.

Lookup order for each file (first hit wins): ``data_dir`` given by the caller, then ``$AGM_DATA_DIR``, then the
user cache dir (``$XDG_CACHE_HOME/agm`` or ``~/.cache/agm``). In each root both ``<root>/<name>/`` (name =
``"mnist"`` or ``"fashion-mnist"``, the layout of a shared data folder) and ``<root>/`` itself are searched.
Missing files are downloaded (if ``download=True``) into ``<cache>/<name>/``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from agm._files import atomic_path

from .idx import read_idx

__all__ = [
    "ChecksumError",
    "DatasetNotFoundError",
    "Downloader",
    "MD5",
    "MIRRORS",
    "MNIST_NAMES",
    "SHA256",
    "SPLIT_FILES",
    "cache_dir",
    "load_mnist",
    "search_dirs",
    "sha256_file",
    "urllib_download",
]

#: Names of the IDX-file data sets this module reads.
MNIST_NAMES: tuple[str, ...] = ("mnist", "fashion-mnist")

#: split -> (images file, labels file)
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

#: SHA-256 of the official files (byte-identical to the publishers' files: their MD5s are in :data:`MD5`).
SHA256: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}

#: MD5 published by the data set authors (provenance only; verification uses :data:`SHA256`).
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

#: Public mirrors (base URLs, tried in order).
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

#: ``downloader(url, destination)`` writes the resource at ``url`` to the file ``destination``; raises OSError
#: (or ValueError / http.client.HTTPException) on failure.
Downloader = Callable[[str, Path], None]

# (resolved path, size, mtime_ns) -> sha256 hex, so repeated loads in one process do not re-hash.
_HASH_CACHE: dict[tuple[str, int, int], str] = {}


class DatasetNotFoundError(FileNotFoundError):
    """Files of a data set are missing and could not be downloaded; the message says which files go where."""


class ChecksumError(ValueError):
    """A data file's SHA-256 differs from the official one; the message names the file and both hashes."""


def cache_dir() -> Path:
    """The user cache directory of agm: ``$XDG_CACHE_HOME/agm`` if set, else ``~/.cache/agm``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "agm"


def search_dirs(name: str, data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Directories searched for the files of data set ``name``, in lookup order (duplicates removed).

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        data_dir: optional directory given by the caller (searched first).

    Returns:
        ``[root/name, root]`` for each root of (``data_dir``, ``$AGM_DATA_DIR``, :func:`cache_dir`) that is set.
    """
    _check_name(name)
    roots: list[Path] = []
    if data_dir is not None:
        roots.append(Path(data_dir).expanduser())
    env = os.environ.get("AGM_DATA_DIR")
    if env:
        roots.append(Path(env).expanduser())
    roots.append(cache_dir())
    dirs: list[Path] = []
    for root in roots:
        for candidate in (root / name, root):
            if candidate not in dirs:
                dirs.append(candidate)
    return dirs


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file (streamed in 1 MiB blocks; memoised per path, size and mtime)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASH_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _HASH_CACHE[key] = digest.hexdigest()
    return _HASH_CACHE[key]


def _verify(path: Path, expected: str) -> None:
    """Raise ChecksumError if the file's SHA-256 is not ``expected``."""
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"checksum mismatch for {str(path)!r}: expected sha256 {expected}, got {actual}. The file is corrupt "
            "or not the official one: replace it (or pass verify=False for self-generated files)."
        )


def urllib_download(url: str, destination: Path, *, timeout: float = 30.0) -> None:
    """Default downloader: stream ``url`` into ``destination`` with a tqdm progress bar.

    Args:
        url: http(s) or file URL.
        destination: file to (over)write.
        timeout: socket timeout in seconds.

    Raises:
        OSError (urllib.error.URLError, socket timeouts), http.client.HTTPException: the transfer failed.
    """
    from tqdm.auto import tqdm

    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed public mirrors)
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        with (
            destination.open("wb") as out,
            tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=url.rsplit("/", 1)[-1]) as bar,
        ):
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                bar.update(len(block))


def _download(name: str, filename: str, target_dir: Path, downloader: Downloader) -> tuple[Path | None, list[str]]:
    """Try each mirror; verify; atomically move into ``target_dir``. Returns (path or None, error messages)."""
    errors: list[str] = []
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return None, [f"cannot create {str(target_dir)!r}: {exc}"]
    final = target_dir / filename
    for base in MIRRORS[name]:
        url = base + filename
        try:
            with atomic_path(final) as tmp:  # a failed or interrupted download never leaves a file under its name
                downloader(url, tmp)
                _verify(tmp, SHA256[name][filename])
            return final, errors
        except (OSError, ValueError, http.client.HTTPException) as exc:
            errors.append(f"{url}: {type(exc).__name__}: {exc}")
    return None, errors


def _check_name(name: str) -> None:
    if name not in MNIST_NAMES:
        raise ValueError(f"name must be one of {MNIST_NAMES}; got {name!r}")


def _resolve_files(
    name: str,
    filenames: Sequence[str],
    data_dir: str | os.PathLike[str] | None,
    download: bool,
    downloader: Downloader | None,
) -> list[Path]:
    """Find (or download) each file; DatasetNotFoundError listing files and directories if some stay missing."""
    dirs = search_dirs(name, data_dir)
    found: dict[str, Path] = {}
    for filename in filenames:
        hit = next((d / filename for d in dirs if (d / filename).is_file()), None)
        if hit is not None:
            found[filename] = hit
    errors: list[str] = []
    if download:
        for filename in filenames:
            if filename not in found:
                path, errs = _download(name, filename, cache_dir() / name, downloader or urllib_download)
                errors += errs
                if path is not None:
                    found[filename] = path
    missing = [f for f in filenames if f not in found]
    if missing:
        lines = [
            f"{name}: missing file(s) {', '.join(missing)}.",
            "Put the official gzipped IDX files into one of these directories (searched in this order):",
            *(f"  {d}" for d in dirs),
            f"e.g. {dirs[0]}/ (or set $AGM_DATA_DIR to a folder holding {name}/).",
        ]
        if download:
            lines.append("Download failed:")
            lines += [f"  {e}" for e in errors]
        else:
            lines.append("download=False, so nothing was downloaded.")
        raise DatasetNotFoundError("\n".join(lines))
    return [found[f] for f in filenames]


def load_mnist(
    name: str = "mnist",
    split: str = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    verify: bool = True,
    downloader: Downloader | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST or FashionMNIST images and labels.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        split: ``"train"`` (60,000 official samples) or ``"test"`` (10,000).
        data_dir: directory searched first (``<data_dir>/<name>/`` then ``<data_dir>/``).
        download: download missing files from the public mirrors into ``<cache_dir()>/<name>/``. Downloads are
            always checked against the official SHA-256.
        verify: check found files against the official SHA-256 (False for self-generated test files).
        downloader: replaces :func:`urllib_download` (tests inject a fake one; nothing else touches the network).

    Returns:
        ``(images, labels)``: images a (N, 1, H, W) float32 CPU tensor in [0, 1] (pixel / 255; H = W = 28 for the
        official files), labels a (N,) int64 CPU tensor.

    Raises:
        ValueError: bad ``name``/``split``; a file is not a valid IDX file or images and labels disagree.
        ChecksumError: ``verify`` and a file's SHA-256 is not the official one (message: file, expected, actual).
        DatasetNotFoundError: files missing and not downloadable (a FileNotFoundError listing files and dirs).
    """
    _check_name(name)
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be one of {tuple(SPLIT_FILES)}; got {split!r}")
    image_path, label_path = _resolve_files(name, SPLIT_FILES[split], data_dir, download, downloader)
    if verify:
        for path in (image_path, label_path):
            _verify(path, SHA256[name][path.name])
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"{str(image_path)!r}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{str(label_path)!r}: expected uint8 labels (N,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(
            f"{str(image_path)!r} holds {len(images)} images but {str(label_path)!r} holds {len(labels)} labels"
        )
    x = torch.from_numpy(images).unsqueeze(1).to(torch.float32).div_(255.0)
    y = torch.from_numpy(labels).to(torch.int64)
    return x, y
