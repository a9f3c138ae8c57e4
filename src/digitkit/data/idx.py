"""Read and write the IDX format of the MNIST files (LeCun), gzipped or not.

Layout: two zero bytes, a type code, the number of dimensions, then one big-endian uint32
per dimension, then the data in C order. Every check names the file, so a user knows which
download to repeat.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from digitkit.errors import DigitkitError

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(v).newbyteorder("=") if v.itemsize > 1 else v: k for k, v in _DTYPES.items()}

GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | Path) -> bytes:
    """Return the (decompressed) content of ``path``; gzip is detected by its magic bytes."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DigitkitError(f"{path}: file not found") from None
    if raw[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DigitkitError(
                f"{path}: corrupt or truncated gzip data ({exc}); delete it and download again"
            ) from None
    return raw


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array, validating magic number, dimensions and size."""
    if len(data) < 4:
        raise DigitkitError(f"{name}: too short to be an IDX file ({len(data)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in _DTYPES:
        raise DigitkitError(f"{name}: not an IDX file (bad magic number 0x{data[:4].hex()})")
    if ndim == 0 or ndim > 4:
        raise DigitkitError(f"{name}: implausible number of dimensions ({ndim})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DigitkitError(f"{name}: truncated header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise DigitkitError(
            f"{name}: {what}: header says shape {shape} ({expected} bytes), found {actual} bytes"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False) if dtype.itemsize > 1 else arr


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a NumPy array."""
    return parse_idx(read_bytes(path), name=str(path))


def encode_idx(arr: np.ndarray) -> bytes:
    """Encode an array as IDX bytes (uint8, int8, int16, int32, float32 or float64)."""
    arr = np.asarray(arr)
    native = arr.dtype.newbyteorder("=") if arr.dtype.itemsize > 1 else arr.dtype
    if native not in _CODES:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}")
    code = _CODES[native]
    header = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.ascontiguousarray(arr.astype(_DTYPES[code], copy=False)).tobytes()


def write_idx(path: str | Path, arr: np.ndarray, compress: bool | None = None) -> None:
    """Write ``arr`` to ``path`` in IDX format, gzipped when the name ends in ``.gz``."""
    from digitkit import atomic

    path = Path(path)
    payload = encode_idx(arr)
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        payload = gzip.compress(payload, mtime=0)
    atomic.write_bytes(path, payload)
