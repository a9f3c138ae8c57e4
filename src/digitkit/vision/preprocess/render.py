"""Rendering into the MNIST frame: crop, scale to the 20 px box and place by the centre of
mass, vectorized over a stack (one anti-aliased matrix product per axis)."""

from __future__ import annotations

import numpy as np

FRAME = 28
BOX = 20
# MNIST's measured mean centre of mass is (14.0, 14.0) in pixel-index coordinates (row, col):
# the continuous point 14.5 when pixel i spans [i, i + 1).
CENTRE = 14.0


def _weights(
    n_out: int,
    n_in: int,
    start: np.ndarray,
    step: np.ndarray,
    offset: np.ndarray,
) -> np.ndarray:
    """Anti-aliased linear resampling matrices (N, n_out, n_in), like Pillow's BILINEAR.

    Output pixel j (centre j + 0.5) samples input coordinate start + (j + 0.5 - offset) *
    step; the tent kernel widens to ``step`` when downscaling so every input pixel
    contributes (anti-aliasing). Rows are normalized over an extended input range, so
    zero-valued pixels outside the image count as background rather than being renormalized.
    """
    step = step.astype(np.float32)[:, None, None]
    support = np.maximum(step, np.float32(1.0))
    k = int(np.ceil(float(support.max()))) + 1
    centre = (
        start.astype(np.float32)[:, None, None]
        + (
            np.arange(n_out, dtype=np.float32)[None, :, None]
            + np.float32(0.5)
            - offset.astype(np.float32)[:, None, None]
        )
        * step
    )
    pos = np.arange(-k, n_in + k, dtype=np.float32)[None, None, :] + np.float32(0.5)
    w = centre - pos
    np.abs(w, out=w)
    w /= support
    np.subtract(np.float32(1.0), w, out=w)
    np.maximum(w, np.float32(0.0), out=w)
    total = w.sum(axis=2, keepdims=True)
    np.divide(w, total, out=w, where=total > 0)
    return w[:, :, k : k + n_in]


def render_batch(
    ink: np.ndarray,
    boxes: np.ndarray,
    frame: int = FRAME,
    box: int = BOX,
    centre: float | None = CENTRE,
) -> np.ndarray:
    """Crop, scale and centre a stack of ink images: (N, H, W), boxes (N, 4) -> (N, frame, frame).

    Each image's ink box (x0, y0, x1, y1) is scaled so its longer side is ``box`` pixels
    (aspect kept, anti-aliased) and placed so the ink's centre of mass lands on ``centre``
    (pixel-index coordinates; None centres the box instead), shifted back inside the frame if
    that would cut the digit. Sub-pixel exact: the centring shift is part of the resampling.
    """
    boxes = np.asarray(boxes, np.float64).reshape(len(ink), 4)
    # Only the union of the ink boxes matters (everything outside is background, which the
    # weights treat as zeros anyway): crop to it so big canvases cost no more than small ones.
    ux0, uy0 = int(boxes[:, 0].min()), int(boxes[:, 1].min())
    ux1, uy1 = int(np.ceil(boxes[:, 2].max())), int(np.ceil(boxes[:, 3].max()))
    ink = np.ascontiguousarray(ink[:, uy0:uy1, ux0:ux1], dtype=np.float32)
    boxes = boxes - np.array([ux0, uy0, ux0, uy0], np.float64)
    n, h, w = ink.shape
    x0, y0, x1, y1 = boxes.T
    bw, bh = x1 - x0, y1 - y0
    step = np.maximum(bw, bh) / box  # input pixels per output pixel
    if centre is None:
        offx = (frame - bw / step) / 2
        offy = (frame - bh / step) / 2
    else:
        mass = ink.sum(axis=(1, 2), dtype=np.float64)
        mass = np.where(mass > 0, mass, 1.0)
        cx = (ink.sum(axis=1, dtype=np.float64) @ (np.arange(w) + 0.5)) / mass
        cy = (ink.sum(axis=2, dtype=np.float64) @ (np.arange(h) + 0.5)) / mass
        offx = (centre + 0.5) - (cx - x0) / step
        offy = (centre + 0.5) - (cy - y0) / step
        # Keep the whole ink box inside the frame: a lopsided digit is better whole than
        # exactly centred (MNIST's own digits never needed this).
        offx = np.clip(offx, 0.0, frame - bw / step)
        offy = np.clip(offy, 0.0, frame - bh / step)
        # A digit already 20 px tall or wide (MNIST-sized) is placed on whole pixels, as MNIST
        # did (its centres of mass scatter by +-0.5 px): shifted exactly, not blurred by a
        # sub-pixel resampling. Rescaled digits are resampled anyway, so they go sub-pixel.
        same = np.abs(step - 1.0) < 1e-9
        offx = np.where(same, np.clip(np.round(offx), 0.0, frame - bw / step), offx)
        offy = np.where(same, np.clip(np.round(offy), 0.0, frame - bh / step), offy)
    out = np.zeros((n, frame, frame), np.float32)
    shift = np.abs(step - 1.0) < 1e-9
    shift &= (offx == np.round(offx)) & (offy == np.round(offy))
    if shift.any():
        # Whole-pixel shifts (MNIST-sized input): a gather, no resampling.
        i = np.flatnonzero(shift)
        rows = (
            np.arange(frame)[None, :]
            - offy[i, None].astype(np.int64)
            + y0[i, None].astype(np.int64)
        )
        cols = (
            np.arange(frame)[None, :]
            - offx[i, None].astype(np.int64)
            + x0[i, None].astype(np.int64)
        )
        rok, cok = (rows >= 0) & (rows < h), (cols >= 0) & (cols < w)
        picked = ink[
            i[:, None, None],
            np.clip(rows, 0, h - 1)[:, :, None],
            np.clip(cols, 0, w - 1)[:, None, :],
        ]
        out[i] = picked * (rok[:, :, None] & cok[:, None, :])
    rest = np.flatnonzero(~shift)
    if rest.size:
        rx = _weights(frame, w, x0[rest], step[rest], offx[rest])
        ry = _weights(frame, h, y0[rest], step[rest], offy[rest])
        out[rest] = np.matmul(np.matmul(ry, ink[rest]), np.ascontiguousarray(rx.transpose(0, 2, 1)))
    np.minimum(out, np.float32(1.0), out=out)
    return np.maximum(out, np.float32(0.0), out=out)
