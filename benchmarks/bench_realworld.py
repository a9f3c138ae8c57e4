"""Real-world recognition: how the shipped models (or any run) read what people really write.

    DIGITKIT_DATA=../shared/data/mnist .venv/bin/python benchmarks/bench_realworld.py
    .venv/bin/python benchmarks/bench_realworld.py default runs/my-run --n 1000 --json out.json
    .venv/bin/python benchmarks/bench_realworld.py --only "no print" --photo-side 160

Every set here is held out from training (see ``digitkit.data.sources``):

* MNIST t10k (the model directly on the 28x28 images);
* pendigits' test part: 14 writers the training never saw, drawn as 140x140 canvases (random
  pen width, size, position, slant, seeded);
* UJI digits and letters of writers 9-11 (letters: the share refused as "not a digit");
* synthetic boxed digits: MNIST test digits inside a printed box or cell alone, and MNIST and
  pendigits test digits inside one and photographed (paper, light, rules, blur, JPEG, pencil,
  perspective: digitkit.data.context), through the recognizer's whole path;
* tight crops: MNIST test digits cut to their ink as a scanner's 16x16 1-bit cells (aspect
  kept, or stretched to fill the cell) and as 48 px grey crops (digitkit.data.scans); the
  pendigits test writers' drawings as such cells too (writers no model saw);
* empty printed boxes, alone and photographed (the share refused as "not a digit");
* MNIST test digits drawn as sharp 140 px canvases (scaled up, cut at half ink): MNIST
  writers' shapes through the recognizer's path for drawings (``Preprocessed.drawn``);
* the same pen writers' 1s, 7s and 0s as a European hand writes them (a flagged 1, a crossed
  7, a slashed or dotted 0: digitkit.data.styles), drawn as canvases: the misreadings the
  held-out drawings by writers of many countries showed; and as 16x16 1-bit cells, tight and
  stretched (the held-out foreign scans' writers flag their 1s);
* MNIST test digits written in faint pencil and photographed (paper for 60% of them, and every
  other effect at its usual rate): a paper's grain at a faint stroke's level;
* empty paper photographed (light, shadows, grain; no print): the share not read as a digit
  (refused or blank, both right);
* MNIST and pendigits digits anywhere along a cell twice as wide as tall (a form's field), box
  only and photographed, and such cells empty (the share refused);
* MNIST digits photographed in hard boxes (walls up to 8 px thick at 64 px, a small digit with
  its box close around it, the crop turned up to 15 degrees: ``ContextStyle.hard_boxes``), and
  such boxes empty (the share refused);
* MNIST and pendigits digits photographed on a printed security pattern (fine wavy lines,
  as under a cheque's amount), and such paper empty (the share not read as a digit);
* the pendigits writers' digits drawn big, filling their 140 px canvas to its edges (a
  phone's drawing; every other drawing keeps clear of its canvas's edges);
* MNIST digits near a side of a loose crop, and cut tight at a corner of theirs, photographed
  on paper with nothing printed (where an empty cell's wall would stand: a 1 there must stay
  a 1), and near a side inside a printed cell whose walls stand at the crop's edges (a 1
  written against a wall is no wall's stub);
* those big drawings and the UJI letters again, sent as an app sends its canvas (said to be
  drawings: ``predict_batch(drawing=True)``);
* with ``--photo-side PX``, the boxed and photographed sets again resized to PX tall, as a
  phone's crop of a cell is: images over 64 px take the recognizer's per-image path;
* synthetic number lines made of MNIST test digits (touching, overlapping, separators):
  exact-match % per length, through ``Recognizer.predict_number``.

Figures are printed as a Markdown table (and JSON with --json) to be recorded in RESULTS.md.

``--split val`` measures the same sets on the validation parts instead (pendigits writers
id % 6 == 0, UJI writer 8, MNIST's 5,000 validation digits): the figures to choose between
runs and settings with, since the test parts are reported, never chosen on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from digitkit.data import load_splits
from digitkit.data.context import ContextStyle, boxes_only, photograph, widen
from digitkit.data.render import PenStyle, mnist_canvases, render
from digitkit.data.scans import tight_crop
from digitkit.data.sources import pen_parts, pen_test_sets, place_mnist
from digitkit.data.styles import styled_digits
from digitkit.labels import NOT_A_DIGIT_REASON
from digitkit.vision.recognize import Recognizer

CANVAS = 140  # pen test digits are drawn at this size: a canvas, not a thumbnail
BIG_DRAWING = (0.9, 1.0)  # a big drawing's size, a share of its canvas: ink to the edges
# Sets whose name ends so are read as the web page and the desktop app send their canvases:
# said to be drawings (Recognizer.predict_batch(drawing=True)).
SENT_AS_DRAWINGS = "sent as drawings"
# A form's field wider than tall, cropped by the user: the 64 px digit frame placed anywhere
# along a 64 x WIDE_CELL one, the cell's end walls CELL_MARGIN of 64 px in from its ends.
WIDE_CELL = 128
CELL_MARGIN = (0.0, 0.12)


def _canvas(ink: np.ndarray) -> np.ndarray:
    """Float ink (N, H, W) in [0, 1] -> black-on-white uint8 canvases."""
    return np.round((1.0 - ink) * 255).astype(np.uint8)


def _accuracies(right: np.ndarray, refused: np.ndarray) -> dict[str, float]:
    """Accuracy over all digits (a refusal counts as wrong), over the digits answered (the
    issue's targets: "99.3% with <= 1% refused"), and the share refused as not a digit."""
    answered = ~refused
    return {
        "accuracy": float(right.mean()),
        "answered": float((right & answered).sum() / max(1, answered.sum())),
        "refused": float(refused.mean()),
        "n": int(len(right)),
    }


def _score(
    recognizer: Recognizer, images: Any, labels: np.ndarray, drawing: bool = False
) -> dict[str, float]:
    preds = recognizer.predict_batch(list(images), drawing=drawing)
    digits = np.array([-1 if p.digit is None else p.digit for p in preds])
    refused = np.array([p.reason == NOT_A_DIGIT_REASON for p in preds])
    return _accuracies(digits == labels, refused)


def _refused(recognizer: Recognizer, images: Any, drawing: bool = False) -> dict[str, float]:
    preds = recognizer.predict_batch(list(images), drawing=drawing)
    refused = np.array([p.reason == NOT_A_DIGIT_REASON for p in preds])
    blank = np.array([p.digit is None and p.reason != NOT_A_DIGIT_REASON for p in preds])
    return {"refused": float(refused.mean()), "blank": float(blank.mean()), "n": int(len(preds))}


def held_out(split: str) -> dict[str, Any]:
    """The pen sets and MNIST digits of ``split``: "test" (reported) or "val" (chosen on)."""
    mnist = load_splits("mnist")
    if split == "test":
        tests = pen_test_sets()
        return {
            "pen": tests["pendigits-test"],
            "uji": tests["uji-digits-test"],
            "letters": tests["uji-letters-test"],
            "writers": "writers 9-11",
            "x": mnist.x_test,
            "y": mnist.y_test,
            "mnist": "MNIST test (t10k)",
        }
    parts = pen_parts()
    return {
        "pen": parts["pen_val"],
        "uji": parts["uji_digits_val"],
        "letters": parts["letters_val"],
        "writers": "writer 8",
        "x": mnist.x_val,
        "y": mnist.y_val,
        "mnist": "MNIST validation",
    }


def build_sets(n: int, seed: int, split: str = "test") -> dict[str, tuple[Any, np.ndarray | None]]:
    """The held-out inputs, drawn once so every model sees the same images."""
    rng = np.random.default_rng(seed)
    data = held_out(split)
    pen = data["pen"]
    pick = rng.permutation(len(pen))[:n]
    sets: dict[str, tuple[Any, np.ndarray | None]] = {}
    pen_ink = render((pen.points[pick], pen.pen_down[pick]), size=CANVAS, rng=rng)
    sets[f"pendigits {split} writers, canvas"] = (
        _canvas(pen_ink),
        pen.labels[pick].astype(np.int64),
    )
    # The same drawings as a scanner's 16x16 1-bit cells: writers the models never saw, as the
    # held-out foreign scans are (no random draw: every other set stays what it was).
    pen_cells = {
        fill: [tight_crop(d, 16, binary=True, fill=fill) for d in pen_ink] for fill in (False, True)
    }
    del pen_ink
    uji = data["uji"]
    sets[f"UJI digits, {data['writers']}"] = (
        _canvas(render((uji.points, uji.pen_down), size=CANVAS, rng=rng)),
        uji.labels.astype(np.int64),
    )
    letters = data["letters"]
    sets[f"UJI letters, {data['writers']} (refused)"] = (
        _canvas(render((letters.points, letters.pen_down), size=CANVAS, rng=rng)),
        None,
    )
    boxed = ContextStyle(p_box=1.0)
    box_only = ContextStyle.box_only()
    x, y = data["x"], data["y"]
    m = rng.permutation(len(y))[:n]
    sets[f"MNIST {split} digits in a printed box (box only)"] = (
        photograph(place_mnist(x[m], rng), rng, box_only),
        y[m],
    )

    def photographed_pair(where: str, style: ContextStyle) -> None:
        """The MNIST and the pen digits photographed ``where`` in ``style``, in that order."""
        sets[f"MNIST {split} digits {where}, photographed (all effects)"] = (
            photograph(place_mnist(x[m], rng), rng, style),
            y[m],
        )
        pen_ink = render((pen.points[pick], pen.pen_down[pick]), size=64, rng=rng)
        sets[f"pendigits {split} digits {where}, photographed (all effects)"] = (
            photograph(pen_ink, rng, style),
            pen.labels[pick].astype(np.int64),
        )

    photographed_pair("in a printed box", boxed)
    sets[f"MNIST {split} digits scanned as 16x16 1-bit cells (tight)"] = (
        [tight_crop(d, 16, binary=True) for d in x[m]],
        y[m],
    )
    sets[f"MNIST {split} digits scanned as 16x16 1-bit cells, stretched to fill them"] = (
        [tight_crop(d, 16, binary=True, fill=True) for d in x[m]],
        y[m],
    )
    sets[f"pendigits {split} writers scanned as 16x16 1-bit cells (tight)"] = (
        pen_cells[False],
        pen.labels[pick].astype(np.int64),
    )
    sets[f"pendigits {split} writers scanned as 16x16 1-bit cells, stretched to fill them"] = (
        pen_cells[True],
        pen.labels[pick].astype(np.int64),
    )
    sets[f"MNIST {split} digits cut tight to their ink, 48 px grey"] = (
        [tight_crop(d, 48) for d in x[m]],
        y[m],
    )
    # Drawn last, so the sets above stay what they were for a given seed.
    empty = np.zeros((n, 64, 64), np.float32)  # the boxed digits' frame
    sets["empty printed boxes, box only (refused)"] = (photograph(empty, rng, box_only), None)
    sets["empty printed boxes, photographed (refused)"] = (photograph(empty, rng, boxed), None)
    sets[f"MNIST {split} digits drawn as canvases"] = (mnist_canvases(x[m], CANVAS), y[m])
    points, pen_down, labels = styled_digits(pen, n, rng)
    styled_ink = render((points, pen_down), size=CANVAS, rng=rng)
    sets[f"pendigits {split} writers' 1s, 7s and 0s in European styles, canvas"] = (
        _canvas(styled_ink),
        labels,
    )
    # The same drawings as the held-out foreign scans' cells: their writers flag their 1s
    # (no random draw, so the sets after these stay what they were).
    for fill, how in ((False, "tight"), (True, "stretched to fill them")):
        sets[f"pendigits {split} writers' European styles scanned as 16x16 1-bit cells, {how}"] = (
            [tight_crop(d, 16, binary=True, fill=fill) for d in styled_ink],
            labels,
        )
    del styled_ink
    # Every digit in faint pencil, each other effect at its usual rate (paper for 60%):
    # pencil on paper, photographed, where a paper's grain rises to a faint stroke's level.
    sets[f"MNIST {split} digits in pencil, photographed (all effects)"] = (
        photograph(place_mnist(x[m], rng), rng, ContextStyle(p_faint=1.0)),
        y[m],
    )
    # Nothing written, photographed: paper, light and shadows, no print. A shadow's sharp
    # edge must not come out as a 1 (refused or blank are both right here).
    sets["empty paper, photographed (refused)"] = (
        photograph(empty, rng, replace(ContextStyle(), p_box=0.0, p_lines=0.0)),
        None,
    )
    # Cells wider than tall, drawn after every other set so those stay what they were.
    wide_box = replace(box_only, cell_margin=CELL_MARGIN)
    wide = replace(boxed, cell_margin=CELL_MARGIN)
    cell = f"a wide cell (64x{WIDE_CELL})"
    sets[f"MNIST {split} digits in {cell}, box only"] = (
        photograph(widen(place_mnist(x[m], rng), WIDE_CELL, rng), rng, wide_box),
        y[m],
    )
    sets[f"MNIST {split} digits in {cell}, photographed (all effects)"] = (
        photograph(widen(place_mnist(x[m], rng), WIDE_CELL, rng), rng, wide),
        y[m],
    )
    pen_wide = widen(
        render((pen.points[pick], pen.pen_down[pick]), size=64, rng=rng), WIDE_CELL, rng
    )
    sets[f"pendigits {split} digits in {cell}, photographed (all effects)"] = (
        photograph(pen_wide, rng, wide),
        pen.labels[pick].astype(np.int64),
    )
    sets[f"empty wide cells (64x{WIDE_CELL}), photographed (refused)"] = (
        photograph(np.zeros((n, 64, WIDE_CELL), np.float32), rng, wide),
        None,
    )
    # Boxes the usual style rarely draws (thick walls, a small digit with its box close
    # around it, a crop turned up to 15 degrees), drawn last like the wide cells.
    hard = ContextStyle.hard_boxes()
    sets[f"MNIST {split} digits in a printed box, hard (thick walls, small digit, turned)"] = (
        photograph(place_mnist(x[m], rng), rng, hard),
        y[m],
    )
    sets["empty printed boxes, hard (refused)"] = (boxes_only(n, 64, rng, hard), None)
    # A printed security pattern under the writing (a cheque's, some forms'), every other
    # effect at its usual rate; drawn last, so the sets above stay what they were.
    printed = ContextStyle(p_pattern=1.0)
    photographed_pair("on a printed pattern", printed)
    sets["empty paper with a printed pattern, photographed (refused)"] = (
        photograph(empty, rng, replace(printed, p_box=0.0, p_lines=0.0)),
        None,
    )
    # Drawn big, to the canvas's edges (a drawing that reaches them is no drawing to the
    # pipeline's drawn check: benchmarks/RESULTS.md, "Drawings that touch the canvas's
    # edge"); drawn last, so the sets above stay what they were.
    big = replace(PenStyle(), size=BIG_DRAWING)
    big_name = f"pendigits {split} writers drawn to fill the canvas"
    sets[big_name] = (
        _canvas(render((pen.points[pick], pen.pen_down[pick]), size=CANVAS, rng=rng, style=big)),
        pen.labels[pick].astype(np.int64),
    )
    # The same canvases as an app sends them, saying they are drawings (no random draw).
    letters_name = f"UJI letters, {data['writers']} (refused)"
    for name in (big_name, letters_name):
        sets[f"{name}, {SENT_AS_DRAWINGS}"] = sets[name]
    # Digits near a side of a loose crop, and cut tight at a corner of theirs, on paper with
    # nothing printed: where an empty cell's wall would stand (benchmarks/RESULTS.md, "A 1
    # near the side of a crop with no print was refused"); drawn last, so the sets above
    # stay the same.
    plain = replace(ContextStyle(), p_box=0.0, p_lines=0.0, p_pattern=0.0)
    sets[f"MNIST {split} digits near a side of a loose crop, {NO_PRINT}"] = (
        photograph(near_a_side(x[m], rng), rng, plain),
        y[m],
    )
    sets[f"MNIST {split} digits cut tight at a corner of their crop, {NO_PRINT}"] = (
        photograph(at_a_corner(x[m], rng), rng, plain),
        y[m],
    )
    # ... and near a side inside a printed cell: removing its wall leaves a 1 written against
    # it where the wall's stub would be (benchmarks/RESULTS.md, "A 1 written against a cell's
    # wall"); drawn last.
    sets[f"MNIST {split} digits near a side {IN_A_CELL}"] = (
        photograph(in_a_cell(near_a_side(x[m], rng), rng), rng, plain),
        y[m],
    )
    return sets


def ink_box_scaled(digit: np.ndarray, rng: np.random.Generator, side: int = 64) -> np.ndarray:
    """A uint8 MNIST digit (28, 28) cut to its ink and scaled to 0.62-0.8 of ``side`` tall
    (float ink, at most ``side`` - 2 wide)."""
    from PIL import Image

    rows, cols = np.flatnonzero(digit.any(1)), np.flatnonzero(digit.any(0))
    cut = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h = int(round(rng.uniform(0.62, 0.8) * side))
    w = max(1, min(side - 2, int(round(cut.shape[1] * h / cut.shape[0]))))
    return np.asarray(Image.fromarray(cut).resize((w, h), Image.BILINEAR), np.float32) / 255


def near_a_side(digits: np.ndarray, rng: np.random.Generator, side: int = 64) -> np.ndarray:
    """uint8 MNIST digits (N, 28, 28) -> float ink (N, side, side): each cut to its ink,
    0.62-0.8 of the height, its middle 0.08-0.22 of the width from the left or right side."""
    out = np.zeros((len(digits), side, side), np.float32)
    for k, d in enumerate(digits):
        ink = ink_box_scaled(d, rng, side)
        h, w = ink.shape
        centre = rng.uniform(0.08, 0.22) * side
        x0 = int(np.clip(round(centre - w / 2), 1, side - 1 - w))
        if rng.random() < 0.5:  # near the right side instead
            x0 = side - x0 - w
        y0 = int(np.clip(round((side - h) / 2 + rng.normal(0, 2)), 1, side - 1 - h))
        out[k, y0 : y0 + h, x0 : x0 + w] = ink
    return out


def at_a_corner(digits: np.ndarray, rng: np.random.Generator, side: int = 64) -> np.ndarray:
    """uint8 MNIST digits (N, 28, 28) -> float ink (N, side, side): each cut to its ink,
    0.62-0.8 of the height, touching two edges at a corner (the four in turn)."""
    out = np.zeros((len(digits), side, side), np.float32)
    for k, d in enumerate(digits):
        ink = ink_box_scaled(d, rng, side)
        h, w = ink.shape
        corner = k % 4
        y0 = 0 if corner < 2 else side - h
        x0 = 0 if corner % 2 == 0 else side - w
        out[k, y0 : y0 + h, x0 : x0 + w] = ink
    return out


def in_a_cell(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Float ink (N, 64, 64) inside a printed cell (grey 0.6) whose 2 px walls stand 1-3 px
    in from the crop's edges."""
    out = ink.copy()
    for k in range(len(out)):
        a, b = rng.integers(1, 4, 2)
        wall = np.zeros(ink.shape[1:], np.float32)
        wall[:, a : a + 2] = wall[:, 62 - b : 64 - b] = 0.6
        wall[a : a + 2, :] = wall[62 - b : 64 - b, :] = 0.6
        out[k] = np.maximum(out[k], wall)
    return out


# Names of photographed sets with nothing printed in them, or only a cell's walls.
NO_PRINT = "photographed (no print)"
IN_A_CELL = "inside a printed cell, photographed"
PHOTO_SETS = (
    NO_PRINT,
    IN_A_CELL,
    "in a printed box",
    "empty printed boxes",
    "in pencil, photographed",
    "empty paper",
    "wide cell",
    "printed pattern",
)


def resized_photos(
    sets: dict[str, tuple[Any, np.ndarray | None]], side: int
) -> dict[str, tuple[Any, np.ndarray | None]]:
    """The boxed and photographed sets of ``sets`` resized to ``side`` px tall (bilinear, a
    wide cell's aspect kept), under their names with the size added."""
    from PIL import Image

    def resized(image: np.ndarray) -> np.ndarray:
        h, w = image.shape
        size = (round(w * side / h), side)
        return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))

    return {
        f"{name}, {side} px": ([resized(i) for i in images], labels)
        for name, (images, labels) in sets.items()
        if any(key in name for key in PHOTO_SETS)
    }


def number_lines(per_length: int, seed: int, split: str = "test") -> list[tuple[np.ndarray, str]]:
    """``per_length`` synthetic lines of every length 1-10 made of MNIST ``split`` digits,
    every neighbour touching or overlapping, scanned dark on white (bench_numbers.py's)."""
    if per_length <= 0:
        return []
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_numbers import make_lines

    data = held_out(split)
    return make_lines(data["x"], data["y"], "touching", per_length, seed)


def measure(
    model: str,
    sets: dict[str, Any],
    lines: list[tuple[np.ndarray, str]],
    mnist: tuple[str, np.ndarray, np.ndarray],
) -> dict[str, Any]:
    recognizer = Recognizer.load(None if model == "default" else model)
    out: dict[str, Any] = {"model": model}
    name, x, y = mnist
    probs = recognizer.probabilities(x.astype(np.float32) / 255.0)
    refused = recognizer.is_not_a_digit(probs)
    out[name] = _accuracies((probs[:, :10].argmax(1) == y) & ~refused, refused)
    for name, (images, labels) in sets.items():
        t = time.perf_counter()
        drawing = name.endswith(SENT_AS_DRAWINGS)
        out[name] = (
            _refused(recognizer, images, drawing)
            if labels is None
            else _score(recognizer, images, labels, drawing)
        )
        out[name]["seconds"] = round(time.perf_counter() - t, 2)
    if lines:
        by_length: dict[int, list[bool]] = {}
        for image, text in lines:
            read = recognizer.predict_number(image).text
            by_length.setdefault(len(text), []).append(read == text)
        out["number lines, exact match by length"] = {
            str(k): {"exact": float(np.mean(v)), "n": len(v)} for k, v in sorted(by_length.items())
        }
    return out


def _table(results: list[dict[str, Any]]) -> str:
    names = [k for k in results[0] if k not in ("model", "number lines, exact match by length")]
    head = "| set | " + " | ".join(r["model"] for r in results) + " |"
    rows = [head, "|---|" + "---:|" * len(results)]
    for name in names:
        cells = []
        for r in results:
            v = r[name]
            if "accuracy" in v:
                cells.append(
                    f"{100 * v['accuracy']:.2f}% (answered {100 * v['answered']:.2f}%, "
                    f"refused {100 * v['refused']:.1f}%)"
                )
            else:
                cells.append(f"refused {100 * v['refused']:.1f}% (blank {100 * v['blank']:.1f}%)")
        rows.append(f"| {name} (n={results[0][name]['n']}) | " + " | ".join(cells) + " |")
    key = "number lines, exact match by length"
    if key in results[0]:
        for length in results[0][key]:
            cells = [f"{100 * r[key][length]['exact']:.1f}%" for r in results]
            rows.append(
                f"| number lines of {length} digits, exact "
                f"(n={results[0][key][length]['n']}) | " + " | ".join(cells) + " |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "models",
        nargs="*",
        default=["default"],
        help="shipped model names or run directories (default: default)",
    )
    parser.add_argument("--n", type=int, default=2000, help="images per synthetic set")
    parser.add_argument(
        "--lines", type=int, default=40, help="touching number lines per length 1-10 (0: none)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--split",
        choices=("test", "val"),
        default="test",
        help="held-out test parts (report) or validation parts (choose)",
    )
    parser.add_argument(
        "--photo-side",
        type=int,
        default=0,
        metavar="PX",
        help="also the boxed and photographed sets resized to PX a side (0: not)",
    )
    parser.add_argument(
        "--only",
        metavar="TEXT",
        help="measure only the sets whose names contain TEXT (MNIST itself is always read); "
        "every set is still drawn, so each is the same images as in a full run",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    t = time.perf_counter()
    sets = build_sets(args.n, args.seed, args.split)
    if args.photo_side:
        sets.update(resized_photos(sets, args.photo_side))
    if args.only:
        sets = {name: s for name, s in sets.items() if args.only in name}
        if not sets:
            parser.error(f"--only {args.only!r}: no set's name contains it")
    lines = number_lines(args.lines, args.seed, args.split)
    data = held_out(args.split)
    results = [measure(m, sets, lines, (data["mnist"], data["x"], data["y"])) for m in args.models]
    print(
        f"bench_realworld.py --split {args.split}, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{platform.machine()} "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
        f"{time.perf_counter() - t:.0f} s\n"
    )
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
