"""Draw pen trajectories onto canvases, like a person drawing with a round pen.

Vectorized over the batch: the only Python loop is over the P-1 segments of the (resampled)
trajectories, and each iteration updates every sample of a chunk at once. Each segment only
touches a small window of each canvas around it (the window of the widest segment at that
index in the chunk), which is what makes this fast: at 64x64 with the default style a window
is about 16x16 pixels, a sixteenth of the canvas.

Coordinates: ``rasterize`` takes pixel coordinates, x = column and y = row growing downward;
pixel (r, c) covers [c, c+1) x [r, r+1), so its centre is (c + 0.5, r + 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from digitkit.data.pen import PenSet
from digitkit.errors import DigitkitError

__all__ = ["PenStyle", "bend", "jitter", "mnist_canvases", "rasterize", "render"]

_CHUNK_BYTES = 64 * 2**20  # at most this much canvas memory per chunk (float32 distances)
_CHUNK_SAMPLES = 128  # smaller chunks stay in cache: faster than 1,024 (benchmarks/RESULTS.md)


@dataclass(frozen=True)
class PenStyle:
    """Ranges of the per-sample random variation of :func:`render` (uniform unless noted).

    ``size``: the digit's longer side as a fraction of the canvas. ``width``: pen width as a
    fraction of the digit's longer side (MNIST's median stroke is about 0.1, rarely above
    0.18). ``rotate_deg``: rotation in +-degrees. ``slant``: shear ``x += slant * y`` with
    slant in +-value. ``aspect``: log of the x/y scale ratio in +-value. ``shift``: offset of
    the centre as a fraction of the canvas in +-value (clipped so the digit stays on the
    canvas). ``wobble``: standard deviation of per-point gaussian noise, relative to the
    digit's size (speed jitter, hand tremor). ``bend``: the largest displacement of a smooth
    random field that moves every point (see :func:`bend`), relative to the digit's size;
    0 (the default) leaves shapes as written.
    """

    size: tuple[float, float] = (0.55, 0.85)
    width: tuple[float, float] = (0.06, 0.16)
    rotate_deg: float = 10.0
    slant: float = 0.25
    aspect: float = 0.15
    shift: float = 0.12
    wobble: float = 0.01
    bend: float = 0.0


#: Sine waves per axis in :func:`bend`'s field, and their frequency's spread in cycles per
#: digit size: most periods are longer than the digit, so a loop grows or shrinks, a stroke
#: lengthens or curves, but no stroke folds back on itself.
BEND_WAVES = 3
BEND_FREQUENCY = 0.8


def bend(points: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Move every point of each sample by a smooth random field: another hand's proportions.

    An affine jitter changes a digit's pose; a writer also changes its proportions (a larger
    upper loop, a longer tail, a rounder bowl). The field is a sum of :data:`BEND_WAVES` sine
    waves per axis with random low frequencies, directions and phases, scaled so a sample's
    largest possible displacement is a uniform draw in [0, ``amount``] of its size. ``points``
    (N, P, 2) normalized as in :class:`~digitkit.data.pen.PenSet`; returns float64 (N, P, 2).
    """
    pts = np.asarray(points, np.float64)
    n = len(pts)
    freq = rng.normal(0.0, BEND_FREQUENCY, (n, BEND_WAVES, 2, 2))  # sample, wave, out, in
    phase = rng.uniform(0.0, 2 * np.pi, (n, 1, BEND_WAVES, 2))
    scale = rng.uniform(0.0, amount, n) / BEND_WAVES
    waves = np.sin(2 * np.pi * np.einsum("nkoi,npi->npko", freq, pts) + phase)
    return pts + waves.sum(axis=2) * scale[:, None, None]


def jitter(
    points: np.ndarray, rng: np.random.Generator, style: PenStyle = PenStyle()
) -> np.ndarray:
    """A random affine transform and wobble per sample, vectorized over the batch.

    ``points`` (N, P, 2) normalized as in :class:`~digitkit.data.pen.PenSet`. Bends each
    sample's shape when ``style.bend`` is set (:func:`bend`), adds gaussian wobble, then
    stretches x/y (aspect), shears (slant) and rotates each sample, and normalizes the result
    again (box longer side 1, centred at 0) so that :func:`render`'s ``size`` stays the
    digit's size. Returns float32 (N, P, 2).
    """
    pts = np.asarray(points, np.float64)
    n = len(pts)
    if style.bend > 0:
        pts = bend(pts, rng, style.bend)
    if style.wobble > 0:
        pts = pts + rng.normal(0.0, style.wobble, pts.shape)
    half_log = rng.uniform(-style.aspect, style.aspect, n) / 2
    sx, sy = np.exp(half_log), np.exp(-half_log)  # area-preserving x/y stretch
    shear = rng.uniform(-style.slant, style.slant, n)
    theta = np.deg2rad(rng.uniform(-style.rotate_deg, style.rotate_deg, n))
    cos, sin = np.cos(theta), np.sin(theta)
    # matrix = rotation @ shear @ stretch, written out per element for the whole batch
    m = np.empty((n, 2, 2))
    m[:, 0, 0] = cos * sx
    m[:, 0, 1] = (cos * shear - sin) * sy
    m[:, 1, 0] = sin * sx
    m[:, 1, 1] = (sin * shear + cos) * sy
    out = np.einsum("nij,npj->npi", m, pts)
    return _normalize(out).astype(np.float32)


def _normalize(pts: np.ndarray) -> np.ndarray:
    lo, hi = pts.min(axis=1), pts.max(axis=1)
    side = np.maximum((hi - lo).max(axis=1), 1e-9)
    return (pts - ((lo + hi) / 2)[:, None, :]) / side[:, None, None]


def rasterize(
    points: np.ndarray, pen_down: np.ndarray, size: int, width_px: np.ndarray | float
) -> np.ndarray:
    """Draw polylines with a round, anti-aliased pen; float32 (N, size, size) ink in [0, 1].

    ``points`` (N, P, 2) in pixel coordinates (see the module docstring), ``pen_down``
    bool (N, P-1) marks the drawn segments, ``width_px`` is the pen width in pixels (one
    number or one per sample). A pixel's ink is ``clip(width/2 - d + 0.5, 0, 1)`` where d is
    the distance from its centre to the nearest drawn segment (a capsule per segment).
    """
    points = np.asarray(points, np.float32)
    pen_down = np.asarray(pen_down, bool)
    if points.ndim != 3 or points.shape[2] != 2 or points.shape[1] < 2:
        raise DigitkitError(f"points must be (N, P >= 2, 2), got shape {points.shape}")
    n, p = points.shape[:2]
    if pen_down.shape != (n, p - 1):
        raise DigitkitError(f"pen_down must be {(n, p - 1)}, got {pen_down.shape}")
    if not isinstance(size, int | np.integer) or size < 1:
        raise DigitkitError(f"size must be a positive integer, got {size!r}")
    radius = np.broadcast_to(np.asarray(width_px, np.float32) / 2, (n,))
    if not (np.all(np.isfinite(points)) and np.all(np.isfinite(radius)) and np.all(radius >= 0)):
        raise DigitkitError("points and width_px must be finite, width_px >= 0")
    out = np.empty((n, size, size), np.float32)
    chunk = max(1, min(_CHUNK_SAMPLES, _CHUNK_BYTES // (4 * size * size)))
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        d2 = _min_dist2(points[part], pen_down[part], size, radius[part])
        # ink = clip(r + 0.5 - d, 0, 1), computed in place on the chunk's distances
        np.sqrt(d2, out=d2)
        np.subtract((radius[part] + 0.5)[:, None, None], d2, out=d2)
        np.clip(d2, 0.0, 1.0, out=out[part])
    return out


def _min_dist2(points: np.ndarray, pen_down: np.ndarray, size: int, radius: np.ndarray):
    """Squared distance from every pixel centre to the nearest drawn segment, (n, size, size)."""
    n = len(points)
    far = np.float32(4 * size * size + 1)  # farther than any pixel from anything in reach
    d2 = np.full((n, size, size), far, np.float32)
    reach = radius + 1.0  # ink reaches d < r + 0.5; one more pixel of margin for rounding
    for k in range(points.shape[1] - 1):
        idx = np.flatnonzero(pen_down[:, k])
        if idx.size == 0:
            continue
        a, b, r = points[idx, k], points[idx, k + 1], reach[idx]
        lo, hi = np.minimum(a, b) - r[:, None], np.maximum(a, b) + r[:, None]
        # One window size for all samples at this k (so the windows stack into one array);
        # each sample's window starts at its own corner, kept inside the canvas. A window cut
        # by the border still covers all of the segment's ink that lies on the canvas.
        wh = np.minimum(np.ceil((hi - lo).max(axis=0)).astype(int) + 2, size)
        corner = np.clip(np.floor(lo).astype(int), 0, size - wh)
        w, h = int(wh[0]), int(wh[1])
        c0, r0 = corner[:, 0], corner[:, 1]
        view = sliding_window_view(d2, (h, w), axis=(1, 2), writeable=True)
        window = view[idx, r0, c0]  # copy (m, h, w)
        # Pixel centres relative to a; t = projection onto the segment, clamped to [0, 1].
        dx, dy = (b - a)[:, 0], (b - a)[:, 1]
        inv = 1.0 / np.maximum(dx * dx + dy * dy, np.float32(1e-12))
        px = (c0[:, None] + np.arange(w, dtype=np.float32) + 0.5) - a[:, :1]
        py = (r0[:, None] + np.arange(h, dtype=np.float32) + 0.5) - a[:, 1:]
        t = np.add((py * (dy * inv)[:, None])[:, :, None], (px * (dx * inv)[:, None])[:, None, :])
        np.clip(t, 0.0, 1.0, out=t)
        ex = np.multiply(t, dx[:, None, None])
        np.subtract(px[:, None, :], ex, out=ex)
        np.square(ex, out=ex)
        np.multiply(t, dy[:, None, None], out=t)
        np.subtract(py[:, :, None], t, out=t)
        np.square(t, out=t)
        ex += t
        np.minimum(window, ex, out=window)
        view[idx, r0, c0] = window
    return d2


def render(
    pen: PenSet | tuple[np.ndarray, np.ndarray],
    size: int = 64,
    rng: np.random.Generator | int | None = None,
    style: PenStyle = PenStyle(),
) -> np.ndarray:
    """Draw pen samples as canvas images: float32 (N, size, size) in [0, 1], 1 = ink.

    ``pen`` is a :class:`~digitkit.data.pen.PenSet` or a ``(points, pen_down)`` pair in its
    normalized coordinates. With ``rng`` (a Generator or a seed) every sample gets its own
    random size, pen width, shift, rotation, slant, aspect and wobble from ``style``; with
    ``rng=None`` the drawing is plain: centred, the middle of the size and width ranges, no
    jitter.
    """
    points, pen_down = (pen.points, pen.pen_down) if isinstance(pen, PenSet) else pen
    points = np.asarray(points, np.float32)
    if points.ndim != 3 or points.shape[2] != 2:
        raise DigitkitError(f"points must be (N, P, 2), got shape {points.shape}")
    n = len(points)
    if rng is None:
        digit = np.full(n, np.mean(style.size) * size)
        width = np.mean(style.width) * digit
        offset = np.zeros((n, 2))
    else:
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        points = jitter(points, rng, style)
        digit = rng.uniform(*style.size, n) * size
        width = rng.uniform(*style.width, n) * digit
        # Keep the digit and its pen (plus the anti-aliasing pixel) on the canvas: a person
        # rarely draws off the edge.
        room = np.maximum((size - digit - width - 2) / 2, 0.0)[:, None]
        offset = np.clip(rng.uniform(-style.shift, style.shift, (n, 2)) * size, -room, room)
    pixels = points * digit[:, None, None] + (size / 2 + offset)[:, None, :]
    return rasterize(pixels, pen_down, size, width)


def mnist_canvases(digits: np.ndarray, side: int) -> np.ndarray:
    """MNIST digits (N, 28, 28, white on black) as sharp black-on-white canvases: each scaled
    up to ``side`` px and cut at half ink, so its strokes look drawn (preprocessing marks it
    ``drawn``) while its shape stays the MNIST writer's. What a drawing in an American
    hand looks like to the recognizer's path for drawings."""
    from PIL import Image

    big = np.stack(
        [np.asarray(Image.fromarray(d).resize((side, side), Image.BILINEAR)) for d in digits]
    )
    return np.where(big >= 128, 0, 255).astype(np.uint8)
