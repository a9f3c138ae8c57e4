"""Whole numbers: the CTC reader against the segmenter, exact match per length and speed.

    DIGITKIT_DATA=../shared/data/mnist OMP_NUM_THREADS=1 .venv/bin/python \\
        benchmarks/bench_numbers.py
    .venv/bin/python benchmarks/bench_numbers.py --ctc runs/number-ctc --n 50 --json out.json
    .venv/bin/python benchmarks/bench_numbers.py --split val --seed 2027 --readers ctc1,ctc
    .venv/bin/python benchmarks/bench_numbers.py --readers auto --contexts plain,boxed,rule,cell
    .venv/bin/python benchmarks/bench_numbers.py --digits pen-styled --split val --seed 4444
    .venv/bin/python benchmarks/bench_numbers.py --styles joined --digits pen --split val
    .venv/bin/python benchmarks/bench_numbers.py --styles amounts --readers auto

Lines are synthetic (:mod:`digitkit.data.strings`) made of MNIST **test** digits, which no
training or model choice ever saw (figures here are reports, never used to choose); with
``--split val``, of MNIST validation digits, for choices (with a seed no earlier choice used):

* ``touching``: 1-10 digits, every neighbour touching or overlapping (up to ~30 % of a
  digit's width), per-digit scale and baseline drift, slant;
* ``forms``: the layouts of amounts on forms (``25.441``, ``280.000=``, ``100.-``,
  ``1'000``, ``12/05``), gaps from apart to overlapping;
* ``joined``: 1-10 digits written joined-up, 0.15-0.5 of a height apart, most neighbours
  linked by a flat joining stroke from one digit's right side into the next one's left side
  (not a character; :func:`digitkit.data.strings._join`);
* ``amounts``: the ``forms`` layouts written joined-up wherever neighbouring digits stand
  apart (``NumberLines(joined=1.0)``), as real amounts on forms are written.

Each line is given to ``Recognizer.predict_number`` as a scan would be: dark ink on white
paper, the digits about 40 px high; ``--contexts`` adds the print of a form around each line
(``boxed``, a baseline ``rule``, a ``cell`` cut by the crop: :mod:`digitkit.data.scans`) or
photographs it (``photo``, ``photo-box``, ``photo-print`` on a cheque's security print:
:mod:`digitkit.data.context`), one column per context. A reading is right when its digits
(``text``) are exactly the line's digits.
``--digits pen`` makes the lines of pen digits instead, drawn as canvases (test: pendigits'
14 test writers; val: the 5 validation writers of its training part), and ``pen-styled`` the
same with every 1, 7 and 0 in the styles of a European hand (:mod:`digitkit.data.styles`:
the flagged 1, the crossed 7, the slashed or dotted 0). Both readers run behind the same
shipped digit model (segmenter) and the same image, forced with ``reader="ctc"`` /
``reader="segmenter"``; ``auto`` is what ``predict_number`` answers by default
(``reader=None``: the CTC reading, or the segmenter's where it finds as many digits and is
sure of each). ``--empty N`` also photographs N empty fields per photographed context (paper,
a box or rules, no writing, as wide as a 3-10 digit line) and reports the share read as a
number, where an empty field must read as none (``text: ""``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from digitkit.data import load_splits
from digitkit.data.context import ContextStyle, photograph
from digitkit.data.scans import CONTEXTS, printed_context
from digitkit.data.sources import pen_parts, pen_test_sets
from digitkit.data.strings import STYLES, NumberLines, pen_glyphs, slant, styled_pen_glyphs
from digitkit.vision.numbers import NumberReader, resample_axis, shipped_reader
from digitkit.vision.recognize import Recognizer

# auto: predict_number's own choice (reader=None); ctc1: the CTC reader at one alignment of
# its frames instead of its READ_PHASES (what it answered before reading at several)
READERS = ("ctc1", "ctc", "segmenter", "auto")
SCAN_SCALE = 2  # the generator draws digits 20 px high; a scan at ~40 px is more typical


def scan(ink: np.ndarray) -> np.ndarray:
    """Clean line ink -> a grey 'scan' in [0, 1]: dark ink on white paper, 2x the size,
    with a white margin."""
    big = resample_axis(
        resample_axis(ink, SCAN_SCALE * ink.shape[0], 0), SCAN_SCALE * ink.shape[1], 1
    )
    big = np.pad(big, 12)
    return (1.0 - 0.85 * np.clip(big, 0, 1)).astype(np.float32)


# Benchmark styles beyond the generator's own (digitkit.data.strings.STYLES).
BENCH_STYLES: dict[str, dict[str, Any]] = {"amounts": {"style": "forms", "joined": 1.0}}


def make_lines(
    x: np.ndarray,
    y: np.ndarray,
    style: str,
    n: int,
    seed: int,
    context: str = "plain",
    shear: float = 0.0,
):
    """``n`` lines per length 1..10 as (grey image, digits) pairs, each scanned with the
    form's print of ``context`` around it, or photographed (``photo``: paper, light, rules,
    blur, JPEG, perspective; ``photo-box``: and always a printed box; ``photo-print``: and
    always a printed security pattern) at twice the size, as
    :mod:`digitkit.data.context` photographs single digits; ``shear``: the writing leans
    right by that many columns per row more than the generator draws it."""
    kwargs = BENCH_STYLES.get(style, {"style": style})
    gen = NumberLines.from_mnist(x, y, use_pen=False, use_photos=False, **kwargs)
    rng = np.random.default_rng(seed)
    lengths = np.repeat(np.arange(1, 11), n)
    texts = gen.texts(len(lengths), rng, lengths)
    return [
        (_grey(slant(gen.draw(t, rng), shear), context, rng), "".join(filter(str.isdigit, t)))
        for t in texts
    ]


DIGITS = ("mnist", "pen", "pen-styled")


def digit_images(digits: str, split: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The single digits the lines are made of: MNIST's test or validation digits, or pen
    digits of writers no reader trained on (``pen-styled``: their 1s, 7s and 0s restyled)."""
    if digits == "mnist":
        splits = load_splits()
        return (splits.x_test, splits.y_test) if split == "test" else (splits.x_val, splits.y_val)
    pen = pen_test_sets()["pendigits-test"] if split == "test" else pen_parts()["pen_val"]
    rng = np.random.default_rng([seed, 5])
    x, y = pen_glyphs(pen, rng)
    if digits == "pen-styled":
        keep = ~np.isin(y, (0, 1, 7))
        sx, sy = styled_pen_glyphs(pen, int((~keep).sum()), rng)
        x, y = np.concatenate([x[keep], sx]), np.concatenate([y[keep], sy])
    return x, y


PHOTOS = {
    "photo": ContextStyle(),
    "photo-box": ContextStyle(p_box=1.0),
    # on a cheque's security print (fine wavy lines under the amount)
    "photo-print": ContextStyle(p_pattern=1.0),
}


def _grey(ink: np.ndarray, context: str, rng: np.random.Generator) -> np.ndarray:
    if context not in PHOTOS:
        return printed_context(scan(ink), context)
    big = resample_axis(resample_axis(ink, 2 * ink.shape[0], 0), 2 * ink.shape[1], 1)
    return np.asarray(photograph(big[None], rng, PHOTOS[context]))[0].astype(np.float32) / 255


def empty_fields(n: int, seed: int, context: str) -> list[np.ndarray]:
    """``n`` photographed fields with nothing written in them (paper, light, and for
    ``photo-box`` always a printed box around where a number would go, for ``photo-print`` a
    printed security pattern), grey in [0, 1],
    96 px high (a line's 48 rows at twice the size) and 160-640 px wide."""
    rng = np.random.default_rng([seed, 9])
    fields = []
    for width in rng.integers(160, 641, n):
        ink = np.zeros((1, 96, int(width)), np.float32)
        fields.append(np.asarray(photograph(ink, rng, PHOTOS[context]))[0] / np.float32(255))
    return fields


def read_as_number(rec: Recognizer, fields: list[np.ndarray]) -> float:
    """The % of ``fields`` (with nothing written in them) read as a number."""
    return 100.0 * float(np.mean([bool(rec.predict_number(f).text) for f in fields]))


def run(rec: Recognizer, lines, reader: str) -> tuple[dict[int, float], float, float]:
    """(exact % per length, overall exact %, median ms per image) of one of READERS."""
    hits: dict[int, list[bool]] = {}
    times = []
    ctc = rec.number_reader
    phases = ctc.phases
    ctc.phases = 1 if reader == "ctc1" else phases
    forced = {"auto": None, "ctc1": "ctc"}.get(reader, reader)
    try:
        for grey, truth in lines:
            t = time.perf_counter()
            text = rec.predict_number(grey, reader=forced).text
            times.append(time.perf_counter() - t)
            hits.setdefault(len(truth), []).append(text == truth)
    finally:
        ctc.phases = phases
    per = {k: 100.0 * float(np.mean(v)) for k, v in sorted(hits.items())}
    overall = 100.0 * float(np.mean([h for v in hits.values() for h in v]))
    return per, overall, 1e3 * float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--ctc",
        help="number-reader run directory, or several comma-separated read as one "
        "(default: the shipped reader)",
    )
    parser.add_argument("--model", default=None, help="digit model of the segmenter")
    parser.add_argument("--n", type=int, default=100, help="lines per length and style")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--styles", default="touching,forms")
    parser.add_argument(
        "--lean",
        type=float,
        default=0.0,
        help="make every line lean right by this many columns per row (italic writing; "
        "0.35 is about 19 degrees) more than the generator draws it",
    )
    parser.add_argument(
        "--readers", default=",".join(READERS), help=f"comma-separated, of {', '.join(READERS)}"
    )
    parser.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="digits of MNIST test (reports) or validation (choices; use a fresh --seed)",
    )
    parser.add_argument(
        "--contexts",
        default="plain",
        help="comma-separated, what surrounds each line: "
        f"{', '.join([*CONTEXTS, *PHOTOS])} (photographed)",
    )
    parser.add_argument(
        "--digits", choices=DIGITS, default="mnist", help="what the lines' digits are drawn from"
    )
    parser.add_argument(
        "--empty",
        type=int,
        default=0,
        help="also photograph this many empty fields per photographed context and report "
        "the share read as a number",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.empty < 0:
        parser.error(f"--empty must be 0 or more, got {args.empty}")

    rec = Recognizer.load(args.model)
    rec.number_reader = (
        NumberReader.load_members(args.ctc.split(",")) if args.ctc else shipped_reader()
    )
    if rec.number_reader is None:
        parser.error("no number reader shipped; give --ctc RUN")
    readers = [r for r in args.readers.split(",") if r]
    if unknown := sorted(set(readers) - set(READERS)):
        parser.error(f"unknown readers {unknown}; choose from {', '.join(READERS)}")
    x, y = digit_images(args.digits, args.split, args.seed)
    styles = [s for s in args.styles.split(",") if s]
    if unknown := sorted(set(styles) - set(STYLES) - set(BENCH_STYLES)):
        parser.error(f"unknown styles {unknown}; choose from {', '.join([*STYLES, *BENCH_STYLES])}")
    contexts = [c for c in args.contexts.split(",") if c]
    if unknown := sorted(set(contexts) - set(CONTEXTS) - set(PHOTOS)):
        parser.error(f"unknown contexts {unknown}; choose from {', '.join([*CONTEXTS, *PHOTOS])}")
    results = {}
    for style in styles:
        for context in contexts:
            lines = make_lines(x, y, style, args.n, args.seed, context, args.lean)
            assert all(
                len(t) == k
                for (_, t), k in zip(lines, np.repeat(np.arange(1, 11), args.n), strict=True)
            )
            name = style if context == "plain" else f"{style} {context}"
            results[name] = {reader: run(rec, lines, reader) for reader in readers}
            del lines

    print(
        f"\nExact match % on synthetic lines of {args.digits} {args.split} digits "
        f"({args.n} per length, seed {args.seed}"
        + (f", leaning {args.lean:g} more" if args.lean else "")
        + "; "
        f"CPU: {os.cpu_count()} cores shared, {platform.processor() or platform.machine()})\n"
    )
    header = "| length | " + " | ".join(f"{s} {r}" for s in results for r in readers) + " |"
    print(header)
    print("|" + "---|" * (1 + len(readers) * len(results)))
    for k in range(1, 11):
        cells = [f"{results[s][r][0].get(k, float('nan')):.1f}" for s in results for r in readers]
        print(f"| {k} | " + " | ".join(cells) + " |")
    mid = [
        f"{np.mean([results[s][r][0][k] for k in (4, 5, 6)]):.1f}" for s in results for r in readers
    ]
    print("| 4-6 | " + " | ".join(mid) + " |")
    cells = [f"**{results[s][r][1]:.1f}**" for s in results for r in readers]
    print("| all | " + " | ".join(cells) + " |")
    cells = [f"{results[s][r][2]:.1f} ms" for s in results for r in readers]
    print("| median time / image | " + " | ".join(cells) + " |")
    photographed = [c for c in contexts if c in PHOTOS] if args.empty > 0 else []
    empty = {c: read_as_number(rec, empty_fields(args.empty, args.seed, c)) for c in photographed}
    if empty:
        shares = " / ".join(f"{c} {v:.1f}%" for c, v in empty.items())
        print(f"\nEmpty fields photographed, read as a number (n={args.empty} each): {shares}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    s: {
                        r: {"exact_by_length": v[0], "exact": v[1], "median_ms": v[2]}
                        for r, v in res.items()
                    }
                    for s, res in results.items()
                }
                | ({"empty_read_as_number": empty} if empty else {}),
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
