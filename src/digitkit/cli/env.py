"""``digitkit env``: what a bug report needs (versions, extras, threads, data, models)."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import typer

from digitkit.cli._common import console
from digitkit.errors import DigitkitError

# distribution name -> the extra that brings it ("" = always installed)
DISTRIBUTIONS: dict[str, str] = {
    "numpy": "",
    "pillow": "",
    "safetensors": "",
    "onnxruntime": "fast",
    "typer": "",
    "rich": "",
    "torch": "train",
    "onnx": "train",
    "matplotlib": "train",
    "fastapi": "serve",
    "uvicorn": "serve",
    "python-multipart": "serve",
    "prometheus-client": "serve",
    "PySide6-Essentials": "desktop",
}
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """The facts ``digitkit env`` prints, as a dict; imports none of the optional libraries."""
    from digitkit import __version__
    from digitkit._extras import EXTRAS, installed
    from digitkit.data.mnist import FILES, find_file, resolve_data_dir
    from digitkit.inference.predictor import WEIGHTS_DIR, shipped_models
    from digitkit.vision.numbers import shipped_reader_dirs

    extras = {extra: installed(extra) for extra in EXTRAS}
    data_dir = resolve_data_dir(None)
    found = [f.name for f in FILES if find_file(data_dir, f) is not None]
    try:
        cpus_usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus_usable = os.cpu_count()
    threads: dict[str, Any] = {"cpu_count": os.cpu_count(), "cpus_usable": cpus_usable}
    threads.update({v: os.environ[v] for v in THREAD_VARS if v in os.environ})
    try:
        readers: list[str] | str = [d.name for d in shipped_reader_dirs()]
    except DigitkitError as exc:  # a broken number.json: say so, env must still print
        readers = f"unreadable: {exc}"
    return {
        "digitkit": __version__,
        "location": str(Path(__file__).resolve().parent.parent),
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "packages": {d: _version(d) for d in DISTRIBUTIONS},
        "extras": extras,
        "threads": threads,
        "data_dir": {
            "path": str(data_dir),
            "source": "$DIGITKIT_DATA" if os.environ.get("DIGITKIT_DATA") else "default",
            "mnist_files": f"{len(found)} of {len(FILES)}",
        },
        "models": {
            "dir": str(WEIGHTS_DIR),
            "shipped": shipped_models(),
            "number_readers": readers,  # read as one (weights/number.json)
            # What runs the shipped models (digitkit.inference.sessions.open_session).
            "runtime": "onnxruntime" if extras["fast"] else "numpy",
            "int8": os.environ.get("DIGITKIT_INT8", "1") != "0",
        },
    }


def register(app: typer.Typer) -> None:
    @app.command("env")
    def env(
        json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Print what a bug report needs: digitkit and package versions, installed extras,
        threads, the data directory and the shipped models.

        Examples:

          digitkit env

          digitkit env --json > env.json
        """
        info = environment()
        if json_out:
            typer.echo(json.dumps(info, indent=2))
            return
        console.print(f"digitkit {info['digitkit']} ({info['location']})")
        console.print(f"python   {info['python']}\nplatform {info['platform']}")
        packages = ", ".join(f"{d} {v}" for d, v in info["packages"].items() if v)
        console.print(f"packages {packages}")
        extras = ", ".join(f"{e} {'yes' if ok else 'no'}" for e, ok in info["extras"].items())
        console.print(f"extras   {extras}")
        console.print("threads  " + ", ".join(f"{k} {v}" for k, v in info["threads"].items()))
        d = info["data_dir"]
        console.print(f"data     {d['path']} ({d['source']}; MNIST files {d['mnist_files']})")
        m = info["models"]
        readers = m["number_readers"]
        readers = " + ".join(readers) if isinstance(readers, list) else readers
        console.print(
            f"models   {', '.join(m['shipped']) or 'none'}; number reader "
            f"{readers or 'none'}; runtime {m['runtime']}; "
            f"int8 {'on' if m['int8'] else 'off'}"
        )
