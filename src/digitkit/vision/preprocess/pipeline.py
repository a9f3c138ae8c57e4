"""The entry points: any image -> the 28x28 model input, one image (:func:`to_mnist`,
:func:`to_mnist_grey`) or a stack vectorized (:func:`to_mnist_batch`), through the steps
the package docstring lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from digitkit.labels import NOT_A_DIGIT_REASON
from digitkit.vision.imageio import block_factor, block_mean, load_image_reduced
from digitkit.vision.preprocess.background import BORDER_BAND, flatten_background_stack
from digitkit.vision.preprocess.bands import clear_of_bands
from digitkit.vision.preprocess.connected import label_components
from digitkit.vision.preprocess.digit import _clean_stack, digit_ink
from digitkit.vision.preprocess.ink import (
    MIN_CONTRAST,
    MIN_INK_LEVEL,
    MIN_INK_PIXELS,
    PATTERN_ONLY,
    STRONG,
    TOO_FAINT,
    UNIFORM,
    Ink,
    extract_ink,
    noise_floor,
    pattern_only,
)
from digitkit.vision.preprocess.line_search import LINE_LOW
from digitkit.vision.preprocess.lines import (
    EMPTY_MIN_SIDE,
    PrintCleaned,
    clean_photo_print,
    may_hold_photo_print,
    soft_ink,
)
from digitkit.vision.preprocess.normalize import normalize_stack, stroke_width

# Images up to this size on each side are processed as stacks (vectorized over the batch);
# larger ones one by one (block reduction, background flattening, cropping to the ink).
SMALL_SIDE = 64
# Photographed crops at least this big are also read clear of thick print (.bands): a
# thumbnail such as MNIST's 28 px is cut tight to its digit, whose strokes run its length.
BAND_MIN_SIDE = 30
CHUNK = 2048  # stacks are preprocessed this many images at a time
# Ink whose strokes are at least this many pixels wide is extracted at half size (a 2x2 mean):
# a quarter of the pixels for every later step, and still a 4 px stroke, as thick as MNIST's
# at 28x28. Thinner strokes, and images under HALVE_MIN_SIDE a side, stay at full size.
THICK_STROKE = 8.0
HALVE_MIN_SIDE = 160
# ... and a photographed crop whose strokes are thicker still is reduced by more, never
# under this many pixels a side (64 and 96 compared on diagnosis photos: benchmarks/RESULTS.md,
# "Large photographed crops reduced to their strokes").
REDUCED_MIN_SIDE = 64
# Square cells up to this size whose ink reaches all four edges are also read squeezed to half
# their width (see Preprocessed.alternatives): scanned forms' cells are 16-32 px.
STRETCHED_CELL_MAX_SIDE = 32
# A stretched cell's stroke along its edge (a 2's base, a 7's bar) is removed as print along
# one side of it, where a box cut by the crop shows on two or more: cells the digit fills with
# print removed along at most this many sides are read lined first (one compared with two and
# three on diagnosis cells: benchmarks/RESULTS.md, "A stretched cell's stroke along its edge").
PRINT_SIDES_OF_A_STROKE = 1
REMOVED_PRINT = 0.25  # ink lost to line removal, as a share of the pen's level
# "Reaches an edge": strong ink within this fraction of the side from it. A scanner that
# stretches a digit's grey box to its cell and then thresholds it loses the box's faint
# outer pixels, so a stretched 1 ends a pixel or two short of the cell's sides (1/6 chosen
# on validation cells: benchmarks/RESULTS.md, "Stretched cells that stop short of their edges").
STRETCHED_EDGE_FRACTION = 1 / 6
# Ink above this level that is connected to an image's edge is left out of one more reading of
# it (see off_the_edges; 0.1 and 0.3 compared on validation in benchmarks/RESULTS.md).
EDGE_INK = 0.2
# ... and only where what is left peaks at this share of the ink's level or more: brought to
# full level, paper grain and a shadow's edge read as an 8 or a 0 in an empty photographed box
# (0.2-0.5 compared on diagnosis boxes: benchmarks/RESULTS.md, "Paper grain is no digit").
OFF_EDGE_MIN_PEAK = 0.25
# A crop this many times wider than tall or more is a form's field (see is_wide); a square
# crop reduced by a pixel on one side for its block grid is none.
WIDE_ASPECT = 1.25
# A wide crop (a form's field) is read in a square window of its height around its
# digit: there the digit is centred, as in a cell's crop, which the printed lines' judge takes a
# central line to be (a 1), and a rule across the field is cut by the window's sides. The
# digit is where the cleaned ink is densest over DIGIT_SPAN x the height (the field's leftover
# rules add about the same to every column).
DIGIT_SPAN = 0.6
# ... where the window is a cell's size (this many pixels a side or more): a smaller field's
# window reads as poorly as a photographed cell that small, worse than the whole field
# (benchmarks/RESULTS.md, "A wide field read in the square window around its digit").
WINDOW_MIN_SIDE = 48
# ... unless the field holds several digits side by side (a number sent as one digit, refused
# as "not a digit"): its columns with an upright stroke's worth of strong ink (UPRIGHT_INK x
# the field's height; the print's leftovers have none) span SEVERAL_DIGITS x the height of
# their ink or more, where one digit's upright strokes span about its height (chosen on
# diagnosis fields: benchmarks/RESULTS.md, "Several digits in a wide field").
UPRIGHT_INK = 0.15
FIELD_END = 0.2  # ... left out within this x the height of the field's ends (its walls)
SEVERAL_DIGITS = 1.5
# Crops this size or more whose ink is sharp (not lines.soft_ink) and holds no printed line
# are drawings: a canvas, a clean pen scan. The recognizer refuses "not a digit" there at its
# own operating point, fitted on drawn validation digits (digitkit.vision.drawn): the model is
# surer of drawings than of photos, whose uncertain digits would otherwise set one threshold
# for both. Smaller crops (MNIST's 28 px thumbnails, a scanner's 16 px cells) are cut tight to
# their digit, and their strokes are too few pixels wide to tell sharp from soft.
DRAWN_MIN_SIDE = 48
# A cell's side cut by the crop, alone (see lone_border): an upright run of ink over this much
# of the crop's height, at most BORDER_WIDTH of it wide, its middle at least BORDER_OFF_CENTRE
# of the crop's width from the crop's middle.
BORDER_SPAN = 0.9
BORDER_WIDTH = 0.15
BORDER_OFF_CENTRE = 0.2
# ... or a stub of a side that line removal left, or that runs out of the crop at its top or
# bottom: over BORDER_STUB_SPAN of the height, its middle at least BORDER_STUB_OFF_CENTRE of
# the width from the crop's middle (within a fifth of the width from a side, where no digit
# of a cropped cell is centred).
BORDER_STUB_SPAN = 0.6
BORDER_STUB_OFF_CENTRE = 0.3
BORDER_STUB_WIDTH = 0.3  # a photo's blur and perspective widen a stub's box
# ... where print was removed, a stub at most this wide: what removal leaves of a wall is a
# sliver of it, blurred at most; a 1 written against the wall keeps its own width and slant.
# A wider one is a wall's still where it runs within BORDER_EDGE_CLEAR of the crop's top or
# bottom edge, or over BORDER_CUT_SPAN of its height: a 1 stays within the cell's top and
# bottom walls, clear of the crop's edges, and spans no more of it than a digit does.
BORDER_REMOVED_STUB_WIDTH = 0.15
BORDER_EDGE_CLEAR = 0.04
# ... where no print went, a stub cut by the crop's top or bottom edge over this much of the
# height (an empty cell's wall; a digit cut tight at a corner spans less).
BORDER_CUT_SPAN = 0.85


@dataclass
class Preprocessed:
    """The result of :func:`to_mnist`.

    ``image`` is the 28x28 float32 model input in [0, 1], white ink on black (None when
    ``blank``); ``reason`` says why an image is blank; ``inverted`` is True when the input was
    dark ink on a light background; ``box`` is the ink's bounding box (x0, y0, x1, y1) in input
    pixels (x1, y1 exclusive), None when blank.
    """

    image: np.ndarray | None
    blank: bool
    reason: str | None = None
    inverted: bool = False
    box: tuple[int, int, int, int] | None = None
    # Other 28x28 readings of the same input, where preprocessing cannot tell which is right:
    # the image with the printed lines left in, where line removal took ink (a straight
    # stroke that a tight crop cuts at the image edge, a 4's or a 9's stem in a scanned
    # 16x16 cell, looks like a border cut by the crop); a square cell the ink fills edge to
    # edge squeezed to half its width (scanners stretch each digit to fill its cell: a 1
    # becomes a block); the ink without what is connected to the image's edges (a cell's
    # walls darker than a pencil digit that line removal left). The recognizer reads them all
    # and keeps the reading it is surest of (digitkit.vision.recognize).
    alternatives: list[np.ndarray] = field(default_factory=list)
    # True for a drawing (see looks_drawn): "not a digit" is judged at the drawn threshold.
    drawn: bool = False
    # True for a crop of DRAWN_MIN_SIDE input pixels a side or more (a canvas, a photo of a
    # cell, a scan of a box), False for thumbnails and scanners' small cells (MNIST's 28x28):
    # an ensemble spec may route every such crop, not only drawings, to its other model.
    large: bool = False
    # Where one of the alternatives is the ink clear of thick print (.bands: a bold box's
    # walls, a grid), its index: the recognizer asks a larger margin of it.
    band: int | None = None


def to_mnist(image: Any, drawing: bool = False) -> Preprocessed:
    """Any image (path, bytes, PIL image, NumPy array) -> the 28x28 MNIST-like model input.

    ``drawing``: the caller knows the image is a drawing on a plain canvas (the web page's, the
    desktop app's): nothing in it is print, so no printed line, box or crop's cut is sought
    (a stroke that reaches the canvas's edge is no border cut by a crop), its background is
    plain (no uneven light is flattened: a thick stroke along an edge would pass for it and
    be hollowed), and it is read as drawn (:attr:`Preprocessed.drawn`) whatever it touches.
    False: judged from the image.

    Raises ``digitkit.vision.imageio.ImageError`` for input that is not a decodable image; a valid
    image without a digit gives ``blank=True`` with a ``reason``.
    """
    reduced = load_image_reduced(image)
    return to_mnist_grey(reduced.grey, reduced.scale, drawing)


def to_mnist_grey(grey: np.ndarray, scale: float = 1.0, drawing: bool = False) -> Preprocessed:
    """:func:`to_mnist` for an already decoded grey image (H, W) in [0, 1]; ``scale`` is
    input pixels per pixel of ``grey`` (for the box)."""
    if max(grey.shape) <= SMALL_SIDE:
        out = to_mnist_batch(grey[None], drawing)[0]  # the same code as batches: results match
        if out.box is not None and scale != 1:
            out.box = tuple(int(round(v * scale)) for v in out.box)  # type: ignore[assignment]
        out.large = not out.blank and max(grey.shape) * scale >= DRAWN_MIN_SIDE
        return out
    f = block_factor(*grey.shape)
    if f > 1:  # what extract_ink would do first, done here so the halving sees it
        grey, scale = block_mean(np.asarray(grey, np.float32), f), scale * f
    flatten = not drawing  # a canvas's background is plain: no uneven light to flatten
    ink = _thick_ink_reduced(grey, scale, flatten) or extract_ink(grey, scale, flatten)
    if ink.reason:
        return Preprocessed(None, True, ink.reason, ink.inverted)
    drawn = drawing or bool(looks_drawn(ink.ink[None])[0])
    # Printed borders and rules out before the digit is chosen (noisy photos: lines must
    # stand above their noise floor too).
    floor: float | None = noise_floor(ink.ink)
    low = max(LINE_LOW, floor)
    lined: tuple[Ink, float | None] | None = None
    unprinted = ink.ink  # where a wide field's digit is sought (PrintCleaned.without_print)
    if not drawing and may_hold_photo_print(ink.ink, low):  # the cheap pre-check (blurred too)
        stack = ink.ink[None]
        wide = is_wide(grey.shape)
        printed = clean_photo_print(stack, low, text_line=wide, one_digit=wide)
        if printed.empty[0]:  # an empty box or cell: print, no digit
            return Preprocessed(None, True, NOT_A_DIGIT_REASON, ink.inverted)
        cleaned = printed.ink
        if wide:
            unprinted = printed.without_print(stack)[0]
        # Lines went (judged by content: the second look hands back a copy where it
        # removed nothing): the noise floor is measured afresh.
        if cleaned is not stack and (cleaned != stack).any():
            lined = Ink(ink.ink, ink.inverted, ink.scale), floor
            drawn = False  # print on paper, not a drawing
            ink = Ink(cleaned[0], ink.inverted, ink.scale)
            floor = None
    if reads_in_window(grey.shape):  # a form's field: its ink is now without print
        if several_digits(ink.ink[None])[0]:
            return Preprocessed(None, True, NOT_A_DIGIT_REASON, ink.inverted)
        return _read_in_window(grey, scale, unprinted, ink.scale / scale)
    digit = digit_ink(ink, floor)
    if digit.reason:
        return Preprocessed(None, True, digit.reason, ink.inverted)
    images, _, reasons = normalize_stack(digit.ink[None])
    ink_box = _region_box(digit.region)
    lines_removed = lined is not None
    if not drawing and lone_border(np.array([ink_box]), *ink.ink.shape, lines_removed)[0]:
        return Preprocessed(None, True, NOT_A_DIGIT_REASON, ink.inverted)
    box = tuple(int(round(v * ink.scale)) for v in ink_box)
    if reasons[0]:
        return Preprocessed(None, True, reasons[0], ink.inverted, box)  # type: ignore[arg-type]
    out = Preprocessed(images[0], False, None, ink.inverted, box, drawn=drawn, large=True)  # type: ignore[arg-type]
    candidates = [lined] if lined is not None else []
    if not drawing:  # a drawing's edges cut through nothing
        inner, touched = off_the_edges(ink.ink[None])
        if touched[0]:
            candidates.append((Ink(inner[0], ink.inverted, ink.scale), None))
    for other in candidates:
        if (image := _reading(*other)) is not None:
            out.alternatives.append(image)
    if not drawn and min(ink.ink.shape) >= BAND_MIN_SIDE:
        before = lined[0] if lined is not None else ink
        clear, found = clear_of_bands(before.ink[None])
        if found[0]:
            cleared = Ink(clear[0], ink.inverted, ink.scale)
            _add_band_reading(out, _reading(cleared, None, sides_out=True))
    return out


def _add_band_reading(p: Preprocessed, image: np.ndarray | None) -> None:
    """Give ``p`` (not blank) the reading of its ink clear of thick print, where there is
    one, marked as such (``Preprocessed.band``)."""
    if image is not None and not p.blank:
        p.band = len(p.alternatives)
        p.alternatives.append(image)


def _region_box(region: tuple[slice, slice]) -> tuple[int, int, int, int]:
    """A (rows, columns) region as an ink box (x0, y0, x1, y1), exclusive ends."""
    ry, rx = region
    return rx.start, ry.start, rx.stop, ry.stop


def _reading(ink: Ink, floor: float | None, sides_out: bool = False) -> np.ndarray | None:
    """The 28x28 input of another version of an image's ink (None when it holds no digit;
    with ``sides_out``, also when it holds what print removal left of an empty box's side,
    see :func:`_side_left`)."""
    digit = digit_ink(ink, floor)
    if digit.reason:
        return None
    if sides_out and _side_left(np.array([_region_box(digit.region)]), *ink.ink.shape)[0]:
        return None
    images, _, reasons = normalize_stack(digit.ink[None])
    return None if reasons[0] else images[0]


def is_wide(shape: tuple[int, ...]) -> bool:
    """Whether crops of ``shape`` (..., H, W) are a form's field: WIDE_ASPECT times wider than
    tall or more, the digit anywhere along it. Its printed lines are judged as a line of
    writing's are (sizes from the ink's height: ``clean_photo_print(text_line=True)``):
    against its width, the field's end walls are too short to be lines (benchmarks/RESULTS.md,
    "Cells wider than tall")."""
    h, w = shape[-2:]
    return w >= WIDE_ASPECT * h


def reads_in_window(shape: tuple[int, ...]) -> bool:
    """Whether crops of ``shape`` (..., H, W) are read in the square window around their
    digit: wide ones (:func:`is_wide`) at least WINDOW_MIN_SIDE tall."""
    return is_wide(shape) and shape[-2] >= WINDOW_MIN_SIDE


def several_digits(ink: np.ndarray) -> np.ndarray:
    """Which wide fields' ink without print (N, H, W) holds several digits side by side: its
    upright strokes (columns with UPRIGHT_INK x H strong pixels, away from the field's ends)
    span SEVERAL_DIGITS x their ink's height or more."""
    _, h, w = ink.shape
    strong = ink > 0.5
    upright = np.count_nonzero(strong, axis=1) >= UPRIGHT_INK * h  # (N, W)
    # The field's end walls, where the whole field's judgement left them, are no digits.
    end = int(FIELD_END * h)
    upright[:, :end] = upright[:, w - end :] = False
    rows = (strong & upright[:, None, :]).any(axis=2)  # (N, H): rows of those columns' ink
    width = w - np.argmax(upright[:, ::-1], axis=1) - np.argmax(upright, axis=1)
    height = h - np.argmax(rows[:, ::-1], axis=1) - np.argmax(rows, axis=1)
    return upright.any(axis=1) & (width >= SEVERAL_DIGITS * height)


def digit_windows(ink: np.ndarray) -> np.ndarray:
    """The first column of each wide ink image's (N, H, W) square window around its digit:
    centred on the DIGIT_SPAN x H columns that hold the most ink (the middle of such spans
    where several do), kept inside the image."""
    n, h, w = ink.shape
    span = max(1, round(DIGIT_SPAN * h))
    cum = np.concatenate([np.zeros((n, 1)), np.cumsum(ink.sum(axis=1, dtype=np.float64), 1)], 1)
    sums = cum[:, span:] - cum[:, :-span]  # (N, W - span + 1): the ink of every span
    # Every span holding the whole of a narrow digit holds the same ink: the middle of them.
    best = sums >= sums.max(axis=1, keepdims=True) - 1e-6
    first, last = np.argmax(best, axis=1), sums.shape[1] - 1 - np.argmax(best[:, ::-1], axis=1)
    centre = (first + last) / 2 + span / 2
    return np.clip(np.round(centre - h / 2), 0, w - h).astype(np.int64)


def _read_in_window(
    grey: np.ndarray, scale: float, unprinted: np.ndarray, k: float
) -> Preprocessed:
    """:func:`to_mnist_grey` of a wide ``grey`` read in the square window around its digit,
    found on ``unprinted`` (its ink less what was judged print, ``k`` grey pixels per ink
    pixel)."""
    h = grey.shape[0]
    x0 = min(int(round(digit_windows(unprinted[None])[0] * k)), grey.shape[1] - h)
    return _moved_right(to_mnist_grey(grey[:, x0 : x0 + h], scale), int(round(x0 * scale)))


def _read_in_windows(
    x: np.ndarray, ink: np.ndarray, printed: PrintCleaned, no_ink: np.ndarray, blank: np.ndarray
) -> list[Preprocessed]:
    """:func:`to_mnist_batch` of a stack of small wide crops ``x`` (N, H, W), each read in the
    square window around its digit, found on their ``ink`` less every pixel judged print
    (:meth:`PrintCleaned.without_print`: a window on what removal left held a lone 1 and a
    wall it kept together). Crops without usable ink (``no_ink``) keep their
    reasons (``blank``), print-only ones and several digits are no digit."""
    n, h, _ = x.shape
    x0 = digit_windows(printed.without_print(ink))
    cols = x0[:, None] + np.arange(h)[None, :]
    windows = np.take_along_axis(x, np.broadcast_to(cols[:, None, :], (n, h, h)), axis=2)
    no_digit = printed.empty | several_digits(printed.ink)
    out = []
    for i, p in enumerate(to_mnist_batch(windows)):
        if no_ink[i]:
            p = Preprocessed(None, True, str(blank[i]), p.inverted)
        elif no_digit[i]:
            p = Preprocessed(None, True, NOT_A_DIGIT_REASON, p.inverted)
        out.append(_moved_right(p, int(x0[i])))
    return out


def _moved_right(p: Preprocessed, dx: int) -> Preprocessed:
    """``p`` with its box (read in a window) moved ``dx`` input pixels right, into the field's."""
    if p.box is not None:
        x0, y0, x1, y1 = p.box
        p.box = (x0 + dx, y0, x1 + dx, y1)
    return p


def looks_drawn(ink: np.ndarray) -> np.ndarray:
    """Which images of an ink stack (N, H, W) may be drawings: at least DRAWN_MIN_SIDE a side,
    with sharp ink clear of the image's edges (a canvas holds its drawing; a crop of a photo
    cuts through the box or cell around its digit, whose thick walls need not go as printed
    lines). The callers also rule out those that lose printed lines."""
    if min(ink.shape[1:]) < DRAWN_MIN_SIDE:
        return np.zeros(len(ink), bool)
    return ~soft_ink(ink) & ~touches_edges(ink)


def touches_edges(ink: np.ndarray) -> np.ndarray:
    """Which images of a stack (N, H, W) have ink above EDGE_INK on an edge."""
    strong = ink > EDGE_INK
    return (
        strong[:, 0].any(axis=1)
        | strong[:, -1].any(axis=1)
        | strong[:, :, 0].any(axis=1)
        | strong[:, :, -1].any(axis=1)
    )


def off_the_edges(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stack (N, H, W) without the ink connected to the image's edges (a cell's walls cut by
    the crop, darker than a pencil digit and not straight enough to go as lines; a
    neighbouring cell's digit), what is left brought back to full ink level; and which images
    had such ink and enough left (OFF_EDGE_MIN_PEAK) to read (only those are labelled and
    returned changed)."""
    strong = ink > EDGE_INK
    touched = touches_edges(ink)
    out = ink.copy() if touched.any() else ink
    idx = np.flatnonzero(touched)
    if idx.size == 0:
        return out, touched
    labels, k = label_components(strong[idx])
    edge = np.zeros(k + 1, bool)
    for band in (labels[:, 0], labels[:, -1], labels[:, :, 0], labels[:, :, -1]):
        edge[band] = True
    edge[0] = False
    inner = np.where(edge[labels], np.float32(0.0), ink[idx])
    peak = inner.reshape(len(idx), -1).max(axis=1)
    bright = inner > 0.5 * peak[:, None, None]
    level = (inner * bright).sum(axis=(1, 2)) / np.maximum(bright.sum(axis=(1, 2)), 1)
    out[idx] = np.minimum(inner / np.maximum(level, 1e-6)[:, None, None], 1.0)
    touched[idx] = peak >= OFF_EDGE_MIN_PEAK
    return out, touched


def _thick_ink_reduced(grey: np.ndarray, scale: float, flatten: bool = True) -> Ink | None:
    """The ink of a big image with thick strokes, extracted from its 2x2 block means (a
    photo's from coarser ones, below); None when the image is small, has no ink or thin
    strokes (those keep their full resolution).

    The 2x2 grid starts on the row and column parity of the first pixels that differ from
    the top-left corner (the ink's box on a plain canvas), so a drawing moved on its canvas
    by any number of pixels is reduced the same way: preprocessing stays translation
    invariant. (The box is then reported to within the 2 px that half size resolves.) A
    photo whose strokes are thicker still is reduced by a larger power of 2 (see
    REDUCED_MIN_SIDE), its grid aligned the same way. ``flatten``: as for
    :func:`extract_ink`."""
    h, w = grey.shape
    if min(h, w) < HALVE_MIN_SIDE:
        return None
    grey = np.asarray(grey, np.float32)
    differs = np.abs(grey - grey[0, 0]) > MIN_CONTRAST
    rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
    y, x = (int(rows[0]), int(cols[0])) if rows.size else (0, 0)
    ink = extract_ink(block_mean(grey[y % 2 :, x % 2 :], 2), scale * 2, flatten)
    if ink.reason:
        return None
    width = 2 * float(stroke_width(ink.ink[None])[0])  # in input pixels
    if width < THICK_STROKE:
        return None
    if not soft_ink(ink.ink[None])[0]:
        return ink
    # A photo's strokes thicker still (a phone's crop of a cell, hundreds of pixels a side):
    # reduced further, by powers of 2, until they are thinner than THICK_STROKE, as in a
    # cell-sized crop, where the printed lines' judge was tuned; never under
    # REDUCED_MIN_SIDE a side. A drawing (sharp ink) keeps half size.
    f = 2
    while width / f >= THICK_STROKE and min(h, w) // (2 * f) >= REDUCED_MIN_SIDE:
        f *= 2
    if f == 2:
        return ink
    reduced = extract_ink(block_mean(grey[y % f :, x % f :], f), scale * f, flatten)
    return ink if reduced.reason else reduced


def stack_ink(
    x: np.ndarray, flatten: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ink of a stack of grey images (N, H, W) float32 in [0, 1], as the stack path sees
    it before any print is removed: (ink in [0, 1], which images were inverted, each one's
    signal peak and pen level). ``flatten``: as for :func:`extract_ink`."""
    n, h, w = x.shape
    # Polarity per image from the border median versus the extreme values.
    # The band's outermost and innermost rows only: a border along the edge covers the
    # first, not the second, and the median stays as cheap as with a 1 px band.
    b = max(1, min(h, w) // BORDER_BAND)
    rows, cols = sorted({0, b - 1, h - b, h - 1}), sorted({0, b - 1, w - b, w - 1})
    border = np.concatenate([x[:, rows].reshape(n, -1), x[:, :, cols].reshape(n, -1)], axis=1)
    bg = np.median(border, axis=1)
    lo, hi = x.min(axis=(1, 2)), x.max(axis=(1, 2))
    inverted = (bg - lo) > (hi - bg)
    signal = np.where(inverted[:, None, None], bg[:, None, None] - x, x - bg[:, None, None])
    if flatten:  # uneven light, as in to_mnist_grey
        signal = flatten_background_stack(signal)
    peak = signal.max(axis=(1, 2))
    flat = signal.reshape(n, -1)
    strong = flat > 0.5 * peak[:, None]
    level = (flat * strong).sum(axis=1) / np.maximum(strong.sum(axis=1), 1)
    ink = np.clip(signal / np.maximum(level, 1e-6)[:, None, None], 0.0, 1.0).astype(np.float32)
    return ink, inverted, peak, level


def to_mnist_batch(stack: np.ndarray, drawing: bool = False) -> list[Preprocessed]:
    """:func:`to_mnist` for a stack of equal-sized grey images (N, H, W) in [0, 1] (or
    uint8), vectorized: what makes batch prediction fast. ``drawing``: every image is a
    drawing on a plain canvas (see :func:`to_mnist`)."""
    x = np.asarray(stack)
    if len(x) > CHUNK:  # bounded temporaries, and chunks that stay in cache
        return [
            p for i in range(0, len(x), CHUNK) for p in to_mnist_batch(x[i : i + CHUNK], drawing)
        ]
    x = x.astype(np.float32) / np.float32(255.0) if x.dtype == np.uint8 else x.astype(np.float32)
    n, h, w = x.shape
    if n == 0:
        return []
    if max(h, w) > SMALL_SIDE:  # large images: per-image path (reduction, flattening)
        return [to_mnist_grey(g, drawing=drawing) for g in x]
    ink, inverted, peak, level = stack_ink(x, flatten=not drawing)
    # No usable ink, with extract_ink's reasons, as the per-image path gives them.
    uniform = peak < MIN_CONTRAST
    faint = uniform | (level < MIN_INK_LEVEL)
    meshed = ~faint & pattern_only(ink)
    blank = np.where(uniform, UNIFORM, np.where(meshed, PATTERN_ONLY, TOO_FAINT))
    no_ink = faint | meshed
    ink[no_ink] = 0
    lined = ink
    wide = is_wide((h, w))
    if drawing:  # nothing is print (as in to_mnist_grey)
        printed = PrintCleaned.untouched(ink)
    else:
        printed = clean_photo_print(ink, text_line=wide, one_digit=wide)
    if reads_in_window((h, w)):
        return _read_in_windows(x, lined, printed, no_ink, blank)
    drawn = np.ones(n, bool) if drawing else looks_drawn(lined)
    ink = printed.ink
    changed = (
        np.flatnonzero((ink != lined).any(axis=(1, 2))) if ink is not lined else np.zeros(0, int)
    )
    drawn[changed] = False  # print on paper, not a drawing
    # The reading without the edges' ink (none for drawings: their edges cut through nothing).
    inner, touched = (ink, np.zeros(n, bool)) if drawing else off_the_edges(ink)
    edged = np.flatnonzero(touched)
    ink, strong_px = _clean_stack(ink)
    images, boxes, reasons = normalize_stack(ink)
    restored, *readings = _tight_strokes_restored(lined, changed, no_ink, reasons)
    for i, image, box, strong_count in zip(restored, *readings, strict=True):
        images[i], boxes[i], reasons[i], strong_px[i] = image, box, None, strong_count
    changed = changed[~np.isin(changed, restored)]
    lined_readings = _readings(lined[changed])
    others = [
        *zip(changed, lined_readings, strict=True),
        *zip(edged, _readings(inner[edged]), strict=True),
    ]
    banded: list[tuple[int, np.ndarray | None]] = []
    if min(h, w) >= BAND_MIN_SIDE:  # photos and scans, not drawings: thick print's reading
        photos = np.flatnonzero(~drawn & ~no_ink)
        clear, found = clear_of_bands(lined[photos])
        banded = list(zip(photos[found], _readings(clear[found], sides_out=True), strict=True))
    border = (
        np.zeros(n, bool)
        if drawing
        else lone_border(boxes, h, w, lines_removed=np.isin(np.arange(n), changed))
    )
    out = []
    for i in range(n):
        reason = reasons[i]
        if no_ink[i]:
            reason = str(blank[i])
        elif printed.empty[i] or (border[i] and reason is None):  # print, no digit
            reason = NOT_A_DIGIT_REASON
        elif strong_px[i] < MIN_INK_PIXELS and reason is None:
            reason = "blank: too little ink for a digit"
        if reason:
            out.append(Preprocessed(None, True, reason, bool(inverted[i])))
        else:
            box = tuple(int(v) for v in boxes[i])
            out.append(
                Preprocessed(
                    images[i],
                    False,
                    None,
                    bool(inverted[i]),
                    box,  # type: ignore[arg-type]
                    drawn=bool(drawn[i]),
                    large=max(h, w) >= DRAWN_MIN_SIDE,
                )
            )
    for i, image in others:
        if image is not None and not out[i].blank:
            out[i].alternatives.append(image)
    for i, image in banded:
        _add_band_reading(out[i], image)
    # A stretched cell's stroke along its edge was taken for print: its lined reading is the
    # image and the cleaned one the alternative (judged by the same margin, the other way).
    for k in np.flatnonzero(_strokes_along_edges(lined[changed], printed.ink[changed])):
        i, image = changed[k], lined_readings[k]
        if image is not None and not out[i].blank:  # then the lined reading went first
            out[i].alternatives[0], out[i].image = out[i].image, image
    _add_squeezed(out, ink)
    return out


def _add_squeezed(out: list[Preprocessed], ink: np.ndarray) -> None:
    """Give the stretched square cells of ``out`` (their cleaned ``ink``) the alternative
    reading squeezed to half their width."""
    stretched = [i for i in np.flatnonzero(_filled_square_cells(ink)) if not out[i].blank]
    if stretched:
        squeezed, _, squeezed_reasons = normalize_stack(_half_width(ink[stretched]))
        for k, i in enumerate(stretched):
            if squeezed_reasons[k] is None:
                out[i].alternatives.append(squeezed[k])


def lone_border(
    boxes: np.ndarray,
    h: int,
    w: int,
    lines_removed: np.ndarray | bool = False,
    removed_width: float = BORDER_REMOVED_STUB_WIDTH,
) -> np.ndarray:
    """Which ink boxes (N, 4: x0, y0, x1, y1, exclusive ends) of an (h, w) crop hold a cell's
    side cut by the crop and nothing else: a thin upright run over nearly the crop's whole
    height, well off its middle, or over most of it near a side where printed lines were
    removed (``lines_removed``, per box: the stub of a side that line removal left, a sliver
    no wider than ``removed_width`` of the height unless it runs to the crop's top or bottom
    or over most of it) or where it runs out of the crop at the top or bottom over
    BORDER_CUT_SPAN of it (a wall no line search saw); a 1 written near a side of a crop with
    no print stops short of its edges, or spans less of it, and stays a 1, as does a 1
    written against a cell's wall (wider than what removal leaves, within the cell's top and
    bottom). It reads as a perfect 1, but a 1 is written in the middle of its cell and a crop
    is centred on what it shows; a crop of an empty form cell shows its sides at its edges (a
    lying side is wider than tall, refused as such). Never in a crop under EMPTY_MIN_SIDE (a
    scanner's cell cut tight to its digit)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if min(h, w) < EMPTY_MIN_SIDE:
        return np.zeros(len(boxes), bool)
    x0, y0, x1, y1 = boxes.T
    off = np.abs((x0 + x1) / 2 - w / 2)
    side = (y1 - y0 >= BORDER_SPAN * h) & (off >= BORDER_OFF_CENTRE * w)
    side &= x1 - x0 <= BORDER_WIDTH * h
    stub = (y1 - y0 >= BORDER_STUB_SPAN * h) & (off >= BORDER_STUB_OFF_CENTRE * w)
    # A wall the removal missed (or that no line search saw) runs out of the crop at its top
    # or bottom and on nearly to the other; a 1 written near a side of its crop stops short
    # of them, or, cut tight at a corner, spans no more of the crop than a digit does.
    cut = ((y0 <= 0) | (y1 >= h)) & (y1 - y0 >= BORDER_CUT_SPAN * h)
    within = (y0 >= BORDER_EDGE_CLEAR * h) & (y1 <= (1 - BORDER_EDGE_CLEAR) * h)
    digit_like = within & (y1 - y0 < BORDER_CUT_SPAN * h)
    sliver = (x1 - x0 <= removed_width * h) | ~digit_like
    stub &= (x1 - x0 <= BORDER_STUB_WIDTH * h) & ((sliver & lines_removed) | cut)
    return side | stub


def _side_left(boxes: np.ndarray, h: int, w: int) -> np.ndarray:
    """Which ink boxes (N, 4) of an (h, w) crop, once its print is removed, hold only what a
    cell's side leaves: a :func:`lone_border`, or any thin upright stroke whose middle is
    BORDER_STUB_OFF_CENTRE of the width or more from the crop's (a wall at the crop's edge,
    fading out of it, that the removal missed: its run is too short for a band or a stub)."""
    x0, _, x1, _ = np.asarray(boxes, np.float64).reshape(-1, 4).T
    off = np.abs((x0 + x1) / 2 - w / 2) >= BORDER_STUB_OFF_CENTRE * w
    # Thick print's rims, blurred, leave a wider stub than a removed line does.
    side = lone_border(boxes, h, w, lines_removed=True, removed_width=BORDER_STUB_WIDTH)
    return side | (off & (x1 - x0 <= BORDER_WIDTH * h))


def _filled_square_cells(ink: np.ndarray) -> np.ndarray:
    """Which images of a stack (N, H, W) are small square cells whose strong ink reaches all
    four edges (to within STRETCHED_EDGE_FRACTION of the side): what a scanner that stretches
    each digit to fill its cell makes."""
    n, h, w = ink.shape
    if h != w or h > STRETCHED_CELL_MAX_SIDE:
        return np.zeros(n, bool)
    near = int(h * STRETCHED_EDGE_FRACTION) + 1  # rows or columns that count as an edge
    strong = ink >= STRONG
    return (
        strong[:, :near].any(axis=(1, 2))
        & strong[:, -near:].any(axis=(1, 2))
        & strong[:, :, :near].any(axis=(1, 2))
        & strong[:, :, -near:].any(axis=(1, 2))
    )


def _tight_strokes_restored(
    lined: np.ndarray, changed: np.ndarray, faint: np.ndarray, reasons: list[str | None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """In a cell cut tight to its digit (a side under EMPTY_MIN_SIDE) there is no room for a
    box around it: where line removal (``changed``) left no digit (``reasons`` set: a 4's two
    stems taken for borders cut by the crop, its bar left alone, much wider than tall), the
    lines were the digit's strokes. Returns which images those are and their readings of the
    ink with the lines in: (indices, 28x28 images, boxes, strong pixel counts)."""
    lost = np.array([i for i in changed if reasons[i] is not None and not faint[i]], int)
    if min(lined.shape[1:]) >= EMPTY_MIN_SIDE or len(lost) == 0:
        return lost[:0], np.zeros((0, 28, 28), np.float32), np.zeros((0, 4), int), lost[:0]
    ink, strong = _clean_stack(lined[lost])
    images, boxes, again = normalize_stack(ink)
    ok = np.array([r is None for r in again]) & (strong >= MIN_INK_PIXELS)
    return lost[ok], images[ok], boxes[ok], strong[ok]


def _strokes_along_edges(lined: np.ndarray, cleaned: np.ndarray) -> np.ndarray:
    """Which images of a stack are small square cells that the digit fills edge to edge
    (``lined``: the ink before line removal) and whose removed print (what ``cleaned`` lost)
    runs along at most PRINT_SIDES_OF_A_STROKE of the four edges: a scanner stretched the
    digit to its cell, so a 2's base or a 7's bar runs along an edge as a printed line would.
    A box cut by the crop shows along two sides or more."""
    h, w = lined.shape[1:]
    removed = (lined - cleaned) > REMOVED_PRINT
    band = max(1, min(h, w) // 8)
    # A side holds print when what was removed within `band` of it runs along half its length.
    along = (
        removed[:, :band].any(axis=1),  # top: (N, W)
        removed[:, -band:].any(axis=1),  # bottom
        removed[:, :, :band].any(axis=2),  # left: (N, H)
        removed[:, :, -band:].any(axis=2),  # right
    )
    sides = sum((a.mean(axis=1) >= 0.5).astype(int) for a in along)
    return _filled_square_cells(lined) & (sides <= PRINT_SIDES_OF_A_STROKE)


def _half_width(ink: np.ndarray) -> np.ndarray:
    """A stack (N, H, W) squeezed to half its width (pairs of columns averaged)."""
    if ink.shape[2] % 2:
        ink = np.concatenate([ink, np.zeros_like(ink[:, :, :1])], axis=2)
    return (ink[:, :, 0::2] + ink[:, :, 1::2]) / np.float32(2.0)


def _readings(ink: np.ndarray, sides_out: bool = False) -> list[np.ndarray | None]:
    """:func:`_reading` for a stack of small images (the same cleaning as the batch)."""
    if len(ink) == 0:
        return []
    h, w = ink.shape[1:]
    ink, strong_px = _clean_stack(ink)
    images, boxes, reasons = normalize_stack(ink)
    side = _side_left(boxes, h, w) if sides_out else np.zeros(len(ink), bool)
    return [
        images[i] if reasons[i] is None and strong_px[i] >= MIN_INK_PIXELS and not side[i] else None
        for i in range(len(ink))
    ]
