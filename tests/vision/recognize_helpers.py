"""Shared helpers of the recognition tests: synthetic drawings and MNIST-derived inputs."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw


def png_bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def draw_strokes(
    points: list[tuple[float, float]],
    width: float,
    size: int = 200,
    scale: float = 1.0,
    offset: tuple[int, int] = (0, 0),
    canvas: tuple[int, int] | None = None,
) -> np.ndarray:
    """Black polyline on a white canvas: points in [0, 1]^2 of a size x size square, drawn
    at ``scale``, shifted by ``offset``, on a canvas (W, H) (default the square)."""
    w, h = canvas or (int(size * scale), int(size * scale))
    pts = [(round(x * size * scale), round(y * size * scale)) for x, y in points]
    # Drawn at the origin, then moved as pixels: PIL's wide lines are not rasterized the
    # same at every position (a pixel more or less), and a translated drawing must be the
    # same pixels, moved.
    reach = int(max(max(p) for p in pts) + width * scale + 2)
    drawing = Image.new("L", (max(w, reach), max(h, reach)), 255)
    d = ImageDraw.Draw(drawing)
    d.line(pts, fill=0, width=max(1, int(round(width * scale))), joint="curve")
    img = Image.new("L", (w, h), 255)
    img.paste(drawing, offset)
    return np.asarray(img, np.float32) / 255.0


def paste(
    digit: np.ndarray,
    canvas: tuple[int, int],
    at: tuple[int, int],
    zoom: int = 1,
) -> np.ndarray:
    """An MNIST digit (uint8 28x28, white on black), upscaled ``zoom`` times (bilinear),
    pasted white-on-black into a black canvas (H, W) at (y, x)."""
    img = Image.fromarray(digit)
    if zoom != 1:
        img = img.resize((28 * zoom, 28 * zoom), Image.BILINEAR)
    a = np.asarray(img, np.float32) / 255.0
    out = np.zeros(canvas, np.float32)
    y, x = at
    out[y : y + a.shape[0], x : x + a.shape[1]] = a
    return out


def thicken(digit: np.ndarray, r: int = 1) -> np.ndarray:
    """Dilate a digit's strokes by ``r`` pixels (a thick brush)."""
    a = digit.astype(np.float32)
    for _ in range(r):
        p = np.pad(a, 1)
        a = np.max([p[dy : dy + 28, dx : dx + 28] for dy in range(3) for dx in range(3)], axis=0)
    return a


def make_strip(
    digits: np.ndarray, rng: np.random.Generator, gap: tuple[int, int] = (-8, 8), jitter: int = 4
) -> np.ndarray:
    """Concatenate 28x28 MNIST digits (uint8) left to right with random gaps between their
    frames (negative: the frames overlap, ink may touch) and vertical jitter; ink combined
    by maximum, white on black, float in [0, 1]."""
    n = len(digits)
    gaps = rng.integers(gap[0], gap[1] + 1, size=n - 1)
    xs = np.concatenate([[8], 8 + np.cumsum(28 + gaps)])
    ys = 8 + rng.integers(-jitter, jitter + 1, size=n) + jitter
    out = np.zeros((28 + 16 + 2 * jitter, int(xs[-1]) + 28 + 8), np.float32)
    for d, x, y in zip(digits, xs, ys, strict=True):
        region = out[y : y + 28, x : x + 28]
        np.maximum(region, d.astype(np.float32) / 255.0, out=region)
    return out


def blurred(ink: np.ndarray, sigma: float) -> np.ndarray:
    """An (H, W) image through a camera's blur: a separable Gaussian, edges repeated."""
    r = int(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    out = np.apply_along_axis(np.convolve, 0, np.pad(ink, r, mode="edge"), k, "valid")
    return np.apply_along_axis(np.convolve, 1, out, k, "valid").astype(np.float32)


def segment(ink: np.ndarray, p: tuple[float, float], q: tuple[float, float], width: float):
    """Draw a straight segment p -> q (x, y) of the given width into ``ink`` (H, W)."""
    h, w = ink.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    (px, py), (qx, qy) = p, q
    dx, dy = qx - px, qy - py
    t = np.clip(((xs - px) * dx + (ys - py) * dy) / max(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
    dist = np.hypot(xs - (px + t * dx), ys - (py + t * dy))
    np.maximum(ink, np.clip(width / 2 + 0.5 - dist, 0.0, 1.0), out=ink)
