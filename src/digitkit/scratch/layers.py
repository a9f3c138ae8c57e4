"""Layers of the NumPy engine: the base class, Dense, Flatten, Dropout, BatchNorm and the
activations. Convolution and pooling live in :mod:`digitkit.scratch.conv`.

Conventions, shared by every layer:

* Arrays are batches. Images are kept channels-last, (N, H, W, C), because then a
  convolution is one matrix product whose result is already the next layer's input (see
  conv.py). Per-sample shapes (``in_shape``/``out_shape``) leave out N: (H, W, C) or (F,).
* ``forward(x, training)`` remembers what ``backward`` needs (only when training);
  ``backward(dy)`` returns dL/dx and fills ``grads`` with dL/dparam for every entry of
  ``params``. ``buffers`` hold state that is saved but not trained (BatchNorm statistics).
* Weights are float32; a layer computes in its input's dtype, so gradient checks can run the
  same code in float64 (``layer.astype(np.float64)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from digitkit import metrics
from digitkit.errors import DigitkitError
from digitkit.scratch.init import get_initializer

Shape = tuple[int, ...]


def column_sums(a: np.ndarray) -> np.ndarray:
    """Sums over the rows of a 2-D array (a bias gradient), as one matrix-vector product.

    ``a.sum(axis=0)`` walks the rows one at a time, and with the few columns of a bias (6
    to 120) each row is too short to vectorize: measured several times slower than
    ``ones @ a`` for LeNet's convolutions (benchmarks/RESULTS.md).
    """
    return np.ones(len(a), a.dtype) @ a


def fmt_shape(shape: Shape) -> str:
    """A per-sample shape as people read it: (H, W, C) for images, (F,) for vectors."""
    if len(shape) == 3:
        return f"(H={shape[0]}, W={shape[1]}, C={shape[2]})"
    return f"({', '.join(map(str, shape))},)" if len(shape) == 1 else str(shape)


class Layer:
    """Base class: a named step of a Sequential with optional parameters."""

    kind = "layer"  # prefix of automatic names: dense1, conv2, ...

    def __init__(self) -> None:
        self.name = ""
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.in_shape: Shape = ()
        self.out_shape: Shape = ()

    # -- construction -----------------------------------------------------------------------
    def build(self, in_shape: Shape, rng: np.random.Generator) -> Shape:
        """Check ``in_shape``, create parameters, return the output shape."""
        self.in_shape = tuple(in_shape)
        self.out_shape = self.output_shape(self.in_shape)
        return self.out_shape

    def output_shape(self, in_shape: Shape) -> Shape:
        return in_shape

    def work_size(self) -> int:
        """Values per sample of the largest array the forward pass creates (its output,
        unless a layer needs a larger temporary): what bounds inference batches."""
        return int(np.prod(self.out_shape))

    def config(self) -> dict[str, Any]:
        """Constructor arguments, so the layer can be rebuilt from JSON."""
        return {}

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    def error(self, message: str) -> DigitkitError:
        return DigitkitError(
            f"layer {self.name or type(self).__name__} ({self.describe()}): {message}"
        )

    def astype(self, dtype: Any) -> Layer:
        """Convert parameters and buffers to ``dtype`` (float64 for gradient checks)."""
        for store in (self.params, self.buffers):
            for k, v in store.items():
                store[k] = v.astype(dtype)
        return self

    # -- computation ------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        raise NotImplementedError


class Dense(Layer):
    """Fully connected: y = x @ W.T + b with W of shape (out, in), as torch.nn.Linear."""

    kind = "dense"

    def __init__(
        self, in_features: int, out_features: int, init: str = "he", bias: bool = True
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.init, self.bias = init, bias

    def config(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "init": self.init,
            "bias": self.bias,
        }

    def describe(self) -> str:
        return f"Dense {self.in_features}->{self.out_features}"

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 1:
            raise self.error(
                f"expects flat inputs of {self.in_features} features but gets "
                f"{fmt_shape(in_shape)}; add Flatten() before it"
            )
        if in_shape[0] != self.in_features:
            raise self.error(
                f"expects {self.in_features} input features but the previous "
                f"layer gives {in_shape[0]}"
            )
        return (self.out_features,)

    def build(self, in_shape: Shape, rng: np.random.Generator) -> Shape:
        out = super().build(in_shape, rng)
        w = get_initializer(self.init)(
            (self.out_features, self.in_features), self.in_features, self.out_features, rng
        )
        self.params = {"weight": w.astype(np.float32)}
        if self.bias:
            self.params["bias"] = np.zeros(self.out_features, np.float32)
        return out

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        if training:
            self.x = x
        y = x @ self.params["weight"].T
        if self.bias:
            y += self.params["bias"]
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        self.grads = {"weight": dy.T @ self.x}
        if self.bias:
            self.grads["bias"] = column_sums(dy)
        dx = dy @ self.params["weight"] if need_dx else None
        self.x = None
        return dx


class Flatten(Layer):
    """(N, H, W, C) -> (N, H*W*C), in channels-last order."""

    kind = "flatten"

    def output_shape(self, in_shape: Shape) -> Shape:
        return (int(np.prod(in_shape)),)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return x.reshape(len(x), -1)

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        return dy.reshape((len(dy), *self.in_shape))


class Dropout(Layer):
    """Inverted dropout: while training, zero each value with probability ``p`` and scale the
    rest by 1 / (1 - p), so inference needs no rescaling. The mask comes from ``self.rng``,
    which the model (or trainer) sets, so runs are reproducible."""

    kind = "dropout"

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise DigitkitError(f"Dropout p must be in [0, 1), got {p}")
        self.p = p
        self.rng = np.random.default_rng(0)
        # Noise drawn in advance for the next training forward pass (a data-parallel step
        # draws the whole batch's noise, then gives each shard its rows; see cpu.py).
        self.preset_noise: np.ndarray | None = None

    def config(self) -> dict[str, Any]:
        return {"p": self.p}

    def draw_noise(self, n: int) -> np.ndarray | None:
        """The uniform numbers that decide the mask of a training batch of ``n`` (value
        dropped where < p), drawn from ``self.rng`` as ``forward`` draws them; None when
        nothing is dropped."""
        if self.p == 0:
            return None
        return self.rng.random((n, *self.in_shape), dtype=np.float32)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        noise, self.preset_noise = self.preset_noise, None
        if not training or self.p == 0:
            self.mask = None
            return x
        if noise is None:
            noise = self.rng.random(x.shape, dtype=np.float32)
        keep = noise >= self.p
        # One multiply by a scaled mask serves forward and backward.
        self.mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self.mask

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        return dy if self.mask is None else dy * self.mask


class BatchNorm(Layer):
    """Batch normalization over every axis but the last: dense (N, F) or spatial (N, H, W, C).

    Training normalizes with the batch statistics and updates running averages (momentum 0.1,
    unbiased variance, as torch); inference uses the running averages.
    """

    kind = "bn"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum

    def config(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum}

    def output_shape(self, in_shape: Shape) -> Shape:
        if in_shape[-1] != self.num_features:
            raise self.error(
                f"expects {self.num_features} features/channels but gets {fmt_shape(in_shape)}"
            )
        return in_shape

    def build(self, in_shape: Shape, rng: np.random.Generator) -> Shape:
        out = super().build(in_shape, rng)
        c = self.num_features
        self.params = {"weight": np.ones(c, np.float32), "bias": np.zeros(c, np.float32)}
        self.buffers = {
            "running_mean": np.zeros(c, np.float32),
            "running_var": np.ones(c, np.float32),
        }
        return out

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        gamma, beta = self.params["weight"], self.params["bias"]
        if not training:
            scale = gamma / np.sqrt(self.buffers["running_var"] + self.eps)
            return x * scale + (beta - self.buffers["running_mean"] * scale)
        axes = tuple(range(x.ndim - 1))
        m = x.size // x.shape[-1]
        mean = x.mean(axis=axes)
        xc = x - mean
        var = (xc * xc).mean(axis=axes)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * inv_std
        mom = self.momentum
        self.buffers["running_mean"] = (
            (1 - mom) * self.buffers["running_mean"] + mom * mean
        ).astype(self.buffers["running_mean"].dtype)
        unbiased = var * (m / max(1, m - 1))
        self.buffers["running_var"] = (
            (1 - mom) * self.buffers["running_var"] + mom * unbiased
        ).astype(self.buffers["running_var"].dtype)
        self.xhat, self.inv_std = xhat, inv_std
        return xhat * gamma + beta

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        axes = tuple(range(dy.ndim - 1))
        xhat = self.xhat
        dbeta = dy.sum(axis=axes)
        dgamma = (dy * xhat).sum(axis=axes)
        self.grads = {"weight": dgamma, "bias": dbeta}
        if not need_dx:
            return None
        m = dy.size // dy.shape[-1]
        # dx = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat))
        dx = (self.params["weight"] * self.inv_std / m) * (m * dy - dbeta - xhat * dgamma)
        self.xhat = None
        return dx


class ReLU(Layer):
    """max(0, x)."""

    kind = "relu"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        y = np.maximum(x, 0)
        if training:
            self.y = y
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        dx = dy * (self.y > 0)  # measured faster than np.where
        self.y = None
        return dx


class Tanh(Layer):
    """tanh(x); the LeNet paper's squashing function (up to its 1.7159 scale)."""

    kind = "tanh"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        y = np.tanh(x)
        if training:
            self.y = y
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        dx = self.y * self.y  # dy * (1 - y^2), in one array instead of three
        np.subtract(1, dx, out=dx)
        dx *= dy
        self.y = None
        return dx


class Sigmoid(Layer):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""

    kind = "sigmoid"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        # exp of a non-positive number never overflows.
        e = np.exp(-np.abs(x))
        y = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        if training:
            self.y = y
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        dx = dy * self.y * (1 - self.y)
        self.y = None
        return dx


softmax = metrics.softmax  # over the last axis, in the input's dtype


class Softmax(Layer):
    """Softmax over features. For training with cross-entropy, end the model with logits and
    use the fused SoftmaxCrossEntropy loss instead: it is cheaper and numerically safer."""

    kind = "softmax"

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        y = softmax(x)
        if training:
            self.y = y
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        y = self.y
        self.y = None
        # Jacobian-vector product: dx_i = y_i * (dy_i - sum_j dy_j y_j)
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


ACTIVATIONS: dict[str, type[Layer]] = {
    "relu": ReLU,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "softmax": Softmax,
}
