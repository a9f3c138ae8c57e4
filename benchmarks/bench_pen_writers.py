"""Drawn digits writer by writer: how well a model fits the pen writers it trained on, how well
it reads the validation writers, and which confusions and which writers its errors come from.

    DIGITKIT_DATA=../shared/data/mnist .venv/bin/python benchmarks/bench_pen_writers.py \
        default trained/penphoto-s0 --seed 9801 --draws 3

Validation parts only (a diagnostic to choose what to try; decisions are made with
``bench_realworld.py --split val`` on a fresh seed, and the test parts only reported):

* every digit of the pendigits validation writers (id % 6 == 0), drawn ``--draws`` times as
  140 px canvases (the same drawing as bench_realworld.py's);
* ``--train-sample`` digits of the pendigits training writers: a model reading those much
  better than the validation writers overfits them, one reading them no better underfits;
* writer 8's letters (UJI), drawn 4 times: the share refused as "not a digit";
* MNIST's 5,000 validation digits.

Then, per model, the errors on the validation writers by writer and by (truth, read) pair.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_realworld import CANVAS, _accuracies, _canvas, _refused, _score  # noqa: E402
from digitkit.data import load_splits  # noqa: E402
from digitkit.data.render import render  # noqa: E402
from digitkit.data.sources import pen_parts  # noqa: E402
from digitkit.labels import NOT_A_DIGIT_REASON  # noqa: E402
from digitkit.vision.recognize import Recognizer  # noqa: E402

LETTER_DRAWS = 4


def _drawn(pen, draws: int, rng: np.random.Generator) -> np.ndarray:
    return np.concatenate(
        [_canvas(render((pen.points, pen.pen_down), size=CANVAS, rng=rng)) for _ in range(draws)]
    )


def diagnosis_sets(seed: int, pen_draws: int) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """The drawn validation sets the route's diagnoses read (``trained/drawn-budget/diag.py``,
    ``trained/disagree/``), in this order from one generator seeded ``seed``: the pen
    validation writers' digits drawn ``pen_draws`` times, writer 8's letters drawn 8 times
    (labels None), MNIST validation digits 2500-4999 as canvases (the part no drawn point was
    fitted on) and 2,000 European-style 1s, 7s and 0s of the pen validation writers."""
    from digitkit.data.render import mnist_canvases
    from digitkit.data.styles import styled_digits

    rng = np.random.default_rng(seed)
    parts = pen_parts()
    pen = parts["pen_val"]
    sets: dict[str, tuple[np.ndarray, np.ndarray | None]] = {
        f"pen val writers x{pen_draws}": (
            _drawn(pen, pen_draws, rng),
            np.tile(pen.labels.astype(np.int64), pen_draws),
        ),
        "letters writer 8 x8": (_drawn(parts["letters_val"], 8, rng), None),
    }
    mnist = load_splits("mnist")
    sets["MNIST val 2500-4999 canvases"] = (
        mnist_canvases(mnist.x_val[2500:], CANVAS),
        mnist.y_val[2500:],
    )
    points, pen_down, labels = styled_digits(pen, 2000, rng)
    sets["European-style 1/7/0 x2000"] = (
        _canvas(render((points, pen_down), size=CANVAS, rng=rng)),
        labels,
    )
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="*", default=["default"], help="shipped names or runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=3, help="drawings of each validation digit")
    parser.add_argument("--train-sample", type=int, default=1500, metavar="N")
    args = parser.parse_args()
    if args.draws < 1 or args.train_sample < 1:
        parser.error("--draws and --train-sample must be at least 1")
    t = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    parts = pen_parts()
    pen = parts["pen_val"]
    val_x = _drawn(pen, args.draws, rng)
    val_y = np.tile(pen.labels.astype(np.int64), args.draws)
    val_writer = np.tile(pen.writers, args.draws)
    train = parts["pen_train"]
    pick = np.sort(rng.permutation(len(train))[: args.train_sample])
    train = train.subset(np.isin(np.arange(len(train)), pick))
    train_x = _drawn(train, 1, rng)
    letters_x = _drawn(parts["letters_val"], LETTER_DRAWS, rng)
    mnist = load_splits("mnist")
    print(
        f"bench_pen_writers.py --seed {args.seed} --draws {args.draws}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()} {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    print(
        f"| model | pen val writers (n={len(val_y)}) | pen training writers (n={len(train)}) "
        f"| letters refused (n={len(letters_x)}) | MNIST val (n={len(mnist.y_val)}) |"
    )
    print("|---|---:|---:|---:|---:|")
    breakdowns = []
    for name in args.models:
        recognizer = Recognizer.load(name)
        preds = recognizer.predict_batch(list(val_x))
        read = np.array([-1 if p.digit is None else p.digit for p in preds])
        wrong = read != val_y
        refused_val = np.array([p.reason == NOT_A_DIGIT_REASON for p in preds])
        val = _accuracies(~wrong, refused_val)
        fit = _score(recognizer, train_x, train.labels.astype(np.int64))
        refused = _refused(recognizer, letters_x)
        on_mnist = _score(recognizer, mnist.x_val, mnist.y_val)
        print(
            f"| {name} | {100 * val['accuracy']:.2f}% (answered {100 * val['answered']:.2f}%, "
            f"refused {100 * val['refused']:.2f}%) | {100 * fit['accuracy']:.2f}% "
            f"| {100 * refused['refused']:.1f}% | {100 * on_mnist['accuracy']:.2f}% |"
        )
        by_writer = collections.Counter(val_writer[wrong].tolist())
        pairs = collections.Counter(zip(val_y[wrong].tolist(), read[wrong].tolist(), strict=True))
        breakdowns.append((name, by_writer, pairs))
    print()
    for name, by_writer, pairs in breakdowns:
        writers = ", ".join(f"{w}: {n}" for w, n in by_writer.most_common())
        confusions = ", ".join(
            f"{truth}->{'refused' if got < 0 else got} {n}"
            for (truth, got), n in pairs.most_common(8)
        )
        print(f"{name}: errors by writer {writers or 'none'}; read as {confusions or 'nothing'}")
    print(f"\n{time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
