"""Real on-line pen data (digits and letters written on tablets), vendored with the package.

Three parts, all read from ``digitkit/data/vendor/pen/*.txt.xz`` (see the README there for
sources, licence and checksums):

- ``pendigits-train``: UCI pendigits, 7,494 digits by 30 writers;
- ``pendigits-test``: 3,498 digits by 14 *other* writers, a writer-independent test set
  (never train on it);
- ``uji``: UJI Pen Characters v1, 1,364 characters (220 digits, the rest letters) by 11
  writers; :func:`split_uji` splits it by writer.

Every sample is resampled to a fixed number of points along its trajectory so that a whole
set is one ``(N, P, 2)`` array and can be rendered without a Python loop over samples
(:mod:`digitkit.data.render`).
"""

from __future__ import annotations

import functools
import lzma
import re
import string
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from digitkit.errors import DigitkitError

__all__ = ["LETTERS", "LOOKALIKES", "PARTS", "PenSet", "load_pen", "read_vendored", "split_uji"]

PARTS = ("pendigits-train", "pendigits-test", "uji")

#: Letters a person would take for a digit (O for 0, l for 1, Z for 2, S for 5, b for 6, ...):
#: leave them out when UJI letters serve as examples of "not a digit".
LOOKALIKES = frozenset("OoDQIilljJLTtZzSsGgqbB")
#: The letters that are "not a digit" in training and tests: every ASCII letter but the
#: look-alikes.
LETTERS = "".join(c for c in string.ascii_letters if c not in LOOKALIKES)

#: Writer-id offsets. Both pendigits parts number their writers from 1 although they are
#: different people, so the test part is shifted to keep ids unique across parts.
PENDIGITS_TEST_WRITER_OFFSET = 100
UJI_WRITER_OFFSET = 1000
UJI_TRAIN_WRITERS = range(1, 9)  # UJI writers 1-8 train, 9-11 test

_FILES = {
    "pendigits-train": ("pendigits-orig-tra.txt",),
    "pendigits-test": ("pendigits-orig-tes.txt",),
    "uji": tuple(f"UJIpenchars-w{i:02d}.txt" for i in range(1, 12)),
}

# A directive line: ".NAME rest". Point lines start with a space or digit, never a dot.
_DIRECTIVE = re.compile(r"^\.(\w+)[ \t]*([^\n]*)", re.M)
# A pen-down block of "x y" lines; the strict form (no blank lines) lets us count points by
# counting newlines, the lenient one is only tried when the strict one fails.
_POINTS_STRICT = re.compile(r"(?:[ \t]*-?\d+[ \t]+-?\d+[ \t]*\n)*")
_POINTS_LENIENT = re.compile(r"(?:[ \t]*-?\d+[ \t]+-?\d+[ \t]*\n|[ \t]*\n)*")
_POINT_LINE = re.compile(r"[ \t]*(?:-?\d+[ \t]+-?\d+)?[ \t]*")
_SEGMENT = re.compile(r'(?:DIGIT|CHARACTER)\b.*"([^"])"')
_PENDIGITS_COMMENT = re.compile(r"(\S)\s+(\d+)\s+(\d+)\s*$")


@dataclass
class PenSet:
    """Pen trajectories, each resampled to ``P`` points, with labels and writers.

    ``points``: float32 (N, P, 2), x right and y down; each sample is scaled so that the
    longer side of its bounding box is 1 and translated so that the box centre is (0, 0).
    ``pen_down``: bool (N, P-1); segment k (point k to k+1) is drawn, False where the pen was
    lifted between two strokes. ``labels``: <U1 (N,), "0".."9" or a letter. ``writers``:
    int32 (N,), unique across parts (pendigits-train 1-30, pendigits-test 101-114, UJI
    1001-1011). ``part``: the part the samples came from.
    """

    points: np.ndarray
    pen_down: np.ndarray
    labels: np.ndarray
    writers: np.ndarray
    part: str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask) -> PenSet:
        """The samples selected by ``mask`` (a boolean mask or an index array), as a new set."""
        return PenSet(
            self.points[mask],
            self.pen_down[mask],
            self.labels[mask],
            self.writers[mask],
            self.part,
        )


def load_pen(part: str, points: int = 64) -> PenSet:
    """Parse a vendored part (one of :data:`PARTS`), resampling each sample to ``points``.

    Results are cached per ``(part, points)``; treat the arrays as read-only.
    Raises :class:`DigitkitError` for an unknown part, a ``points`` too small for a sample's
    strokes (each stroke needs 2 points) or a corrupt vendored file.
    """
    if part not in PARTS:
        raise DigitkitError(f"unknown pen-data part {part!r}; choose one of {', '.join(PARTS)}")
    if isinstance(points, bool) or not isinstance(points, int | np.integer) or points < 2:
        raise DigitkitError(f"points must be an integer >= 2, got {points!r}")
    return _load_cached(part, int(points))


def split_uji(pen: PenSet) -> tuple[PenSet, PenSet]:
    """Split the UJI set by writer: writers 1-8 for training, 9-11 for testing."""
    if pen.part != "uji":
        raise DigitkitError(f"split_uji needs the 'uji' part, got {pen.part!r}")
    train = np.isin(pen.writers, np.asarray(UJI_TRAIN_WRITERS) + UJI_WRITER_OFFSET)
    return pen.subset(train), pen.subset(~train)


@functools.lru_cache(maxsize=16)
def _load_cached(part: str, points: int) -> PenSet:
    parsed = [
        _parse(read_vendored("pen", name), name, pendigits=part != "uji") for name in _FILES[part]
    ]
    if part == "uji":
        # One file per writer: the file number is the writer.
        for i, p in enumerate(parsed, start=1):
            p["writers"] = np.full(len(p["labels"]), UJI_WRITER_OFFSET + i, np.int32)
    merged = {
        key: np.concatenate([p[key] for p in parsed])
        for key in ("xy", "stroke_sizes", "sample_strokes", "labels", "writers")
    }
    if part == "pendigits-test":
        merged["writers"] = merged["writers"] + PENDIGITS_TEST_WRITER_OFFSET
    xy = merged["xy"].astype(np.float64)
    if part != "uji":
        xy[:, 1] = -xy[:, 1]  # pendigits' y grows upward; images grow downward
    pts, pen_down = _resample(xy, merged["stroke_sizes"], merged["sample_strokes"], points)
    return PenSet(pts, pen_down, merged["labels"], merged["writers"].astype(np.int32), part)


def read_vendored(folder: str, name: str) -> str:
    """The text of the vendored file ``vendor/<folder>/<name>.xz`` (never anything outside
    the package); a missing or corrupt file is a DigitkitError."""
    resource = resources.files("digitkit.data").joinpath("vendor", folder, name + ".xz")
    try:
        raw = lzma.decompress(resource.read_bytes())
        return raw.decode("ascii")
    except FileNotFoundError as exc:
        raise DigitkitError(
            f"vendored file {folder}/{name}.xz is missing; reinstall digitkit"
        ) from exc
    except (lzma.LZMAError, UnicodeDecodeError, EOFError) as exc:
        raise DigitkitError(f"vendored file {folder}/{name}.xz is corrupt ({exc})") from exc


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _parse(text: str, name: str, *, pendigits: bool) -> dict[str, np.ndarray]:
    """Parse one UNIPEN-like file into flat arrays.

    Returns ``xy`` int64 (M, 2) raw tablet points, ``stroke_sizes`` (S,) points per stroke,
    ``sample_strokes`` (N,) strokes per sample, ``labels`` <U1 (N,) and ``writers`` int32
    (N,) (from pendigits' ``.COMMENT label writer index``; zeros for UJI).
    Directives other than SEGMENT, PEN_DOWN, PEN_UP and pendigits' sample COMMENT are ignored.
    """
    text = text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    samples = _DirectiveReader(text, name, pendigits=pendigits).read()
    sizes = _stroke_sizes(samples.blocks, name)
    # Every block is validated, so one whitespace-separated parse reads all numbers at once.
    xy = np.fromstring("".join(samples.blocks), dtype=np.int64, sep=" ")
    if xy.size != 2 * sizes.sum():
        raise DigitkitError(f"{name}: point count mismatch while parsing")
    return {
        "xy": xy.reshape(-1, 2),
        "stroke_sizes": sizes,
        "sample_strokes": np.asarray(samples.sample_strokes, np.int64),
        "labels": np.asarray(samples.labels, dtype="<U1"),
        "writers": np.asarray(samples.writers, np.int32),
    }


@dataclass
class _Samples:
    """What a file's directives say: the point text of every non-empty stroke, in order, and
    for every sample its number of strokes, its label and its writer."""

    blocks: list[str] = field(default_factory=list)
    sample_strokes: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    writers: list[int] = field(default_factory=list)


class _DirectiveReader:
    """Walks a file's directives in order, keeping the state of the sample and the stroke
    being read; every malformed construct is a :class:`DigitkitError` naming its line."""

    def __init__(self, text: str, name: str, *, pendigits: bool) -> None:
        self.text, self.name, self.pendigits = text, name, pendigits
        self.samples = _Samples()
        self.in_sample = self.pen_down = self.awaiting_comment = False
        self.pieces: list[str] = []  # the current stroke's text (a stray directive may split it)
        self.n_strokes = 0
        self.prev_end = -1  # end of the previous directive line (its newline is at prev_end)
        self.sample_pos = 0

    def read(self) -> _Samples:
        """Read every directive and the point text between them."""
        for match in _DIRECTIVE.finditer(self.text):
            self._take_gap(match.start())
            self.prev_end = match.end()
            self._apply(match.group(1), match.group(2), match.start())
        if self.pen_down:
            raise self._fail(len(self.text) - 1, "file ends inside a .PEN_DOWN block")
        if self.text[self.prev_end + 1 :].strip():
            raise self._fail(self.prev_end + 1, "points outside a .PEN_DOWN ... .PEN_UP block")
        self._close_sample()
        if not self.samples.labels:
            raise DigitkitError(f"{self.name}: no .SEGMENT samples found")
        return self.samples

    def _fail(self, pos: int, why: str) -> DigitkitError:
        return DigitkitError(f"{self.name} line {_line_of(self.text, pos)}: {why}")

    def _take_gap(self, start: int) -> None:
        """The text between the previous directive and the one at ``start``: points of the
        open stroke, or nothing but blanks outside one."""
        gap = self.text[self.prev_end + 1 : start]  # skip the newline ending the last directive
        if self.pen_down:
            self.pieces.append(gap)
        elif gap.strip():
            raise self._fail(self.prev_end + 1, "points outside a .PEN_DOWN ... .PEN_UP block")

    def _apply(self, keyword: str, rest: str, pos: int) -> None:
        if keyword == "PEN_DOWN":
            self._pen_down(pos)
        elif keyword == "PEN_UP":
            self._pen_up(pos)
        elif keyword == "SEGMENT":
            self._segment(rest, pos)
        elif keyword == "COMMENT" and self.awaiting_comment:
            self._comment(rest, pos)

    def _pen_down(self, pos: int) -> None:
        if not self.in_sample:
            raise self._fail(pos, ".PEN_DOWN before any .SEGMENT")
        if self.pen_down:
            raise self._fail(pos, ".PEN_DOWN inside an open .PEN_DOWN block")
        self.pen_down, self.pieces = True, []

    def _pen_up(self, pos: int) -> None:
        if not self.pen_down:
            raise self._fail(pos, ".PEN_UP without a .PEN_DOWN")
        self.pen_down = False
        block = "".join(self.pieces)
        if block.strip():  # an empty stroke draws nothing: skip it
            self.samples.blocks.append(block)
            self.n_strokes += 1

    def _segment(self, rest: str, pos: int) -> None:
        if self.pen_down:
            raise self._fail(pos, ".SEGMENT inside an open .PEN_DOWN block")
        self._close_sample()
        found = _SEGMENT.match(rest)
        if found is None:
            raise self._fail(pos, f"cannot read the label of '.SEGMENT {rest}'")
        self.samples.labels.append(found.group(1))
        self.samples.writers.append(0)
        self.in_sample, self.awaiting_comment = True, self.pendigits
        self.n_strokes, self.sample_pos = 0, pos

    def _comment(self, rest: str, pos: int) -> None:
        """pendigits' ``.COMMENT label writer index`` line of the open sample."""
        found = _PENDIGITS_COMMENT.match(rest)
        if found is None:
            raise self._fail(pos, f"expected '.COMMENT label writer index', got {rest!r}")
        labels = self.samples.labels
        if found.group(1) != labels[-1]:
            raise self._fail(pos, f"label {found.group(1)!r} != .SEGMENT's {labels[-1]!r}")
        self.samples.writers[-1] = int(found.group(2))
        self.awaiting_comment = False

    def _close_sample(self) -> None:
        if not self.in_sample:
            return
        if self.n_strokes == 0:
            label = self.samples.labels[-1]
            raise self._fail(self.sample_pos, f"sample {label!r} has no pen-down points")
        if self.pendigits and self.awaiting_comment:
            raise self._fail(self.sample_pos, "sample has no '.COMMENT label writer index' line")
        self.samples.sample_strokes.append(self.n_strokes)


def _stroke_sizes(blocks: list[str], name: str) -> np.ndarray:
    """Points per stroke, each block checked to hold nothing but 'x y' integer lines."""
    sizes = np.empty(len(blocks), np.int64)
    for i, block in enumerate(blocks):
        if _POINTS_STRICT.fullmatch(block):
            sizes[i] = block.count("\n")
        elif _POINTS_LENIENT.fullmatch(block):
            sizes[i] = len(block.split()) // 2
        else:
            lines = block.split("\n")
            bad = next((line for line in lines if not _POINT_LINE.fullmatch(line)), block)
            raise DigitkitError(f"{name}: bad point line {bad.strip()!r} (expected 'x y' integers)")
    return sizes


def _resample(
    xy: np.ndarray, stroke_sizes: np.ndarray, sample_strokes: np.ndarray, points: int
) -> tuple[np.ndarray, np.ndarray]:
    """Resample every sample to ``points`` points along its strokes, all samples at once.

    Each stroke gets 2 points plus a share of the remaining ``points - 2 * strokes`` in
    proportion to its arc length; its points are spread evenly along its arc length, from its
    first to its last raw point. A stroke of zero length (a dot) becomes a tiny segment so
    that it still draws a round dot. Then each sample is scaled to a unit bounding box.
    """
    n_samples, n_strokes = len(sample_strokes), len(stroke_sizes)
    most = int(sample_strokes.max())
    if points < 2 * most:
        raise DigitkitError(
            f"points={points} is too few: a sample has {most} strokes and each needs 2 points "
            f"(use points >= {2 * most})"
        )
    stroke_start = np.concatenate([[0], np.cumsum(stroke_sizes)[:-1]])
    stroke_end = stroke_start + stroke_sizes - 1
    stroke_sample = np.repeat(np.arange(n_samples), sample_strokes)
    first_stroke = np.concatenate([[0], np.cumsum(sample_strokes)[:-1]])

    # Cumulative path length along the whole file; differences within a stroke are its arc
    # length (the jumps between strokes only shift later strokes' starting values).
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    length = arc[stroke_end] - arc[stroke_start]

    # Extra points per stroke by rounding the cumulative arc-length share, which sums exactly
    # to the sample's budget; all-dot samples share by stroke count instead.
    extra_budget = points - 2 * sample_strokes
    cum_len = np.cumsum(length)
    before = np.concatenate([[0.0], cum_len])[first_stroke]
    within = cum_len - before[stroke_sample]
    total = within[first_stroke + sample_strokes - 1]
    rank = np.arange(n_strokes) - first_stroke[stroke_sample] + 1
    share = np.where(
        total[stroke_sample] > 0,
        within / np.where(total > 0, total, 1.0)[stroke_sample],
        rank / sample_strokes[stroke_sample],
    )
    cum_extra = np.rint(share * extra_budget[stroke_sample]).astype(np.int64)
    prev_extra = np.where(rank == 1, 0, np.concatenate([[0], cum_extra[:-1]]))
    n_out = 2 + cum_extra - prev_extra

    # Positions of the output points on a global coordinate: arc length plus 1 per stroke, so
    # that strokes never share a coordinate and np.interp can do all of them in one call.
    coord = arc + np.repeat(np.arange(n_strokes), stroke_sizes)
    out_stroke = np.repeat(np.arange(n_strokes), n_out)
    out_start = np.concatenate([[0], np.cumsum(n_out)[:-1]])
    frac = (np.arange(len(out_stroke)) - out_start[out_stroke]) / (n_out[out_stroke] - 1)
    where = coord[stroke_start[out_stroke]] + frac * length[out_stroke]
    # x and y kept as separate (N, P) arrays: reductions along a contiguous axis are fast.
    shape = (n_samples, points)
    x = np.interp(where, coord, xy[:, 0]).reshape(shape)
    y = np.interp(where, coord, xy[:, 1]).reshape(shape)

    # A dot becomes a horizontal segment 1% of the sample's size long (so it is not lost).
    side = np.maximum(np.ptp(x, axis=1), np.ptp(y, axis=1))
    dot = (length[out_stroke] == 0).reshape(shape)
    x += dot * frac.reshape(shape) * (0.01 * np.maximum(side, 1.0))[:, None]

    x_lo, x_hi, y_lo, y_hi = x.min(1), x.max(1), y.min(1), y.max(1)
    scale = 1.0 / np.maximum(np.maximum(x_hi - x_lo, y_hi - y_lo), 1e-9)
    out = np.empty((n_samples, points, 2), np.float32)
    out[..., 0] = (x - ((x_lo + x_hi) / 2)[:, None]) * scale[:, None]
    out[..., 1] = (y - ((y_lo + y_hi) / 2)[:, None]) * scale[:, None]
    ids = out_stroke.reshape(n_samples, points)
    return out, ids[:, 1:] == ids[:, :-1]
