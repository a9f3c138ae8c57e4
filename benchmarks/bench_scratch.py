"""Speed of the NumPy engine (digitkit.scratch): images/s per layer type, forward and
forward+backward, and the time of one training epoch of lenet5 and scratch-cnn4.

    .venv/bin/python benchmarks/bench_scratch.py                  # print
    .venv/bin/python benchmarks/bench_scratch.py --record         # and append to RESULTS.md
    .venv/bin/python benchmarks/bench_scratch.py --blas-threads 1 # OpenBLAS on one core
    .venv/bin/python benchmarks/bench_scratch.py --workers 1      # one thread per step

Epoch times are extrapolated from timed training steps on random data (the step costs the
same whatever the pixels are); a real epoch adds data shuffling, per-batch augmentation and
validation. The steps run as the trainer runs them: split over ``--workers`` threads (default
as the trainer: the available cores up to 2; OpenBLAS then runs one thread per caller), or
on the model alone with ``--workers 1``. Both wall time and process CPU time (summed over
threads) are printed: on a machine shared with other jobs, wall time is pessimistic while
CPU time is about what the work costs. The per-layer table times one layer at a time
(CPU time, with OpenBLAS at --blas-threads).
"""

from __future__ import annotations

import argparse
import os
import sys


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--blas-threads", type=int, default=0, help="OpenBLAS threads (0: library default)"
    )
    p.add_argument("--steps", type=int, default=60, help="timed training steps per model")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="threads per training step (0: the trainer's default)",
    )
    p.add_argument("--skip-layers", action="store_true", help="only the epoch timings")
    p.add_argument("--record", action="store_true", help="append results to RESULTS.md")
    p.add_argument(
        "--machine",
        default="2-core CPU (shared with other jobs)",
        help="machine description for RESULTS.md",
    )
    return p.parse_args()


ARGS = _args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.blas_threads:
    # Must happen before NumPy loads OpenBLAS.
    os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.blas_threads)

import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from digitkit.scratch import (  # noqa: E402
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    MaxPool2D,
    ReLU,
    SoftmaxCrossEntropy,
    Tanh,
    cpu,
    trainer,
    zoo,
)
from digitkit.scratch.layers import Layer  # noqa: E402
from digitkit.scratch.optim import Adam  # noqa: E402

RESULTS = Path(__file__).parent / "RESULTS.md"
SECTION = "## NumPy engine"


def timed(fn: Callable[[], object], min_seconds: float = 0.3) -> tuple[float, float]:
    """(wall, cpu) seconds per call, after one warm-up call."""
    fn()
    n, w0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        n += 1
        wall = time.perf_counter() - w0
        if wall >= min_seconds and n >= 3:
            return wall / n, (time.process_time() - c0) / n


# (name, layer, per-sample input shape, batch): the batch of the recipe that uses the layer.
LAYER_CASES: list[tuple[str, Callable[[], Layer], tuple[int, ...], int]] = [
    # A first layer never computes its input gradient (Sequential skips it): timed likewise.
    ("Conv2D 1->6 5x5 (LeNet C1, first layer)", lambda: Conv2D(1, 6, 5), (32, 32, 1), 64),
    ("Conv2D 6->16 5x5 (LeNet C3)", lambda: Conv2D(6, 16, 5), (14, 14, 6), 64),
    ("Conv2D 16->120 5x5 (LeNet C5)", lambda: Conv2D(16, 120, 5), (5, 5, 16), 64),
    (
        "Conv2D 1->16 5x5 pad 2 (cnn4, first layer)",
        lambda: Conv2D(1, 16, 5, padding=2),
        (28, 28, 1),
        16,
    ),
    ("Conv2D 16->32 5x5 pad 2 (cnn4)", lambda: Conv2D(16, 32, 5, padding=2), (28, 28, 16), 16),
    ("Conv2D 32->48 5x5 pad 2 (cnn4)", lambda: Conv2D(32, 48, 5, padding=2), (14, 14, 32), 16),
    ("Conv2D 48->64 5x5 pad 2 (cnn4)", lambda: Conv2D(48, 64, 5, padding=2), (14, 14, 48), 16),
    ("Conv2D 16->32 3x3 stride 2 pad 1", lambda: Conv2D(16, 32, 3, 2, 1), (28, 28, 16), 16),
    ("MaxPool2D 2x2 (28x28x32)", lambda: MaxPool2D(2), (28, 28, 32), 16),
    ("AvgPool2D 2x2 (28x28x6)", lambda: AvgPool2D(2), (28, 28, 6), 64),
    ("Dense 3136->10", lambda: Dense(3136, 10), (3136,), 16),
    ("Dense 120->84", lambda: Dense(120, 84), (120,), 64),
    ("BatchNorm spatial (28x28x32)", lambda: BatchNorm(32), (28, 28, 32), 16),
    ("ReLU (28x28x32)", ReLU, (28, 28, 32), 16),
    ("Tanh (28x28x6)", Tanh, (28, 28, 6), 64),
    ("Dropout 0.2 (28x28x32)", lambda: Dropout(0.2), (28, 28, 32), 16),
]


def bench_layers() -> list[tuple[str, int, float, float]]:
    """(name, batch, forward img/s, forward+backward img/s) per layer case, CPU time, in
    training mode (dropout masks drawn, BatchNorm on batch statistics, inputs cached)."""
    rows = []
    rng = np.random.default_rng(0)
    for name, make, shape, batch in LAYER_CASES:
        layer = make()
        layer.build(shape, rng)
        x = rng.normal(size=(batch, *shape)).astype(np.float32)
        dy = rng.normal(size=(batch, *layer.out_shape)).astype(np.float32)
        _, fwd = timed(lambda layer=layer, x=x: layer.forward(x, True))
        first = "first layer" in name

        def step(
            layer: Layer = layer, x: np.ndarray = x, dy: np.ndarray = dy, first: bool = first
        ) -> None:
            layer.forward(x, True)
            layer.backward(dy, need_dx=not first)

        _, both = timed(step)
        rows.append((name, batch, batch / fwd, batch / both))
    return rows


def bench_epoch(
    model_name: str, batch: int, steps: int, images: int, workers: int
) -> dict[str, float]:
    """Training-step time of a zoo model, extrapolated to an epoch of ``images``, with the
    steps run as the trainer runs them (``workers`` threads)."""
    model = zoo.build(model_name)
    c, h, w = model.input_shape
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, c, h, w)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    loss, opt = SoftmaxCrossEntropy(), Adam(1e-3)
    with trainer.stepper(model, workers) as step:
        for _ in range(3):  # warm-up: threads started, memory allocated
            step.train_step(x, y, loss, opt)
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step.train_step(x, y, loss, opt)
        wall = (time.perf_counter() - w0) / steps
        cpu_s = (time.process_time() - c0) / steps
    return {
        "batch": batch,
        "images": images,
        "wall_s": wall * images / batch,
        "cpu_s": cpu_s * images / batch,
        "img_s_wall": batch / wall,
        "img_s_cpu": batch / cpu_s,
        "workers": getattr(step, "workers", 1),
    }


def blas_threads_label() -> str:
    return os.environ.get("OPENBLAS_NUM_THREADS", "default")


def main() -> None:
    args = ARGS or _args()
    threads = blas_threads_label()
    workers = args.workers or cpu.default_workers()
    cpu.keep_freed_memory()  # as the trainer does
    print(
        f"NumPy {np.__version__}, OpenBLAS threads: {threads}, {workers} thread(s) per "
        f"training step, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    layer_rows = [] if args.skip_layers else bench_layers()
    if layer_rows:
        print(
            f"\n{'layer (CPU time)':<44} {'batch':>5} {'forward img/s':>14} {'fwd+bwd img/s':>14}"
        )
    for name, batch, f, fb in layer_rows:
        print(f"{name:<44} {batch:>5} {f:>14,.0f} {fb:>14,.0f}")
    print()
    epochs = {
        "lenet5": bench_epoch("lenet5", 64, args.steps, 60_000, workers),
        "scratch-cnn4": bench_epoch("scratch-cnn4", 16, max(10, args.steps // 2), 55_000, workers),
    }
    for name, e in epochs.items():
        print(
            f"{name}: batch {e['batch']}, {e['workers']} thread(s), epoch of "
            f"{e['images']:,} images: {e['wall_s']:.1f} s wall ({e['img_s_wall']:,.0f} "
            f"img/s), {e['cpu_s']:.1f} s CPU ({e['img_s_cpu']:,.0f} img/s), load average "
            f"{os.getloadavg()[0]:.1f}"
        )
    if args.record:
        record(args.machine, threads, layer_rows, epochs)


def record(
    machine: str,
    threads: str,
    layer_rows: list[tuple[str, int, float, float]],
    epochs: dict[str, dict[str, float]],
) -> None:
    """Append this measurement under the NumPy engine section of RESULTS.md."""
    stamp = time.strftime("%Y-%m-%d %H:%M")
    workers = sorted({int(e["workers"]) for e in epochs.values()})
    lines = [
        f"\n### bench_scratch.py, {stamp}, {machine}, OpenBLAS threads {threads}, "
        f"{'/'.join(map(str, workers))} thread(s) per training step, load average "
        f"{os.getloadavg()[0]:.1f}\n"
    ]
    if layer_rows:
        lines += [
            "| layer (CPU time) | batch | forward img/s | forward+backward img/s |",
            "|---|---:|---:|---:|",
        ]
        lines += [f"| {n} | {b} | {f:,.0f} | {fb:,.0f} |" for n, b, f, fb in layer_rows]
        lines.append("")
    for name, e in epochs.items():
        lines.append(
            f"- {name} training epoch ({e['images']:,} images, batch {e['batch']}, "
            f"{e['workers']} thread(s)): {e['wall_s']:.1f} s wall, {e['cpu_s']:.1f} s "
            f"CPU ({e['img_s_wall']:,.0f} / {e['img_s_cpu']:,.0f} img/s)"
        )
    append_results("\n".join(lines) + "\n")
    print(f"recorded in {RESULTS}")


def append_results(text: str) -> None:
    """Append ``text`` to the NumPy engine section (created at the end if absent)."""
    content = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if SECTION not in content:
        content = content.rstrip("\n") + f"\n\n{SECTION}\n"
    start = content.index(SECTION)
    nxt = content.find("\n## ", start + len(SECTION))
    end = len(content) if nxt == -1 else nxt
    content = content[:end].rstrip("\n") + "\n" + text + content[end:]
    RESULTS.write_text(content)


if __name__ == "__main__":
    sys.exit(main())
