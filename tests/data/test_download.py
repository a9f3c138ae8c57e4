"""Download and verification against mirrors served on 127.0.0.1 (never the internet):
one mirror answers 404, one serves corrupted bytes, one serves the real files."""

from __future__ import annotations

import functools
import gzip
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from digitkit.data import mnist
from digitkit.data.idx import encode_idx
from digitkit.errors import DigitkitError

# Small stand-ins for the four files; their checksums replace the real ones in these tests.
FAKE = {
    "train_images": np.random.default_rng(0).integers(0, 256, (30, 28, 28), dtype=np.uint8),
    "train_labels": np.arange(30, dtype=np.uint8) % 10,
    "test_images": np.random.default_rng(1).integers(0, 256, (10, 28, 28), dtype=np.uint8),
    "test_labels": np.arange(10, dtype=np.uint8),
}


@pytest.fixture()
def fake_files(monkeypatch):
    import hashlib

    files = tuple(
        mnist.MnistFile(
            f.key, f.name, hashlib.sha256(encode_idx(FAKE[f.key])).hexdigest(), FAKE[f.key].shape
        )
        for f in mnist.FILES
    )
    monkeypatch.setattr(mnist, "FILES", files)
    return files


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture()
def mirrors(tmp_path, fake_files):
    """Serve three mirror folders on a loopback HTTP server; return their base URLs."""
    root = tmp_path / "www"
    good, bad = root / "good", root / "corrupt"
    (root / "empty").mkdir(parents=True)
    good.mkdir()
    bad.mkdir()
    for f in fake_files:
        payload = encode_idx(FAKE[f.key])
        (good / f"{f.name}.gz").write_bytes(gzip.compress(payload))
        corrupted = bytearray(payload)
        corrupted[-1] ^= 0xFF
        (bad / f"{f.name}.gz").write_bytes(gzip.compress(bytes(corrupted)))
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield {"404": f"{base}/empty", "corrupt": f"{base}/corrupt", "good": f"{base}/good"}
    server.shutdown()


def test_falls_through_404_and_corrupt_mirrors(tmp_path, mirrors):
    data_dir = tmp_path / "data"
    order = [mirrors["404"], mirrors["corrupt"], mirrors["good"]]
    root = mnist.ensure_mnist(data_dir, mirrors=order)
    assert root == data_dir
    assert all(s.ok for s in mnist.verify(data_dir))
    arrays = mnist.load_mnist(data_dir, download=False)
    np.testing.assert_array_equal(arrays["train_images"], FAKE["train_images"])
    # No temporary files are left behind.
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(f"{f.name}.gz" for f in mnist.FILES)


def test_all_mirrors_bad_is_a_clear_error_and_writes_nothing(tmp_path, mirrors):
    data_dir = tmp_path / "data"
    with pytest.raises(DigitkitError) as err:
        mnist.ensure_mnist(data_dir, mirrors=[mirrors["404"], mirrors["corrupt"]])
    message = str(err.value)
    assert "could not download" in message and "404" in message and "checksum" in message
    assert list(data_dir.iterdir()) == []


def test_corrupt_and_partial_files_are_fetched_again(tmp_path, mirrors, fake_files):
    data_dir = tmp_path / "data"
    mnist.ensure_mnist(data_dir, mirrors=[mirrors["good"]])
    images = data_dir / f"{fake_files[0].name}.gz"
    labels = data_dir / f"{fake_files[1].name}.gz"
    images.write_bytes(images.read_bytes()[:100])  # partial download
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[-1] ^= 1
    labels.write_bytes(gzip.compress(bytes(raw)))  # silently corrupted content
    problems = {s.file.key: s.problem for s in mnist.verify(data_dir) if not s.ok}
    assert set(problems) == {"train_images", "train_labels"}
    mnist.ensure_mnist(data_dir, mirrors=[mirrors["good"]])
    assert all(s.ok for s in mnist.verify(data_dir))


def test_uncompressed_files_are_accepted(tmp_path, fake_files):
    for f in fake_files:
        (tmp_path / f.name).write_bytes(encode_idx(FAKE[f.key]))
    assert all(s.ok for s in mnist.verify(tmp_path))


def test_mirrors_from_environment(monkeypatch, tmp_path, mirrors):
    monkeypatch.setenv("DIGITKIT_MIRRORS", f"{mirrors['404']}, {mirrors['good']}")
    mnist.ensure_mnist(tmp_path / "d")
    assert all(s.ok for s in mnist.verify(tmp_path / "d"))


def test_no_download_names_missing_files(tmp_path, fake_files):
    with pytest.raises(DigitkitError, match="incomplete.*missing.*digitkit data download"):
        mnist.ensure_mnist(tmp_path, download=False)


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITKIT_DATA", str(tmp_path / "env"))
    assert mnist.resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert mnist.resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("DIGITKIT_DATA")
    assert mnist.resolve_data_dir() == Path.home() / ".cache" / "digitkit" / "mnist"


def test_real_files_verify(mnist_dir):
    assert all(s.ok for s in mnist.verify(mnist_dir))
