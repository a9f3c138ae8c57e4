"""Cold start: how long ``digitkit predict one.png`` takes in a new process, and what it imports.

    .venv/bin/python benchmarks/bench_startup.py            # the project's own venv
    .venv/bin/python benchmarks/bench_startup.py --bare     # also a fresh venv, core deps only

Every run is a new interpreter (nothing cached in the process; the OS file cache is warm
after the first, as it is for a user running the command twice). Reported: wall seconds of
each run, their median, and whether torch was imported. ``--bare`` builds a throw-away venv
with ``pip install <this tree>`` (no extras: numpy, Pillow, safetensors, ...) and reports its
size on disk too: the figures behind the README's "install what you use".
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# Printed by the child after predicting: did the process import torch?
PROBE = (
    "import sys, runpy; sys.argv = ['digitkit', 'predict', {image!r}, '--json'];\n"
    "try:\n    runpy.run_module('digitkit', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "print('TORCH', 'torch' in sys.modules, file=sys.stderr)"
)


def _digit_png(folder: Path) -> Path:
    """A 280x280 canvas of a thick upright stroke (a 1), as the web page sends."""
    canvas = np.full((280, 280), 255, np.uint8)
    canvas[40:240, 125:155] = 0
    path = folder / "one.png"
    Image.fromarray(canvas).save(path)
    return path


def time_predict(python: Path, image: Path, runs: int) -> tuple[list[float], bool]:
    """Wall seconds of ``runs`` cold ``digitkit predict`` processes, and whether torch loaded."""
    seconds, torch_loaded = [], False
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [str(python), "-c", PROBE.format(image=str(image))],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0 or '"digit": 1' not in done.stdout:
            raise SystemExit(f"predict failed: {done.stdout}\n{done.stderr}")
        torch_loaded |= "TORCH True" in done.stderr
    return seconds, torch_loaded


def bare_venv(folder: Path) -> tuple[Path, float, int]:
    """A fresh venv with this tree installed without extras: (python, install s, bytes)."""
    venv = folder / "bare"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    started = time.perf_counter()
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(REPO)], check=True)
    took = time.perf_counter() - started
    size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink())
    return python, took, size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="cold processes per venv")
    parser.add_argument(
        "--bare",
        action="store_true",
        help="also measure a fresh venv with only the core dependencies",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        image = _digit_png(folder)
        rows = [("project venv (all extras)", Path(sys.executable), None, None)]
        if args.bare:
            python, took, size = bare_venv(folder)
            rows.append(("fresh venv, `pip install .` (no extras)", python, took, size))
        print(
            f"bench_startup.py, {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()} "
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n"
        )
        print(
            "| environment | cold `digitkit predict one.png`, s (each run) | median | "
            "torch imported | install | size |"
        )
        print("|---|---|---:|---|---:|---:|")
        for name, python, took, size in rows:
            seconds, torch_loaded = time_predict(python, image, args.runs)
            each = ", ".join(f"{s:.2f}" for s in seconds)
            install = f"{took:.0f} s" if took is not None else ""
            disk = f"{size / 2**20:.0f} MB" if size is not None else ""
            print(
                f"| {name} | {each} | {statistics.median(seconds):.2f} | "
                f"{'yes' if torch_loaded else 'no'} | {install} | {disk} |"
            )
        shutil.rmtree(folder / "bare", ignore_errors=True)


if __name__ == "__main__":
    main()
