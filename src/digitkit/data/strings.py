"""Synthetic number lines for the CTC reader: MNIST digits composed the way amounts are
written on forms, generated afresh for every batch.

A line holds 1-10 digits, drawn from per-class pools of single-digit images (MNIST, and
rendered pen digits when :mod:`digitkit.data.pen` is available), with

* varied gaps: apart, touching, overlapping up to ~30 % of the narrower digit's width;
* per-digit scale and baseline drift, and a slant of the whole line;
* separators drawn as pen strokes (``. , ' - = /``) and wide spaces, placed like the
  conventions of forms: ``25.441``, ``280.000=``, ``100.-``, ``1'000``, ``12/05``, ``1 000``;
* optionally, joined-up writing: neighbouring digits apart on the line linked by the pen's
  stroke from one digit's exit (its right side, from the middle down) into the next one's
  left side, rising a little, as people join the digits of an amount without lifting the pen.

The label is the full string over :data:`digitkit.vision.numbers.ALPHABET`; separators are labelled
so the model learns they are *not* digits. Every line goes through
:func:`digitkit.vision.numbers.normalize_line`, exactly what the reader does to real ink. With
:mod:`digitkit.data.context` available, some lines are photographed onto synthetic paper and
go through the reader's whole preprocessing (:func:`digitkit.vision.numbers.prepare_line`).

Why one module over 400 lines: one job, the number-line generator; the glyph pools, separator
strokes and layouts exist only to feed :class:`NumberLines`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from digitkit.vision.numbers import (
    LINE_HEIGHT,
    STRIDE,
    normalize_line,
    prepare_line,
    resample_axis,
    shear_ink,
)

DIGIT_ROWS = 28  # source digit images are 28x28 (MNIST): ink about 20 rows high
CANVAS_ROWS = 48  # room for baseline drift, scale and the slant
TOP = 10  # row of the 28-row digit frame's top on the canvas
INK_TOP, INK_BOTTOM = TOP + 4, TOP + 24  # where MNIST's 20-row ink box lands
INK_HEIGHT_PX = INK_BOTTOM - INK_TOP  # a digit's height on the drawing canvas
SUFFIXES = ("=", "-", ".-", ",-", ".", "/-")
GROUPERS = (".", "'", " ", ",")
STYLES = ("forms", "touching", "joined")  # forms: every layout and gap; touching: digits
# that touch; joined: digits apart, most neighbours linked by a joining stroke (benchmarks)
JOIN_SHARE = 0.8  # in a joined-up line, the share of neighbouring digits linked by a stroke
JOIN_BAND = 0.2  # a join leaves / enters its digit within this fraction of its height of the
# row it aims at (its rightmost / leftmost ink there)
JOIN_RISE = 0.45  # a join climbs at most this fraction of the digit's height, and enters the
# next digit below its top fifth: a stroke from one digit's foot to the next one's top is a
# slanted 1 (readers trained on such joins lost twice the 1s of touching lines)
JOIN_RUN = 1.5  # and runs at least this many times further along the line than it climbs:
# between digits close together a join that short and steep is a 1 too (readers trained on
# joins limited only by JOIN_RISE still lost 1s)
JOINED_GAP = (0.15, 0.5)  # the joined style's gaps (x digit height): a join needs room
SLANT_SD = 0.12  # every line's slant (columns per row): within about 7 degrees of upright
# An italic hand: the share ``leaning`` of lines lean right by this many columns per row more
# (9-27 degrees), where touching digits overlap column by column
LEAN_RANGE = (0.15, 0.5)
MIN_PITCH = 0.4  # least centre-to-centre advance between digits (x digit height): CTC needs
#                  at least 2 frames per character, 3 for a repeated one


def _optional(module: str, attr: str) -> Any:
    """``module.attr`` when another part of digitkit provides it, else None."""
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


@dataclass
class GlyphPool:
    """Single-digit ink images (N, 28, 28) float32 in [0, 1] grouped by class, each with its
    ink's column extent, so gaps are measured between ink and not between frames."""

    images: np.ndarray
    labels: np.ndarray
    left: np.ndarray
    right: np.ndarray
    by_class: list[np.ndarray]

    @classmethod
    def from_arrays(cls, images: np.ndarray, labels: np.ndarray) -> GlyphPool:
        x = np.asarray(images)
        x = (x.astype(np.float32) / 255.0) if x.dtype == np.uint8 else x.astype(np.float32)
        y = np.asarray(labels).astype(np.int64)
        cols = x.max(axis=1) > 0.1  # (N, 28) columns holding ink
        any_ink = cols.any(axis=1)
        x, y, cols = x[any_ink], y[any_ink], cols[any_ink]
        left = cols.argmax(axis=1)
        right = cols.shape[1] - cols[:, ::-1].argmax(axis=1)
        by_class = [np.flatnonzero(y == d) for d in range(10)]
        return cls(x, y, left, right, by_class)

    def sample(self, digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Indices of one random image of each requested digit class."""
        out = np.empty(len(digits), np.int64)
        for d in np.unique(digits):
            pool = self.by_class[int(d)]
            sel = digits == d
            out[sel] = pool[rng.integers(0, len(pool), int(sel.sum()))]
        return out


def pen_pool(seed: int = 0, styled: int = 0, renderings: int = 1) -> GlyphPool | None:
    """Rendered pen digits of the training writers (pendigits' training writers less the
    validation ones, and UJI's training writers: :func:`digitkit.data.sources.pen_parts`),
    each drawn ``renderings`` times with random pen styles (size, slant, tremor, pen width),
    plus ``styled`` of them rewritten in the styles MNIST lacks (:mod:`digitkit.data.styles`:
    the flagged 1, the crossed 7, the slashed 0), as a pool; None while those modules do not
    exist (MNIST alone then)."""
    pen_parts = _optional("digitkit.data.sources", "pen_parts")
    if pen_parts is None or _optional("digitkit.data.render", "render") is None:
        return None
    try:
        parts = pen_parts()
        rng = np.random.default_rng(seed)
        images, labels = zip(
            *(
                pen_glyphs(parts[name], rng)
                for _ in range(max(1, renderings))
                for name in ("pen_train", "uji_digits_train")
            ),
            strict=True,
        )
        if styled:
            extra = styled_pen_glyphs(parts["pen_train"], styled, rng)
            images, labels = (*images, extra[0]), (*labels, extra[1])
        return GlyphPool.from_arrays(np.concatenate(images), np.concatenate(labels))
    except Exception:  # an interface still in the making must not stop training
        return None


def pen_glyphs(pen: Any, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A :class:`~digitkit.data.pen.PenSet` of digits drawn with random pen styles, as
    (images (N, 28, 28) in MNIST's layout, int64 labels)."""
    from digitkit.data.render import render

    images = np.asarray(render(pen, size=DIGIT_ROWS, rng=rng))
    return _mnist_frame(images), np.asarray(pen.labels).astype(np.int64)


def styled_pen_glyphs(pen: Any, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 1s, 7s and 0s of ``pen`` rewritten in the styles of
    :func:`digitkit.data.styles.styled_digits`, drawn as :func:`pen_glyphs` draws."""
    from digitkit.data.render import render
    from digitkit.data.styles import styled_digits

    points, pen_down, labels = styled_digits(pen, n, rng)
    images = np.asarray(render((points, pen_down), size=DIGIT_ROWS, rng=rng))
    return _mnist_frame(images), labels


def _mnist_frame(images: np.ndarray) -> np.ndarray:
    """Ink images (N, 28, 28) rescaled so their ink is 20 rows high at rows 4-24 (MNIST's
    layout), so pen digits line up with MNIST ones on a line."""
    out = np.zeros((len(images), DIGIT_ROWS, DIGIT_ROWS), np.float32)
    for i, img in enumerate(np.asarray(images, np.float32)):
        rows = np.flatnonzero(img.max(axis=1) > 0.1)
        cols = np.flatnonzero(img.max(axis=0) > 0.1)
        if rows.size == 0:
            continue
        crop = img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        f = 20.0 / crop.shape[0]
        w = int(np.clip(round(crop.shape[1] * f), 1, DIGIT_ROWS))
        glyph = resample_axis(resample_axis(crop, 20, 0), w, 1)
        x = (DIGIT_ROWS - w) // 2
        out[i, 4:24, x : x + w] = glyph
    return out


# --------------------------------------------------------------------------- strokes


def _stroke(canvas: np.ndarray, pts: np.ndarray, width: float) -> None:
    """Draw an anti-aliased polyline (points (k, 2) as x, y) of ``width`` pixels, max-blended
    into ``canvas`` in place; only the polyline's neighbourhood is touched."""
    h, w = canvas.shape
    pad = width / 2 + 1.5
    x0 = int(max(np.floor(pts[:, 0].min() - pad), 0))
    x1 = int(min(np.ceil(pts[:, 0].max() + pad) + 1, w))
    y0 = int(max(np.floor(pts[:, 1].min() - pad), 0))
    y1 = int(min(np.ceil(pts[:, 1].max() + pad) + 1, h))
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
    dist = np.full(yy.shape, np.inf, np.float32)
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        d = b - a
        length2 = float(d @ d) or 1e-6
        t = np.clip(((xx - a[0]) * d[0] + (yy - a[1]) * d[1]) / length2, 0, 1)
        dist = np.minimum(dist, np.hypot(xx - a[0] - t * d[0], yy - a[1] - t * d[1]))
    ink = np.clip(width / 2 + 0.5 - dist, 0, 1)
    np.maximum(canvas[y0:y1, x0:x1], ink, out=canvas[y0:y1, x0:x1])


def separator_strokes(
    ch: str, x: float, top: float, bottom: float, width: float, rng: np.random.Generator
) -> tuple[list[np.ndarray], float]:
    """Polylines of separator ``ch`` starting at column ``x`` on a line whose digits span rows
    ``top``..``bottom``; returns (strokes, the column where the separator's ink ends)."""
    h = bottom - top
    j = lambda s: rng.normal(0, s)  # noqa: E731 - jitter, in pixels
    if ch == ".":
        r = rng.uniform(0.3, 1.3)
        y = bottom - width / 2 + j(0.8)
        return [np.array([[x + r, y], [x + r + rng.uniform(0, 1.2), y + j(0.4)]])], x + 2 * r + 1
    if ch == ",":
        y = bottom - width / 2 + j(0.8)
        length = rng.uniform(0.2, 0.4) * h
        dx = rng.uniform(1, 3)
        return [np.array([[x + dx + 1, y], [x + 1, y + length]])], x + dx + 2
    if ch == "'":
        y = top + j(1.0)
        length = rng.uniform(0.18, 0.35) * h
        dx = rng.uniform(0, 2)
        return [np.array([[x + dx + 1, y], [x + 1, y + length]])], x + dx + 2
    if ch == "-":
        y = top + rng.uniform(0.4, 0.65) * h
        length = rng.uniform(0.3, 0.6) * h
        return [np.array([[x, y], [x + length, y + j(0.8)]])], x + length
    if ch == "=":
        y = top + rng.uniform(0.4, 0.6) * h
        gap = rng.uniform(0.15, 0.3) * h
        length = rng.uniform(0.35, 0.65) * h
        s1 = np.array([[x, y - gap / 2], [x + length, y - gap / 2 + j(0.8)]])
        off = j(1.0)
        s2 = np.array([[x + off, y + gap / 2], [x + off + length, y + gap / 2 + j(0.8)]])
        return [s1, s2], x + length + max(off, 0)
    if ch == "/":
        lean = rng.uniform(0.25, 0.6) * h
        y0 = top + rng.uniform(-0.05, 0.15) * h
        y1 = bottom - rng.uniform(-0.05, 0.15) * h
        return [np.array([[x + lean, y0], [x, y1]])], x + lean
    raise ValueError(f"no strokes for {ch!r}")


# --------------------------------------------------------------------------- layouts


def random_layout(n_digits: int, rng: np.random.Generator) -> str:
    """A template over 'd' (a digit) and separators for ``n_digits`` digits, the way amounts,
    dates and codes are written on forms."""
    d = "d" * n_digits
    style = rng.random()
    if style < 0.35 or n_digits == 1:
        body = d
    elif style < 0.6 and n_digits >= 4:  # thousands: 25.441, 1'000, 1 000 000, 12,500
        sep = GROUPERS[rng.integers(len(GROUPERS))]
        head = n_digits % 3 or 3
        groups = [d[:head]] + [d[i : i + 3] for i in range(head, n_digits, 3)]
        body = sep.join(groups)
    elif style < 0.75:  # decimals: 12,50 / 3.5
        tail = int(min(rng.integers(1, 4), n_digits - 1))
        body = d[: n_digits - tail] + ("," if rng.random() < 0.5 else ".") + d[-tail:]
    elif style < 0.85:  # dates and codes: 12/05, 1/2/3
        cuts = sorted(set(rng.integers(1, n_digits, size=int(rng.integers(1, 3))).tolist()))
        parts, last = [], 0
        for c in cuts:
            parts.append(d[last:c])
            last = c
        parts.append(d[last:])
        body = "/".join(parts)
    elif style < 0.92:  # a group separated by a wide space or dash: 12 345, 04-12
        cut = int(rng.integers(1, n_digits))
        body = d[:cut] + (" " if rng.random() < 0.5 else "-") + d[cut:]
    else:
        body = d
    if rng.random() < 0.3:
        body += SUFFIXES[rng.integers(len(SUFFIXES))]
    if rng.random() < 0.04:
        body = "-" + body
    return body


# --------------------------------------------------------------------------- lines


class NumberLines:
    """Generator of synthetic number lines from one or more digit pools.

    ``style="forms"`` (training) mixes every layout and gap; ``"touching"`` (benchmarks)
    writes digits only, each touching or overlapping its neighbours; ``"joined"``
    (benchmarks) digits only, a little apart, most neighbours linked by a joining stroke.
    ``joined`` is the share of other lines written joined-up that way (their layouts and gaps
    as usual; a join needs room between the digits); ``empty`` the share of :meth:`batch`'s
    lines that are photographed fields with nothing written in them (label ``""``).
    ``photograph`` photographs ``photo_fraction`` of the lines, ``photograph_distant``
    another ``distant`` of them; each goes through the reader's preprocessing.
    ``leaning`` is the share of lines written in an italic hand (:data:`LEAN_RANGE`).

    ``batch(n, rng)`` returns ``(images (n, LINE_HEIGHT, W) float32, widths (n,), texts)``,
    W the widest line rounded up to a multiple of the model stride, every line padded with
    zeros (no ink) on the right. Deterministic for a given ``rng`` state.
    """

    def __init__(
        self,
        pools: list[GlyphPool],
        *,
        max_digits: int = 10,
        min_digits: int = 1,
        photograph: Any = None,
        photo_fraction: float = 0.0,
        pool_weights: list[float] | None = None,
        style: str = "forms",
        joined: float = 0.0,
        empty: float = 0.0,
        photograph_distant: Any = None,
        distant: float = 0.0,
        leaning: float = 0.0,
    ):
        if style not in STYLES:
            raise ValueError(f"unknown line style {style!r}; choose {', '.join(STYLES)}")
        shares = (("joined", joined), ("empty", empty), ("distant", distant), ("leaning", leaning))
        for name, share in shares:
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be a share in [0, 1], not {share}")
        if photo_fraction + distant > 1.0:  # one draw picks the camera: the shares add up
            raise ValueError(
                f"photo_fraction + distant must be at most 1, not {photo_fraction + distant}"
            )
        self.style = style
        # The share of lines written joined-up (always, for the "joined" style). Zero draws
        # nothing from the random stream, so lines of a given seed stay what they were.
        self.joined = 1.0 if style == "joined" else joined
        self.leaning = leaning  # the share of lines written in an italic hand (LEAN_RANGE)
        self.pools = pools
        self.max_digits, self.min_digits = max_digits, min_digits
        self.photograph = photograph
        self.photo_fraction = photo_fraction if photograph is not None else 0.0
        # The share of lines photographed from afar instead (``photograph_distant``: always
        # at a low resolution, which costs the reader the most of any one effect of a photo).
        self.photograph_distant = photograph_distant
        self.distant = distant if photograph_distant is not None else 0.0
        # The share of batch lines that are empty fields, photographed, labelled "": what
        # preprocessing leaves of paper grain, shadows and a box's walls is no digit.
        self.empty = empty if photograph is not None else 0.0
        weights = np.asarray(pool_weights or [1.0] * len(pools), np.float64)
        self.pool_p = weights / weights.sum()

    @classmethod
    def from_mnist(
        cls,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        use_pen: bool = True,
        use_photos: bool = True,
        seed: int = 0,
        photo_fraction: float = 0.1,
        styled_digits: int = 0,
        pen_renderings: int = 1,
        distant: float = 0.0,
        **kwargs: Any,
    ) -> NumberLines:
        """Lines from MNIST images (a split's ``x``, ``y``), plus pen digits (each drawn
        ``pen_renderings`` times, ``styled_digits`` more in European styles, see
        :func:`pen_pool`) and paper photos (``photo_fraction`` of the lines, and ``distant``
        more photographed from afar: ``ContextStyle.from_afar``) when those modules exist."""
        pools = [GlyphPool.from_arrays(images, labels)]
        weights = [1.0]
        if use_pen and (pen := pen_pool(seed, styled_digits, pen_renderings)) is not None:
            pools.append(pen)
            weights.append(0.35)
        photo = _optional("digitkit.data.context", "photograph") if use_photos else None
        style_cls = _optional("digitkit.data.context", "ContextStyle")
        far = None
        if photo is not None and style_cls is not None:
            # No camera perspective: its warp is built for square crops and turns a wide
            # line upside down or off the frame (seen on generated samples).
            import dataclasses
            import functools

            def flat(style: Any) -> Any:
                return functools.partial(photo, style=dataclasses.replace(style, p_perspective=0.0))

            photo, far = flat(style_cls()), flat(style_cls.from_afar())
        return cls(
            pools,
            photograph=photo,
            photo_fraction=photo_fraction if photo else 0.0,
            pool_weights=weights,
            photograph_distant=far,
            distant=distant if far else 0.0,
            **kwargs,
        )

    def texts(
        self, n: int, rng: np.random.Generator, lengths: np.ndarray | None = None
    ) -> list[str]:
        """``n`` random label strings (the layouts filled with random digits)."""
        if lengths is None:
            lengths = rng.integers(self.min_digits, self.max_digits + 1, n)
        out = []
        for k in lengths:
            layout = "d" * int(k) if self.style != "forms" else random_layout(int(k), rng)
            digits = rng.integers(0, 10, int(k))
            it = iter(digits.tolist())
            out.append("".join(str(next(it)) if c == "d" else c for c in layout))
        return out

    def draw(self, text: str, rng: np.random.Generator) -> np.ndarray:
        """The ink (CANVAS_ROWS, W) of one line spelling ``text``, before normalization."""
        digit_pos = [i for i, c in enumerate(text) if c.isdigit()]
        pool = self.pools[int(rng.choice(len(self.pools), p=self.pool_p))]
        idx = pool.sample(np.array([int(text[i]) for i in digit_pos]), rng)
        height = 20.0
        # One writer per line: a typical gap and thickness, varied per digit around them.
        base_gap = rng.choice(
            [rng.uniform(-0.3, -0.05), rng.uniform(-0.05, 0.15), rng.uniform(0.1, 0.4)],
            p=[0.4, 0.35, 0.25],
        )
        if self.style == "touching":
            base_gap = rng.uniform(-0.25, -0.05)
        elif self.style == "joined":
            base_gap = rng.uniform(*JOINED_GAP)
        stroke = rng.uniform(1.4, 2.8)
        scales = np.clip(rng.normal(1.0, 0.07, len(idx)), 0.82, 1.18)
        drift = np.cumsum(rng.normal(0, 0.8, len(idx))) + rng.normal(0, 1.0, len(idx))
        width = int(len(text) * 40 + 60)
        canvas = np.zeros((CANVAS_ROWS, width), np.float32)
        x = 6.0
        prev_w = None
        k = 0
        placed: list[tuple[int, int, np.ndarray] | None] = []  # each glyph, None at a separator
        for ch in text:
            if ch.isdigit():
                s = scales[k]
                img = pool.images[idx[k]]
                left, right = int(pool.left[idx[k]]), int(pool.right[idx[k]])
                glyph = img[:, left:right]
                gh, gw = max(1, int(round(DIGIT_ROWS * s))), max(1, int(round((right - left) * s)))
                glyph = resample_axis(resample_axis(glyph, gh, 0), gw, 1)
                if prev_w is not None:
                    gap = (base_gap + rng.normal(0, 0.06)) * height
                    # overlap at most 30 % of the narrower digit, and never closer than the
                    # least pitch the model's frame rate can resolve
                    gap = max(gap, -0.3 * min(prev_w, gw))
                    gap = min(gap, 0.45 * height)
                    centre_gap = prev_w / 2 + gap + gw / 2
                    if centre_gap < MIN_PITCH * height:
                        gap += MIN_PITCH * height - centre_gap
                    x += gap
                y = TOP + (DIGIT_ROWS - gh) / 2 + drift[k] + (s - 1) * 6  # scale about baseline
                xi, yi = int(round(x)), int(round(y))
                yi = int(np.clip(yi, 0, CANVAS_ROWS - gh))
                region = canvas[yi : yi + gh, xi : xi + gw]
                np.maximum(region, glyph[: region.shape[0], : region.shape[1]], out=region)
                placed.append((xi, yi, glyph[: region.shape[0], : region.shape[1]]))
                x += gw
                prev_w = gw
                k += 1
            elif ch == " ":
                x += rng.uniform(0.65, 1.2) * height
                prev_w = None
                placed.append(None)
            else:
                placed.append(None)
                top = INK_TOP + (drift[min(k, len(drift) - 1)] if len(drift) else 0.0)
                x += rng.uniform(-0.5, 3.5)
                strokes, end = separator_strokes(ch, x, top, top + height, stroke, rng)
                for pts in strokes:
                    _stroke(canvas, pts, stroke)
                x = end + rng.uniform(0.5, 3.5)
                prev_w = None
                continue
        if self.joined and rng.random() < self.joined:
            for a, b in zip(placed[:-1], placed[1:], strict=True):
                if a is not None and b is not None and rng.random() < JOIN_SHARE:
                    _join(canvas, a, b, stroke, rng)
        canvas = canvas[:, : int(np.ceil(x)) + 8]
        inked = _pen_weight(canvas, rng)
        shear = rng.normal(0, SLANT_SD)
        if self.leaning and rng.random() < self.leaning:  # no draw at all without leaning
            shear += rng.uniform(*LEAN_RANGE)
        return slant(inked, shear)

    def line(self, text: str, rng: np.random.Generator, max_width: int = 1024) -> np.ndarray:
        """One normalized line image (LINE_HEIGHT, w) spelling ``text`` (``""``: an empty
        field, photographed, as the reader sees it; needs ``photograph``)."""
        if not text:
            return self.empty_field(rng, max_width)
        ink = self.draw(text, rng)
        clean = normalize_line(ink, max_width).image
        camera = None
        if self.photo_fraction or self.distant:  # no draw at all without photos
            u = rng.random()
            if u < self.photo_fraction:
                camera = self.photograph
            elif u < self.photo_fraction + self.distant:
                camera = self.photograph_distant
        if camera is not None:
            try:
                # context.photograph sizes its effects for digits ~40 px high (a 64 px
                # frame); ours are 20 px, so photograph the line at twice the size.
                big = resample_axis(resample_axis(ink, 2 * ink.shape[0], 0), 2 * ink.shape[1], 1)
                photo = np.asarray(camera(big[None], rng))[0]
                line = prepare_line(photo.astype(np.float32) / 255.0, max_width)
                # A ruled line or grid running far past the number stretches the line and
                # shrinks the digits to nothing: such a photo teaches only noise, so keep
                # photos whose line spans about what the number does.
                # Heavy blur + low resolution can melt the strokes into blobs: keep photos
                # whose amount of ink stays near the clean line's.
                if (
                    line.reason is None
                    and 0.75 < line.width / clean.shape[1] < 1.35
                    and (line.image > 0.5).sum() < 1.6 * (clean > 0.5).sum()
                ):
                    return line.image
            except Exception:  # a photo that fails to read trains nothing; use clean ink
                pass
        return clean

    def empty_field(self, rng: np.random.Generator, max_width: int = 1024) -> np.ndarray:
        """A photographed field with nothing written in it, 4-16 digit heights wide, through
        the reader's whole preprocessing: what is left of the paper, light and print (a
        blank line where nothing is)."""
        if self.photograph is None:
            raise ValueError("an empty field is photographed: this generator has no photograph")
        width = int(rng.integers(4, 17)) * 2 * INK_HEIGHT_PX
        paper = np.zeros((1, 2 * CANVAS_ROWS, width), np.float32)
        photo = np.asarray(self.photograph(paper, rng))[0]
        return prepare_line(photo.astype(np.float32) / 255.0, max_width).image

    def batch(
        self,
        n: int,
        rng: np.random.Generator,
        lengths: np.ndarray | None = None,
        texts: list[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``n`` lines: (images (n, LINE_HEIGHT, W), widths (n,), label strings)."""
        if texts is None:
            texts = self.texts(n, rng, lengths)
            if self.empty:
                texts = ["" if rng.random() < self.empty else t for t in texts]
        lines = [self.line(t, rng) for t in texts]
        widths = np.array([ln.shape[1] for ln in lines], np.int64)
        width = int(-(-widths.max() // STRIDE) * STRIDE)
        out = np.zeros((n, LINE_HEIGHT, width), np.float32)
        for i, ln in enumerate(lines):
            out[i, :, : ln.shape[1]] = ln
        return out, widths, texts


def _ink_end(
    placed: tuple[int, int, np.ndarray], aim: float, rightmost: bool
) -> tuple[float, float] | None:
    """The canvas point (x, y) where a join leaves (``rightmost``) or enters a placed glyph
    (x, y, ink): its rightmost or leftmost ink within JOIN_BAND of the row at ``aim`` (a
    fraction of its height from the top), or of any row where none is there."""
    x0, y0, glyph = placed
    rows, cols = np.nonzero(glyph > 0.3)
    if rows.size == 0:
        return None
    near = np.abs(rows / glyph.shape[0] - aim) < JOIN_BAND
    if near.any():
        rows, cols = rows[near], cols[near]
    i = int(np.argmax(cols) if rightmost else np.argmin(cols))
    return x0 + cols[i] + 0.5, y0 + rows[i] + 0.5


def _join(
    canvas: np.ndarray,
    a: tuple[int, int, np.ndarray],
    b: tuple[int, int, np.ndarray],
    width: float,
    rng: np.random.Generator,
) -> None:
    """Link two neighbouring placed glyphs with a joining stroke, in place: from ``a``'s
    exit (its right side, from the middle down) to ``b``'s left side, climbing at most
    JOIN_RISE of the height and running JOIN_RUN times further than it climbs, sagging a
    little like a pen's cup-shaped join. Digits that touch or stand too close get none."""
    leave = rng.uniform(0.45, 1.0)
    exit_ = _ink_end(a, leave, rightmost=True)
    entry = _ink_end(b, max(0.2, leave - rng.uniform(0.0, JOIN_RISE)), rightmost=False)
    if exit_ is None or entry is None:
        return
    run, climb = entry[0] - exit_[0], abs(entry[1] - exit_[1])
    if run < 2.0 or run < JOIN_RUN * climb:
        return
    p0, p2 = np.array(exit_), np.array(entry)
    sag = rng.uniform(-0.1, 0.3) * INK_HEIGHT_PX  # down: a cup; a little up: an arch
    p1 = (p0 + p2) / 2 + np.array([0.0, sag])
    t = np.linspace(0.0, 1.0, 8)[:, None]
    curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
    _stroke(canvas, curve.astype(np.float32), width * rng.uniform(0.7, 1.0))


def _pen_weight(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vary the stroke weight: real pens are bolder or finer than MNIST's, and the reader
    sees them at the line's scale, not normalized per digit."""
    r = rng.random()
    if r < 0.2:  # bolder: a 2x2 max filter adds about a pixel
        out = canvas.copy()
        np.maximum(out[1:], canvas[:-1], out=out[1:])
        np.maximum(out[:, 1:], out[:, :-1].copy(), out=out[:, 1:])
        return out
    if r < 0.4:  # finer: a partial 2x2 min filter shaves the stroke's edges
        eroded = canvas.copy()
        np.minimum(eroded[1:], canvas[:-1], out=eroded[1:])
        np.minimum(eroded[:, 1:], eroded[:, :-1].copy(), out=eroded[:, 1:])
        return np.maximum(eroded, canvas * rng.uniform(0.3, 0.7)).astype(np.float32)
    return canvas


def slant(canvas: np.ndarray, shear: float) -> np.ndarray:
    """Shear rows horizontally by ``shear`` x (distance from the middle row): italic writing
    (top rows lean right for a positive shear), widened to keep it whole."""
    if abs(shear) < 1e-3:
        return canvas
    h = canvas.shape[0]
    return shear_ink(canvas, -shear, h / 2, int(np.ceil(abs(shear) * h / 2)) + 1)


def digit_count(text: str) -> int:
    """How many digits a label holds."""
    return sum(c.isdigit() for c in text)
