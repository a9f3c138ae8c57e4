"""Segmentation-free reading of written numbers (amounts on forms: ``25.441``, ``280.000=``).

The segmenter (:mod:`digitkit.vision.segment`) has to decide where one digit ends before it can read
it, and touching or joined-up digits defeat it. This reader never cuts: the whole line of ink
is normalized to a height of :data:`LINE_HEIGHT` pixels and a CRNN trained with CTC
(:mod:`digitkit.models.sequence`, :mod:`digitkit.train.sequence`) emits one character
distribution per 4 columns; greedy CTC decoding collapses them into the string.

    >>> from digitkit.vision.numbers import NumberReader
    >>> reader = NumberReader.load("src/digitkit/weights/number-ctc")
    >>> reader.read(grey).text        # "25441"; .formatted == "25.441"

The alphabet is the ten digits plus the separators written on forms (:data:`ALPHABET`); they
are read so that they are *not* mistaken for digits, and ``formatted`` keeps them.

This module imports no torch: inference runs on onnxruntime, or without it (a bare install)
on the NumPy runtime (:mod:`digitkit.inference.numpy_runtime`, the float32 weights the export
pinned), and :func:`normalize_line` is also what the training data generator uses, so the
model sees training lines exactly the way the reader prepares real ones.

Why one module over 400 lines (only just): one job, reading a number line; the line
normalization and CTC decoding it runs are also the single definition the training generator
shares, so they stay beside the reader.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitkit import runs
from digitkit.errors import DigitkitError
from digitkit.vision.ctc import consensus, ctc_greedy

DIGITS = "0123456789"
SEPARATORS = ".,'-=/ "  # the space stands for a wide gap (``1 000``)
ALPHABET = DIGITS + SEPARATORS  # CTC class k + 1 is ALPHABET[k]; class 0 is the blank
LINE_HEIGHT = 32
INK_HEIGHT = 28  # the ink box fills this many rows, centred: 2 rows of margin above and below
MARGIN_X = 4  # blank columns left and right, so the first and last characters get frames
STRIDE = 4  # input columns per output frame of the model
# Where the frame boundaries fall on the ink is arbitrary, and the greedy string can change
# with it: a line is read at this many alignments (shifts of 0..3 columns, one batch) and
# the string the readings find most probable together is kept (chosen on validation lines).
READ_PHASES = 4
MAX_WIDTH = 1024  # wider lines are squeezed: the cost of a read is bounded for any image
MIN_INK_ROWS = 5  # ink fewer input pixels high than this is no legible number
MIN_MASS_FRACTION = 0.1  # components this heavy (x the heaviest) define the line's band
# A box's side around a number: a component this many times as tall as the line's median
# big component and under WALL_THIN of its height wide (1.3 and 1.5 measured alike on
# validation lines in boxes: benchmarks/RESULTS.md, "Numbers in boxes")
WALL_HEIGHT = 1.5
WALL_THIN = 0.25
# Another reading of a line (its printed lines left in, the ink off its edges) replaces the
# first when its score (_reading_score) is higher by this much (0 / 0.05 / 0.1 / 0.2 / 0.3
# compared on validation lines: benchmarks/RESULTS.md, "Numbers in boxes")
READING_MARGIN = 0.1
# What each digit read adds to a reading's score besides its log confidence: a digit read at
# a confidence over exp(-DIGIT_GAIN) (0.61) counts for the reading. A mean of log confidences
# let two sure digits left by taking a cell's walls beat five read from the whole line
# (0.3-0.8 compared on diagnosis lines: benchmarks/RESULTS.md, "Choosing among a line's
# readings")
DIGIT_GAIN = 0.5
# A line whose digits' mean confidence is under this reads as no number: an empty field's
# print, shadows and grain are read as a few digits at a mean of 0.1-0.6, written lines at
# 0.36 and up (benchmarks/RESULTS.md, "Digits read unsurely are no number": 0.6 cost three
# one-digit lines read right)
MIN_SURETY = 0.35
UNSURE = "blank: no digit read surely"
# Written characters are at most about twice as wide as high (the widest: a digit with ".-"
# after it); ink wider than this x its height per character read is a printed line's remnant
# or a shadow's edge, not writing (benchmarks/RESULTS.md, "Flat ink").
FLAT_PER_CHARACTER = 3.0
TOO_FLAT = "blank: the ink is too flat for the characters read (print or a shadow's edge)"
# The ink left off the image's edges that spans this share of both its height and width is
# paper grain over the whole field, not a number inside it.
OFF_EDGE_FULL = 0.95
# Writing that leans (italic) is set upright before it is read: leaning touching digits
# overlap column by column, where the reader, trained on lines within about 7 degrees of
# upright, reads them left to right. The lean is the shear (columns per row) among
# UPRIGHT_SHEARS that makes the ink's column sums peak most; leans under UPRIGHT_MIN are left.
UPRIGHT_SHEARS = np.linspace(-0.6, 0.6, 13)
UPRIGHT_MIN = 0.15
UPRIGHT_MARGIN = 0.75  # the upright reading replaces another when its score is this much higher
UPRIGHT_PIXELS = 40_000  # the lean is judged on at most this many ink pixels (bounded cost)
NUMBER_TASK = "number"
# Recognizer.predict_number (reader=None) also runs the segmenter; when it finds more digits
# than this reader, each of them sure, its reading answers (a lone digit far from the others).
CONFIRM_WITH_SEGMENTER = True


# --------------------------------------------------------------------------- resampling


def resample_axis(a: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Resample ``a`` to ``n_out`` samples along ``axis``: area averaging when shrinking
    (no aliasing of thin strokes), linear interpolation when enlarging. O(size), no loops."""
    a = np.asarray(a, np.float32)
    n_in = a.shape[axis]
    if n_out == n_in:
        return a.copy()
    a = np.moveaxis(a, axis, 0)
    s = n_in / n_out
    if s >= 1.0:
        # The integral of the piecewise-constant signal at each output edge; differences of
        # consecutive edges are the areas, whatever the (fractional) scale.
        c = np.concatenate(
            [np.zeros((1, *a.shape[1:]), np.float64), np.cumsum(a, axis=0, dtype=np.float64)]
        )
        edges = np.arange(n_out + 1) * s
        i = np.minimum(np.floor(edges).astype(np.int64), n_in - 1)
        f = (edges - i).reshape(-1, *([1] * (a.ndim - 1)))
        ce = c[i] + f * (c[i + 1] - c[i])
        out = (np.diff(ce, axis=0) / s).astype(np.float32)
    else:
        x = np.clip((np.arange(n_out) + 0.5) * s - 0.5, 0, n_in - 1)
        i0 = np.floor(x).astype(np.int64)
        i1 = np.minimum(i0 + 1, n_in - 1)
        f = (x - i0).astype(np.float32).reshape(-1, *([1] * (a.ndim - 1)))
        out = a[i0] * (1 - f) + a[i1] * f
    return np.moveaxis(out, 0, axis)


@dataclass
class Line:
    """A normalized line: ``image`` (LINE_HEIGHT, width) float32 in [0, 1], white ink on black.

    Column ``c`` of the image shows input column ``x0 + (c - MARGIN_X) * x_scale`` (the
    mapping back to the pixels of the image the ink came from); ``reason`` is set (and the
    image empty) when there is no ink.
    """

    image: np.ndarray
    x0: float = 0.0
    x_scale: float = 1.0
    reason: str | None = None
    y0: int = 0  # the ink rows of the line, in input pixels (y1 exclusive)
    y1: int = 0
    lean: float = 0.0  # the shear taken out of leaning writing (set_upright), 0 where none

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    def to_input_x(self, col: np.ndarray | float) -> np.ndarray | float:
        """Line columns -> input-image x coordinates."""
        return self.x0 + (np.asarray(col, np.float64) - MARGIN_X) * self.x_scale


def normalize_line(ink: np.ndarray, max_width: int = MAX_WIDTH, scale: float = 1.0) -> Line:
    """Clean ink (H, W) in [0, 1] -> a :class:`Line`: cropped to the ink box, scaled so the
    box is INK_HEIGHT rows high (aspect kept), centred in LINE_HEIGHT rows with MARGIN_X blank
    columns each side. Lines wider than ``max_width`` are squeezed horizontally to fit.
    ``scale`` is input pixels per ink pixel (see ``digitkit.vision.preprocess.ink.Ink``)."""
    ink = np.asarray(ink, np.float32)
    mask = ink > 0.05
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return Line(np.zeros((LINE_HEIGHT, 2 * MARGIN_X), np.float32), reason="blank: no ink")
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = ink[y0:y1, x0:x1]
    h, w = crop.shape
    factor = INK_HEIGHT / h
    width = max(1, int(round(w * factor)))
    width = min(width, max_width - 2 * MARGIN_X)
    # Rows first on the narrower image would be cheaper only for tall crops; lines are wide,
    # so shrink the columns first when they shrink (a 16000-column strip becomes ~1000).
    if width < w:
        out = resample_axis(resample_axis(crop, width, 1), INK_HEIGHT, 0)
    else:
        out = resample_axis(resample_axis(crop, INK_HEIGHT, 0), width, 1)
    image = np.zeros((LINE_HEIGHT, width + 2 * MARGIN_X), np.float32)
    top = (LINE_HEIGHT - INK_HEIGHT) // 2
    image[top : top + INK_HEIGHT, MARGIN_X : MARGIN_X + width] = np.clip(out, 0.0, 1.0)
    return Line(
        image,
        x0=float(x0) * scale,
        x_scale=float(w) / width * scale,
        y0=int(np.floor(y0 * scale)),
        y1=int(np.ceil(y1 * scale)),
    )


EMPTY_PRINT = "blank: only printed lines (an empty box or field)"


def line_inks(
    grey: np.ndarray, scale: float = 1.0, alternatives: bool = False
) -> tuple[list[np.ndarray | None], float, str | None]:
    """A grey image (H, W) in [0, 1] -> (the line's clean ink, input pixels per ink pixel,
    reason). The same ink extraction as every other reader (:func:`extract_ink`), printed
    lines out, then noise and specks removed by component statistics, a box's walls, and ink
    far above or below the line's band (a stray mark, a ruled line's fragment) dropped so it
    cannot shrink the digits. ``scale``: input pixels per pixel of ``grey`` (a decoder's
    block reduction).

    The list holds that ink first; with ``alternatives``, then what preprocessing cannot rule
    out, from the same extraction: the ink with its printed lines left in (where removal
    took ink) and the ink without what runs into the image's edges (a form's cell walls, a
    grid; where there is such ink). An entry is None where a version holds no ink."""
    from digitkit.vision.preprocess import extract_ink
    from digitkit.vision.preprocess.pipeline import off_the_edges

    grey = np.asarray(grey, np.float32)
    if grey.ndim != 2 or min(grey.shape) < 1:
        return [None], 1.0, f"image too small ({grey.shape})"
    ink = extract_ink(grey, scale)
    if ink.reason:
        return [None], ink.scale, ink.reason
    first, removed, empty = _clean_line(ink.ink, remove_printed=True)
    if empty:
        return [None], ink.scale, EMPTY_PRINT
    if first is None:  # no digit's ink (a lone rule, specks): nothing else to read either
        return [None], ink.scale, "blank: ink too faint"
    inks = [first]
    if alternatives and removed:
        inks.append(_clean_line(ink.ink, remove_printed=False)[0])
    if alternatives:
        # Only where what is left is ink, not paper grain brought to ink's level (the
        # single digit's OFF_EDGE_MIN_PEAK): an empty field's grain read as "8888".
        off, kept = off_the_edges(ink.ink[None])
        if kept[0]:
            inner = _clean_line(off[0], remove_printed=True)[0]
            if inner is None or not _fills_the_field(inner):
                inks.append(inner)
    return inks, ink.scale, None


def _fills_the_field(ink: np.ndarray) -> bool:
    """Whether ink (H, W) spans OFF_EDGE_FULL of the image's height and width: what is left off
    the edges of an empty field's grain, since a number clear of the edges cannot."""
    from digitkit.vision.preprocess.normalize import ink_box

    x0, y0, x1, y1 = ink_box((ink > 0.05)[None])[0]  # all zeros without ink
    h, w = ink.shape
    return bool(y1 - y0 >= OFF_EDGE_FULL * h and x1 - x0 >= OFF_EDGE_FULL * w)


def _clean_line(a: np.ndarray, remove_printed: bool) -> tuple[np.ndarray | None, bool, bool]:
    """:func:`line_inks`'s cleaning of one version of the ink: (the clean ink or None, whether
    printed lines were removed, whether the ink is print alone: an empty box or field)."""
    from digitkit.vision.preprocess import components, noise_floor
    from digitkit.vision.preprocess.line_search import LINE_LOW
    from digitkit.vision.preprocess.lines import clean_photo_print, may_hold_photo_print

    low = max(LINE_LOW, noise_floor(a))
    removed = False
    if remove_printed and may_hold_photo_print(a, low):
        # An amount in a form's box, on a ruled line: the printed lines out first (the same
        # judge as for single digits; on a line the long ones are the horizontal rules).
        printed = clean_photo_print(a[None], low, text_line=True)
        # Only lines above and below count as an empty field: two upright strokes left and
        # right of the middle are also a tight crop of "11".
        if printed.empty_rows[0]:
            return None, False, True
        cleaned = printed.ink[0]
        removed = bool((cleaned != a).any())
        a = cleaned
    comps = components(a, noise_floor(a))
    real = (comps.strong >= 2) & (comps.area >= 3)
    if not real.any():
        return None, removed, False
    real = _without_box_walls(comps, real)
    heavy = real & (comps.mass >= MIN_MASS_FRACTION * float(comps.mass[real].max()))
    band_top = float(comps.box[heavy, 1].min())
    band_bottom = float(comps.box[heavy, 3].max())
    reach = 0.35 * (band_bottom - band_top)
    centre = (comps.box[:, 1] + comps.box[:, 3]) / 2.0
    keep = real & (centre >= band_top - reach) & (centre <= band_bottom + reach)
    kept = np.concatenate([[False], keep])[comps.labels]
    return np.where(kept, a, np.float32(0.0)).astype(np.float32), removed, False


def _without_box_walls(comps: Any, real: np.ndarray) -> np.ndarray:
    """``real`` without the walls of a box around the number: thin upright components more
    than WALL_HEIGHT times as tall as the line's median big component (a box's sides, too
    short against a whole line's width to go as printed lines; a written 1 is about as tall as
    the other digits). Nothing is dropped when that would leave nothing."""
    h = (comps.box[:, 3] - comps.box[:, 1]).astype(np.float64)
    w = (comps.box[:, 2] - comps.box[:, 0]).astype(np.float64)
    big = real & (comps.mass >= MIN_MASS_FRACTION * float(comps.mass[real].max()))
    # The digits' height, not a rule's: a flat line left in would halve the median and make
    # a lone 1 a wall.
    shaped = big & (w <= 10 * h)
    wall = real & (h > WALL_HEIGHT * float(np.median(h[shaped if shaped.any() else big])))
    wall &= w < WALL_THIN * h
    return real & ~wall if (real & ~wall).any() else real


def set_upright(ink: np.ndarray) -> tuple[np.ndarray, int, float]:
    """Ink (H, W) with its writing's lean taken out (a shear about the ink's middle row,
    linear interpolation), the columns added on the left to make room (the input's x of a
    column is its column less that, at the middle row) and the shear (columns per row, > 0:
    leaning right). Ink leaning less than UPRIGHT_MIN comes back as it is, with 0 and 0."""
    rows, cols = np.nonzero(ink > 0.1)
    if rows.size < 2:
        return ink, 0, 0.0
    step = max(1, rows.size // UPRIGHT_PIXELS)
    r, c, w = rows[::step], cols[::step], ink[rows[::step], cols[::step]]
    middle = (rows.min() + rows.max()) / 2.0
    pad = int(np.ceil(np.abs(UPRIGHT_SHEARS).max() * (rows.max() - rows.min() + 1))) + 1
    width = ink.shape[1] + 2 * pad
    # Each pixel's ink split between the two columns it lands between (rounding would make
    # shears of 0.5 pile pairs of rows into one column and win on that alone).
    moved = c[None, :] + UPRIGHT_SHEARS[:, None] * (r[None, :] - middle) + pad
    base = np.floor(moved).astype(np.int64)
    frac = moved - base
    base += np.arange(len(UPRIGHT_SHEARS))[:, None] * (width + 1)
    size = len(UPRIGHT_SHEARS) * (width + 1)
    sums = np.bincount(base.ravel(), (w * (1 - frac)).ravel(), size)
    sums += np.bincount(base.ravel() + 1, (w * frac).ravel(), size)
    sums = sums.reshape(len(UPRIGHT_SHEARS), width + 1)
    shear = float(UPRIGHT_SHEARS[int(np.argmax((sums**2).sum(axis=1)))])
    if abs(shear) < UPRIGHT_MIN:
        return ink, 0, 0.0
    return shear_ink(ink, shear, middle, pad), pad, shear


def shear_ink(ink: np.ndarray, shear: float, middle: float, pad: int) -> np.ndarray:
    """Ink (H, W) sheared about row ``middle``: row y moves ``-shear * (y - middle)`` columns
    (``shear`` > 0 sets right-leaning writing upright; < 0 makes it lean right), on a canvas
    ``pad`` columns wider each side, linear interpolation."""
    h, w = ink.shape
    src = np.arange(w + 2 * pad)[None, :] - pad - shear * (np.arange(h)[:, None] - middle)
    x0 = np.floor(src).astype(np.int64)
    f = (src - x0).astype(np.float32)
    padded = np.pad(ink, ((0, 0), (1, 1)))  # zero columns either side: out of range is no ink
    rows = np.arange(h)[:, None]
    left = padded[rows, np.clip(x0 + 1, 0, w + 1)]
    right = padded[rows, np.clip(x0 + 2, 0, w + 1)]
    return (left * (1 - f) + right * f).astype(np.float32)


def prepare_line(grey: np.ndarray, max_width: int = MAX_WIDTH, scale: float = 1.0) -> Line:
    """A grey image (H, W) in [0, 1] -> the normalized :class:`Line` the model reads
    (``scale``: input pixels per pixel of ``grey``)."""
    return prepare_lines(grey, max_width, scale)[0]


def prepare_lines(
    grey: np.ndarray, max_width: int = MAX_WIDTH, scale: float = 1.0, alternatives: bool = False
) -> list[Line]:
    """:func:`prepare_line`, and with ``alternatives`` the other versions of the line that
    :func:`line_inks` could not rule out, normalized the same way."""
    inks, scale, reason = line_inks(grey, scale, alternatives)
    lines = []
    for ink in inks:
        why = reason
        if ink is not None:
            rows = np.flatnonzero((ink > 0.05).any(axis=1))
            height = (rows[-1] + 1 - rows[0]) * scale if rows.size else 0
            if height < MIN_INK_ROWS:
                # A strip a few pixels high holds no legible digit; the model would read noise.
                ink, why = None, f"too small to read: the ink is {height:g} pixels high"
        if ink is None:
            blank = np.zeros((LINE_HEIGHT, 2 * MARGIN_X), np.float32)
            lines.append(Line(blank, reason=why or "blank: no ink left"))
        else:
            lines.append(normalize_line(ink, max_width, scale))
    if alternatives and inks[0] is not None and lines[0].reason is None:
        # Writing that leans is read set upright too (the reader knows lines within about 7
        # degrees of upright; judged the lean can be wrong, so the reading decides).
        upright, pad, lean = set_upright(inks[0])
        if pad:
            line = normalize_line(upright, max_width, scale)
            line.x0 -= pad * scale
            line.lean = lean
            lines.append(line)
    return lines


# --------------------------------------------------------------------------- decoding


def labels_to_text(labels: list[int] | np.ndarray, alphabet: str = ALPHABET) -> str:
    """CTC class indices (1-based, 0 = blank skipped) -> the string."""
    return "".join(alphabet[k - 1] for k in labels if k > 0)


def text_to_labels(text: str, alphabet: str = ALPHABET) -> list[int]:
    """A string over ``alphabet`` -> CTC class indices (1-based)."""
    try:
        return [alphabet.index(ch) + 1 for ch in text]
    except ValueError:
        bad = sorted(set(text) - set(alphabet))
        raise DigitkitError(f"characters {bad} are not in the alphabet {alphabet!r}") from None


# --------------------------------------------------------------------------- the reader


@dataclass
class ReadDigit:
    """One digit read: ``digit``, ``confidence`` (its best frame's probability), its
    horizontal extent ``x0``, ``x1`` in input pixels (x1 exclusive) and ``probabilities``,
    the ten digits' probabilities at that best frame (renormalized over the digits)."""

    digit: int
    confidence: float
    x0: int
    x1: int
    probabilities: list[float] = field(default_factory=list)


@dataclass
class NumberReading:
    """What :meth:`NumberReader.read` returns: ``text`` (the digits only), ``formatted``
    (digits and separators as written, a wide gap as a space) and one :class:`ReadDigit` per
    digit, left to right; ``reason`` says why ``text`` is empty. ``y0``, ``y1``: the rows of
    the line's ink in input pixels (the digits' common vertical extent)."""

    text: str
    formatted: str
    digits: list[ReadDigit] = field(default_factory=list)
    reason: str | None = None
    y0: int = 0
    y1: int = 0
    # Preprocessing found print on the line (ruled lines or a box it removed) or ink running
    # into the image's edges, and read the line those ways too (see read).
    printed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON: text, formatted, digits (digit, confidence, x0, x1) and reason when set."""
        out: dict[str, Any] = {
            "text": self.text,
            "formatted": self.formatted,
            "digits": [
                {"digit": d.digit, "confidence": round(d.confidence, 6), "x0": d.x0, "x1": d.x1}
                for d in self.digits
            ],
            "y0": self.y0,
            "y1": self.y1,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


SHIPPED = Path(__file__).parents[1] / "weights" / "number-ctc"
# The shipped readers read as one (NumberReader.load_members): {"members": [folder names in
# weights/]}, the first being SHIPPED's; without the file, SHIPPED reads alone.
SHIPPED_MEMBERS = SHIPPED.parent / "number.json"


def shipped_reader_dir() -> Path | None:
    """The number reader shipped with the package, or None when it is not there."""
    ok = (SHIPPED / "card.json").is_file() and any(
        (SHIPPED / name).is_file() for name in ("model.onnx", runs.INT8_GRAPH)
    )
    return SHIPPED if ok else None


def shipped_reader_dirs() -> list[Path]:
    """Every shipped reader read as one: SHIPPED's folder first, then the other members
    that ``number.json`` lists (none when there is no reader)."""
    first = shipped_reader_dir()
    if first is None:
        return []
    if not SHIPPED_MEMBERS.is_file():
        return [first]
    try:
        names = json.loads(SHIPPED_MEMBERS.read_text(encoding="utf-8"))["members"]
        folders = [SHIPPED.parent / str(name) for name in names]
    except (ValueError, KeyError, TypeError) as exc:
        raise DigitkitError(f"{SHIPPED_MEMBERS}: no list of members ({exc})") from None
    if not folders or folders[0] != first:
        raise DigitkitError(f"{SHIPPED_MEMBERS}: the first member must be {first.name}")
    return folders


_shipped: list[NumberReader | None] = []
_shipped_lock = threading.Lock()


def shipped_reader() -> NumberReader | None:
    """The shipped reader, loaded once per process (None when none is shipped or it cannot
    be loaded: callers fall back to the segmenter)."""
    with _shipped_lock:
        if not _shipped:
            try:
                folders = shipped_reader_dirs()
                _shipped.append(NumberReader.load_members(folders) if folders else None)
            except DigitkitError:
                _shipped.append(None)
        return _shipped[0]


def _check_onnx_record(run_dir: Path, card: dict[str, Any], onnx_path: Path) -> None:
    """The export compared ``model.onnx`` with torch and recorded its sha256 and the weights'
    in the card (``onnx``); a file or weights that changed since raise a clear error (a lean
    copy without the float graph has only its weights checked). A run exported before cards
    recorded the hash (no ``onnx`` record) loads as it always did."""
    record = card.get("onnx")
    if not isinstance(record, dict):
        return
    if onnx_path.is_file() and runs.file_sha256(onnx_path) != record.get("sha256"):
        raise DigitkitError(
            f"{onnx_path}: sha256 differs from the one recorded in card.json "
            "at export (the file changed or is damaged); restore it or export "
            "again (digitkit.train.sequence.export_number_onnx)"
        )
    weights = run_dir / runs.WEIGHTS
    if (
        record.get("weights_sha256")
        and weights.is_file()
        and runs.file_sha256(weights) != record["weights_sha256"]
    ):
        raise DigitkitError(
            f"{onnx_path} was exported from other weights than "
            f"{weights.name} (stale); export again "
            "(digitkit.train.sequence.export_number_onnx)"
        )


def _reading_score(reading: NumberReading) -> float:
    """How much a reading of a line is worth against another of the same line: for each digit
    its log confidence plus DIGIT_GAIN (-inf without digits). A surely read digit counts, so
    the reading that reads more of the line's ink wins unless its digits are unsure."""
    if not reading.digits:
        return -np.inf
    sure = np.log(np.maximum([d.confidence for d in reading.digits], 1e-6))
    return float(np.sum(sure + DIGIT_GAIN))


class NumberReader:
    """The CTC number reader of a run directory (``model.onnx`` + ``card.json``).

    Load with :meth:`load`, read with :meth:`read` (one grey image) or
    :meth:`read_line` (an already normalized line). ``session`` is onnxruntime's, or the NumPy
    runtime's where onnxruntime is not installed (same input and output).
    """

    def __init__(self, session: Any, card: dict[str, Any], name: str = ""):
        self.session = session
        self.card = card
        self.name = name
        self.alphabet: str = card.get("alphabet", ALPHABET)
        self.input_name = session.get_inputs()[0].name
        self.phases = READ_PHASES  # alignments each line is read at (1: a single read)
        # Other readers (other seeds) whose reads of a line join this one's in the choice
        # of its string (see read_line); empty for a single reader.
        self.partners: list[NumberReader] = []

    @classmethod
    def load_members(cls, run_dirs: list[str | Path], threads: int = 1) -> NumberReader:
        """Several number-reader runs read as one: the first answers, and every line's
        string is the one all members' reads find most probable together."""
        if not run_dirs:
            raise DigitkitError("no number-reader runs given")
        first, *others = [cls.load(d, threads) for d in run_dirs]
        for other in others:
            if other.alphabet != first.alphabet:
                raise DigitkitError(
                    f"{other.name}: its alphabet {other.alphabet!r} differs from "
                    f"{first.name}'s {first.alphabet!r}; members must read the same characters"
                )
        first.partners = others
        return first

    @classmethod
    def load(cls, run_dir: str | Path, threads: int = 1) -> NumberReader:
        """Load ``run_dir`` (its ``card.json`` with ``"task": "number"`` and ``model.onnx``).
        One onnxruntime thread by default: lines are small, thread wake-ups cost more.
        onnxruntime runs the run's int8 graph where the card vouches for it
        (:func:`digitkit.runs.recorded_int8`; ``DIGITKIT_INT8=0`` keeps float32), else
        ``model.onnx``; without onnxruntime, or in a lean copy with neither graph to run,
        the NumPy runtime runs the ``model.safetensors`` the card pins."""
        from digitkit.inference import numpy_runtime

        run_dir = Path(run_dir)
        card_path, onnx_path = run_dir / "card.json", run_dir / "model.onnx"
        if not card_path.is_file() or not (
            onnx_path.is_file() or (run_dir / runs.INT8_GRAPH).is_file()
        ):
            raise DigitkitError(
                f"{run_dir}: not a number-reader run (needs card.json and model.onnx or "
                "model.int8.onnx; export with 'digitkit export RUN')"
            )
        card = json.loads(card_path.read_text(encoding="utf-8"))
        if card.get("task") != NUMBER_TASK:
            raise DigitkitError(f"{run_dir}: not a number-reader run (task {card.get('task')!r})")
        _check_onnx_record(run_dir, card, onnx_path)
        graph = runs.recorded_int8(run_dir, card) or (onnx_path if onnx_path.is_file() else None)
        if graph is None or not numpy_runtime.onnxruntime_available():
            return cls(numpy_runtime.load_graph(run_dir, card), card, str(run_dir))
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        return cls(session, card, str(run_dir))

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Per-frame probabilities (N, W // STRIDE, classes) of normalized lines
        (N, LINE_HEIGHT, W), W a multiple of STRIDE."""
        x = np.ascontiguousarray(np.asarray(images, np.float32)[:, None])
        from digitkit.metrics import softmax

        logits = self.session.run(None, {self.input_name: x})[0]
        # Over each frame, in float64 like a digit's probabilities, returned as float32.
        flat = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
        return softmax(flat, axis=1).astype(np.float32).reshape(logits.shape)

    def read_line(self, line: Line, phases: int | None = None) -> NumberReading:
        """Read one normalized :class:`Line` with this reader and its :attr:`partners`, each
        at ``phases`` (default :attr:`phases`) alignments of its frames (the line shifted
        right by 0 .. phases - 1 columns, one batch per member). Where the reads disagree,
        the string all of them find most probable (:func:`digitkit.vision.ctc.consensus`)
        is kept, with positions and confidences from a read that found it."""
        if line.reason:
            return NumberReading("", "", [], line.reason)
        phases = max(1, min(int(self.phases if phases is None else phases), STRIDE))
        width = -(-(line.width + phases - 1) // STRIDE) * STRIDE
        image = np.zeros((phases, LINE_HEIGHT, width), np.float32)
        for shift in range(phases):
            image[shift, :, shift : shift + line.width] = line.image
        frames = [-(-(line.width + shift) // STRIDE) for shift in range(phases)]
        reads = []  # member-major: read i is member i // phases at shift i % phases
        for member in (self, *self.partners):
            probs = member.probabilities(image)
            reads += [probs[shift, :n] for shift, n in enumerate(frames)]
        chosen = consensus(reads)
        return self._reading(reads[chosen], line, chosen % phases)

    def _reading(self, probs: np.ndarray, line: Line, shift: int = 0) -> NumberReading:
        """The reading of one read's frames ``probs``, its line shifted ``shift`` columns."""
        chars = ctc_greedy(probs)
        formatted = "".join(self.alphabet[k - 1] for k, _, _, _ in chars).strip()
        digit_cols = [self.alphabet.index(d) + 1 for d in DIGITS]
        digits = []
        for k, conf, t0, t1 in chars:
            ch = self.alphabet[k - 1]
            if ch.isdigit():
                x0 = int(np.floor(max(line.to_input_x(t0 * STRIDE - shift), 0.0)))
                x1 = int(np.ceil(max(line.to_input_x(t1 * STRIDE - shift), x0 + 1)))
                frame = t0 + int(np.argmax(probs[t0:t1, k]))
                p = probs[frame, digit_cols].astype(np.float64)
                p = p / p.sum() if p.sum() > 0 else np.full(10, 0.1)
                digits.append(ReadDigit(int(ch), conf, x0, x1, [float(v) for v in p]))
        text = "".join(str(d.digit) for d in digits)
        reason = None if text else "blank: no digits found"
        return NumberReading(text, formatted, digits, reason, line.y0, line.y1)

    def _read_writing(self, line: Line) -> NumberReading:
        """:meth:`read_line`, reading nothing (reason TOO_FLAT) where the ink is wider than
        FLAT_PER_CHARACTER x its height for each character read: no one writes that flat."""
        reading = self.read_line(line)
        chars = len(reading.formatted.replace(" ", ""))
        if reading.digits and line.width - 2 * MARGIN_X > FLAT_PER_CHARACTER * INK_HEIGHT * chars:
            return NumberReading("", "", [], TOO_FLAT, reading.y0, reading.y1)
        return reading

    def read(self, grey: np.ndarray, scale: float = 1.0) -> NumberReading:
        """Read the number in a grey image (H, W) in [0, 1] (any polarity, any size: wide
        strips are squeezed to MAX_WIDTH columns, so the cost is bounded). An image without
        ink gives ``text=""`` and a ``reason``, never an exception; so does one whose digits
        are read at a mean confidence under MIN_SURETY (an empty field's print and shadows:
        reason UNSURE). ``scale``: input pixels
        per pixel of ``grey`` (a decoder's block reduction), so positions are the input's."""
        grey = np.asarray(grey)
        if grey.dtype == np.uint8:
            grey = grey.astype(np.float32) / 255.0
        # What preprocessing cannot decide is read every way (prepare_lines): printed-line
        # removal can take a digit's bar (a 5's, a 7's) with a rule on a photographed line,
        # so the line is read with its print left in too; ink running into the image's edges
        # (a cell's walls, a grid) is left out of another reading; writing that leans is read
        # set upright too. Another reading replaces the first when its score is higher by
        # READING_MARGIN.
        first, *others = prepare_lines(grey, scale=scale, alternatives=True)
        reading = self._read_writing(first)
        for line in others:
            other = self._read_writing(line)
            margin = UPRIGHT_MARGIN if line.lean else READING_MARGIN
            if _reading_score(other) > _reading_score(reading) + margin:
                reading = other
        reading.printed = any(not line.lean for line in others)
        sure = float(np.mean([d.confidence for d in reading.digits])) if reading.digits else 1.0
        if sure < MIN_SURETY:
            # Print, shadows and paper grain with nothing written read as a few digits,
            # none of them surely: an empty field of a form is no number.
            why = f"{UNSURE}: the digits read have a mean confidence of {sure:.2f}"
            return NumberReading("", "", [], why, reading.y0, reading.y1, reading.printed)
        return reading
