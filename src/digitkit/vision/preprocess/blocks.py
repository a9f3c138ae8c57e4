"""Block reduction: an image reduced to block maxima and sums over whole f x f blocks, so big
images (phone photos, long strips) cost about as much as small ones. (Block means, shared
with decoding: :func:`digitkit.vision.imageio.block_mean`.)"""

from __future__ import annotations

import numpy as np

# Up to this block side, _block_reduce combines the f*f strided views one by one (fastest for
# the small factors of canvases and photos); beyond it (a long strip reduced by hundreds: f*f
# Python-level steps took 0.3 s for a 16000x40 bar) it reduces a 4-D view in one pass.
VIEW_LOOP_MAX_FACTOR = 8


def _block_reduce(a: np.ndarray, f: int) -> tuple[np.ndarray, np.ndarray]:
    """(block maxima, block sums) of ``a`` over f x f blocks, zero-padded to a multiple of f.

    The sums add each block's pixels one after another in raster order, whichever way they
    are computed, so both ways give the same float32 bits."""
    h, w = a.shape
    ph, pw = -h % f, -w % f
    if ph or pw:
        a = np.pad(a, ((0, ph), (0, pw)))
    if f > VIEW_LOOP_MAX_FACTOR and a.dtype == np.float32:  # (ink always is)
        return _block_reduce_4d(a, f)
    # f*f strided views combined elementwise: much faster than reducing a 4-D view.
    views = [a[i::f, j::f] for i in range(f) for j in range(f)]
    peak, total = views[0].copy(), views[0].astype(np.float32)
    for v in views[1:]:
        np.maximum(peak, v, out=peak)
        total += v
    return peak, total


def _block_reduce_4d(a: np.ndarray, f: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_block_reduce` of an array whose sides are multiples of ``f``, as whole-array
    reductions: the maxima over a 4-D view, the sums as a sequential accumulation over each
    block's pixels in raster order (``np.add.accumulate`` adds strictly one after another,
    like the view loop; a plain sum would add pairwise and round differently)."""
    bh, bw = a.shape[0] // f, a.shape[1] // f
    blocks = a.reshape(bh, f, bw, f)
    peak = blocks.max(axis=(1, 3))
    pixels = blocks.transpose(0, 2, 1, 3).reshape(bh, bw, f * f).astype(np.float32)
    total = np.add.accumulate(pixels, axis=2)[:, :, -1]
    return peak, np.ascontiguousarray(total)


def _block_max(a: np.ndarray, f: int) -> np.ndarray:
    """The block maxima of :func:`_block_reduce` alone (the same values: a maximum does not
    depend on the order it is taken in), for callers that do not use the sums: the rows of
    each block first (f strided row views), then the columns, half the work of both."""
    h, w = a.shape
    ph, pw = -h % f, -w % f
    if ph or pw:
        padded = np.zeros((h + ph, w + pw), a.dtype)
        padded[:h, :w] = a
        a = padded
    rows = a[0::f].copy()
    for i in range(1, f):
        np.maximum(rows, a[i::f], out=rows)
    peak = rows[:, 0::f].copy()
    for j in range(1, f):
        np.maximum(peak, rows[:, j::f], out=peak)
    return peak
