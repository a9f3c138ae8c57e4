"""Recognizer speed: one image end to end (decode, preprocess, model) and batch throughput.

    DIGITKIT_DATA=../shared/data/mnist .venv/bin/python benchmarks/bench_recognize.py
    .venv/bin/python benchmarks/bench_recognize.py --model runs/cnn-medium-... --json

Inputs are MNIST test digits: drawn on a 280x280 canvas as the web page sends it (solid brush
ink with anti-aliased edges: ``bench_serve.canvas_png``, which the recognizer's drawn path
reads), as a 28x28 array, inside a 1600x1200 JPEG "photo", and as 4-digit
strips for --number. Reports wall-clock medians and, because this machine's cores are shared
with other jobs, the CPU time of this process as well (closer to an idle machine's figure).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "vision"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import canvas_png  # noqa: E402


def _photo_jpeg(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """The digit written on 'paper' in a 1600x1200 photo with uneven light and noise."""
    ink = np.asarray(Image.fromarray(digit).resize((400, 400), Image.BILINEAR), np.float32) / 255
    page = np.linspace(0.95, 0.55, 1600, dtype=np.float32)[None, :] * np.ones((1200, 1), np.float32)
    page[400:800, 600:1000] *= 1.0 - 0.75 * ink
    page += rng.normal(0, 0.02, page.shape).astype(np.float32)
    buf = io.BytesIO()
    Image.fromarray((np.clip(page, 0, 1) * 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _timed(fn, inputs, repeat: int = 1) -> tuple[float, float, float]:
    """(median wall ms, 90th percentile wall ms, median CPU ms) of fn(x) over inputs."""
    wall, cpu = [], []
    for _ in range(repeat):
        for x in inputs:
            t, c = time.perf_counter(), time.process_time()
            fn(x)
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    return (
        1e3 * float(np.median(wall)),
        1e3 * float(np.percentile(wall, 90)),
        1e3 * float(np.median(cpu)),
    )


def _markdown(r: dict) -> str:
    """The figures as the RESULTS.md table."""
    rows = [
        ("one 280x280 PNG drawing, end to end", "canvas_png_280"),
        ("one 28x28 array", "array_28"),
        ("one 1600x1200 JPEG photo", "photo_jpeg_1600x1200"),
        ("one 4-digit strip (--number)", "number_strip_4"),
    ]
    lines = [
        "| input (Recognizer.predict) | median ms | p90 ms | CPU ms (median) |",
        "|---|---:|---:|---:|",
    ]
    for label, key in rows:
        v = r[key]
        lines.append(f"| {label} | {v['median_ms']} | {v['p90_ms']} | {v['cpu_median_ms']} |")
    b = r["batch"]
    lines += [
        "",
        f"- batch of {b['n']:,} MNIST test images (predict_batch): "
        f"{b['images_per_s']:,} images/s ({b['cpu_us_per_image']} us CPU per image); "
        f"preprocessing alone {b['preprocess_images_per_s']:,}/s, model alone "
        f"{b['model_images_per_s']:,}/s; accuracy {b['accuracy']:.4f}",
        f"- model load {r['load_s']} s; torch threads {r['torch_threads']}; "
        f"load average during the run {r['load_average']:.1f}",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model (default: the shipped one)")
    ap.add_argument("--n", type=int, default=10000, help="images in the batch measurement")
    ap.add_argument("--singles", type=int, default=200, help="single-image measurements")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--markdown", action="store_true", help="print a RESULTS.md table")
    args = ap.parse_args()

    import torch
    from recognize_helpers import make_strip

    from digitkit.data import load_splits
    from digitkit.vision.preprocess import to_mnist_batch
    from digitkit.vision.recognize import Recognizer

    splits = load_splits()
    x, y = splits.x_test, splits.y_test
    rng = np.random.default_rng(0)

    t = time.perf_counter()
    r = Recognizer.load(args.model)
    load_s = time.perf_counter() - t
    r.predict(x[0])  # warm-up (lazy imports, first torch call)

    picks = rng.choice(len(x), args.singles, replace=False)
    canvas_rng = np.random.default_rng(1)  # its own stream: the other inputs stay as they were
    canvases = [canvas_png(x[i], canvas_rng) for i in picks]
    arrays = [x[i] for i in picks]
    photos = [_photo_jpeg(x[i], rng) for i in picks[:20]]
    strips = [make_strip(x[rng.integers(0, len(x), 4)], rng) for _ in range(50)]
    for data in canvases[:5]:
        r.predict(data)

    results: dict[str, object] = {
        "model": r.name,
        "architecture": r.card.get("architecture", {}).get("name"),
        "load_s": round(load_s, 3),
        "torch_threads": torch.get_num_threads(),
        "cpu": f"{os.cpu_count()}-core {platform.processor() or platform.machine()}",
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    for name, inputs, fn in (
        ("canvas_png_280", canvases, r.predict),
        ("array_28", arrays, r.predict),
        ("photo_jpeg_1600x1200", photos, r.predict),
        ("number_strip_4", strips, r.predict_number),
    ):
        med, p90, cpu = _timed(fn, inputs)
        results[name] = {
            "median_ms": round(med, 2),
            "p90_ms": round(p90, 2),
            "cpu_median_ms": round(cpu, 2),
        }

    batch = x[: args.n]
    t, c = time.perf_counter(), time.process_time()
    preds = r.predict_batch(batch)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    pre = to_mnist_batch(batch)
    pre_s = time.perf_counter() - t
    images = np.stack([p.image for p in pre if not p.blank])
    t = time.perf_counter()
    r.probabilities(images)
    model_s = time.perf_counter() - t
    acc = float(np.mean([p.digit == t for p, t in zip(preds, y[: args.n], strict=True)]))
    results["batch"] = {
        "n": len(batch),
        "images_per_s": round(len(batch) / wall),
        "cpu_us_per_image": round(1e6 * cpu / len(batch), 1),
        "preprocess_images_per_s": round(len(batch) / pre_s),
        "model_images_per_s": round(len(images) / model_s),
        "accuracy": round(acc, 4),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    if args.markdown:
        print(_markdown(results))
        return
    for key, value in results.items():
        print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
