"""Forward operations of convolutional networks in NumPy, on channels-last batches
(N, H, W, C), without Python loops over samples, pixels or channels.

Two users: the from-scratch engine (:mod:`digitkit.scratch.conv` trains its convolutions
with :func:`pad_hw` and :func:`im2col`) and the NumPy runtime
(:mod:`digitkit.inference.numpy_runtime`), which runs the shipped models with the
convolution, pooling and dense layers here. They live below both so that the runtime, which
the number reader loads, needs nothing of the training engine.

A convolution is im2col + one matrix product: ``sliding_window_view`` gives every kernel
window of the padded input as a strided view (no copy), one copy makes it the matrix of shape
(N*Ho*Wo, kh*kw*C), and its product with the weights as (kh*kw*C, F) is the output, already
channels-last. Dilation takes every d-th element of a wider window, so the dilated 1-D
convolutions of the number reader are 2-D convolutions with a 1 x k kernel.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad_hw(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Zero-pad the H and W axes of (N, H, W, C) (faster than np.pad for this case)."""
    if ph == 0 and pw == 0:
        return x
    n, h, w, c = x.shape
    out = np.zeros((n, h + 2 * ph, w + 2 * pw, c), x.dtype)
    out[:, ph : ph + h, pw : pw + w] = x
    return out


def im2col(
    xp: np.ndarray, kh: int, kw: int, sh: int = 1, sw: int = 1, dh: int = 1, dw: int = 1
) -> np.ndarray:
    """(N, Hp, Wp, C) padded input -> (N, Ho, Wo, kh, kw, C) contiguous windows, for a
    kernel kh x kw with strides (sh, sw) and dilations (dh, dw)."""
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # the dilated kernel's extent
    if xp.shape[3] == 1:  # one channel: windows of the 3-D array, slightly faster to copy
        view = sliding_window_view(xp[..., 0], (eh, ew), axis=(1, 2))[..., ::dh, ::dw, None]
    else:  # (N, Ho', Wo', C, kh, kw), a view; C moved last below
        view = sliding_window_view(xp, (eh, ew), axis=(1, 2))[..., ::dh, ::dw]
        view = view.transpose(0, 1, 2, 4, 5, 3)
    if sh > 1 or sw > 1:
        view = view[:, ::sh, ::sw]
    # With C last each copied run is contiguous: faster than (C, kh, kw).
    return np.ascontiguousarray(view)


def conv_weight_matrix(weight: np.ndarray) -> np.ndarray:
    """A torch-layout convolution weight (F, C, kh, kw) as the (kh*kw*C, F) matrix whose rows
    are in the order of :func:`im2col`'s columns."""
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0).reshape(-1, weight.shape[0]))


def conv2d(
    x: np.ndarray,
    matrix: np.ndarray,
    bias: np.ndarray | None,
    kernel: tuple[int, int],
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Stride-1 convolution of (N, H, W, C) with ``matrix`` (:func:`conv_weight_matrix`)
    plus ``bias`` (F,): (N, Ho, Wo, F)."""
    (kh, kw), (ph, pw), (dh, dw) = kernel, padding, dilation
    n = len(x)
    if (kh, kw, ph, pw) == (1, 1, 0, 0):  # a 1x1 convolution reads each pixel as it is
        ho, wo = x.shape[1:3]
        y = x.reshape(n * ho * wo, x.shape[3]) @ matrix
    else:
        cols = im2col(pad_hw(x, ph, pw), kh, kw, 1, 1, dh, dw)
        ho, wo = cols.shape[1:3]
        y = cols.reshape(n * ho * wo, len(matrix)) @ matrix
    if bias is not None:
        y += bias
    return y.reshape(n, ho, wo, matrix.shape[1])


def max_pool(x: np.ndarray, kh: int, kw: int, ceil_mode: bool = False) -> np.ndarray:
    """Maximum over non-overlapping kh x kw windows of (N, H, W, C) (stride = kernel, as
    torch's ``MaxPool2d(k)``). A rest of rows or columns is dropped, or with ``ceil_mode``
    pooled in a window of its own (torch's ``ceil_mode=True``)."""
    n, h, w, c = x.shape
    if ceil_mode:
        ho, wo = -(-h // kh), -(-w // kw)
        if (ho * kh, wo * kw) != (h, w):
            # The missing pixels of the last windows never win: -inf, as torch pads.
            full = np.full((n, ho * kh, wo * kw, c), -np.inf, x.dtype)
            full[:, :h, :w] = x
            x = full
    else:
        ho, wo = h // kh, w // kw
    # Rows first (each maximum reads whole image rows), then the columns of the pooled rows:
    # faster than one reduction over the two window axes of a reshaped view.
    rows = x[:, 0 : ho * kh : kh]
    if kh > 1:
        rows = rows.copy()
        for i in range(1, kh):
            np.maximum(rows, x[:, i : ho * kh : kh], out=rows)
    y = rows[:, :, 0 : wo * kw : kw].copy()
    for j in range(1, kw):
        np.maximum(y, rows[:, :, j : wo * kw : kw], out=y)
    return y


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0), in place (the runtime owns every intermediate array)."""
    return np.maximum(x, 0, out=x)


def fold_batch_norm(
    weight: np.ndarray,
    bias: np.ndarray | None,
    bn: dict[str, np.ndarray],
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray]:
    """A convolution (weight (F, ...), bias (F,) or None) followed by an inference-mode batch
    norm (``weight``, ``bias``, ``running_mean``, ``running_var``) as one convolution: the
    (weight, bias) pair computing both. In float64, returned as float32. ``eps``: torch's
    default, which every digitkit model keeps."""
    scale = bn["weight"].astype(np.float64) / np.sqrt(bn["running_var"].astype(np.float64) + eps)
    shift = bn["bias"].astype(np.float64) - bn["running_mean"].astype(np.float64) * scale
    if bias is not None:
        shift = shift + bias.astype(np.float64) * scale
    folded = weight.astype(np.float64) * scale.reshape(-1, *([1] * (weight.ndim - 1)))
    return folded.astype(np.float32), shift.astype(np.float32)
