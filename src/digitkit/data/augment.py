"""Batched random augmentation of image arrays: affine (rotation, shift, shear, zoom),
elastic distortion and stroke-width change, all vectorized over the batch.

Works on NumPy arrays so that both engines share it: the torch trainer converts the result
with ``torch.from_numpy``, the NumPy engine uses it directly. There is no per-sample or
per-pixel Python loop: each batch is one set of array operations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random transforms; each sample is transformed with probability ``p``.

    rotation and shear in degrees (uniform in +-value), shift as a fraction of the image side
    (uniform in +-value), zoom as a fraction (scale uniform in 1 +- value, per axis unless
    ``zoom_uniform``). ``elastic_alpha`` > 0 adds Simard-style elastic distortion (pixels of
    displacement) smoothed with a Gaussian of ``elastic_sigma``. ``stroke_p`` is the probability
    of thickening or thinning the strokes by one pixel (drawn digits vary in pen width).
    """

    rotation: float = 0.0
    shift: float = 0.0
    shear: float = 0.0
    zoom: float = 0.0
    zoom_uniform: bool = False
    p: float = 1.0
    elastic_alpha: float = 0.0
    elastic_sigma: float = 4.0
    stroke_p: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.p > 0 and any(
            (self.rotation, self.shift, self.shear, self.zoom, self.elastic_alpha, self.stroke_p)
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, AugmentConfig] = {
    "none": AugmentConfig(),
    "light": AugmentConfig(rotation=10, shift=0.08, zoom=0.08, p=0.9),
    # The Keras zoo's ImageDataGenerator settings (shear 0.2 rad = 11.5 degrees).
    "keras-zoo": AugmentConfig(rotation=15, shift=0.1, shear=11.46, zoom=0.1),
    # An et al. 2020: rotation +-20 degrees, translation +-20 %.
    "simplecnn": AugmentConfig(rotation=20, shift=0.2),
    # RaoulLuque's 0.40 % model: zoom 0.8..1.2, +-25 degrees, +-5 px, with probability 0.8.
    "scratch-cnn4": AugmentConfig(rotation=25, shift=5 / 28, zoom=0.2, zoom_uniform=True, p=0.8),
    # What people draw: position, scale, pen width, slant.
    "drawn": AugmentConfig(rotation=12, shift=0.1, shear=10, zoom=0.12, p=0.9, stroke_p=0.3),
}


def random_affine_inverse(
    n: int, cfg: AugmentConfig, rng: np.random.Generator, size: int = 28
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``n`` affine maps; return their inverses as (n, 2, 2) matrices and (n, 2) offsets
    mapping output pixel coordinates (x, y) to input coordinates. Untransformed samples
    (probability ``1 - p``) get the identity."""
    rad = np.deg2rad
    theta = rad(rng.uniform(-cfg.rotation, cfg.rotation, n))
    shear = rad(rng.uniform(-cfg.shear, cfg.shear, n))
    zx = rng.uniform(1 - cfg.zoom, 1 + cfg.zoom, n)
    zy = zx if cfg.zoom_uniform else rng.uniform(1 - cfg.zoom, 1 + cfg.zoom, n)
    t = rng.uniform(-cfg.shift, cfg.shift, (n, 2)) * size
    keep = rng.random(n) >= cfg.p  # these samples stay as they are
    theta[keep], shear[keep], zx[keep], zy[keep], t[keep] = 0, 0, 1, 1, 0
    c, s = np.cos(theta), np.sin(theta)
    # forward = R(theta) @ Shear(x += tan(shear) * y) @ diag(zx, zy)
    tan = np.tan(shear)
    a, b = c * zx, (c * tan - s) * zy
    d, e = s * zx, (s * tan + c) * zy
    det = a * e - b * d
    inv = np.stack([np.stack([e, -b], -1), np.stack([-d, a], -1)], -2) / det[:, None, None]
    centre = (size - 1) / 2.0
    # x_in = inv @ (x_out - centre - t) + centre  =>  offset = centre - inv @ (centre + t)
    offset = centre - np.einsum("nij,nj->ni", inv, centre + t)
    return inv, offset


def warp_bilinear(
    images: np.ndarray, inv: np.ndarray, offset: np.ndarray, displacement: np.ndarray | None = None
) -> np.ndarray:
    """Resample each image at ``inv @ (x, y) + offset (+ displacement)`` with bilinear
    interpolation, zero outside. images (N, H, W) float32; displacement (N, H, W, 2)."""
    n, h, w = images.shape
    f32 = np.float32
    inv, offset = inv.astype(f32), offset.astype(f32)
    gx = np.arange(w, dtype=f32)[None, None, :]
    gy = np.arange(h, dtype=f32)[None, :, None]
    col = lambda a: a[:, None, None]  # noqa: E731  (n,) -> (n, 1, 1) for broadcasting
    # Source coordinates in a frame padded by one zero pixel, so that clamping any
    # out-of-range coordinate lands on the zero border.
    sx = col(inv[:, 0, 0]) * gx + col(inv[:, 0, 1]) * gy + col(offset[:, 0] + 1)
    sy = col(inv[:, 1, 0]) * gx + col(inv[:, 1, 1]) * gy + col(offset[:, 1] + 1)
    if displacement is not None:
        sx += displacement[..., 0]
        sy += displacement[..., 1]
    np.clip(sx, 0, w + 1, out=sx)
    np.clip(sy, 0, h + 1, out=sy)
    x0 = np.minimum(sx.astype(np.int32), w)  # sx >= 0, so truncation is floor
    y0 = np.minimum(sy.astype(np.int32), h)
    fx, fy = sx - x0.astype(f32), sy - y0.astype(f32)  # stay float32 (int32 would promote)
    wp = w + 2
    padded = np.zeros((n, h + 2, wp), f32)
    padded[:, 1:-1, 1:-1] = images
    flat = padded.reshape(-1)
    idx = y0 * wp + x0
    idx += col(np.arange(n, dtype=np.int32) * ((h + 2) * wp))
    tl, tr = flat.take(idx), flat.take(idx + 1)
    bl, br = flat.take(idx + wp), flat.take(idx + wp + 1)
    top = tl + fx * (tr - tl)
    bottom = bl + fx * (br - bl)
    return top + fy * (bottom - top)


def _gaussian_kernel(sigma: float) -> np.ndarray:
    r = max(1, int(round(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _smooth(field: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur over the last two axes of (..., H, W)."""
    k = _gaussian_kernel(sigma)
    r = len(k) // 2
    pad = [(0, 0)] * (field.ndim - 2)
    out = np.pad(field, [*pad, (0, 0), (r, r)], mode="reflect")
    out = sliding_window_view(out, len(k), axis=-1) @ k
    out = np.pad(out, [*pad, (r, r), (0, 0)], mode="reflect")
    return np.swapaxes(sliding_window_view(np.swapaxes(out, -1, -2), len(k), axis=-1) @ k, -1, -2)


def elastic_displacement(
    n: int, h: int, w: int, alpha: float, sigma: float, rng: np.random.Generator
) -> np.ndarray:
    """Random smooth displacement fields (N, H, W, 2) of typical magnitude ``alpha`` pixels."""
    noise = rng.uniform(-1, 1, (n, 2, h, w)).astype(np.float32)
    field = _smooth(noise, sigma)
    # Rescale so the field's RMS is comparable whatever sigma is.
    field *= alpha / (np.sqrt((field**2).mean()) + 1e-8)
    return np.moveaxis(field, 1, -1)


def _cross_extreme(images: np.ndarray, reduce: np.ufunc) -> np.ndarray:
    """Max or min over each pixel's 3x3 cross neighbourhood (zero outside the image)."""
    p = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    out = reduce(p[:, 1:-1, 1:-1], p[:, :-2, 1:-1])
    for view in (p[:, 2:, 1:-1], p[:, 1:-1, :-2], p[:, 1:-1, 2:]):
        reduce(out, view, out=out)
    return out


def change_stroke(images: np.ndarray, thicken: np.ndarray, thin: np.ndarray) -> np.ndarray:
    """Grey-level dilation (thicken) or erosion (thin) with a 3x3 cross, per selected sample."""
    out = images.copy()
    if thicken.any():
        out[thicken] = _cross_extreme(images[thicken], np.maximum)
    if thin.any():
        # A full erosion erases one-pixel strokes; blend halfway so thin digits survive.
        out[thin] = 0.5 * (images[thin] + _cross_extreme(images[thin], np.minimum))
    return out


def augment_batch(images: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Randomly transform a batch of images (N, H, W) float32 in [0, 1]; returns a new array."""
    x = np.asarray(images, dtype=np.float32)
    if not cfg.enabled or len(x) == 0:
        return x
    n, h, w = x.shape
    if cfg.stroke_p > 0:
        u = rng.random(n)
        chosen = u < cfg.stroke_p * cfg.p
        thicken = chosen & (rng.random(n) < 0.6)
        x = change_stroke(x, thicken, chosen & ~thicken)
    inv, offset = random_affine_inverse(n, cfg, rng, size=h)
    disp = None
    if cfg.elastic_alpha > 0:
        disp = elastic_displacement(n, h, w, cfg.elastic_alpha, cfg.elastic_sigma, rng)
        disp[rng.random(n) >= cfg.p] = 0
    return np.clip(warp_bilinear(x, inv, offset, disp), 0.0, 1.0)
