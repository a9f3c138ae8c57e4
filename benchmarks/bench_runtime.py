"""The shipped recognizer on its two runtimes, side by side in one process: onnxruntime (the
``fast`` extra; int8 graphs as shipped, and float32) and the core's NumPy runtime (float32).

    DIGITKIT_DATA=../shared/data/mnist .venv/bin/python benchmarks/bench_runtime.py

Reported per runtime: ``Recognizer.predict`` median wall ms (and CPU ms of this process) for
one 280x280 PNG canvas and for one 28x28 array, and images/s of ``predict_batch`` over 2,000
MNIST test images, with its accuracy. The runtimes are timed in turn, input by input, so that
a change of the machine's load (its cores are shared) weighs on each alike.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import canvas_png  # noqa: E402


def _load(model: str, runtime: str):
    """The recognizer with ``runtime``: ``onnxruntime-int8``, ``onnxruntime`` or ``numpy``."""
    from digitkit.vision.recognize import Recognizer

    os.environ["DIGITKIT_INT8"] = "1" if runtime == "onnxruntime-int8" else "0"
    hidden = sys.modules.get("onnxruntime")
    if runtime == "numpy":
        sys.modules["onnxruntime"] = None  # type: ignore[assignment]
    try:
        rec = Recognizer.load(model)
    finally:
        if runtime == "numpy":
            if hidden is None:
                del sys.modules["onnxruntime"]
            else:
                sys.modules["onnxruntime"] = hidden
    members = getattr(rec.predictor, "members", [rec.predictor])
    found = {(m.runtime, m.precision) for m in members}
    expected = (
        "numpy" if runtime == "numpy" else "onnxruntime",
        "int8" if "int8" in runtime else "float32",
    )
    if found != {expected}:
        raise SystemExit(f"{runtime}: loaded {found}, not {expected}")
    return rec


def _singles(recs: dict, inputs: list) -> dict[str, tuple[float, float]]:
    """Per runtime (median wall ms, median CPU ms) of predict over ``inputs``, in turn."""
    wall: dict[str, list[float]] = {k: [] for k in recs}
    cpu: dict[str, list[float]] = {k: [] for k in recs}
    for x in inputs:
        for name, rec in recs.items():
            t, c = time.perf_counter(), time.process_time()
            rec.predict(x)
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    return {k: (1e3 * float(np.median(wall[k])), 1e3 * float(np.median(cpu[k]))) for k in recs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default", help="model (default: the shipped one)")
    ap.add_argument("--singles", type=int, default=200, help="single-image measurements")
    ap.add_argument("--n", type=int, default=2000, help="images in the batch")
    args = ap.parse_args()

    from digitkit.data import load_splits

    splits = load_splits()
    x, y = splits.x_test, splits.y_test
    runtimes = ("onnxruntime-int8", "onnxruntime", "numpy")
    recs = {name: _load(args.model, name) for name in runtimes}
    rng = np.random.default_rng(0)
    picks = rng.choice(len(x), args.singles, replace=False)
    canvas_rng = np.random.default_rng(1)
    canvases = [canvas_png(x[i], canvas_rng) for i in picks]
    arrays = [x[i] for i in picks]
    for rec in recs.values():  # warm-up: lazy imports, first calls
        for data in canvases[:5]:
            rec.predict(data)
    canvas, array = _singles(recs, canvases), _singles(recs, arrays)
    batch: dict[str, tuple[float, float]] = {}
    for name, rec in recs.items():
        t = time.perf_counter()
        preds = rec.predict_batch(x[: args.n])
        seconds = time.perf_counter() - t
        acc = float(np.mean([p.digit == d for p, d in zip(preds, y[: args.n], strict=True)]))
        batch[name] = (args.n / seconds, acc)

    print(
        f"bench_runtime.py, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
        f"{os.cpu_count()}-core "
        f"{platform.machine()}, load average {os.getloadavg()[0]:.1f}, model {args.model}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}\n"
    )
    print(
        "| runtime | 280x280 canvas: median ms (CPU ms) | 28x28 array: median ms (CPU ms) "
        f"| batch of {args.n:,}: images/s | accuracy |"
    )
    print("|---|---:|---:|---:|---:|")
    for name in runtimes:
        print(
            f"| {name} | {canvas[name][0]:.2f} ({canvas[name][1]:.2f}) | "
            f"{array[name][0]:.2f} ({array[name][1]:.2f}) | {batch[name][0]:,.0f} | "
            f"{batch[name][1]:.4f} |"
        )


if __name__ == "__main__":
    main()
