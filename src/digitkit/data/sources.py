"""Mixed training data for real handwriting: MNIST, real pen drawings, synthetic context and
"not a digit" examples, mixed with seeded weights and redrawn every epoch.

Every image is made the way a user's input arrives, as a 64x64 picture (a canvas drawing, or
a photo of a form cell), and goes through the recognizer's own preprocessing
(:func:`digitkit.vision.preprocess.to_mnist_batch`), so the model trains on exactly what it
will see.

Sources (each redrawn every epoch from a generator seeded by ``(seed, epoch)``):

* MNIST training digits, most as they are, a fraction re-photographed (printed box, ruled
  lines, paper, light, blur, JPEG: :func:`digitkit.data.context.photograph`);
* pen trajectories of other writers (UCI pendigits training part, UJI digits), rendered as
  canvas drawings with random pen width, size, position, slant and tremor
  (:mod:`digitkit.data.render`), some photographed too;
* "not a digit" (label :data:`digitkit.labels.NOT_A_DIGIT`): UJI letters (look-alikes such as
  O, I, S, Z left out), symbols, scribbles, horizontal strokes, empty boxes and lone printed
  lines, two or three digits sent as one, pen digits turned on their side or upside down
  (3, 4, 7 only: a turned 3 is an m, a turned 7 an L), printed letters of several fonts
  drawn as if by hand (:mod:`digitkit.data.glyphs`) and the letters of Hershey stroke fonts
  drawn as pen strokes (:mod:`digitkit.data.hershey`), both training only.

Held out by writer, never trained on: the pendigits test part (other writers) and UJI writers
9-11 are the writer-independent test sets (:func:`pen_test_sets`); validation takes its own
pendigits writers and UJI writer 8.

Why one module over 400 lines: one job, the training mix; its sources, the writer splits that
keep held-out writers out of training and the seeded mixing must be read together to check
that nothing held out leaks in.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from digitkit.data.prefetch import DrawAhead
from digitkit.data.splits import MIXED, Splits, load_plain_splits
from digitkit.labels import NOT_A_DIGIT

if TYPE_CHECKING:  # the renderer is imported where it is used: loading sources stays cheap
    from digitkit.data.context import ContextStyle
    from digitkit.data.render import PenStyle

CANVAS = 64  # the side of every synthetic input: preprocessing's vectorized stack path
# pendigits training writers kept for validation: every 6th writer id (5 of 30).
PEN_VAL_EVERY = 6
UJI_TRAIN_WRITERS = range(1, 8)
UJI_VAL_WRITERS = (8,)
UJI_TEST_WRITERS = (9, 10, 11)
UJI_WRITER_OFFSET = 1000  # digitkit.data.pen numbers UJI writers 1001-1011


@dataclass(frozen=True)
class Mix:
    """How many images of each source one epoch holds."""

    # MNIST digits per epoch, a new random subset each epoch (0: all 55,000). Fewer keep
    # epochs short; all of them keep MNIST accuracy (30,000 cost 0.2 points of MNIST test).
    mnist_per_epoch: int = 0
    mnist_photographed: float = 0.2  # fraction of MNIST digits put into a box / photo context
    pen_copies: int = 2  # renderings of every training trajectory per epoch
    pen_photographed: float = 0.3
    # Renderings of every training letter per epoch: letters are the only real non-digits
    # (about 420 from 7 writers), and the hardest to refuse, so each is redrawn often.
    letters_copies: int = 8
    symbols: int = 3000  # symbols, scribbles, horizontal strokes
    empty_boxes: int = 2000  # empty boxes, lone printed lines, grid fragments
    several_digits: int = 2500  # two or three digits side by side
    # Real training digits turned on their side or upside down (see _turned_digits): shapes
    # drawn by a hand like letters are, but none of them a digit. Off by default: measured,
    # they made the model warier of real digits without refusing more letters at the
    # operating point (benchmarks/RESULTS.md, "turned pen digits").
    turned_digits: int = 0
    # Printed letters of 14 fonts, each drawn at a random weight, transformed and bent
    # (digitkit.data.glyphs): letter shapes the 7 UJI training writers never made. Off by
    # default for the same reason ("printed letters of 14 fonts").
    font_letters: int = 0
    # Letters of 6 Hershey stroke fonts (digitkit.data.hershey: sans, roman, italic, script),
    # read as pen trajectories and drawn by the pen renderer with a bend of
    # HERSHEY_BEND: letter shapes the 7 UJI training writers never made, drawn the way the
    # pen letters are. Off by default.
    hershey_letters: int = 0
    # Training 1s, 7s and 0s in styles MNIST rarely shows: the European 1 with a flag, the
    # crossed 7, the slashed or dotted 0 (digitkit.data.styles).
    styled_digits: int = 3000
    # MNIST digits of the epoch drawn as sharp canvases (scaled up, cut at half ink:
    # digitkit.data.render.mnist_canvases): a clean 7 drawn sharp is two straight strokes,
    # which the printed lines and box corners among the "not a digit" examples made a model
    # doubt (benchmarks/RESULTS.md, "MNIST digits drawn sharp"). Off by default.
    mnist_canvases: int = 0
    # MNIST digits of the epoch cut to their ink as a scanner's 16x16 1-bit cells, half of
    # them stretched to fill the cell (digitkit.data.scans.tight_crop): forms' scanners did
    # that to every digit, and a stretched 1 becomes a solid block no other source shows
    # (benchmarks/RESULTS.md, "Scanned 16x16 cells in training"). Off by default; the shipped
    # realworld pair's last two fine-tunes took 10,000 an epoch.
    scanned_cells: int = 0
    # The same for the epoch's renderings of the pendigits training writers: their 1s carry a
    # flag that, stretched to fill a cell, looks like a 7. Off by default; 5,000, then 15,000
    # in those fine-tunes.
    pen_scanned_cells: int = 0
    # Pen writers' 1s, 7s and 0s in European styles (as ``styled_digits`` draws them) cut
    # the same way: a flagged 1 stretched to fill its cell has a 7's bar, and the held-out
    # foreign scans' writers flag their 1s. Off by default.
    styled_scanned_cells: int = 0
    # The pen writers' digits and letters bent by a smooth random field before they are drawn
    # (digitkit.data.render.bend): the largest displacement, as a fraction of the digit's
    # size. Other hands' proportions for a pool of 32 writers. Off by default.
    pen_bend: float = 0.0
    # MNIST digits of the epoch photographed in boxes of ContextStyle.hard_boxes (thick
    # walls, a small digit with its box close around it, a turned crop), and a quarter as
    # many such boxes empty among the "not a digit" examples, so a thick wall does not come
    # to mean a digit. Off by default.
    hard_boxes: int = 0
    # MNIST digits of the epoch written in faint pencil and photographed (every other effect
    # at its usual rate): a pencil stroke is as faint as a paper's grain and a shadow, and
    # the photographed pencil digits read 4-5 points below inked ones. Off by default.
    pencil_digits: int = 0
    # MNIST digits of the epoch photographed on a printed security pattern (a cheque's fine
    # wavy lines, ContextStyle(p_pattern=1.0), every other effect at its usual rate), and a
    # quarter as many such papers empty among the "not a digit" examples, so the pattern's
    # lines do not come to mean a digit. Off by default.
    printed_patterns: int = 0


def parse_mix(dataset: str) -> Mix:
    """The :class:`Mix` a dataset name asks for: ``mixed`` is the default one, and
    ``mixed:pen_copies=6,mnist_per_epoch=15000`` changes those fields (a run's card records
    them, so ``--resume`` and calibration see the same data)."""
    from dataclasses import replace

    from digitkit.errors import DigitkitError

    name, _, overrides = dataset.partition(":")
    if name != MIXED:
        raise DigitkitError(f"{dataset!r} is not the mixed dataset")
    default = asdict(Mix())  # each field's default also gives its type: int or float
    changes: dict[str, Any] = {}
    for item in filter(None, overrides.split(",")):
        key, sep, text = item.partition("=")
        if not sep or key not in default:
            known = ", ".join(default)
            raise DigitkitError(f"mixed data takes KEY=VALUE with KEY one of {known}; not {item!r}")
        try:
            value = type(default[key])(text)
        except ValueError:
            raise DigitkitError(f"mixed data: {key} needs a number, not {text!r}") from None
        if value < 0:
            raise DigitkitError(f"mixed data: {key} cannot be negative")
        changes[key] = value
    return replace(Mix(), **changes)


def mix_overrides(mix: Mix) -> dict[str, Any]:
    """The fields of ``mix`` that differ from the default mix (what ``mixed:...`` names)."""
    default = asdict(Mix())
    return {k: v for k, v in asdict(mix).items() if v != default[k]}


# --------------------------------------------------------------------------- drawing helpers


def place_mnist(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """MNIST 28x28 uint8 digits -> float ink on a CANVAS x CANVAS canvas, doubled in size and
    slightly softened (a plain nearest-neighbour doubling would show steps after blurring)."""
    big = np.kron(digits.astype(np.float32) / 255.0, np.ones((2, 2), np.float32))
    soft = (big + np.roll(big, 1, 1) + np.roll(big, 1, 2) + np.roll(np.roll(big, 1, 1), 1, 2)) / 4
    out = np.zeros((len(digits), CANVAS, CANVAS), np.float32)
    pad = (CANVAS - 56) // 2
    out[:, pad : pad + 56, pad : pad + 56] = np.maximum(big, soft)
    return out


def _canvas(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Float ink in [0, 1] -> a uint8 canvas drawing: dark on white or white on black."""
    dark_on_light = rng.random(len(ink)) < 0.7
    img = np.where(dark_on_light[:, None, None], 1.0 - ink, ink)
    return np.round(img * 255).astype(np.uint8)


def _dress(ink: np.ndarray, photographed: float, rng: np.random.Generator) -> np.ndarray:
    """Ink -> uint8 inputs: a ``photographed`` fraction as photos of a form, the rest as
    canvas drawings."""
    from digitkit.data.context import photograph

    photo = rng.random(len(ink)) < photographed
    out = _canvas(ink, rng)
    if photo.any():
        out[photo] = photograph(ink[photo], rng)
    return out


def _normalize_points(points: np.ndarray) -> np.ndarray:
    """Scale each shape so its bounding box's longer side is 1, centred on (0, 0) (the
    convention of :class:`digitkit.data.pen.PenSet`)."""
    lo, hi = points.min(axis=1, keepdims=True), points.max(axis=1, keepdims=True)
    span = np.maximum((hi - lo).max(axis=2, keepdims=True), 1e-6)
    return ((points - (lo + hi) / 2) / span).astype(np.float32)


# Symbols as polylines (x right, y down, roughly unit size); NaN separates strokes. Circles,
# vertical bars and other shapes a person would read as a digit are deliberately absent.
_SYMBOLS: dict[str, list[tuple[float, float]]] = {
    "+": [(0, 0.5), (1, 0.5), (np.nan, np.nan), (0.5, 0), (0.5, 1)],
    "x": [(0, 0), (1, 1), (np.nan, np.nan), (1, 0), (0, 1)],
    "=": [(0, 0.3), (1, 0.3), (np.nan, np.nan), (0, 0.7), (1, 0.7)],
    "#": [
        (0.3, 0),
        (0.2, 1),
        (np.nan, np.nan),
        (0.7, 0),
        (0.6, 1),
        (np.nan, np.nan),
        (0, 0.35),
        (1, 0.35),
        (np.nan, np.nan),
        (0, 0.65),
        (1, 0.65),
    ],
    "*": [
        (0.5, 0),
        (0.5, 1),
        (np.nan, np.nan),
        (0, 0.25),
        (1, 0.75),
        (np.nan, np.nan),
        (1, 0.25),
        (0, 0.75),
    ],
    "check": [(0, 0.55), (0.35, 1), (1, 0)],
    "triangle": [(0.5, 0), (1, 1), (0, 1), (0.5, 0)],
    "square": [(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)],
    "arrow": [(0, 0.5), (1, 0.5), (np.nan, np.nan), (0.65, 0.15), (1, 0.5), (0.65, 0.85)],
    "%": [
        (1, 0),
        (0, 1),
        (np.nan, np.nan),
        (0.1, 0.1),
        (0.3, 0.1),
        (0.3, 0.3),
        (0.1, 0.3),
        (0.1, 0.1),
        (np.nan, np.nan),
        (0.7, 0.7),
        (0.9, 0.7),
        (0.9, 0.9),
        (0.7, 0.9),
        (0.7, 0.7),
    ],
    "?": [
        (0.1, 0.25),
        (0.3, 0),
        (0.7, 0),
        (0.9, 0.2),
        (0.5, 0.5),
        (0.5, 0.7),
        (np.nan, np.nan),
        (0.5, 0.95),
        (0.52, 1),
    ],
    "dash": [(0, 0.5), (1, 0.5)],
    "wave": [(0, 0.5), (0.25, 0.3), (0.5, 0.5), (0.75, 0.7), (1, 0.5)],
    "heart": [
        (0.5, 1),
        (0, 0.35),
        (0.1, 0.05),
        (0.35, 0),
        (0.5, 0.2),
        (0.65, 0),
        (0.9, 0.05),
        (1, 0.35),
        (0.5, 1),
    ],
}


def _resample(
    poly: list[tuple[float, float]] | np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """A NaN-separated polyline -> ``n`` points spread along its strokes by length, and the
    pen-down flag of each of the ``n - 1`` segments."""
    a = np.array(poly, np.float64)
    strokes = np.split(a, np.flatnonzero(np.isnan(a[:, 0])))
    strokes = [s[~np.isnan(s[:, 0])] for s in strokes]
    lengths = np.array([np.linalg.norm(np.diff(s, axis=0), axis=1).sum() for s in strokes])
    counts = np.maximum(2, np.round(lengths / lengths.sum() * n).astype(int))
    counts[-1] = n - counts[:-1].sum()
    pts, down = [], []
    for s, c in zip(strokes, counts, strict=True):
        seg = np.linalg.norm(np.diff(s, axis=0), axis=1)
        at = np.concatenate([[0], np.cumsum(seg)])
        t = np.linspace(0, at[-1], c)
        pts.append(np.stack([np.interp(t, at, s[:, 0]), np.interp(t, at, s[:, 1])], 1))
        down += [True] * (c - 1) + [False]
    return np.concatenate(pts).astype(np.float32), np.array(down[:-1])


def _symbols(n: int, points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` symbols and scribbles as (points (n, P, 2), pen_down (n, P - 1))."""
    shapes = [_resample(p, points) for p in _SYMBOLS.values()]
    kind = rng.integers(0, len(shapes) + 1, n)  # the last kind is a random scribble
    pts = np.stack([shapes[k][0] if k < len(shapes) else shapes[0][0] for k in kind])
    down = np.stack([shapes[k][1] if k < len(shapes) else shapes[0][1] for k in kind])
    scribble = kind == len(shapes)
    if scribble.any():
        # A smooth random walk: integrated noise, so it curls like a hand, not like static.
        m = int(scribble.sum())
        turn = np.cumsum(rng.normal(0, 0.5, (m, points)), axis=1)
        step = np.stack([np.cos(turn), np.sin(turn)], 2) * rng.uniform(0.5, 1.5, (m, 1, 1))
        pts[scribble] = np.cumsum(step, axis=1)
        down[scribble] = True
    return _normalize_points(pts), down


# How far the Hershey letters are bent before they are drawn (digitkit.data.render.bend, as
# a fraction of the letter's size): a typeface draws each letter one way, writers do not.
HERSHEY_BEND = 0.12


def _hershey_letters(
    n: int, points: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` letters drawn at random from the Hershey fonts as (points (n, P, 2), pen_down
    (n, P - 1)), normalized like the pen sets."""
    pts, down = _hershey_bank(points)
    pick = rng.integers(0, len(pts), n)
    return pts[pick], down[pick]


@lru_cache(maxsize=2)
def _hershey_bank(points: int) -> tuple[np.ndarray, np.ndarray]:
    """Every Hershey letter resampled to ``points`` points and normalized, once a process."""
    from digitkit.data.hershey import letter_strokes

    shapes = [_resample(vertices, points) for _, vertices in letter_strokes()]
    pts = np.stack([p for p, _ in shapes])
    down = np.stack([d for _, d in shapes])
    return _normalize_points(pts), down


# Digits whose quarter and half turns read as no digit (a 3 on its side is an m or a w, a 7
# upside down an L, a 4 a h). 0, 1 and 8 are left out (a turned 0 is still an O-like ring, a 1 a
# dash, an 8 an infinity sign close to an 8), and so are 6 and 9, which turn into each other.
# 2 and 5 are left out too (looked at, not guessed): a Z-shaped 2 on its side is an N that
# reads as a 2 again, a 5 on its side is an S close to a 5, and a 7 on its side is often a 7
# again (its bar becomes the stem), so a 7 only turns upside down.
TURNS_DEG = {"3": (90.0, 180.0, 270.0), "4": (90.0, 180.0, 270.0), "7": (180.0,)}
TURN_JITTER_DEG = 15.0


def _turned_digits(pen: Any, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pen digits turned as :data:`TURNS_DEG` allows (+- a little), as (points
    (n, P, 2), pen_down (n, P - 1))."""
    pool = np.flatnonzero(np.isin(pen.labels, list(TURNS_DEG)))
    pick = pool[rng.integers(0, len(pool), n)]
    table = np.full((len(TURNS_DEG), 3), np.nan)
    for row, allowed in enumerate(TURNS_DEG.values()):
        table[row, : len(allowed)] = allowed
    klass = np.searchsorted(np.array(list(TURNS_DEG)), pen.labels[pick])
    counts = np.array([len(a) for a in TURNS_DEG.values()])[klass]
    base = table[klass, (rng.random(n) * counts).astype(np.int64)]
    angle = np.radians(base + rng.uniform(-TURN_JITTER_DEG, TURN_JITTER_DEG, n))
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x, y = pen.points[pick, :, 0], pen.points[pick, :, 1]
    turned = np.stack([cos * x - sin * y, sin * x + cos * y], axis=2)
    return _normalize_points(turned), pen.pen_down[pick]


def _several_digits(digits: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` canvases holding two or three MNIST digits side by side (touching or apart):
    what arrives when a user sends a whole number to the single-digit recognizer."""
    count = rng.integers(2, 4, n)
    pick = rng.integers(0, len(digits), (n, 3))
    step = rng.integers(14, 24, n)  # digit pitch in pixels: 14 overlaps, 24 leaves a gap
    width = 28 + step * 2
    strip = np.zeros((n, 28, int(width.max())), np.float32)
    rows = np.arange(n)
    for k in range(3):  # at most three digits: a loop over positions, not samples
        use = count > k
        x0 = step * k
        cols = x0[:, None] + np.arange(28)[None]
        patch = digits[pick[:, k]].astype(np.float32) / 255.0 * use[:, None, None]
        current = strip[rows[:, None, None], np.arange(28)[None, :, None], cols[:, None, :]]
        strip[rows[:, None, None], np.arange(28)[None, :, None], cols[:, None, :]] = np.maximum(
            current, patch
        )
    # Shrink each strip to fit the canvas width (nearest sampling is enough at this scale).
    total = step * (count - 1) + 28
    scale = np.minimum(1.0, (CANVAS - 4) / total)
    out = np.zeros((n, CANVAS, CANVAS), np.float32)
    ys = np.arange(CANVAS)[None, :, None]
    xs = np.arange(CANVAS)[None, None, :]
    s = scale[:, None, None]
    sy = np.floor((ys - (CANVAS - 28 * s) / 2) / s).astype(np.int64)
    sx = np.floor((xs - (CANVAS - total[:, None, None] * s) / 2) / s).astype(np.int64)
    sy, sx = np.broadcast_arrays(sy, sx)
    inside = (sy >= 0) & (sy < 28) & (sx >= 0) & (sx < total[:, None, None])
    r = np.broadcast_to(rows[:, None, None], inside.shape)
    out[inside] = strip[r[inside], sy[inside], sx[inside]]
    return out


# --------------------------------------------------------------------------- pen sources


@lru_cache(maxsize=2)
def pen_parts() -> dict[str, Any]:
    """The pen sets split by writer: train / val digits, train / val letters."""
    from digitkit.data.pen import LOOKALIKES, load_pen

    pen = load_pen("pendigits-train")
    val_writer = (pen.writers % PEN_VAL_EVERY) == 0
    uji = load_pen("uji")
    writer = uji.writers - UJI_WRITER_OFFSET
    is_digit = np.char.isdigit(uji.labels)
    letter = ~is_digit & ~np.isin(uji.labels, sorted(LOOKALIKES))
    train_w, val_w = np.isin(writer, list(UJI_TRAIN_WRITERS)), np.isin(writer, UJI_VAL_WRITERS)
    return {
        "pen_train": pen.subset(~val_writer),
        "pen_val": pen.subset(val_writer),
        "uji_digits_train": uji.subset(is_digit & train_w),
        "uji_digits_val": uji.subset(is_digit & val_w),
        "letters_train": uji.subset(letter & train_w),
        "letters_val": uji.subset(letter & val_w),
    }


def pen_test_sets() -> dict[str, Any]:
    """The writer-independent test sets, never trained on: pendigits' test part (14 other
    writers) and the UJI digits and non-look-alike letters of writers 9-11."""
    from digitkit.data.pen import LOOKALIKES, load_pen

    uji = load_pen("uji")
    test_w = np.isin(uji.writers - UJI_WRITER_OFFSET, UJI_TEST_WRITERS)
    is_digit = np.char.isdigit(uji.labels)
    letter = ~is_digit & ~np.isin(uji.labels, sorted(LOOKALIKES))
    return {
        "pendigits-test": load_pen("pendigits-test"),
        "uji-digits-test": uji.subset(is_digit & test_w),
        "uji-letters-test": uji.subset(letter & test_w),
    }


def _pen_style(mix: Mix) -> PenStyle:
    """The pen the mix draws its training trajectories with."""
    from digitkit.data.render import PenStyle

    return PenStyle(bend=mix.pen_bend)


def _render_pen(pen: Any, copies: int, rng: np.random.Generator, mix: Mix) -> np.ndarray:
    from digitkit.data.render import render

    points = np.concatenate([pen.points] * copies)
    down = np.concatenate([pen.pen_down] * copies)
    return render((points, down), size=CANVAS, rng=rng, style=_pen_style(mix))


def _digit_labels(pen: Any, copies: int) -> np.ndarray:
    return np.tile(pen.labels.astype(np.int64), copies)


# --------------------------------------------------------------------------- one epoch


def _preprocess(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inputs -> the recognizer's 28x28 uint8 images; inputs it finds blank are dropped (the
    recognizer answers those with a reason before any model runs)."""
    from digitkit.vision.preprocess import to_mnist_batch

    pre = to_mnist_batch(images)
    keep = np.array([not p.blank for p in pre], bool)
    x = (
        np.stack([np.round(p.image * 255).astype(np.uint8) for p in pre if not p.blank])
        if keep.any()
        else np.zeros((0, 28, 28), np.uint8)
    )
    return x, labels[keep]


def _restyled_digits(
    mnist_x: np.ndarray,
    mnist_y: np.ndarray,
    parts: dict[str, Any],
    mix: Mix,
    rng: np.random.Generator,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The digit sources that show training digits in another guise (European styles, sharp
    canvases, scanned cells), each as preprocessed images and labels, in the mix's order."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    if mix.styled_digits:
        ink, labels = _styled_ink(parts["pen"], mix.styled_digits, rng, mix)
        x, y = _preprocess(_dress(ink, mix.pen_photographed, rng), labels)
        out.append((x, y))
    if mix.mnist_canvases and len(mnist_x):
        from digitkit.data.render import mnist_canvases

        pick = rng.integers(0, len(mnist_x), mix.mnist_canvases)
        x, y = _preprocess(mnist_canvases(mnist_x[pick], CANVAS), mnist_y[pick])
        out.append((x, y))
    if mix.scanned_cells and len(mnist_x):
        pick = rng.integers(0, len(mnist_x), mix.scanned_cells)
        x, y = _preprocess(_scanned_cells(mnist_x[pick], rng), mnist_y[pick])
        out.append((x, y))
    if mix.styled_scanned_cells:
        ink, labels = _styled_ink(parts["pen"], mix.styled_scanned_cells, rng, mix)
        out.append(_preprocess(_scanned_cells(ink, rng), labels))
    if len(mnist_x):
        from digitkit.data.context import ContextStyle

        for n, style in (
            (mix.hard_boxes, ContextStyle.hard_boxes()),
            (mix.pencil_digits, ContextStyle(p_faint=1.0)),
            (mix.printed_patterns, ContextStyle(p_pattern=1.0)),
        ):
            if n:
                out.append(_photographed_mnist(mnist_x, mnist_y, n, style, rng))
    return out


def _styled_ink(
    pen: Any, n: int, rng: np.random.Generator, mix: Mix
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` of the pen writers' 1s, 7s and 0s in European styles, drawn with the mix's
    pen: (ink (n, CANVAS, CANVAS), labels)."""
    from digitkit.data.render import render
    from digitkit.data.styles import styled_digits

    pts, down, labels = styled_digits(pen, n, rng)
    return render((pts, down), size=CANVAS, rng=rng, style=_pen_style(mix)), labels


def _photographed_mnist(
    mnist_x: np.ndarray,
    mnist_y: np.ndarray,
    n: int,
    style: ContextStyle,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` MNIST digits drawn at random, placed on the canvas and photographed in
    ``style``, preprocessed, with labels."""
    from digitkit.data.context import photograph

    pick = rng.integers(0, len(mnist_x), n)
    photos = photograph(place_mnist(mnist_x[pick], rng), rng, style)
    return _preprocess(photos, mnist_y[pick])


def draw_examples(
    mnist_x: np.ndarray,
    mnist_y: np.ndarray,
    parts: dict[str, Any],
    mix: Mix,
    rng: np.random.Generator,
    *,
    keep_mnist: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """One draw of every source (the MNIST digits given, the pen sets in ``parts``) as
    preprocessed uint8 (N, 28, 28) images and int64 labels, in source order."""
    from digitkit.data.context import ContextStyle, boxes_only, photograph

    xs, ys = [], []
    photo = rng.random(len(mnist_x)) < mix.mnist_photographed
    if keep_mnist:
        xs.append(mnist_x[~photo])
        ys.append(mnist_y[~photo])
    if photo.any():
        inputs = _dress(place_mnist(mnist_x[photo], rng), 1.0, rng)
        x, y = _preprocess(inputs, mnist_y[photo])
        xs.append(x)
        ys.append(y)
    for name in ("pen", "uji_digits"):
        pen = parts[name]
        ink = _render_pen(pen, mix.pen_copies, rng, mix)
        labels = _digit_labels(pen, mix.pen_copies)
        x, y = _preprocess(_dress(ink, mix.pen_photographed, rng), labels)
        xs.append(x)
        ys.append(y)
        if name == "pen" and mix.pen_scanned_cells and len(ink):
            pick = rng.integers(0, len(ink), mix.pen_scanned_cells)
            x, y = _preprocess(_scanned_cells(ink[pick], rng), labels[pick])
            xs.append(x)
            ys.append(y)
    for x, y in _restyled_digits(mnist_x, mnist_y, parts, mix, rng):
        xs.append(x)
        ys.append(y)
    letters = _render_pen(parts["letters"], mix.letters_copies, rng, mix)
    negatives = [_dress(letters, 0.2, rng)]
    if mix.symbols:
        from digitkit.data.render import render

        pts, down = _symbols(mix.symbols, parts["letters"].points.shape[1], rng)
        negatives.append(_dress(render((pts, down), size=CANVAS, rng=rng), 0.2, rng))
    if mix.turned_digits:
        from digitkit.data.render import render

        pts, down = _turned_digits(parts["pen"], mix.turned_digits, rng)
        negatives.append(_dress(render((pts, down), size=CANVAS, rng=rng), 0.2, rng))
    if mix.hershey_letters:
        from digitkit.data.render import PenStyle, render

        pts, down = _hershey_letters(mix.hershey_letters, parts["letters"].points.shape[1], rng)
        style = PenStyle(bend=HERSHEY_BEND)
        negatives.append(_dress(render((pts, down), size=CANVAS, rng=rng, style=style), 0.2, rng))
    if mix.font_letters:
        from digitkit.data.glyphs import font_letters

        negatives.append(_dress(font_letters(mix.font_letters, rng), 0.2, rng))
    if mix.empty_boxes:
        negatives.append(boxes_only(mix.empty_boxes, CANVAS, rng))
    if mix.several_digits:
        negatives.append(_dress(_several_digits(mnist_x, mix.several_digits, rng), 0.2, rng))
    if mix.hard_boxes:
        negatives.append(boxes_only(mix.hard_boxes // 4, CANVAS, rng, ContextStyle.hard_boxes()))
    if mix.printed_patterns:
        paper = ContextStyle(p_pattern=1.0, p_box=0.0, p_lines=0.0)
        empty = np.zeros((mix.printed_patterns // 4, CANVAS, CANVAS), np.float32)
        negatives.append(photograph(empty, rng, paper))
    neg = np.concatenate(negatives)
    x, y = _preprocess(neg, np.full(len(neg), NOT_A_DIGIT, np.int64))
    ones = _looks_like_a_one(x)
    xs.append(x[~ones])
    ys.append(y[~ones])
    return np.concatenate(xs), np.concatenate(ys)


# A scanned cell's side: the held-out foreign scans are 16x16 1-bit cells.
SCANNED_CELL_SIDE = 16
STRETCHED_SHARE = 0.5  # of the scanned cells, this share stretched to fill their cell


def _scanned_cells(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Digits (N, H, W), white ink on black, as 16x16 1-bit scans, dark on white: each cut to
    its ink box, which is centred in the cell (aspect kept) or stretched to fill it."""
    from digitkit.data.scans import tight_crop

    stretched = rng.random(len(digits)) < STRETCHED_SHARE
    return np.stack(
        [
            tight_crop(d, SCANNED_CELL_SIDE, binary=True, fill=bool(f))
            for d, f in zip(digits, stretched, strict=True)
        ]
    )


# After preprocessing, a lone straight stroke near upright (a printed border line, a letter's
# stem) is a perfect "1": such negatives are dropped. A stroke is straight when its ink's
# second moments are this elongated (minor / major axis), upright within UPRIGHT_DEG.
ONE_LIKE_ELONGATION = 0.25
UPRIGHT_DEG = 45.0


def _looks_like_a_one(images: np.ndarray) -> np.ndarray:
    """Which preprocessed (N, 28, 28) uint8 images are a single straight, near-upright bar."""
    w = images.astype(np.float64) / 255.0
    total = np.maximum(w.sum(axis=(1, 2)), 1e-9)
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float64)
    my = (w * yy).sum(axis=(1, 2)) / total
    mx = (w * xx).sum(axis=(1, 2)) / total
    dy, dx = yy[None] - my[:, None, None], xx[None] - mx[:, None, None]
    syy = (w * dy * dy).sum(axis=(1, 2)) / total
    sxx = (w * dx * dx).sum(axis=(1, 2)) / total
    sxy = (w * dx * dy).sum(axis=(1, 2)) / total
    spread = np.sqrt(((sxx - syy) / 2) ** 2 + sxy**2)
    major, minor = (sxx + syy) / 2 + spread, (sxx + syy) / 2 - spread
    straight = np.sqrt(np.maximum(minor, 0) / np.maximum(major, 1e-9)) < ONE_LIKE_ELONGATION
    # Orientation of the major axis, measured from the vertical.
    angle = np.degrees(0.5 * np.arctan2(2 * sxy, syy - sxx))
    return straight & (np.abs(angle) < UPRIGHT_DEG)


def _fixed_size(
    x: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Exactly ``n`` examples (the trainer's epoch length is fixed): preprocessing drops a
    varying few, so top up by repeating random ones, or trim."""
    if len(x) < n:
        extra = rng.integers(0, len(x), n - len(x))
        x, y = np.concatenate([x, x[extra]]), np.concatenate([y, y[extra]])
    return x[:n], y[:n]


def mixed_splits(
    data_dir: str | os.PathLike[str] | None = None,
    n_val: int = 5000,
    split_seed: int = 0,
    download: bool = True,
    mix: Mix | None = None,
    seed: int = 0,
    train: bool = True,
    draw_ahead: int = 0,
) -> Splits:
    """MNIST's splits with the mixed sources added to train (redrawn every epoch through
    ``Splits.refresh``) and to validation (drawn once, from held-out writers). The test split
    stays MNIST's t10k: the pen test writers are measured by ``benchmarks/bench_realworld.py``.
    With ``train=False`` no training epoch is drawn (``x_train`` is empty): for callers of
    ``val`` and ``test`` only, which the mix does not change. With ``draw_ahead=N``, epochs
    0 to N are drawn in worker processes from the start, as far as the cores allow
    (:mod:`digitkit.data.prefetch`), while this process draws validation: training starts
    after one epoch's draw, not validation's and epoch 0's in turn.
    """
    mix = mix or Mix()
    base = load_plain_splits(
        "mnist", data_dir, n_val=n_val, split_seed=split_seed, download=download
    )
    parts = pen_parts()
    train_parts = {
        "pen": parts["pen_train"],
        "uji_digits": parts["uji_digits_train"],
        "letters": parts["letters_train"],
    }
    draw_args = (base.x_train, base.y_train, train_parts, mix, seed)
    ahead = DrawAhead(draw_epoch, draw_args)
    for epoch in range(_epochs_drawn_from_the_start(draw_ahead) if train else 0):
        ahead.start(epoch)  # drawn by workers while validation is drawn here
    x_val, y_val = _draw_validation(base.x_val, base.y_val, parts, split_seed)

    counts = {"val": int(len(y_val)), "not_a_digit_val": int((y_val == NOT_A_DIGIT).sum())}
    source = {
        **base.source,
        "dataset": MIXED,
        "mix": asdict(mix),
        "mix_overrides": mix_overrides(mix),
        "counts": counts,
        "sources": SOURCES,
    }
    if not train:
        none_x, none_y = np.zeros((0, *base.x_train.shape[1:]), np.uint8), np.zeros(0, np.int64)
        return Splits(none_x, none_y, x_val, y_val, base.x_test, base.y_test, source)

    def drawn(epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """The epoch drawn ahead if it was asked for, else drawn here."""
        got = ahead.take(epoch)
        if got is None and ahead.failure:
            warnings.warn(f"epoch {epoch + 1} drawn here: {ahead.failure}", stacklevel=3)
        return got if got is not None else draw_epoch(*draw_args, epoch)

    first_x, first_y = drawn(0)
    n = len(first_x)
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {0: (first_x, first_y)}

    def refresh(epoch: int) -> tuple[np.ndarray, np.ndarray]:
        if epoch not in cache:
            cache.clear()
            x, y = drawn(epoch)
            cache[epoch] = _fixed_size(x, y, n, np.random.default_rng([seed, epoch, 8]))
        return cache[epoch]

    counts.update(train=int(n), not_a_digit_train=int((first_y == NOT_A_DIGIT).sum()))
    return Splits(
        first_x, first_y, x_val, y_val, base.x_test, base.y_test, source, refresh, ahead.start
    )


def _draw_validation(
    x_val: np.ndarray, y_val: np.ndarray, parts: dict[str, Any], split_seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The mixed validation split, drawn once from the held-out writers whatever a run's
    mix: every MNIST validation digit as it is, plus a photographed copy of 40% of them, the
    validation writers' pen digits and letters, and synthetic "not a digit" examples."""
    val_parts = {
        "pen": parts["pen_val"],
        "uji_digits": parts["uji_digits_val"],
        "letters": parts["letters_val"],
    }
    val_mix = Mix(
        mnist_photographed=0.4,
        pen_copies=2,
        pen_photographed=0.3,
        letters_copies=4,
        symbols=800,
        empty_boxes=500,
        several_digits=600,
        turned_digits=800,
        font_letters=0,  # validation's letters are a held-out writer's: real ones only
        styled_digits=0,  # validation's digits are held-out writers' own styles
    )
    rng = np.random.default_rng([split_seed, 99])
    extra_x, extra_y = draw_examples(x_val, y_val, val_parts, val_mix, rng, keep_mnist=False)
    return np.concatenate([x_val, extra_x]), np.concatenate([y_val, extra_y])


def _epochs_drawn_from_the_start(draw_ahead: int) -> int:
    """How many epochs a training load with ``draw_ahead`` hands to workers before it draws
    validation itself: epochs 0 to ``draw_ahead``, as far as the cores allow beside this
    process (on two cores only epoch 0: a second worker would slow the first one down, and
    epoch 0 is what training waits for)."""
    if draw_ahead <= 0:
        return 0
    return 1 + min(draw_ahead, max((os.cpu_count() or 1) - 2, 0))


def draw_epoch(
    x_train: np.ndarray,
    y_train: np.ndarray,
    parts: dict[str, Any],
    mix: Mix,
    seed: int,
    epoch: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Epoch ``epoch``'s training examples of a mixed run (before they are cut to the
    epoch's fixed size): a function of its arguments alone, so it can be drawn in another
    process (:mod:`digitkit.data.prefetch`) and give the same images."""
    rng = np.random.default_rng([seed, epoch, 7])
    count = mix.mnist_per_epoch or len(x_train)
    pick = np.sort(rng.choice(len(x_train), min(count, len(x_train)), replace=False))
    return draw_examples(x_train[pick], y_train[pick], parts, mix, rng)


# What a card records about the data a mixed run saw, with each source's licence.
SOURCES = [
    {
        "name": "MNIST",
        "by": "Y. LeCun, C. Cortes, C. J. C. Burges",
        "licence": "CC BY-SA 3.0",
        "use": "train (55,000; a random subset each epoch), val (5,000); t10k reported only",
    },
    {
        "name": "UCI Pen-Based Recognition of Handwritten Digits (pendigits)",
        "by": "E. Alpaydin, F. Alimoglu",
        "doi": "10.24432/C5MG6K",
        "licence": "CC BY 4.0",
        "use": "training part: 25 writers train, 5 writers (id % 6 == 0) val; test part held out",
    },
    {
        "name": "UJI Pen Characters v1",
        "by": "D. Llorens, F. Prat, A. Marzal, J. M. Vilar et al.",
        "doi": "10.24432/C5Z31R",
        "licence": "CC BY 4.0",
        "use": "writers 1-7 train, 8 val, 9-11 held out; letters as 'not a digit' "
        "(look-alikes left out)",
    },
    {
        "name": "synthetic",
        "by": "digitkit",
        "use": "printed boxes, ruled lines, paper, light, blur, JPEG; symbols, scribbles, "
        "empty boxes, lone lines, several digits at once, pen digits turned on their "
        "side or upside down",
    },
    {
        "name": "Hershey fonts",
        "by": "A. V. Hershey (U.S. National Bureau of Standards); format by J. Hurt",
        "licence": "Hershey fonts' use restriction: any use, with acknowledgement "
        "(src/digitkit/data/vendor/hershey/README.md)",
        "use": "train only: letters (look-alikes left out) drawn as pen strokes as 'not a digit'",
    },
    {
        "name": "font letters",
        "by": "DejaVu (Bitstream Vera licence), STIX (SIL OFL 1.1), Computer Modern (BaKoMa "
        "licence), as shipped by matplotlib",
        "use": "train only: letters (look-alikes left out) rendered, bent and thickened as "
        "'not a digit'; no font file is redistributed",
    },
]
