"""Synthetic context: clean digit ink -> grey 'photos' of it on paper, in a printed box.

Held-out checks on real phone photos of form cells showed the recognizer reading the printed
cell border instead of the digit (a box read as 0, a border line as 1 or 7, at confidence
1.00). MNIST never shows a border, ruled paper, uneven light, blur or JPEG, so this module
renders those around a clean drawing: to train on, and to measure preprocessing against.

:func:`photograph` puts a stack of ink images (an MNIST digit upscaled, a rendered pen
trajectory) on paper, each sample drawing its own random context from :class:`ContextStyle`;
:func:`boxes_only` renders the context alone (an empty cell, a lone border line, a grid
fragment): the NOT-a-digit negatives.

Everything is vectorized over the batch: each effect is drawn for the random subset of
samples that gets it, as whole-array operations on that subset. The only Python loops run
over a few parameter values (blur taps, down-sampling factors, JPEG quality levels: the
JPEG subset is encoded as one tiled picture per level). Its throughput is in
benchmarks/RESULTS.md.

Image model (all float32 in [0, 1] until the final uint8): a *darkness* layer
``1 - (1 - a_box * box) (1 - a_rule * rules) (1 - a_ink * ink)`` (printed marks and ink
absorb light multiplicatively, so a border crossing a stroke is darker than either), then
optionally warped by a mild camera perspective, then lit: ``photo = light * paper *
(1 - darkness) + grain``, then blurred / down-and-up sampled / JPEG-compressed, and for a
few samples inverted (white chalk on a dark board).

Why one module over 400 lines: one job, the image model above; every effect is a step of one
vectorized rendering pipeline (darkness, camera warp, light, degradation) drawn from one
:class:`ContextStyle`, and splitting the steps from the pipeline that orders them would
scatter the model (the warps themselves live in :mod:`digitkit.data.warp`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from digitkit.data.warp import col, homography_warp, interp_matrix, smooth_field

__all__ = ["ContextStyle", "boxes_only", "photograph", "widen"]

# Lengths below are given for a 64 px image and scaled with the image side, so a 128 px
# stack gets the same look (a 2 px border at 64 px is a 4 px border at 128 px).
REF_SIDE = 64.0
# Ink below this counts as background when locating the digit (its box decides where the
# printed border goes): anti-aliased fringes must not widen the box.
INK_PRESENT = 0.2
# JPEG qualities are drawn from this many evenly spaced levels: each level is one encoder
# call over all its images (see _jpeg); 6 levels still span the range.
JPEG_LEVELS = 6


@dataclass(frozen=True)
class ContextStyle:
    """Probabilities and ranges of the context effects; each sample draws its own.

    Probabilities are per sample and independent. Lengths are in pixels of a 64 px image
    (scaled with the image side); offsets are fractions of the side.
    """

    # A printed box/cell around the digit: each side at a random offset from the digit's ink
    # box (negative: the border clips the digit), some sides cut off by the crop, thickness
    # in ``box_thickness``, rotated by up to ``box_skew`` degrees, darker or lighter than ink.
    p_box: float = 0.35
    # Ruled lines (horizontal, sometimes a grid), possibly through the digit.
    p_lines: float = 0.15
    # Paper colour and texture, uneven light (a gradient), sometimes a shadow edge.
    p_paper: float = 0.6
    p_blur: float = 0.3
    p_lowres: float = 0.15  # down then up sampling (a small crop of a big photo)
    p_jpeg: float = 0.15
    p_faint: float = 0.15  # pencil: low contrast, grainy ink
    p_perspective: float = 0.15  # mild camera perspective / rotation of the whole crop
    p_invert: float = 0.03  # light ink on a dark ground (chalkboard, dark-mode canvas)
    # A printed pattern under the writing: a cheque's or a form's security print, families
    # of fine wavy lines ``pattern_period`` apart, at ``pattern_darkness``. Off by default;
    # nothing is drawn from the rng for it then, so other styles' draws stay as they were.
    p_pattern: float = 0.0
    pattern_period: tuple[float, float] = (2.5, 8.0)
    pattern_darkness: tuple[float, float] = (0.1, 0.4)
    # The digit drawn smaller than the frame (a cell bigger than the handwriting), with
    # ``shrink`` the scale range; leaves room for a border inside the frame.
    p_shrink: float = 0.3
    shrink: tuple[float, float] = (0.55, 0.9)
    box_offset: tuple[float, float] = (-0.05, 0.3)
    box_aspect: tuple[float, float] = (0.6, 1.0)  # cell width at least this x digit height
    box_cut: float = 0.2  # probability that one side of a box lies outside the crop
    box_grid: float = 0.4  # probability that border lines run on past the corners (a table)
    box_thickness: tuple[float, float] = (1.0, 4.0)
    box_skew: float = 3.0
    # A form's cell cropped by the user: the left and right walls placed by the frame (each
    # this fraction of the shorter side in from its edge) instead of around the digit, so a
    # cell wider than tall keeps the digit anywhere along it. None: walls around the digit.
    cell_margin: tuple[float, float] | None = None
    box_darkness: tuple[float, float] = (0.3, 1.0)
    ink_darkness: tuple[float, float] = (0.6, 0.97)
    faint_darkness: tuple[float, float] = (0.2, 0.5)
    rule_spacing: tuple[float, float] = (0.25, 0.6)
    rule_darkness: tuple[float, float] = (0.2, 0.7)
    blur_sigma: tuple[float, float] = (0.4, 1.5)
    lowres_factor: tuple[int, int] = (2, 3)
    jpeg_quality: tuple[int, int] = (12, 60)
    perspective: float = 0.06  # corner displacement, fraction of the side
    rotation: float = 6.0  # degrees, whole-crop camera roll with the perspective

    @classmethod
    def box_only(cls) -> ContextStyle:
        """A printed box or cell around every digit and no other effect (no rules, paper,
        light, blur, JPEG, pencil, perspective or inversion): the box's effect alone."""
        return cls(
            p_box=1.0,
            p_lines=0.0,
            p_paper=0.0,
            p_blur=0.0,
            p_lowres=0.0,
            p_jpeg=0.0,
            p_faint=0.0,
            p_perspective=0.0,
            p_invert=0.0,
        )

    @classmethod
    def from_afar(cls) -> ContextStyle:
        """The usual style, always at a low resolution (down and up sampled: a small crop of
        a photo taken from afar). Of the style's effects one at a time, this one costs the
        number reader the most (benchmarks/RESULTS.md, "Photographed number lines, effect
        by effect")."""
        return cls(p_lowres=1.0)

    @classmethod
    def hard_boxes(cls) -> ContextStyle:
        """A printed box around every digit, in the ways the usual style rarely draws one:
        walls up to 8 px thick at 64 px (a bold table, a blurred low-resolution photo), the
        digit often small in its frame with the box close around it, and half the crops
        turned by the camera up to 15 degrees; paper, light, blur, JPEG and pencil at their
        usual rates. Each of the three costs the recognizer far more than the usual boxes
        do (benchmarks/RESULTS.md, "Hard boxes for the route's model")."""
        return cls(
            p_box=1.0,
            box_thickness=(2.0, 8.0),
            p_shrink=0.6,
            shrink=(0.3, 0.9),
            box_offset=(-0.05, 0.15),
            p_perspective=0.5,
            rotation=15.0,
        )


# --------------------------------------------------------------------------- helpers


def _pick(n: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of the samples that get an effect of probability ``p``."""
    return np.flatnonzero(rng.random(n) < p)


def _ink_boxes(ink: np.ndarray) -> np.ndarray:
    """(N, 4) float x0, y0, x1, y1 of each image's ink; the central half when empty."""
    n, h, w = ink.shape
    present = ink > INK_PRESENT
    cols, rows = present.any(axis=1), present.any(axis=2)
    box = np.stack(
        [
            np.argmax(cols, 1),
            np.argmax(rows, 1),
            w - np.argmax(cols[:, ::-1], 1),
            h - np.argmax(rows[:, ::-1], 1),
        ],
        1,
    )
    box = box.astype(np.float32)
    empty = ~cols.any(axis=1)
    box[empty] = [w / 4, h / 4, 3 * w / 4, 3 * h / 4]
    return box


def _scale_about_centre(ink: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Shrink each image's drawing by ``scale`` about the frame centre (bilinear)."""
    k, h, w = ink.shape
    m = np.zeros((k, 3, 3), np.float32)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    m[:, 0, 0] = m[:, 1, 1] = 1 / scale
    m[:, 0, 2] = cx - cx / scale
    m[:, 1, 2] = cy - cy / scale
    m[:, 2, 2] = 1
    return homography_warp(ink, m)


def _coverage(dist: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of a line of half-width ``half`` at distance ``dist``."""
    cov = half + np.float32(0.5) - dist
    np.clip(cov, 0.0, 1.0, out=cov)
    return cov


def _draw_boxes(
    shape: tuple[int, int, int],
    digit: np.ndarray,
    rng: np.random.Generator,
    style: ContextStyle,
    sides: np.ndarray | None = None,
) -> np.ndarray:
    """Coverage (k, H, W) of printed boxes around the digit boxes ``digit`` (k, 4).

    Each side is offset from the digit box by ``box_offset`` x side; ``sides`` (k, 4) bool
    (top, bottom, left, right) forces which are visible, else each is cut by the crop with
    probability ``box_cut`` (at least one stays). Lines end at the box corners or, for a
    table (``box_grid``), run on to the frame edges.
    """
    k, h, w = shape
    side = min(h, w)
    px = side / REF_SIDE
    f32 = np.float32
    off = rng.uniform(*style.box_offset, (k, 4)).astype(f32) * side
    # A cell is sized for any digit: a narrow one (a 1) sits in a cell about as wide as
    # ``box_aspect`` x its height, not in a slot around its own ink.
    x0, x1 = digit[:, 0], digit[:, 2]
    width = np.maximum(x1 - x0, (digit[:, 3] - digit[:, 1]) * rng.uniform(*style.box_aspect, k))
    grow = (width - (x1 - x0)) / 2
    top, bottom = digit[:, 1] - off[:, 0], digit[:, 3] + off[:, 1]
    left, right = x0 - grow - off[:, 2], x1 + grow + off[:, 3]
    if style.cell_margin is not None:
        margin = rng.uniform(*style.cell_margin, (k, 2)).astype(f32) * side
        left, right = margin[:, 0], w - 1 - margin[:, 1]
    if sides is None:
        sides = rng.random((k, 4)) >= style.box_cut
        none = ~sides.any(axis=1)
        sides[none, rng.integers(0, 4, int(none.sum()))] = True
    half = col(rng.uniform(*style.box_thickness, k) * px / 2)
    theta = np.deg2rad(rng.uniform(-style.box_skew, style.box_skew, k)).astype(f32)
    grid = rng.random(k) < style.box_grid
    # Rotate pixel coordinates about the digit centre: (u, v) are the box's own axes.
    cx, cy = (left + right) / 2, (top + bottom) / 2
    c, s = col(np.cos(theta)), col(np.sin(theta))
    dx = np.arange(w, dtype=f32)[None, None, :] - col(cx)
    dy = np.arange(h, dtype=f32)[:, None][None] - col(cy)
    u = c * dx + s * dy
    v = c * dy - s * dx
    big = f32(4 * side)  # a side that is cut, or a table line: effectively unbounded
    lo_u = np.where(grid | ~sides[:, 2], -big, left - cx)
    hi_u = np.where(grid | ~sides[:, 3], big, right - cx)
    lo_v = np.where(grid | ~sides[:, 0], -big, top - cy)
    hi_v = np.where(grid | ~sides[:, 1], big, bottom - cy)
    # Horizontal sides span [lo_u, hi_u] (plus the line's half width, so corners close).
    along_u = _coverage(np.maximum(col(lo_u) - u, u - col(hi_u)), half)
    along_v = _coverage(np.maximum(col(lo_v) - v, v - col(hi_v)), half)
    out = np.zeros(shape, f32)
    far = f32(8 * side)  # a hidden side: its line is drawn far outside the frame
    for j, pos, coord, along in (
        (0, top - cy, v, along_u),
        (1, bottom - cy, v, along_u),
        (2, left - cx, u, along_v),
        (3, right - cx, u, along_v),
    ):
        at = col(np.where(sides[:, j], pos, far))
        np.maximum(out, _coverage(np.abs(coord - at), half) * along, out=out)
    return out


def _draw_rules(
    shape: tuple[int, int, int], rng: np.random.Generator, style: ContextStyle
) -> np.ndarray:
    """Coverage (k, H, W) of ruled paper: parallel horizontal lines, sometimes a grid."""
    k, h, w = shape
    side = min(h, w)
    f32 = np.float32
    spacing = col(rng.uniform(*style.rule_spacing, k) * side)
    phase = col(rng.uniform(0, 1, k)) * spacing
    half = col(rng.uniform(0.5, 2.0, k) * side / REF_SIDE / 2)
    slope = col(np.tan(np.deg2rad(rng.uniform(-2, 2, k))))
    x = np.arange(w, dtype=f32)[None, None, :]
    y = np.arange(h, dtype=f32)[:, None][None]
    # Distance to the nearest rule: the offset from a rule, folded into [0, spacing / 2].
    t = np.mod(y - slope * x - phase, spacing)
    out = _coverage(np.minimum(t, spacing - t), half)
    grid = np.flatnonzero(rng.random(k) < 0.35)
    if grid.size:
        t = np.mod(x + slope[grid] * y - phase[grid], spacing[grid])
        np.maximum(
            out[grid], _coverage(np.minimum(t, spacing[grid] - t), half[grid]), out=out[grid]
        )
    return out


PATTERN_FAMILIES = 4  # at most this many families of lines, each sample 2 or more


def _draw_pattern(
    shape: tuple[int, int, int], rng: np.random.Generator, style: ContextStyle
) -> np.ndarray:
    """Coverage (k, H, W) of a security print: 2-4 families of parallel fine lines, each
    family turned by its own angle and bent by its own slow wave (a guilloche)."""
    k, h, w = shape
    scale = min(h, w) / REF_SIDE
    f32 = np.float32
    x = np.arange(w, dtype=f32)[None, None, :]
    y = np.arange(h, dtype=f32)[:, None][None]
    families = rng.integers(2, PATTERN_FAMILIES + 1, k)
    out = np.zeros(shape, f32)
    for family in range(PATTERN_FAMILIES):
        period = col(rng.uniform(*style.pattern_period, k) * scale)
        angle = col(rng.uniform(0, np.pi, k))
        amplitude = col(rng.uniform(0.3, 1.5, k)) * period
        wavelength = col(rng.uniform(4, 15, k)) * period
        half = col(rng.uniform(0.2, 0.8, k) * scale)
        weight = col(rng.uniform(0.3, 1.0, k) * (family < families))
        cos, sin = np.cos(angle).astype(f32), np.sin(angle).astype(f32)
        across, along = x * cos + y * sin, y * cos - x * sin
        t = np.mod(across + amplitude * np.sin(f32(2 * np.pi) * along / wavelength), period)
        out = 1 - (1 - out) * (1 - weight * _coverage(np.minimum(t, period - t), half))
    return out


def _perspective(
    shape: tuple[int, int, int], rng: np.random.Generator, style: ContextStyle
) -> np.ndarray:
    """Per-sample (k, 3, 3) maps output -> input of a mild camera tilt and roll: the frame's
    corners moved by up to ``perspective`` x side, then rotated by up to ``rotation``."""
    k, h, w = shape
    side = min(h, w)
    src = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    theta = np.deg2rad(rng.uniform(-style.rotation, style.rotation, k))
    jitter = rng.uniform(-style.perspective, style.perspective, (k, 4, 2)) * side
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    c, s = np.cos(theta), np.sin(theta)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (k, 2, 2)
    dst = np.einsum("kij,kpj->kpi", rot, src[None] + jitter - centre) + centre
    # Solve for the map dst -> src (output pixel -> where to read): 8 unknowns, 4 points.
    a = np.zeros((k, 8, 8))
    b = np.zeros((k, 8))
    xs, ys = dst[..., 0], dst[..., 1]
    for p in range(4):  # four corner correspondences, two equations each
        u, v = src[p]
        a[:, 2 * p] = np.stack(
            [
                xs[:, p],
                ys[:, p],
                np.ones(k),
                np.zeros(k),
                np.zeros(k),
                np.zeros(k),
                -u * xs[:, p],
                -u * ys[:, p],
            ],
            -1,
        )
        a[:, 2 * p + 1] = np.stack(
            [
                np.zeros(k),
                np.zeros(k),
                np.zeros(k),
                xs[:, p],
                ys[:, p],
                np.ones(k),
                -v * xs[:, p],
                -v * ys[:, p],
            ],
            -1,
        )
        b[:, 2 * p], b[:, 2 * p + 1] = u, v
    sol = np.linalg.solve(a, b[..., None])[..., 0]
    return np.concatenate([sol, np.ones((k, 1))], axis=1).reshape(k, 3, 3)


def _blur(img: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Separable Gaussian blur with a per-sample ``sigma`` (k,), edges replicated."""
    r = max(1, int(np.ceil(2.5 * float(sigma.max()))))
    taps = np.arange(-r, r + 1, dtype=np.float32)
    kern = np.exp(-0.5 * (taps[None] / sigma[:, None].astype(np.float32)) ** 2)
    kern /= kern.sum(axis=1, keepdims=True)
    out = img
    for axis in (1, 2):
        pad = [(0, 0), (0, 0), (0, 0)]
        pad[axis] = (r, r)
        p = np.pad(out, pad, mode="edge")
        n = out.shape[axis]
        acc = np.zeros_like(out)
        for t in range(2 * r + 1):  # a loop over the kernel's taps, not over samples
            view = p[:, t : t + n] if axis == 1 else p[:, :, t : t + n]
            acc += col(kern[:, t]) * view
        out = acc
    return out


def _lowres(img: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Down- then up-sample each image by its integer ``factor`` (area down, bilinear up)."""
    out = img.copy()
    k, h, w = img.shape
    for f in np.unique(factor):  # a loop over the few factors, each one batched
        sel = np.flatnonzero(factor == f)
        hs, ws = max(2, int(round(h / f))), max(2, int(round(w / f)))
        # One (H, H) and one (W, W) matrix per factor: area average down, bilinear up.
        my = interp_matrix(hs, h) @ _area(h, hs)
        mx = interp_matrix(ws, w) @ _area(w, ws)
        out[sel] = my @ img[sel] @ mx.T
    return out


def _area(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) area-averaging (box filter) resampling matrix."""
    edges = np.linspace(0, n_in, n_out + 1)
    lo = np.maximum(edges[:-1, None], np.arange(n_in)[None])
    hi = np.minimum(edges[1:, None], np.arange(n_in)[None] + 1)
    wgt = np.maximum(0, hi - lo)
    return (wgt / wgt.sum(axis=1, keepdims=True)).astype(np.float32)


def _jpeg(img: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """JPEG round trip of each uint8 image (k, H, W) at its ``quality``.

    JPEG codes 8x8 blocks independently (greyscale: no chroma subsampling; the DC
    prediction is lossless), so images padded to a multiple of 8 and tiled side by side in
    one picture come back exactly as if encoded one by one. One Pillow call per distinct
    quality instead of one per image: several times faster on 64 px crops
    (benchmarks/RESULTS.md).
    """
    k, h, w = img.shape
    ph, pw = -h % 8, -w % 8
    tiles = np.pad(img, ((0, 0), (0, ph), (0, pw)), mode="edge")
    th, tw = h + ph, w + pw
    out = np.empty_like(img)
    for q in np.unique(quality):  # a loop over a few quality levels, not over samples
        sel = np.flatnonzero(quality == q)
        # Stacked vertically: (m * th, tw), one image per band of rows.
        strip = np.ascontiguousarray(tiles[sel].reshape(sel.size * th, tw))
        buf = io.BytesIO()
        Image.fromarray(strip).save(buf, format="JPEG", quality=int(q))
        buf.seek(0)
        back = np.asarray(Image.open(buf).convert("L")).reshape(sel.size, th, tw)
        out[sel] = back[:, :h, :w]
    return out


# --------------------------------------------------------------------------- rendering


def _render(
    ink: np.ndarray,
    rng: np.random.Generator,
    style: ContextStyle,
    box: np.ndarray,
    rules: np.ndarray,
    sides: np.ndarray | None = None,
    digit: np.ndarray | None = None,
) -> np.ndarray:
    """The shared pipeline: ``box`` / ``rules`` are the indices of the samples that get a
    printed box / ruled lines; ``sides`` forces the boxes' visible sides and ``digit`` the
    rectangles they surround (default: each image's ink box)."""
    # Per-sample draws, all taken in a fixed order so a seeded rng reproduces the batch: each
    # step below draws its own values, and the steps run in this order.
    ink, darkness = _ink_darkness(ink, rng, style)
    # Printed marks multiply in: reflectance r = (1 - d_ink)(1 - d_box)(1 - d_rules).
    if box.size:
        around = _ink_boxes(ink[box]) if digit is None else digit
        _add_box(darkness, box, around, rng, style, sides)
    if rules.size:
        _add_rules(darkness, rules, rng, style)
    if style.p_pattern > 0:
        _add_pattern(darkness, _pick(len(darkness), style.p_pattern, rng), rng, style)
    _tilt_camera(darkness, rng, style)
    photo = _light(darkness, rng, style)
    _degrade(photo, rng, style)
    out = np.clip(photo * 255 + 0.5, 0, 255).astype(np.uint8)
    _compress(out, rng, style)
    return out


def _ink_darkness(
    ink: np.ndarray, rng: np.random.Generator, style: ContextStyle
) -> tuple[np.ndarray, np.ndarray]:
    """The ink as drawn (some samples shrunk, some in grainy pencil) and its darkness layer,
    each sample's ink at its own darkness (fainter for pencil)."""
    n, h, w = ink.shape
    f32 = np.float32
    ink = np.array(ink, dtype=f32, copy=True)
    shrink = _pick(n, style.p_shrink, rng)
    faint = rng.random(n) < style.p_faint
    a_ink = np.where(
        faint, rng.uniform(*style.faint_darkness, n), rng.uniform(*style.ink_darkness, n)
    ).astype(f32)
    if shrink.size:
        ink[shrink] = _scale_about_centre(ink[shrink], rng.uniform(*style.shrink, shrink.size))
    fi = np.flatnonzero(faint)
    if fi.size:
        # Pencil: graphite leaves grains, so the stroke's coverage is broken up.
        grain = rng.random((fi.size, h, w), dtype=f32)
        ink[fi] *= np.float32(0.35) + np.float32(0.65) * grain
    return ink, ink * col(a_ink)


def _add_box(
    darkness: np.ndarray,
    box: np.ndarray,
    around: np.ndarray,
    rng: np.random.Generator,
    style: ContextStyle,
    sides: np.ndarray | None,
) -> None:
    """Multiply a printed box around the rectangles ``around`` into the samples ``box``."""
    _, h, w = darkness.shape
    _print_into(
        darkness,
        box,
        _draw_boxes((box.size, h, w), around, rng, style, sides),
        style.box_darkness,
        rng,
    )


def _add_rules(
    darkness: np.ndarray, rules: np.ndarray, rng: np.random.Generator, style: ContextStyle
) -> None:
    """Multiply ruled lines into the samples ``rules``."""
    _, h, w = darkness.shape
    _print_into(
        darkness, rules, _draw_rules((rules.size, h, w), rng, style), style.rule_darkness, rng
    )


def _add_pattern(
    darkness: np.ndarray, picked: np.ndarray, rng: np.random.Generator, style: ContextStyle
) -> None:
    """Multiply a printed security pattern into the samples ``picked``."""
    if picked.size:
        _, h, w = darkness.shape
        coverage = _draw_pattern((picked.size, h, w), rng, style)
        _print_into(darkness, picked, coverage, style.pattern_darkness, rng)


def _print_into(
    darkness: np.ndarray,
    picked: np.ndarray,
    coverage: np.ndarray,
    darkness_range: tuple[float, float],
    rng: np.random.Generator,
) -> None:
    """Multiply printed marks (``coverage``, one image per sample of ``picked``), each
    sample's at its own darkness drawn from ``darkness_range``, into ``darkness``: marks
    absorb light multiplicatively, so print crossing ink is darker than either."""
    coverage *= col(rng.uniform(*darkness_range, picked.size))
    darkness[picked] = 1 - (1 - darkness[picked]) * (1 - coverage)


def _tilt_camera(darkness: np.ndarray, rng: np.random.Generator, style: ContextStyle) -> None:
    """Warp a ``p_perspective`` share of the samples by a mild camera perspective, in place."""
    n, h, w = darkness.shape
    persp = _pick(n, style.p_perspective, rng)
    if persp.size:
        darkness[persp] = homography_warp(
            darkness[persp], _perspective((persp.size, h, w), rng, style)
        )


def _light(darkness: np.ndarray, rng: np.random.Generator, style: ContextStyle) -> np.ndarray:
    """The lit photo: every sample has a paper white level; p_paper adds texture, a gradient
    of the light across the crop, sometimes a shadow edge, and sensor grain."""
    n, h, w = darkness.shape
    paper = rng.uniform(0.72, 0.98, n).astype(np.float32)
    photo = (1 - darkness) * col(paper)
    pp = _pick(n, style.p_paper, rng)
    if pp.size:
        light = _uneven_light(pp.size, h, w, rng)
        grain = _sensor_grain(pp.size, h, w, rng)
        photo[pp] = photo[pp] * light + grain
    return photo


def _uneven_light(k: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """(k, H, W) light factors: a gradient across the crop, paper texture, sometimes a shadow."""
    yy = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None][None]
    xx = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, None, :]
    ang = rng.uniform(0, 2 * np.pi, k)
    slope = rng.uniform(0, 0.35, k)  # light change across the crop, up to +-17 %
    light = 1 + col(slope * np.cos(ang)) * xx + col(slope * np.sin(ang)) * yy
    texture = smooth_field(k, h, w, 6, rng) * col(rng.uniform(0, 0.04, k))
    light += texture
    # A shadow: a soft half-plane (hand or phone) darkening part of the crop.
    shadow = np.flatnonzero(rng.random(k) < 0.2)
    if shadow.size:
        sa = rng.uniform(0, 2 * np.pi, shadow.size)
        dist = (
            col(np.cos(sa)) * xx + col(np.sin(sa)) * yy - col(rng.uniform(-0.2, 0.5, shadow.size))
        )
        soft = col(rng.uniform(0.05, 0.25, shadow.size))  # penumbra, x side
        edge = np.clip(dist / soft + 0.5, 0, 1)
        light[shadow] *= 1 - edge * col(rng.uniform(0.1, 0.35, shadow.size))
    return light


def _sensor_grain(k: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """(k, H, W) additive sensor noise, each sample at its own strength."""
    f32 = np.float32
    # Uniform bytes (cheaper to draw than normals, looks the same at this amplitude), centred
    # and scaled to a standard deviation up to 0.035.
    grain = rng.integers(0, 256, (k, h, w), dtype=np.uint8).astype(f32)
    grain -= f32(127.5)
    grain *= col(rng.uniform(0.0, 0.035, k) / 73.9)  # 73.9: sd of uniform bytes
    return grain


def _degrade(photo: np.ndarray, rng: np.random.Generator, style: ContextStyle) -> None:
    """Blur, lower the resolution of and invert the samples drawn for each, in place."""
    n, h, w = photo.shape
    px = min(h, w) / REF_SIDE
    bl = _pick(n, style.p_blur, rng)
    if bl.size:
        photo[bl] = _blur(photo[bl], rng.uniform(*style.blur_sigma, bl.size) * px)
    lr = _pick(n, style.p_lowres, rng)
    if lr.size:
        lo, hi = style.lowres_factor
        factor = np.maximum(1, np.round(rng.integers(lo, hi + 1, lr.size) * px)).astype(int)
        photo[lr] = _lowres(photo[lr], factor)
    inv = _pick(n, style.p_invert, rng)
    if inv.size:
        photo[inv] = 1 - photo[inv]


def _compress(out: np.ndarray, rng: np.random.Generator, style: ContextStyle) -> None:
    """JPEG round trip of a ``p_jpeg`` share of the uint8 photos, in place."""
    jp = _pick(len(out), style.p_jpeg, rng)
    if jp.size:
        # Qualities drawn on a grid of JPEG_LEVELS values, so each level is one encoding.
        lo, hi = style.jpeg_quality
        levels = np.unique(np.linspace(lo, hi, JPEG_LEVELS).round().astype(int))
        out[jp] = _jpeg(out[jp], rng.choice(levels, jp.size))


def photograph(
    ink: np.ndarray, rng: np.random.Generator, style: ContextStyle = ContextStyle()
) -> np.ndarray:
    """Grey 'photos' of clean ink on paper, each with its own random context.

    ``ink``: float32 (N, H, W) in [0, 1], 1 = ink (an MNIST digit upscaled, a rendered pen
    trajectory), any size (64 x 64 is the main case). Returns uint8 (N, H, W): dark ink on
    light paper (a ``p_invert`` fraction inverted), with a printed box, ruled lines, uneven
    light, blur, low resolution, JPEG, pencil, camera perspective, each drawn per sample
    with the probabilities of ``style``. The ink is never moved except by the perspective
    and shrink effects, which move it about the frame centre. Deterministic for a seeded rng.
    """
    ink = np.asarray(ink, np.float32)
    if ink.ndim != 3:
        raise ValueError(f"ink must be (N, H, W), got shape {ink.shape}")
    n = len(ink)
    box = _pick(n, style.p_box, rng)
    rules = _pick(n, style.p_lines, rng)
    return _render(ink, rng, style, box, rules)


def widen(ink: np.ndarray, width: int, rng: np.random.Generator) -> np.ndarray:
    """Ink frames (N, H, W0) placed at random x in wider (N, H, ``width``) frames: the frames
    for cells wider than tall (photographed with ``ContextStyle.cell_margin``)."""
    n, h, w0 = ink.shape
    if width < w0:
        raise ValueError(f"width {width} is narrower than the frames ({w0})")
    shift = rng.integers(0, width - w0 + 1, n)
    src = np.arange(width)[None, :] - shift[:, None]  # (N, width): the source column
    inside = (src >= 0) & (src < w0)
    cols = np.clip(src, 0, w0 - 1)
    out = np.take_along_axis(ink, np.broadcast_to(cols[:, None, :], (n, h, width)), axis=2)
    return np.where(inside[:, None, :], out, np.float32(0)).astype(np.float32)


def boxes_only(
    n: int, size: int, rng: np.random.Generator, style: ContextStyle = ContextStyle()
) -> np.ndarray:
    """uint8 (n, size, size) photos with no digit: an empty printed box/cell (half), a lone
    border line (a quarter), a grid or ruled fragment (a quarter), in the same paper, light
    and camera effects as :func:`photograph`: negatives for a not-a-digit class."""
    kind = rng.choice(3, size=n, p=[0.5, 0.25, 0.25])
    ink = np.zeros((n, size, size), np.float32)
    box = np.flatnonzero(kind < 2)
    sides = rng.random((box.size, 4)) >= style.box_cut
    lone = kind[box] == 1
    sides[lone] = False
    sides[lone, rng.integers(0, 4, int(lone.sum()))] = True
    none = ~sides.any(axis=1)
    sides[none, 0] = True
    rules = np.flatnonzero(kind == 2)
    # The "digit" the box is placed around: a random central rectangle, kept far enough
    # inside the frame that every visible side (offset at most box_offset[1]) is in view.
    centre = rng.uniform(0.4, 0.6, (box.size, 2)) * size
    half = rng.uniform(0.1, 0.35, (box.size, 2)) * size
    margin = (0.04 + max(0.0, style.box_offset[1])) * size
    lo = np.maximum(centre - half, margin)
    hi = np.minimum(centre + half, size - margin)
    digit = np.concatenate([lo, np.maximum(hi, lo + 1)], axis=1).astype(np.float32)
    return _render(ink, rng, style, box, rules, sides, digit)
