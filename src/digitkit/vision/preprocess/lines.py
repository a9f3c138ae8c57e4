"""Printed-line removal: which of the lines found by :mod:`.line_search` are printed (cell
borders, boxes, rules) rather than the digit's own strokes, and what removing them leaves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitkit.vision.preprocess.ink import MIN_INK_PIXELS, STRONG, noise_floors
from digitkit.vision.preprocess.line_fit import (
    FittedLines,
    _footprint,
    _line_bands,
    _merged_stretches,
    fit_lines,
)
from digitkit.vision.preprocess.line_search import (
    LINE_FILL,
    LINE_LOW,
    LINE_MIN_SIDE,
    LINE_RUN,
    _cumulative,
    _extent,
    _line_candidates_in,
    _line_params,
    may_hold_lines,
)
from digitkit.vision.preprocess.morphology import (
    _dilate,
    _dilate_each,
    _long_runs,
    _pack,
    _shift_x,
    _shift_y,
    _thin_both_ways,
    _unpack,
)

# Whether a line is printed: where it lies against the rest of the ink (sizes are fractions
# of the ink's scale, as in .line_search).
LINE_EDGE = 0.04  # a line that ends this close to the image edge (fraction of the image
LINE_EDGE_LONG = 0.5  # side) was cut by the crop when it is also this long: a border
# crosses the crop, a digit's stroke touching the edge of a tight crop is shorter
LINE_CENTRAL = 0.12  # a line within this of the ink's centre is taken to be the digit (a
# 1): a cell is centred on its digit, its borders lie at least the digit's half size off
LINE_BEYOND = 0.1  # a border passes the digit by at least this much at both ends; a
# digit's own straight stroke (a 7's bar, a 2's base) ends where the digit goes on, give or
# take its round end and a junction at an acute angle (0.04 removed such strokes from 0.5 %
# of thin-pen MNIST digits, 0.1 from 0.1 %)
LINE_SIDE = 0.1  # a border has at most this fraction of the digit's ink on its far side
# (where it clips the digit); a stroke crossing the digit (a 4's bar) has more
LINE_KEEP = 0.15  # nothing is removed when less than this fraction of the ink (or fewer
# than MIN_INK_PIXELS strong pixels) would remain: a thin digit in a box has a fifth or
# more of the ink (a 1 in four borders), a lone stroke's leftovers less
BOX_SIDES = 3  # off-centre lines clear of the digit on this many sides are a box around it
FRAME_SIDES = 3  # a box the digit touches or overlaps (a tight cell) is no longer clear of
# it, but still closes in on it from this many sides with off-centre lines that have the
# digit on one side and are the outermost on their side
FRAME_COVER = 0.6  # when each of those spans this much of the ink's extent along it: a
# box's sides are the outermost ink and run (nearly) from corner to corner, broken only
# where a stroke merges into them; a digit's own straight strokes (a 7's bar, a 2's base)
# span that much on one or two sides, not three (0.5 took strokes of pen-drawn digits)
GRID_LINES = 3  # this many cut lines removed from one image are a grid (a lone digit has at
# most a stroke or two long and straight enough to cross the crop, a 1, a 7, a 4's stem)
LINE_KEEP_GRID = 0.05  # LINE_KEEP there: a 64 px cell crossed by four 2-4 px grid lines
# holds a thin digit's 8-15 % of the ink
FAINT_PEAK = 0.35  # what removal leaves is judged at its own level when it peaks at least
# this high: a pencil digit under darker print has no pixel at half the print's level, yet
# it is a digit; the paper shading an empty box leaves peaks lower (benchmarks/RESULTS.md,
# "Faint digits under dark print")
MERGED_EXTRA = 2  # a stroke lies on a removed line where the ink across the line is at
MERGED_WIDER = 1.5  # least this many pixels and this many times wider than the line's
MERGED_DARKER = 1.5  # median, or this many times darker (a pen on a grey cell border):
# those pixels stay with the digit (a 7's bar or a 2's base on a ruled line, a 3's top on a
# box's; chosen on validation, benchmarks/RESULTS.md, "Strokes lying on a printed line")
# A line of writing's scale for the line search and judgement: at most this many times the
# ink's height (1.5 against 0.7 / 1 / 2 / 3 on validation lines: benchmarks/RESULTS.md,
# "Photographed number lines: a printed line's scale")
LINE_SCALE_HEIGHTS = 1.5
FRINGE = 0.5  # weaker pixels next to a removed line are its anti-aliased edge: removed too
EMPTY_LEFT = 0.05  # only_print: the share of the ink pixels an empty box's print may leave
# once removed (corner stubs, specks), where a digit in a box keeps far more (RESULTS.md,
# "Print with nothing in it")
EMPTY_EDGE = 0.05  # only_print: the ink's outer edges (fraction of its extent, + 2 px)
EMPTY_MIN_SIDE = 24  # only_print: in a smaller crop (a scanner's 16-20 px cell cut tight to
# its digit) strokes are as coarse as printed lines: a 5's or a 0's sides close in like a box
FIELD_FRAME_ASPECT = 1.5  # _hollow_between: a field's frame on three sides is this many
# times wider than tall (see there)
FREE_UPRIGHT_END = 0.2  # _free_uprights: how far (fraction of the field's height) from the
# ends of a field's ink a 1 stands, where its walls cannot (pipeline.FIELD_END's share)
EMPTY_CROSSING = 0.9  # only_print: a line this long (fraction of the image side) crosses
# the crop: a cell's border or a rule, not a digit's side
BLUR_LOW = 0.3  # clean_photo_print's second look: a camera's blur spreads a 2 px rule to 5-7
# px above LINE_LOW, as thick as a pen stroke, while its core above this level stays thin
# (0.2 / 0.3 / 0.4 / 0.5 compared on validation: benchmarks/RESULTS.md)
SECOND_LOOK_MIN_SIDE = 30  # clean_photo_print looks twice at crops this size or more: a small
# photo of a cell blurs its walls as a big one does (30 against 48, the cell-sized crops of
# LINE_BORDER_SIDES, on 32-40 px photos: benchmarks/RESULTS.md, "A second look at small photos")
BLUR_RIM = 3  # clean_photo_print: how far (px) a blurred line's rim reaches past its core
FAINT_FILL = 0.1  # clean_photo_print: a print-only verdict of the second look stands unless
# the ink seen at the first look's level, off the print, fills this much of the crop's middle
# half (a faint pencil digit under dark print; benchmarks/RESULTS.md, "Faint pencil in a
# box, photographed")
MORE_PRINT = 2.0  # clean_photo_print: a crop whose first look removed some print is looked at
# again, and the second look's result kept where it removes this many times the ink the first
# did: blur and an upscaled crop's soft walls leave a border thicker than a line above the
# first look's level along most of its length, so the first look removes slivers of it and
# leaves the rest as dashes (1, 2, 4 and 8 compared on diagnosis crops: benchmarks/RESULTS.md,
# "A second look where the first removed slivers"; 1 lost faint pencil strokes)
TIGHT_EDGE = 2  # clean_photo_print: ink this close (px) to both opposite sides of the crop
SOFT_INK = 0.2  # clean_photo_print looks twice only at soft ink: this share of its pixels
# (above LINE_LOW) under half the pen's level. A canvas drawing's anti-aliased edges make at
# most 0.12 of it, a photographed cell 0.23 or more (benchmarks/RESULTS.md)


def remove_lines(ink: np.ndarray, low: float = LINE_LOW) -> np.ndarray:
    """Remove printed lines (cell borders, ruled lines) from a stack of ink images.

    ``ink``: float32 (N, H, W) in [0, 1], 1 = full ink. Returns a stack where the pixels of
    lines judged printed are 0 and what is left is rescaled to full ink level; an image
    without such lines comes back unchanged. Vectorized over the stack.

    A line is a run of ink at least LINE_RUN of the ink's scale long and mostly at most
    LINE_THICK thick (horizontal or vertical, tilted up to about 9 degrees), joined through
    the strokes that cross it; in a cell-sized crop, also up to LINE_BORDER of the crop
    thick (a heavy line: a printed border's weight, which only a box's walls or a line cut
    by the crop are taken for). It is removed (its pixels, not the strokes crossing it, and
    the corners and stubs it leaves) when

    * the crop cut it: it runs to the image edge and is long (a cell border, a rule);
    * it lies off-centre, passes the rest of the ink at both ends and has nearly all of it
      on one side (a border around the digit);
    * off-centre lines clear of the rest close in on it from three or four sides (a box
      tight around the digit), or outermost off-centre lines with the rest on one side that
      span most of the ink close in on it so (a tight box the digit touches);
    * it is off-centre, with nearly all the ink on one side, and both its ends meet removed
      perpendicular borders or the image edge (a box side the digit spans end to end).

    A digit's own straight strokes (a 1, a 7's bar, a 4's stem) are central, end where the
    digit goes on, or have ink on both sides. Where a stroke lies on a removed line (wider
    or darker than the line is elsewhere: a 7's bar on a ruled line, a pen's 3 on a grey
    box's top), its pixels stay. Nothing is removed where that would leave too little ink
    (less so under a grid of several cut lines). Thresholds are fractions of the ink's
    extent, so a drawing is judged the same on any canvas.
    """
    return clean_print(ink, low).ink


@dataclass
class PrintCleaned:
    """What :func:`clean_print` returns for a stack of N ink images: ``ink``, the stack with
    its printed lines removed (:func:`remove_lines`), and which images held printed lines and
    nothing else, by the sides those lines lie on: ``empty_rows`` (lines above and below the
    ink's middle: rules, a box's top and bottom) and ``empty_cols`` (left and right of it);
    ``print_mask`` (N, H, W), the pixels judged print (removed from ``ink`` where enough of
    the digit is left), None when no line was judged."""

    ink: np.ndarray
    empty_rows: np.ndarray
    empty_cols: np.ndarray
    print_mask: np.ndarray | None = None

    @property
    def empty(self) -> np.ndarray:
        """Images that are an empty box, cell or pair of rules (either pair of sides)."""
        return self.empty_rows | self.empty_cols

    @classmethod
    def untouched(cls, ink: np.ndarray) -> PrintCleaned:
        """``ink`` with no printed line judged in it, nothing removed and nothing empty."""
        none = np.zeros(len(ink), bool)
        return cls(ink, none, none.copy())

    def without_print(self, ink: np.ndarray) -> np.ndarray:
        """``ink`` (the stack these were judged on) less every pixel judged print, where a
        field's digit is: removal keeps a field's walls where taking them would leave too
        little ink (a lone 1's). Without a mask (the second look decided), :attr:`ink`."""
        if self.print_mask is None:
            return self.ink
        return np.where(self.print_mask, np.float32(0.0), ink)


def clean_print(
    ink: np.ndarray, low: float = LINE_LOW, text_line: bool = False, one_digit: bool = False
) -> PrintCleaned:
    """:func:`remove_lines` and :func:`only_print` from one judgement of the lines.

    ``text_line``: the images are lines of writing (a number, or a form's field wider than
    tall holding one digit: :func:`.pipeline.is_wide`), whose scale is at most
    LINE_SCALE_HEIGHTS x the ink's height, not its longest extent: measured along a line of
    digits, a printed line's thickness and skew allowances grow with the number's length
    until the digits' bodies pass for one thick printed line, merged with a rule or a box's
    side and removed with it. ``one_digit`` (with ``text_line``): each is a form's field
    holding one digit, where an upright stroke standing free is the digit
    (:func:`_free_uprights`), never print."""
    ink = np.asarray(ink, np.float32)
    judged = _judged(ink, low, text_line)
    if judged is None:
        return PrintCleaned.untouched(ink)
    sel, a, m, judge, drop = judged
    if text_line and one_digit:
        drop &= ~_free_uprights(judge, m.shape[1])
    lines = judge.line_pixels(drop)
    gone = judge.removed_pixels(lines)
    # A grid (a table's cell, squared paper) crosses the crop with several cut lines whose
    # ink, set by the crop's size rather than the digit's, can outweigh the digit: there less
    # of the ink need remain.
    grid_lines = np.bincount(judge.fit.owner[drop & judge.cut], minlength=len(sel))
    keep = np.where(grid_lines >= GRID_LINES, LINE_KEEP_GRID, LINE_KEEP)
    rows, cols = np.zeros(len(ink), bool), np.zeros(len(ink), bool)
    if min(ink.shape[1:]) >= EMPTY_MIN_SIDE:
        rows[sel], cols[sel] = _hollow_between(judge, m, drop, lines, text_line)
    print_mask = np.zeros(ink.shape, bool)
    print_mask[sel] = gone
    return PrintCleaned(_what_is_left(ink, sel, a, m, gone, keep), rows, cols, print_mask)


def clean_photo_print(
    ink: np.ndarray, low: float = LINE_LOW, text_line: bool = False, one_digit: bool = False
) -> PrintCleaned:
    """:func:`clean_print` for a single digit's crop or a line of writing, with a second look
    at BLUR_LOW: a photo's blur makes its borders and rules too thick above ``low`` to pass
    for printed lines, wholly (they were read as part of the digit) or along most of their
    length (the first look removed slivers and left dashes).

    Only the images :func:`second_look` names get it. Its result is kept where it finds
    an empty box, or where the ink it leaves reaches no two opposite sides of the crop: a
    digit cut tight to its ink (a scanner's cell) has strokes that thin at BLUR_LOW just as a
    blurred line does (a 7's bar, a 2's foot), and it fills its crop side to side. An empty
    box it finds must be empty at ``low`` too: faint pencil under dark print is under
    BLUR_LOW as well (FAINT_FILL). Where the first look removed print, the second's result
    must also remove MORE_PRINT times the ink the first did. ``text_line``, ``one_digit``:
    the images are lines of writing, or fields holding one digit (see :func:`clean_print`)."""
    first = clean_print(ink, low, text_line, one_digit)
    again = second_look(ink, low) & ~first.empty
    changed = np.zeros(len(ink), bool)
    if first.ink is not ink:  # the first look removed print: the second must remove more
        changed = (first.ink != ink).any(axis=(1, 2))
    again = np.flatnonzero(again)
    if again.size == 0:
        return first
    second = clean_print(ink[again], BLUR_LOW, text_line, one_digit)
    if second.empty.any():
        # Blur is not the only thing the first look misses: faint pencil under dark print
        # is under BLUR_LOW too, so the second look finds the print and nothing else. Where
        # the ink above the first look's level (and the noise floor) fills FAINT_FILL of the
        # crop's middle once the print and its blurred rim are left out, a digit is there.
        only = np.flatnonzero(second.empty)
        sub = ink[again[only]]
        seen = sub > np.maximum(low, noise_floors(sub))[:, None, None]
        assert second.print_mask is not None  # print was found in these
        seen &= ~_dilate(second.print_mask[only], BLUR_RIM)
        h, w = sub.shape[1:]
        middle = seen[:, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
        digit = np.count_nonzero(middle, axis=(1, 2)) >= FAINT_FILL * middle[0].size
        second.empty_rows[only[digit]] = False
        second.empty_cols[only[digit]] = False
    left = second.ink > BLUR_LOW
    e = TIGHT_EDGE
    across = left[:, :, :e].any(axis=(1, 2)) & left[:, :, -e:].any(axis=(1, 2))
    down = left[:, :e].any(axis=(1, 2)) & left[:, -e:].any(axis=(1, 2))
    keep = ~(across | down) | second.empty
    redone = changed[again]
    if redone.any():
        assert first.print_mask is not None  # the first look removed print from these
        removed = (second.ink != ink[again]).any(axis=(1, 2))
        more = _ink_under(ink[again], second.print_mask) >= MORE_PRINT * _ink_under(
            ink[again], first.print_mask[again]
        )
        keep &= ~redone | second.empty | (removed & more)
    if not keep.any():
        return first
    out = first.ink.copy() if first.ink is ink else first.ink
    out[again[keep]] = second.ink[keep]
    rows, cols = first.empty_rows.copy(), first.empty_cols.copy()
    rows[again[keep]] = second.empty_rows[keep]
    cols[again[keep]] = second.empty_cols[keep]
    return PrintCleaned(out, rows, cols)


def _ink_under(ink: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The ink of each image of a stack (N, H, W) under ``mask`` (None: no pixel)."""
    if mask is None:
        return np.zeros(len(ink), np.float32)
    return np.where(mask, ink, np.float32(0.0)).sum(axis=(1, 2))


def second_look(ink: np.ndarray, low: float = LINE_LOW) -> np.ndarray:
    """Which images of a stack (N, H, W) :func:`clean_photo_print` may look at twice: crops of
    SECOND_LOOK_MIN_SIDE or more (a thumbnail, MNIST's 28 px, is cut tight to its digit: no
    cell around it), searched first below BLUR_LOW, whose ink is soft: at least SOFT_INK of
    its pixels above LINE_LOW under half the pen's level (a photo's blur, a grey scan; a
    drawing's sharp strokes have no blurred lines, and the look costs a second search)."""
    if low >= BLUR_LOW or min(ink.shape[1:]) < SECOND_LOOK_MIN_SIDE:
        return np.zeros(len(ink), bool)
    return soft_ink(ink)


def may_hold_photo_print(ink: np.ndarray, low: float = LINE_LOW) -> bool:
    """Whether :func:`clean_photo_print` can find a printed line in one ink image (H, W): a
    line candidate above ``low`` (:func:`.line_search.may_hold_lines`), or, where the ink is
    soft enough for the second look, above BLUR_LOW (a photo's blurred lines are too thick
    above ``low`` to be candidates there). The cheap pre-check before the full removal."""
    if may_hold_lines(ink, low):
        return True
    return bool(second_look(ink[None], low)[0]) and may_hold_lines(ink, BLUR_LOW)


def soft_ink(ink: np.ndarray) -> np.ndarray:
    """Which images of a stack (N, H, W) have soft ink: at least SOFT_INK of the pixels above
    LINE_LOW under half the pen's level (a photo's blur and noise, a grey scan), where a
    drawing's sharp strokes have only their anti-aliased edges there."""
    seen = (ink > LINE_LOW).sum(axis=(1, 2))
    faint = ((ink > LINE_LOW) & (ink < 0.5)).sum(axis=(1, 2))
    return faint >= SOFT_INK * np.maximum(seen, 1)


def _judged(
    ink: np.ndarray, low: float, text_line: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, _LineJudge, np.ndarray] | None:
    """The images of ``ink`` that may lose a printed line, judged: (their indices, ink, mask,
    the judge, which of their lines are printed), or None when no line can go."""
    n, h, w = ink.shape
    if n == 0 or min(h, w) < LINE_MIN_SIDE:
        return None
    mask = ink > low
    # The ink's scale and centre, from its trimmed extent.
    x0, x1 = _extent(_cumulative(mask, 1), w)
    y0, y1 = _extent(_cumulative(mask, 2), h)
    scale = np.maximum(x1 - x0, y1 - y0)
    if text_line:
        scale = np.minimum(scale, LINE_SCALE_HEIGHTS * (y1 - y0))
    sel, long, thin, window = _line_candidates_in(mask, scale)
    if sel.size == 0:
        return None
    a, m = ink[sel], mask[sel]
    fit = fit_lines(long, thin, window, (h, w))
    judge = _LineJudge(
        fit, a, m, scale[sel], (x0 + x1)[sel], (y0 + y1)[sel], (x1 - x0)[sel], (y1 - y0)[sel]
    )
    if not (judge.cut | (judge.line & ~judge.central)).any():
        # Every rule drops only cut lines or off-centre ones (box walls and cornered sides
        # are off-centre lines too): nothing can go, so skip judging. Most drawn digits with
        # a line candidate (a 1, a 7's bar) end here.
        return None
    drop = judge.printed()
    if not drop.any():
        return None
    return sel, a, m, judge, drop


def only_print(ink: np.ndarray, low: float = LINE_LOW) -> np.ndarray:
    """Which images of a stack (N, H, W) hold printed lines and nothing else: an empty box,
    an empty cell of a form, a pair of rules. A bool per image.

    True when lines :func:`remove_lines` judges printed close in on the ink from all four
    sides (a box), or two of them on opposite sides cross the whole crop (a cell's borders,
    two rules), and what is left without them is next to nothing (under EMPTY_LEFT of the
    ink pixels, fewer than MIN_INK_PIXELS in the middle half of the ink's extent). Fewer
    sides are not enough: a drawn 7 or J with ruler-straight strokes has two, a narrow 0 in
    a tight crop three (and ``remove_lines`` keeps such ink, since removing it would leave
    no digit). Never in images under EMPTY_MIN_SIDE a side."""
    return clean_print(ink, low).empty


def _free_uprights(judge: _LineJudge, h: int) -> np.ndarray:
    """Which lines of forms' fields holding one digit (``h`` px tall) are upright strokes
    standing free in them: not cut by the crop, not crossing it, and FREE_UPRIGHT_END of its
    height or more from both ends of its ink. A printed field's walls
    stand at its ends and a divider crosses it; a 1 written in the field is such a line, and
    against the field's lines alone it passed for a border with nothing inside (a wide
    field's lone 1 refused as an empty field: benchmarks/RESULTS.md, "A 1 in a wide field")."""
    fit = judge.fit
    end = FREE_UPRIGHT_END * h
    # For an upright line, the ink's ends left and right of it are mid -+ across / 2.
    away = np.abs(judge.pos - judge.mid) <= judge.across / 2 - end
    short = (fit.a1 - fit.a0) < EMPTY_CROSSING * h
    return ~fit.horiz & ~judge.cut & short & away


def _hollow_between(
    judge: _LineJudge, m: np.ndarray, drop: np.ndarray, lines: np.ndarray, text_line: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """For the k judged images (mask ``m``, printed lines ``drop`` whose own pixels are
    ``lines``; not what removal takes around them, which on a wide line can be whole
    digits it would then refuse to remove): whether they are print around nothing, by
    the pair of sides that shows it: (above and below the middle, left and right of it).
    A pair counts inside a closed frame (printed lines on all four sides, each inside
    the crop or crossing it: a box) or when both its lines cross the whole crop (a
    cell's borders, rules); three sides are not enough, a narrow 0 in a tight crop has
    three straight ones. Only where nothing but those lines is inked in the middle half
    of the ink's extent.

    ``text_line`` (a form's field): printed lines on three sides, one of them above or below
    the middle, also close a frame where the ink is FIELD_FRAME_ASPECT times wider than tall:
    a field's box turned by the camera until a wall touches the crop's edge, or with a side
    cut off by the crop. Such a frame is as wide as the field, where a tight crop of a
    narrow 0 with three straight sides is not.
    """
    k, h, w = m.shape
    fit = judge.fit
    before = judge.pos < judge.mid
    crossing = drop & ((fit.a1 - fit.a0) >= EMPTY_CROSSING * np.where(fit.horiz, w, h))
    which = (fit.horiz & before, fit.horiz & ~before, ~fit.horiz & before, ~fit.horiz & ~before)
    # A box's walls stand inside the crop or cross it; the sides of a digit cut tight (a
    # 0's) touch the crop's edges without crossing it.
    walls = drop & (~judge.cut | crossing)

    def per_side(lines_: np.ndarray) -> np.ndarray:
        """(4, k): whether each image has one of ``lines_`` on each side."""
        return np.stack([np.bincount(fit.owner[lines_ & on], minlength=k) > 0 for on in which])

    sides, crossed = per_side(walls), per_side(crossing)
    closed = sides.all(axis=0)
    x0, x1 = _extent(_cumulative(m, 1), w)
    y0, y1 = _extent(_cumulative(m, 2), h)
    if text_line:
        on_side = per_side(drop)
        framed = (on_side.sum(axis=0) >= 3) & (on_side[0] | on_side[1])
        closed |= framed & (x1 - x0 >= FIELD_FRAME_ASPECT * (y1 - y0))
    cols, rows = np.arange(w), np.arange(h)
    in_x = (cols >= (3 * x0 + x1)[:, None] / 4) & (cols < (x0 + 3 * x1)[:, None] / 4)
    in_y = (rows >= (3 * y0 + y1)[:, None] / 4) & (rows < (y0 + 3 * y1)[:, None] / 4)
    left = m & ~_dilate(lines, 1)  # the lines' anti-aliased rim goes with them
    inside = np.count_nonzero(left & in_y[:, :, None] & in_x[:, None, :], axis=(1, 2))
    # Nothing in the middle (a 0 between two rules is hollow there too) and next to nothing
    # anywhere off the ink's outer edges: the corners' stubs and specks of an empty box, not
    # a digit's strokes. (A wide field's end walls are too short against its width to be
    # lines; they stand at its ends.)
    mx, my = EMPTY_EDGE * (x1 - x0) + 2, EMPTY_EDGE * (y1 - y0) + 2
    core_x = (cols >= (x0 + mx)[:, None]) & (cols < (x1 - mx)[:, None])
    core_y = (rows >= (y0 + my)[:, None]) & (rows < (y1 - my)[:, None])
    core = np.count_nonzero(left & core_y[:, :, None] & core_x[:, None, :], axis=(1, 2))
    little = core < EMPTY_LEFT * np.count_nonzero(m, axis=(1, 2))
    hollow = (inside < MIN_INK_PIXELS) & little
    rows_pair = hollow & (closed | (crossed[0] & crossed[1]))
    return rows_pair, hollow & (closed | (crossed[2] & crossed[3]))


class _LineJudge:
    """The rules of :func:`remove_lines` for the fitted lines of the k selected images
    (``a`` their ink, ``m`` its mask, ``scale`` its scale, ``x_sum`` / ``y_sum`` the sums of
    its trimmed extent's ends): which lines are printed, and which pixels go with them."""

    def __init__(
        self,
        fit: FittedLines,
        a: np.ndarray,
        m: np.ndarray,
        scale: np.ndarray,
        x_sum: np.ndarray,
        y_sum: np.ndarray,
        x_len: np.ndarray,
        y_len: np.ndarray,
    ):
        self.fit, self.a, self.m = fit, a, m
        k, h, w = m.shape
        owner, horiz = fit.owner, fit.horiz
        self.size = size = scale[owner]  # each line's ink scale
        length_side = np.where(horiz, w, h)  # the image side along the line
        across_side = np.where(horiz, h, w)
        length = fit.a1 - fit.a0
        self.line = (
            (fit.count > 0) & (length >= LINE_RUN * size) & (fit.count >= LINE_FILL * length)
        )
        self.at0 = fit.a0 <= LINE_EDGE * min(h, w)
        self.at1 = fit.a1 >= length_side - LINE_EDGE * min(h, w)
        self.cut = self.line & (self.at0 | self.at1) & (length >= LINE_EDGE_LONG * length_side)
        # Where the line runs: the mean of its pixels (a stroke merged into a border widens its
        # range, not its mean), against the middle of the ink.
        self.pos = (
            np.bincount(fit.lab, weights=fit.across, minlength=fit.n) / np.maximum(fit.count, 1)
            + 0.5
        )
        self.mid = np.where(horiz, y_sum[owner], x_sum[owner]) / 2.0
        # How much of the ink's extent along it the line spans (a box's sides are its ink's
        # outermost parts, so they span nearly all of it).
        self.cover = length / np.maximum(np.where(horiz, x_len[owner], y_len[owner]), 1)
        # The ink's extent across the line (its ends: mid -+ half of it).
        self.across = np.where(horiz, y_len[owner], x_len[owner]).astype(np.float64)
        self.central = np.abs(self.pos - self.mid) < LINE_CENTRAL * size
        self.p0c, self.p1c = np.minimum(fit.p0, across_side), np.minimum(fit.p1, across_side)
        _, self.thick, band = _line_params(scale, (h, w))
        # A line thicker than LINE_THICK of the ink's scale is only a line through the
        # crop-sized LINE_BORDER allowance, which a bold pen's stroke (a 4's stem, a 7's
        # bar) can meet too: such a heavy line goes only as a box's wall (three or four
        # sides closing in on the digit) or cut by the crop, never as a lone border passing
        # the digit or a side cornered by other lines, which a lone bold stroke can be.
        self.heavy = self._heavy(_line_params(scale)[1])
        self.reach = (
            self.thick + band + 1
        )  # how near a line's end another line counts as meeting it

    def _heavy(self, thick_scale: np.ndarray) -> np.ndarray:
        """Which lines have too few thin pixels for a line under LINE_THICK of the scale
        alone (``thick_scale`` per image): the lines only the LINE_BORDER allowance found."""
        fit, m = self.fit, self.m
        raised = np.flatnonzero(self.thick > thick_scale)
        if raised.size == 0:  # no allowance in play (a thumbnail, a large scale)
            return np.zeros(fit.n, bool)
        _, h, w = m.shape
        stout = np.zeros((2, len(m), h, w), bool)  # in a run across the line too long for it
        for t in np.unique(thick_scale[raised]):  # one pass per distinct thickness
            i = raised[thick_scale[raised] == t]
            p = _pack(m[i])
            for o, across in ((0, _shift_y), (1, _shift_x)):
                stout[o, i] = _unpack(_long_runs(p, int(t) + 1, across), w)
        st = stout.reshape(2, -1)[np.where(fit.horiz[fit.lab], 0, 1), fit.rem]
        slim = np.bincount(fit.lab, weights=~st, minlength=fit.n)
        return slim < LINE_FILL * (fit.a1 - fit.a0)

    def printed(self) -> np.ndarray:
        """Which lines are printed (a bool per line): cut by the crop, borders passing the
        digit, the walls of a box around it and the box sides those corner."""
        line, central, cut = self.line, self.central, self.cut
        # First against the ink without any off-centre line (a closed box's sides must not
        # hide the digit from its top and bottom); then once more against the ink without the
        # lines that passed and the box sides they corner: a stroke that only passed because
        # other strokes of the digit were left out fails the second time.
        beyond, one_side, clear = self.against_rest(line & ~central)
        boxed = self.enclosing(clear)
        framed = self.enclosing(one_side & (self.cover >= FRAME_COVER), FRAME_SIDES)
        drop = cut | (line & ~central & ~self.heavy & beyond & one_side) | boxed | framed
        if not drop.any():
            return drop
        beyond, one_side, clear = self.against_rest(drop | self.cornered(drop, one_side))
        lone = beyond & one_side & ~self.heavy
        drop = cut | (drop & (lone | (boxed & clear) | (framed & one_side)))
        if not drop.any():
            return drop
        return drop | self.cornered(drop, one_side)

    def against_rest(self, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(beyond, one_side, clear) of every line against the rest: the ink outside the
        footprints of the ``excluded`` lines (so also the corners where two of them meet).
        Clear: the rest lies wholly on the line's side towards the middle of the ink, apart
        from it (a digit inside a box; a 0's sides join its top and bottom)."""
        fit, m, a = self.fit, self.m, self.a
        k, h, w = m.shape
        horiz, owner, size = fit.horiz, fit.owner, self.size
        p0c, p1c = self.p0c, self.p1c
        rest = m & ~_footprint(
            np.flatnonzero(excluded),
            (k, h, w),
            horiz,
            owner,
            fit.a0,
            fit.a1,
            fit.icpt,
            fit.slope,
            fit.half,
        )
        rest_w = np.where(rest, a, np.float32(0.0))
        cum_c, cum_r = _cumulative(rest_w, 1), _cumulative(rest_w, 2)
        rx0, rx1 = _extent(cum_c, w)
        ry0, ry1 = _extent(cum_r, h)
        lo = np.where(horiz, rx0[owner], ry0[owner])
        hi = np.where(horiz, rx1[owner], ry1[owner])
        beyond = (fit.a0 <= lo - LINE_BEYOND * size) & (fit.a1 >= hi + LINE_BEYOND * size)
        # The rest's ink before the line's first and after its last row (column).
        total = cum_r[owner, -1]
        before = np.where(horiz, cum_r[owner, np.minimum(p0c, h)], cum_c[owner, np.minimum(p0c, w)])
        after = total - np.where(
            horiz, cum_r[owner, np.minimum(p1c, h)], cum_c[owner, np.minimum(p1c, w)]
        )
        one_side = np.minimum(before, after) <= LINE_SIDE * total
        lo_x = np.where(horiz, ry0[owner], rx0[owner])  # the rest's extent across the line
        hi_x = np.where(horiz, ry1[owner], rx1[owner])
        clear = np.where(self.pos < self.mid, lo_x > fit.p1, hi_x < fit.p0) & (total > 0)
        return beyond, one_side, clear

    def gone_of(self, drop: np.ndarray) -> np.ndarray:
        """The thin pixels of the dropped lines, as a (k, H, W) mask."""
        out = np.zeros(self.m.size, bool)
        out[self.fit.rem[drop[self.fit.lab]]] = True
        return out.reshape(self.m.shape)

    def cornered(self, drop: np.ndarray, one_side: np.ndarray) -> np.ndarray:
        """Lines that do not pass the digit (a box side the digit spans end to end, like a
        1 touching the top and bottom borders) but are borders still: off-centre, with the
        digit on one side, and each end meeting a removed perpendicular border (a corner) or
        the image edge. A digit's own stroke ends in the digit."""
        fit = self.fit
        lab, along, nc = fit.lab, fit.along, fit.n
        r_c = self.reach[fit.img]
        # A corner is where two perpendicular lines meet: an end near a removed border that
        # runs alongside the line (a 7's bar or a 3's top just under a ruled line) is no
        # corner, so each line is met only by the removed lines of the other orientation.
        near = np.where(
            fit.horiz[lab],
            _dilate_each(self.gone_of(drop & ~fit.horiz), self.reach).reshape(-1)[fit.rem],
            _dilate_each(self.gone_of(drop & fit.horiz), self.reach).reshape(-1)[fit.rem],
        )
        meets0 = np.bincount(lab, weights=near & (along - fit.a0[lab] < r_c), minlength=nc) > 0
        meets1 = np.bincount(lab, weights=near & (fit.a1[lab] - along <= r_c), minlength=nc) > 0
        return (
            self.line
            & ~drop
            & ~self.central
            & ~self.heavy
            & one_side
            & (meets0 | self.at0)
            & (meets1 | self.at1)
        )

    def enclosing(self, clear: np.ndarray, sides_needed: int = BOX_SIDES) -> np.ndarray:
        """Off-centre lines clear of the rest, in images where such lines close in on
        ``sides_needed`` sides (top, bottom, left, right): a box tight around the digit,
        whose sides need not pass it. A digit's own straight strokes join the rest of the
        digit. A box is the outermost ink: a wall is the outermost off-centre line on its
        side (a 7's bar inside the box's top is not)."""
        owner, horiz = self.fit.owner, self.fit.horiz
        where_ = np.where(horiz, 0, 2) + (self.pos > self.mid)  # top, bottom, left, right
        off = self.line & ~self.central
        outward = np.where(where_ % 2 == 1, self.pos, -self.pos)  # larger: further out
        outermost = np.full((len(self.m), 4), -np.inf)
        np.maximum.at(outermost, (owner[off], where_[off]), outward[off])
        walls = off & clear & (outward >= outermost[owner, where_] - self.thick[owner])
        sides = np.zeros((len(self.m), 4), bool)
        sides[owner[walls], where_[walls]] = True
        return walls & (sides.sum(axis=1)[owner] >= sides_needed)

    def line_pixels(self, drop: np.ndarray) -> np.ndarray:
        """The pixels (k, H, W) of the dropped lines themselves: their own and their bands,
        less a stroke's where one lies on them (:func:`.line_fit._merged_stretches`)."""
        fit = self.fit
        across, down = drop & fit.horiz, drop & ~fit.horiz
        own = [
            self.gone_of(d) | _line_bands(d, fit.labels, self.m, fit.icpt, fit.slope, fit.half)
            for d in (across, down)
        ]
        # A stroke lying on a line keeps its pixels there, except where a removed line of
        # the other orientation crosses it (a grid's crossings, a box's corners are wider
        # and darker too, and they are print).
        merged = [
            _merged_stretches(
                np.flatnonzero(d), fit, self.m, self.a, MERGED_EXTRA, MERGED_WIDER, MERGED_DARKER
            )
            & ~other
            for d, other in ((across, own[1]), (down, own[0]))
        ]
        return (own[0] & ~merged[0]) | (own[1] & ~merged[1])

    def removed_pixels(self, lines: np.ndarray) -> np.ndarray:
        """The pixels (k, H, W) that go with the dropped lines: their own and their bands
        (``lines``, from :meth:`line_pixels`), the corners and stubs they leave and their
        anti-aliased fringe."""
        m, thick = self.m, self.thick
        gone = lines.copy()
        # What the lines leave behind: corners where two lines meet (thick both ways, so no
        # line's thin pixels) and stubs: small blobs next to a removed line, thin both ways once
        # the lines are gone. A stroke crossing a line stays long across it.
        gone |= _dilate_each(gone, thick) & _thin_both_ways(m & ~gone, thick)
        # The line's faint anti-aliased edge goes too (a weak rim left behind would join the
        # digit and stretch its box); strong pixels next to it are a crossing stroke's.
        gone |= _dilate(gone, 1) & (self.a < FRINGE)
        return gone


def _what_is_left(
    ink: np.ndarray,
    sel: np.ndarray,
    a: np.ndarray,
    m: np.ndarray,
    gone: np.ndarray,
    keep: np.ndarray,
) -> np.ndarray:
    """``ink`` with the ``gone`` pixels of its images ``sel`` (ink ``a``, mask ``m``) removed
    where that leaves a digit (at least the fraction ``keep`` of each image's ink), the rest
    brought back to full ink level."""
    k = len(a)
    kept = np.where(gone, np.float32(0.0), a)
    # Removal must leave a digit: enough ink, and a few strong pixels, strong for what is
    # left (a faint digit under dark print is brought back to full level below).
    flat_kept, flat_all = kept.reshape(k, -1), a.reshape(k, -1)
    enough = flat_kept.sum(axis=1) >= keep * flat_all.sum(axis=1)
    left_peak = flat_kept.max(axis=1, keepdims=True)
    strong_at = np.where(left_peak >= FAINT_PEAK, STRONG * left_peak, STRONG)
    enough &= np.count_nonzero(flat_kept >= strong_at, axis=1) >= MIN_INK_PIXELS
    enough &= (gone & m).reshape(k, -1).any(axis=1)
    if not enough.any():
        return ink
    kept = kept[enough]
    # A border darker than the pen set the ink level: bring what is left back to full level.
    peak = kept.reshape(len(kept), -1).max(axis=1)
    strong = kept > 0.5 * peak[:, None, None]
    level = (kept * strong).sum(axis=(1, 2)) / np.maximum(strong.sum(axis=(1, 2)), 1)
    kept /= np.maximum(level, 1e-6).astype(np.float32)[:, None, None]
    out = ink.copy()
    out[sel[enough]] = np.minimum(kept, np.float32(1.0))
    return out
