"""IDX reading and writing: round trips and every kind of malformed file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from digitkit.data.idx import encode_idx, parse_idx, read_idx, write_idx
from digitkit.errors import DigitkitError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, dtype, suffix):
    arr = (np.arange(2 * 3 * 4) % 100).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / f"a-idx3-ubyte{suffix}"
    write_idx(path, arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(back, arr)


def test_header_layout_matches_mnist():
    data = encode_idx(np.zeros((5, 28, 28), np.uint8))
    assert data[:4] == b"\x00\x00\x08\x03"
    assert data[4:16] == (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    assert len(data) == 16 + 5 * 784


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: b"\x01" + d[1:], "bad magic"),
        (lambda d: d[:2] + b"\x42" + d[3:], "bad magic"),
        (lambda d: d[:-10], "truncated"),
        (lambda d: d + b"\x00", "trailing"),
        (lambda d: d[:10], "truncated header"),
        (lambda d: d[:3], "too short"),
        (lambda d: d[:3] + b"\x09" + d[4:], "dimensions"),
    ],
)
def test_malformed_files_name_the_file(tmp_path, mutate, message):
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(mutate(encode_idx(np.zeros((3, 4, 4), np.uint8))))
    with pytest.raises(DigitkitError) as err:
        read_idx(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_truncated_gzip_is_reported(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(encode_idx(np.arange(100, dtype=np.uint8)))[:-20])
    with pytest.raises(DigitkitError, match="corrupt or truncated gzip"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DigitkitError, match="not found"):
        read_idx(tmp_path / "nope")


def test_parse_rejects_wrong_sizes():
    with pytest.raises(DigitkitError, match="header says shape"):
        parse_idx(encode_idx(np.zeros(10, np.uint8))[:-1], "labels")
