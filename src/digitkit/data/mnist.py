"""The four MNIST files: where they live, how they are verified, how they are downloaded.

Data directory: ``--data-dir``, else ``$DIGITKIT_DATA``, else ``~/.cache/digitkit/mnist``.
Files are accepted gzipped or not and verified by the sha256 of their *decompressed* content,
which holds for every public mirror (some recompress the archives).
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitkit import atomic
from digitkit.data.idx import parse_idx, read_bytes
from digitkit.errors import DigitkitError


@dataclass(frozen=True)
class MnistFile:
    """One of the four standard files and the facts used to verify it."""

    key: str  # train_images, train_labels, test_images, test_labels
    name: str  # file name without .gz
    sha256: str  # of the decompressed content
    shape: tuple[int, ...]


FILES: tuple[MnistFile, ...] = (
    MnistFile(
        "train_images",
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        (60000, 28, 28),
    ),
    MnistFile(
        "train_labels",
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        (60000,),
    ),
    MnistFile(
        "test_images",
        "t10k-images-idx3-ubyte",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        (10000, 28, 28),
    ),
    MnistFile(
        "test_labels",
        "t10k-labels-idx1-ubyte",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        (10000,),
    ),
)

# Public mirrors, tried in order; each serves ``<base>/<name>.gz``.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist",
    "https://storage.googleapis.com/cvdf-datasets/mnist",
    "http://yann.lecun.com/exdb/mnist",
)

ENV_VAR = "DIGITKIT_DATA"
MIRRORS_ENV_VAR = "DIGITKIT_MIRRORS"  # comma-separated base URLs replacing MIRRORS


def default_mirrors() -> tuple[str, ...]:
    """``$DIGITKIT_MIRRORS`` (comma-separated) if set, else the public mirrors."""
    env = os.environ.get(MIRRORS_ENV_VAR, "").strip()
    return tuple(m.strip() for m in env.split(",") if m.strip()) if env else MIRRORS


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: the explicit argument, else ``$DIGITKIT_DATA``, else the cache."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "digitkit" / "mnist"


def find_file(data_dir: Path, f: MnistFile) -> Path | None:
    """The path of ``f`` in ``data_dir`` (gzipped preferred), or None if absent."""
    for candidate in (data_dir / f"{f.name}.gz", data_dir / f.name):
        if candidate.is_file():
            return candidate
    return None


def content_sha256(path: Path) -> str:
    """sha256 of the decompressed content of ``path``."""
    return hashlib.sha256(read_bytes(path)).hexdigest()


@dataclass(frozen=True)
class FileStatus:
    """What ``verify`` found for one file."""

    file: MnistFile
    path: Path | None
    ok: bool
    problem: str = ""


def verify(data_dir: Path) -> list[FileStatus]:
    """Check each of the four files: present, readable, and with the expected checksum."""
    statuses = []
    for f in FILES:
        path = find_file(data_dir, f)
        if path is None:
            statuses.append(FileStatus(f, None, False, "missing"))
            continue
        try:
            digest = content_sha256(path)
        except DigitkitError as exc:
            statuses.append(FileStatus(f, path, False, str(exc)))
            continue
        ok = digest == f.sha256
        statuses.append(FileStatus(f, path, ok, "" if ok else "checksum mismatch"))
    return statuses


def _fetch(url: str, dest: Path, timeout: float, on_progress: Callable[[int, int], None] | None):
    """Stream ``url`` into ``dest`` (a temporary path)."""
    with urllib.request.urlopen(url, timeout=timeout) as resp, open(dest, "wb") as out:
        total = int(resp.headers.get("Content-Length") or 0)
        done = 0
        while chunk := resp.read(1 << 16):
            out.write(chunk)
            done += len(chunk)
            if on_progress:
                on_progress(done, total)


def download_file(
    f: MnistFile,
    data_dir: Path,
    mirrors: Sequence[str] | None = None,
    timeout: float = 30.0,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Download ``f`` from the first mirror that serves a verified copy; return its path.

    Each attempt streams to a temporary file beside the target and is renamed into place only
    after its decompressed content matches the expected sha256, so a partial or corrupt
    download never takes the place of a good file.
    """
    target = data_dir / f"{f.name}.gz"
    failures = []
    for base in mirrors or default_mirrors():
        url = f"{base.rstrip('/')}/{f.name}.gz"
        try:
            with atomic.atomic_path(target) as tmp:
                _fetch(url, tmp, timeout, on_progress)
                digest = hashlib.sha256(read_bytes(tmp)).hexdigest()
                if digest != f.sha256:
                    raise _Corrupt(f"checksum mismatch ({digest[:12]}...)")
            return target
        except (urllib.error.URLError, OSError, _Corrupt, DigitkitError) as exc:
            failures.append(f"{url}: {exc}")
    raise DigitkitError(
        f"could not download {f.name}.gz from any mirror ("
        + "; ".join(failures)
        + "); copy the MNIST files into the data directory by hand"
    )


class _Corrupt(Exception):
    pass


def ensure_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] | None = None,
    download: bool = True,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Make sure the four verified files are in the data directory; download what is missing
    or corrupt. Returns the data directory."""
    root = resolve_data_dir(data_dir)
    bad = [s for s in verify(root) if not s.ok]
    if not bad:
        return root
    if not download:
        lines = ", ".join(f"{s.file.name} ({s.problem})" for s in bad)
        raise DigitkitError(
            f"MNIST data in {root} is incomplete: {lines}; run 'digitkit data download' "
            f"or set {ENV_VAR} to a folder with the four files"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DigitkitError(f"cannot create data directory {root}: {exc.strerror}") from None
    if not os.access(root, os.W_OK):
        lines = ", ".join(f"{s.file.name} ({s.problem})" for s in bad)
        raise DigitkitError(f"MNIST data in {root} is incomplete ({lines}) and it is read-only")
    for status in bad:
        progress = (lambda d, t, n=status.file.name: on_progress(n, d, t)) if on_progress else None
        download_file(status.file, root, mirrors, on_progress=progress)
        # A stale uncompressed copy would shadow nothing (gz is preferred) but would confuse.
        if status.path is not None and status.path.suffix != ".gz":
            status.path.unlink(missing_ok=True)
    return root


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None, download: bool = True
) -> dict[str, np.ndarray]:
    """Load the four arrays (``train_images`` uint8 (60000,28,28), ``train_labels`` ...).

    Verifies the files first (downloading when allowed); validates shapes and label range.
    """
    root = ensure_mnist(data_dir, download=download)
    arrays = {}
    for f in FILES:
        path = find_file(root, f)
        assert path is not None
        arr = parse_idx(read_bytes(path), name=str(path))
        if arr.shape != f.shape:
            raise DigitkitError(f"{path}: expected shape {f.shape}, found {arr.shape}")
        arrays[f.key] = arr
    return arrays
