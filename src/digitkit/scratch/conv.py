"""Convolution and pooling on channels-last batches (N, H, W, C), without Python loops over
samples, pixels or channels.

Convolution is im2col + one matrix product. ``sliding_window_view`` gives every kh x kw
window of the padded input as a strided *view* (no copy); one copy makes it the matrix
``cols`` of shape (N*Ho*Wo, kh*kw*C), and ``cols @ W`` with W of shape (kh*kw*C, F) is the
output, already channels-last. The only loops are over the kh*kw kernel offsets (25 for a
5x5 kernel), each a whole-batch array operation:

* the backward pass to the input computes, for every kernel offset, what that offset
  contributed (one matrix product per offset, into a reused contiguous buffer), then adds it
  into the shifted window of the input gradient; every add reads and writes whole
  contiguous rows. For scratch-cnn4's second convolution that is faster than computing the
  columns' gradient and scattering it with ``np.add.at``, and than slice-adds that read the
  columns' gradient with its kh*kw*C stride (benchmarks/RESULTS.md). For narrow inputs
  (LeNet's C3 and C5) the input gradient is
  instead one product by rows with a banded matrix (``_input_grad_by_rows``);
* pooling takes the maximum (or sum) of the kh*kw strided slices of the input.

A first layer (one input channel, stride 1) has a matrix product too thin for BLAS (K = 25,
F = 6 for LeNet's C1). There a row of ``wt`` neighbouring output pixels (a tile) is computed
at once from its kh x (wt + kw - 1) input patch against a banded weight matrix
(kh*(wt+kw-1), wt*F): a few more multiply-adds (by zeros), but matrices BLAS runs at full
speed and a smaller im2col copy: faster for LeNet's C1 (wt = 4; benchmarks/RESULTS.md).

The window helpers (:func:`pad_hw`, :func:`im2col`) are
:mod:`digitkit.inference.numpy_ops`'s, shared with the NumPy runtime that runs the shipped
models.

Why one module over 400 lines: most of it is the one ``Conv2D`` layer, whose forward and
backward passes share the im2col layout and buffers; the pooling layers reuse the same window
helpers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from digitkit.inference.numpy_ops import conv_weight_matrix, im2col, pad_hw
from digitkit.scratch.init import get_initializer
from digitkit.scratch.layers import Layer, Shape, column_sums, fmt_shape


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def _offset_slices(i: int, j: int, ho: int, wo: int, sh: int, sw: int) -> tuple[Any, ...]:
    """Index of the input pixels that kernel offset (i, j) touches, for all outputs."""
    return (slice(None), slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw))


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as every framework) with any kernel, stride and
    zero padding. Weight (F, C, kh, kw) and bias (F,) as torch.nn.Conv2d; inputs and outputs
    channels-last."""

    kind = "conv"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        init: str = "he",
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (
            _pair(kernel_size),
            _pair(stride),
            _pair(padding),
        )
        self.init, self.bias = init, bias

    def config(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "init": self.init,
            "bias": self.bias,
        }

    def describe(self) -> str:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        stride = f"{sh}" if sh == sw else f"{sh}x{sw}"
        padding = f"{ph}" if ph == pw else f"{ph}x{pw}"
        return (
            f"Conv2D {self.in_channels}->{self.out_channels}, {kh}x{kw}, stride {stride}, "
            f"padding {padding}"
        )

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 3:
            raise self.error(f"expects images (H, W, C) but gets {fmt_shape(in_shape)}")
        h, w, c = in_shape
        if c != self.in_channels:
            raise self.error(
                f"expects {self.in_channels} input channels but gets {fmt_shape(in_shape)}"
            )
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise self.error(
                f"kernel {kh}x{kw} is larger than the padded input {fmt_shape(in_shape)}"
            )
        return (_out_size(h, kh, sh, ph), _out_size(w, kw, sw, pw), self.out_channels)

    def build(self, in_shape: Shape, rng: np.random.Generator) -> Shape:
        out = super().build(in_shape, rng)
        (kh, kw), c, f = self.kernel_size, self.in_channels, self.out_channels
        w = get_initializer(self.init)((f, c, kh, kw), c * kh * kw, f * kh * kw, rng)
        self.params = {"weight": w.astype(np.float32)}
        if self.bias:
            self.params["bias"] = np.zeros(f, np.float32)
        return out

    def work_size(self) -> int:
        """The im2col matrix per sample: Ho*Wo rows of kh*kw*C values (the tiled first layer
        copies fewer: (kw + wt - 1) / wt input columns per output pixel instead of kw)."""
        (kh, kw), (ho, wo, f) = self.kernel_size, self.out_shape
        if self.banded:
            wt = self._tile_width(wo)
            return max(ho * (wo // wt) * kh * (wt + kw - 1), ho * wo * f)
        return max(ho * wo * kh * kw * self.in_channels, ho * wo * f)

    def _weight_matrix(self) -> np.ndarray:
        """Weight as (kh*kw*C, F), rows in the order of the im2col columns."""
        return conv_weight_matrix(self.params["weight"])

    @property
    def banded(self) -> bool:
        """Use the banded first-layer path (see the module docstring)."""
        return self.in_channels == 1 and self.stride == (1, 1)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if self.banded:
            return self._forward_banded(x, training)
        n = len(x)
        xp = pad_hw(x, ph, pw)
        cols = im2col(xp, kh, kw, sh, sw)
        ho, wo = cols.shape[1:3]
        cols = cols.reshape(n * ho * wo, -1)
        y = cols @ self._weight_matrix()
        if self.bias:
            y += self.params["bias"]
        if training:
            self.cols, self.xp_shape = cols, xp.shape
        return y.reshape(n, ho, wo, self.out_channels)

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if self.banded:
            return self._backward_banded(dy, need_dx)
        n, ho, wo, f = dy.shape
        c = self.in_channels
        dy2 = dy.reshape(-1, f)
        # dW as (F, K) = dy2.T @ cols: measured faster than cols.T @ dy2 for small F.
        dw = dy2.T @ self.cols
        self.grads = {"weight": dw.reshape(f, kh, kw, c).transpose(0, 3, 1, 2)}
        if self.bias:
            self.grads["bias"] = column_sums(dy2)
        self.cols = None
        if not need_dx:
            return None
        if self.input_grad_by_rows:
            return self._input_grad_by_rows(dy)
        # For each kernel offset, one matmul gives what it sent back to its input pixels,
        # (N*Ho*Wo, C), contiguous; adding it to the shifted window of dx reads and writes
        # whole rows. (Slicing the offsets out of dy2 @ W.T instead reads with a stride of
        # kh*kw*C and measured slower; numpy's stacked matmul does not use BLAS here.)
        w_off = np.ascontiguousarray(self.params["weight"].transpose(2, 3, 0, 1))
        dxp = np.zeros(self.xp_shape, dy.dtype)
        part = np.empty((len(dy2), c), dy.dtype)
        for i in range(kh):
            for j in range(kw):
                np.matmul(dy2, w_off[i, j], out=part)
                dxp[_offset_slices(i, j, ho, wo, sh, sw)] += part.reshape(n, ho, wo, c)
        h, w = self.in_shape[0], self.in_shape[1]
        return dxp[:, ph : ph + h, pw : pw + w]

    # Largest ratio of multiply-adds (banded product / per-offset products) at which the input
    # gradient is computed by rows; the ratio is Wp / kw (padded input width / kernel width).
    ROWS_MAX_COST = 3.0

    @property
    def input_grad_by_rows(self) -> bool:
        """Compute dL/dx with one banded product (:meth:`_input_grad_by_rows`): for narrow
        inputs, where its wasted multiply-adds by zero cost less than the kh*kw small products
        and adds of the per-offset method. LeNet's C5 (5x5 input, kernel as wide: no waste)
        and C3 (14 wide: 2.8x the multiply-adds) take it; scratch-cnn4 (32 and 18 wide) does
        not. Fewer, larger NumPy calls also matter for data-parallel threads: each call is a
        point where a thread must win the GIL back: in two threads, LeNet's C5 backward with
        the 50 calls of the per-offset method took about twice as long as alone
        (benchmarks/RESULTS.md)."""
        wp = self.in_shape[1] + 2 * self.padding[1]
        return wp <= self.ROWS_MAX_COST * self.kernel_size[1]

    def _input_grad_by_rows(self, dy: np.ndarray) -> np.ndarray:
        """dL/dx by output rows: the gradient of one output row (Wo*F values) times a banded
        matrix (Wo*F, kh*Wp*C) is what that row sends back to the kh padded input rows it
        read; band[(xo, f), (i, x, c)] = weight[f, c, i, x - xo*sw] where 0 <= x - xo*sw < kw,
        zero elsewhere. One product for the batch, then kh adds of whole rows."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        n, ho, wo, f = dy.shape
        _, hp, wp, c = self.xp_shape
        band = np.zeros((wo, f, kh, wp, c), dy.dtype)
        xo = np.arange(wo)
        for j in range(kw):  # column j of every filter, at input column xo*sw + j
            band[xo, :, :, xo * sw + j, :] = self.params["weight"][:, :, :, j].transpose(0, 2, 1)
        rows = dy.reshape(n * ho, wo * f) @ band.reshape(wo * f, kh * wp * c)
        rows = rows.reshape(n, ho, kh, wp * c)
        dxp = np.zeros((n, hp, wp * c), dy.dtype)
        for i in range(kh):  # output row yo sent rows[:, yo, i] to padded input row yo*sh + i
            dxp[:, i : i + sh * (ho - 1) + 1 : sh] += rows[:, :, i]
        h, w = self.in_shape[0], self.in_shape[1]
        return dxp.reshape(n, hp, wp, c)[:, ph : ph + h, pw : pw + w]

    # -- the tiled path for one input channel -------------------------------------------------
    def _tile_index(self, wt: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of weight[f, 0, i, j] in the tile matrix, for each of the ``wt``
        output pixels of a tile: row i*tw + o + j (input pixel), column o*F + f."""
        (kh, kw), f = self.kernel_size, self.out_channels
        tw = wt + kw - 1
        i, j, o, c = np.ix_(np.arange(kh), np.arange(kw), np.arange(wt), np.arange(f))
        shape = (kh, kw, wt, f)
        return np.broadcast_to(i * tw + o + j, shape), np.broadcast_to(o * f + c, shape)

    @staticmethod
    def _tile_width(wo: int) -> int:
        # Measured for LeNet's C1: tiles of 4 outputs run faster than whole rows (28,
        # too many multiply-adds by zero) and than single pixels (1, plain im2col).
        return max(d for d in range(1, 5) if wo % d == 0)

    def _forward_banded(self, x: np.ndarray, training: bool) -> np.ndarray:
        (kh, kw), (ph, pw), f = self.kernel_size, self.padding, self.out_channels
        xp = np.ascontiguousarray(pad_hw(x, ph, pw)[..., 0])  # (N, Hp, Wp)
        n, hp, wp = xp.shape
        ho, wo = hp - kh + 1, wp - kw + 1
        wt = self._tile_width(wo)
        nt, tw = wo // wt, wt + kw - 1
        s0, s1, item = xp.strides[0], xp.strides[1], xp.itemsize
        # Patch (n, ho, t) = input rows ho..ho+kh-1, columns t*wt .. t*wt+tw-1: a strided view
        # of the input, then one copy.
        view = as_strided(xp, (n, ho, nt, kh, tw), (s0, s1, wt * item, s1, item), writeable=False)
        patches = np.ascontiguousarray(view).reshape(n * ho * nt, kh * tw)
        ri, ci = self._tile_index(wt)
        t = np.zeros((kh * tw, wt * f), x.dtype)
        t[ri, ci] = self.params["weight"][:, 0].transpose(1, 2, 0)[:, :, None, :]
        y = patches @ t  # (N*Ho*nt, wt*F) is (N, Ho, Wo, F) in memory
        if self.bias:
            y += np.tile(self.params["bias"], wt)
        if training:
            self.patches, self.t, self.xp_shape = patches, t, xp.shape
        return y.reshape(n, ho, wo, f)

    def _backward_banded(self, dy: np.ndarray, need_dx: bool) -> np.ndarray | None:
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        n, hp, wp = self.xp_shape
        _, ho, wo, f = dy.shape
        wt = self._tile_width(wo)
        nt, tw = wo // wt, wt + kw - 1
        dy2 = dy.reshape(n * ho * nt, wt * f)
        dt = self.patches.T @ dy2  # gradient of the tile matrix
        ri, ci = self._tile_index(wt)
        dw = dt[ri, ci].sum(axis=2)  # (kh, kw, F): each weight appears once per tile pixel
        self.grads = {"weight": dw.transpose(2, 0, 1)[:, None]}
        if self.bias:  # the columns of dy2 are (tile pixel, filter): fold the pixels
            self.grads["bias"] = column_sums(dy2).reshape(wt, f).sum(axis=0)
        t, self.patches, self.t = self.t, None, None
        if not need_dx:
            return None
        dpatch = (dy2 @ t.T).reshape(n, ho, nt, kh, tw)
        dxp = np.zeros((n, hp, wp), dy.dtype)
        for i in range(kh):  # patch row i, column c is input pixel (ho + i, t*wt + c)
            for c in range(tw):
                dxp[:, i : i + ho, c : c + wt * (nt - 1) + 1 : wt] += dpatch[:, :, :, i, c]
        h, w = self.in_shape[0], self.in_shape[1]
        return dxp[:, ph : ph + h, pw : pw + w, None]


class _Pool2D(Layer):
    """Shared shape logic of the pooling layers (no padding; stride defaults to the kernel)."""

    def __init__(
        self, kernel_size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel_size

    def config(self) -> dict[str, Any]:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride)}

    def describe(self) -> str:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        return f"{type(self).__name__} {kh}x{kw}, stride {sh}" + (f"x{sw}" if sw != sh else "")

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 3:
            raise self.error(f"expects images (H, W, C) but gets {fmt_shape(in_shape)}")
        h, w, c = in_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if h < kh or w < kw:
            raise self.error(f"window {kh}x{kw} is larger than the input {fmt_shape(in_shape)}")
        return (_out_size(h, kh, sh, 0), _out_size(w, kw, sw, 0), c)

    def _tiles_exactly(self) -> bool:
        """True when the windows cover the input exactly once (stride = kernel, no rest)."""
        h, w = self.in_shape[0], self.in_shape[1]
        (kh, kw), ho, wo = self.kernel_size, self.out_shape[0], self.out_shape[1]
        return self.stride == self.kernel_size and (h, w) == (ho * kh, wo * kw)

    def _slices(self) -> list[tuple[Any, ...]]:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ho, wo = self.out_shape[0], self.out_shape[1]
        return [_offset_slices(i, j, ho, wo, sh, sw) for i in range(kh) for j in range(kw)]


class MaxPool2D(_Pool2D):
    """Maximum over each window. The gradient goes to the first maximum of the window in
    row-major order, as in torch, so ties (e.g. windows of zeros after ReLU) are routed once."""

    kind = "maxpool"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        slices = self._slices()
        y = x[slices[0]].copy()
        for s in slices[1:]:
            np.maximum(y, x[s], out=y)
        if training:
            self.x, self.y = x, y
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        x, y = self.x, self.y
        exact = self._tiles_exactly()
        # Windows that tile the input write each input pixel exactly once: no zero-fill and
        # no read-add (measured faster for scratch-cnn4's pools).
        dx = np.empty(x.shape, dy.dtype) if exact else np.zeros(x.shape, dy.dtype)
        first = np.empty(y.shape, bool)
        unclaimed: np.ndarray | None = None  # windows whose first maximum is still ahead
        slices = self._slices()
        for k, s in enumerate(slices):
            np.equal(x[s], y, out=first)  # this offset holds a maximum of its window ...
            if unclaimed is None:
                unclaimed = ~first
            else:
                first &= unclaimed  # ... and the first one
                if k < len(slices) - 1:
                    unclaimed ^= first
            if exact:
                np.multiply(dy, first, out=dx[s])
            else:
                dx[s] += dy * first
        self.x = self.y = None
        return dx


class AvgPool2D(_Pool2D):
    """Mean over each window: LeNet-5's subsampling (without its trainable scale)."""

    kind = "avgpool"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if training:
            self.x_shape = x.shape
        (kh, kw), scale = (
            self.kernel_size,
            x.dtype.type(1.0 / (self.kernel_size[0] * self.kernel_size[1])),
        )
        if self._tiles_exactly():
            # Sum the kh image rows of each window first, as whole rows (long contiguous
            # runs), then the kw pixels of each window in the summed row: measured faster
            # than adding the kh*kw strided slices (LeNet's S2 at batch 64).
            n, h, w, c = x.shape
            ho, wo = self.out_shape[0], self.out_shape[1]
            rows = x.reshape(n, ho, kh, w * c)
            acc = rows[:, :, 0].copy()
            for i in range(1, kh):
                acc += rows[:, :, i]
            pixels = acc.reshape(n, ho, wo, kw, c)
            y = pixels[:, :, :, 0].copy()
            for j in range(1, kw):
                y += pixels[:, :, :, j]
        else:
            slices = self._slices()
            y = x[slices[0]].copy()
            for s in slices[1:]:
                y += x[s]
        y *= scale
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        kh, kw = self.kernel_size
        share = dy * dy.dtype.type(1.0 / (kh * kw))
        if self._tiles_exactly():
            # Windows tile the input exactly: every pixel gets its window's share. Repeating
            # along W, then whole rows along H, measured faster than one broadcast copy
            # (whose innermost runs are only C floats long).
            return np.repeat(np.repeat(share, kw, axis=2), kh, axis=1)
        dx = np.zeros(self.x_shape, dy.dtype)
        for s in self._slices():
            dx[s] += share
        return dx
