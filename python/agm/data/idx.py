"""Reading and writing IDX files, the container format of MNIST and FashionMNIST (gzipped or plain).

IDX layout (big-endian): two zero bytes, one dtype code byte, one byte ``ndim``, then ``ndim`` unsigned 32-bit
dimensions, then the data in C order. MNIST images have magic ``0x00000803`` (uint8, 3 dims), labels
``0x00000801`` (uint8, 1 dim).
"""

from __future__ import annotations

import gzip as _gzip
import io
import os
import zlib
from pathlib import Path

import numpy as np

from agm._files import atomic_write

__all__ = ["IDX_DTYPES", "read_idx", "write_idx"]

#: IDX dtype code -> big-endian numpy dtype of the stored elements.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _code_for_dtype(dtype: np.dtype) -> int | None:
    """The IDX dtype code for a numpy dtype (any byte order), or None if IDX cannot store it."""
    for code, idx_dtype in IDX_DTYPES.items():
        if dtype.kind == idx_dtype.kind and dtype.itemsize == idx_dtype.itemsize:
            return code
    return None


def _decompressed_bytes(path: Path) -> bytes:
    """The file's content, gunzipped if it starts with the gzip magic; ValueError naming the path if corrupt."""
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return _gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"IDX file {str(path)!r}: corrupt or truncated gzip stream ({exc})") from exc


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not, detected from its first bytes).

    Args:
        path: path of the file.

    Returns:
        A writable numpy array in native byte order with the file's dtype (uint8 for MNIST) and shape
        ``(d_0, ..., d_{ndim-1})`` as stored in the header.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not an IDX file (bad magic, unknown dtype code), or its size does not match the
            header (truncated, or trailing bytes); the message names the path.
    """
    path = Path(path)
    data = _decompressed_bytes(path)
    where = f"IDX file {str(path)!r}"
    if len(data) < 4:
        raise ValueError(f"{where}: only {len(data)} byte(s), too short for an IDX header (truncated?)")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(f"{where}: not an IDX file (magic starts with {data[:4].hex()}, expected 0000xxxx)")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        raise ValueError(f"{where}: not an IDX file (unknown dtype code 0x{code:02x}; known: {known})")
    if ndim == 0:
        raise ValueError(f"{where}: header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(f"{where}: truncated header ({len(data)} bytes, {ndim} dims need {header_len} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header_len + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "trailing bytes"
        raise ValueError(
            f"{where}: {problem}: header says shape {dims} of {dtype.name} ({expected} bytes in all), "
            f"the (decompressed) file has {len(data)} bytes"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | os.PathLike[str], array: np.ndarray, gzip: bool = True) -> Path:
    """Write an array as an IDX file, atomically (temporary file in the same directory, then rename).

    Used by tests to generate small fake MNIST-like data sets. The gzip header carries no file name and
    mtime 0, so equal arrays give byte-identical files.

    Args:
        path: destination; its parent directory must exist.
        array: numpy array of dtype uint8, int8, int16, int32, float32 or float64 (any byte order), 1 to 255
            dimensions, each < 2**32. Not converted: other dtypes (e.g. int64) raise TypeError.
        gzip: gzip-compress the file (as the official MNIST ``*.gz`` files are).

    Returns:
        The path written, as a :class:`pathlib.Path`.

    Raises:
        TypeError: ``array`` is not a numpy array or its dtype cannot be stored in IDX.
        ValueError: ``array`` has 0 or more than 255 dimensions, or a dimension >= 2**32.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"array must be a numpy.ndarray; got {type(array).__name__}")
    code = _code_for_dtype(array.dtype)
    if code is None:
        names = ", ".join(d.name for d in IDX_DTYPES.values())
        raise TypeError(f"array: dtype {array.dtype} cannot be stored in IDX (supported: {names}); convert it first")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"array: IDX needs 1 to 255 dimensions, got ndim={array.ndim}")
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(f"array: every dimension must be < 2**32, got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    if gzip:
        buffer = io.BytesIO()
        with _gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz:
            gz.write(payload)
        payload = buffer.getvalue()
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        handle.write(payload)
    return path
