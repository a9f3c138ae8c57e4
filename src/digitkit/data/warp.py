"""Batched image warps for synthetic data: a per-sample bilinear remap, projective warps on
top of it, and smooth random fields (uneven light, elastic distortion).

Everything works on float32 stacks (k, H, W) with per-sample parameters, as whole-array
operations: no loop over samples.
"""

from __future__ import annotations

import numpy as np

__all__ = ["col", "elastic", "homography_warp", "interp_matrix", "remap", "smooth_field"]


def col(a: np.ndarray) -> np.ndarray:
    """(m,) -> (m, 1, 1) float32, to broadcast per-sample parameters over pixels."""
    return np.asarray(a, np.float32)[:, None, None]


def remap(img: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Sample each image (k, H, W) at input pixel coordinates ``sx``, ``sy`` (k, H', W'),
    bilinear, zero outside the frame."""
    k, h, w = img.shape
    f32 = np.float32
    # +1: coordinates in a frame padded by one zero pixel, so clamping lands on zeros.
    sx = np.clip(sx.astype(f32) + 1, 0, w + 0.999)
    sy = np.clip(sy.astype(f32) + 1, 0, h + 0.999)
    x0, y0 = sx.astype(np.int32), sy.astype(np.int32)
    fx, fy = sx - x0, sy - y0
    wp = w + 2
    padded = np.zeros((k, h + 2, wp), f32)
    padded[:, 1:-1, 1:-1] = img
    flat = padded.reshape(-1)
    idx = y0 * wp + x0 + (np.arange(k, dtype=np.int32) * ((h + 2) * wp))[:, None, None]
    tl, tr = flat.take(idx), flat.take(idx + 1)
    bl, br = flat.take(idx + wp), flat.take(idx + wp + 1)
    top = tl + fx * (tr - tl)
    return top + fy * (bl + fx * (br - bl) - top)


def homography_warp(img: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Resample each image at ``m @ (x, y, 1)`` (projective, per-sample (k, 3, 3) maps from
    output to input pixel coordinates), bilinear, zero outside."""
    _, h, w = img.shape
    f32 = np.float32
    gx = np.arange(w, dtype=f32)[None, None, :]
    gy = np.arange(h, dtype=f32)[None, :, None]
    m = m.astype(f32)
    den = col(m[:, 2, 0]) * gx + col(m[:, 2, 1]) * gy + col(m[:, 2, 2])
    sx = (col(m[:, 0, 0]) * gx + col(m[:, 0, 1]) * gy + col(m[:, 0, 2])) / den
    sy = (col(m[:, 1, 0]) * gx + col(m[:, 1, 1]) * gy + col(m[:, 1, 2])) / den
    return remap(img, sx, sy)


def elastic(
    img: np.ndarray, amplitude: np.ndarray, cells: int, rng: np.random.Generator
) -> np.ndarray:
    """Bend each image by a smooth random displacement field of ``amplitude`` (k,) pixels
    (a hand's wobble rather than a rigid transform)."""
    k, h, w = img.shape
    gx = np.arange(w, dtype=np.float32)[None, None, :]
    gy = np.arange(h, dtype=np.float32)[None, :, None]
    amp = col(amplitude)
    dx = smooth_field(k, h, w, cells, rng) * amp
    dy = smooth_field(k, h, w, cells, rng) * amp
    return remap(img, gx + dx, gy + dy)


def smooth_field(k: int, h: int, w: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Low-frequency noise (k, H, W), unit-ish amplitude: a (cells x cells) random grid
    interpolated bilinearly with two small matrix products."""
    coarse = rng.standard_normal((k, cells, cells), dtype=np.float32)
    return interp_matrix(cells, h) @ coarse @ interp_matrix(cells, w).T


def interp_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) linear interpolation matrix, input samples spread over the output."""
    pos = (np.arange(n_out, dtype=np.float32) + 0.5) * n_in / n_out - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    wgt = np.maximum(0, 1 - np.abs(pos[:, None] - np.arange(n_in, dtype=np.float32)[None]))
    return (wgt / wgt.sum(axis=1, keepdims=True)).astype(np.float32)
