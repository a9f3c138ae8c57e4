"""The Sequential model: a list of layers, built one by one so that every shape mismatch is
reported when the layer is added, with both layers' names and shapes.

Inputs follow the torch convention, (N, C, H, W) (or (N, H, W) for one channel); inside, the
layers work channels-last (see layers.py), so ``forward`` moves the channel axis once.
Outputs are logits (N, classes) unless the last layer is Softmax.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from digitkit.errors import DigitkitError
from digitkit.scratch import conv, layers
from digitkit.scratch.layers import Layer, fmt_shape

LAYER_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        layers.Dense,
        layers.Flatten,
        layers.Dropout,
        layers.BatchNorm,
        layers.ReLU,
        layers.Tanh,
        layers.Sigmoid,
        layers.Softmax,
        conv.Conv2D,
        conv.MaxPool2D,
        conv.AvgPool2D,
    )
}


class Sequential:
    """Layers applied in order. ``input_shape`` is (C, H, W) for images or (F,) for vectors.

    >>> m = Sequential(input_shape=(1, 28, 28))
    >>> m.add(Flatten()).add(Dense(784, 10))  # doctest: +ELLIPSIS
    <...Sequential...>
    """

    def __init__(
        self,
        layers: Iterable[Layer] = (),
        input_shape: tuple[int, ...] = (1, 28, 28),
        seed: int = 0,
    ) -> None:
        self.input_shape = tuple(int(v) for v in input_shape)
        # Channels-last per-sample shape that the first layer sees.
        c_last = (
            self.input_shape[1:] + self.input_shape[:1]
            if len(self.input_shape) == 3
            else self.input_shape
        )
        self._shape: tuple[int, ...] = c_last
        self.layers: list[Layer] = []
        self.init_rng = np.random.default_rng(seed)
        self.set_dropout_rng(np.random.default_rng([seed, 1]))
        for layer in layers:
            self.add(layer)

    # -- building ---------------------------------------------------------------------------
    def add(self, layer: Layer) -> Sequential:
        """Append ``layer``, checking that it accepts the previous layer's output."""
        if not isinstance(layer, Layer):
            raise DigitkitError(f"add() takes a layer, not {type(layer).__name__}")
        count = sum(1 for x in self.layers if x.kind == layer.kind) + 1
        layer.name = layer.name or f"{layer.kind}{count}"
        source = self.layers[-1].name if self.layers else "the input"
        try:
            self._shape = layer.build(self._shape, self.init_rng)
        except DigitkitError as exc:
            raise DigitkitError(f"{exc} (output of {source} is {fmt_shape(self._shape)})") from None
        if isinstance(layer, layers.Dropout):
            layer.rng = self.dropout_rng
        self.layers.append(layer)
        return self

    def set_dropout_rng(self, rng: np.random.Generator) -> None:
        """Draw every dropout mask from ``rng`` (the trainer seeds one per epoch)."""
        self.dropout_rng = rng
        for layer in self.layers:
            if isinstance(layer, layers.Dropout):
                layer.rng = rng

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self._shape

    def config(self) -> dict[str, Any]:
        """JSON description from which :meth:`from_config` rebuilds the same architecture."""
        return {
            "input_shape": list(self.input_shape),
            "layers": [{"type": type(x).__name__, "args": x.config()} for x in self.layers],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], seed: int = 0) -> Sequential:
        model = cls(input_shape=tuple(config["input_shape"]), seed=seed)
        for entry in config["layers"]:
            kind = LAYER_TYPES.get(entry["type"])
            if kind is None:
                raise DigitkitError(f"unknown layer type {entry['type']!r} in model config")
            model.add(kind(**entry.get("args", {})))
        return model

    def summary(self) -> str:
        """One line per layer: name, what it is, output shape, parameters."""
        lines = [f"{'layer':<10} {'what':<40} {'output':<24} {'params':>8}"]
        for x in self.layers:
            n = sum(p.size for p in x.params.values())
            lines.append(f"{x.name:<10} {x.describe():<40} {fmt_shape(x.out_shape):<24} {n:>8,}")
        lines.append(f"total parameters: {self.num_params:,}")
        return "\n".join(lines)

    @property
    def num_params(self) -> int:
        return sum(p.size for p in self.params().values())

    # -- parameters -------------------------------------------------------------------------
    def params(self) -> dict[str, np.ndarray]:
        """Trainable arrays by name (``conv1.weight``); the optimizer updates them in place."""
        return {f"{x.name}.{k}": v for x in self.layers for k, v in x.params.items()}

    def grads(self) -> dict[str, np.ndarray]:
        return {f"{x.name}.{k}": v for x in self.layers for k, v in x.grads.items()}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers (BatchNorm statistics): what a weights file holds."""
        out = self.params()
        out.update({f"{x.name}.{k}": v for x in self.layers for k, v in x.buffers.items()})
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the layers; a clear error on missing, extra or misshapen ones."""
        expected = self.state_dict()
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            raise DigitkitError(
                f"weights do not fit this model: missing {missing or 'none'}, "
                f"unexpected {extra or 'none'}"
            )
        for x in self.layers:
            for store in (x.params, x.buffers):
                for k in store:
                    value = state[f"{x.name}.{k}"]
                    if value.shape != store[k].shape:
                        raise DigitkitError(
                            f"weights do not fit this model: {x.name}.{k} has "
                            f"shape {value.shape}, the model needs "
                            f"{store[k].shape}"
                        )
                    store[k] = np.array(value, dtype=store[k].dtype)

    @property
    def dtype(self) -> np.dtype:
        """The parameters' dtype (float32 unless converted with astype)."""
        for p in self.params().values():
            return p.dtype
        return np.dtype(np.float32)

    def astype(self, dtype: Any) -> Sequential:
        """Convert all parameters (float64 for gradient checks)."""
        for x in self.layers:
            x.astype(dtype)
        return self

    # -- computation ------------------------------------------------------------------------
    def _to_internal(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if len(self.input_shape) == 3:
            if x.ndim == 3 and self.input_shape[0] == 1:
                x = x[:, None]
            if x.shape[1:] != self.input_shape:
                c, h, w = self.input_shape
                raise DigitkitError(f"model expects inputs (N, {c}, {h}, {w}) but got {x.shape}")
            return x.transpose(0, 2, 3, 1)  # NCHW -> NHWC; free when C == 1
        if x.shape[1:] != self.input_shape:
            x = x.reshape(len(x), -1)
            if x.shape[1:] != self.input_shape:
                raise DigitkitError(
                    f"model expects inputs (N, {self.input_shape[0]}) but got {x.shape}"
                )
        return x

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """Outputs for a batch; ``training`` enables dropout, batch statistics and caching."""
        # Compute in the weights' dtype: float32, or float64 after astype() for grad checks.
        h = self._to_internal(x).astype(self.dtype, copy=False)
        for layer in self.layers:
            h = layer.forward(h, training)
        return h

    __call__ = forward

    def backward(self, dout: np.ndarray) -> None:
        """Backpropagate dL/doutput; fills every layer's ``grads``."""
        g: np.ndarray | None = dout
        for i in range(len(self.layers) - 1, -1, -1):
            # The first layer's input gradient is never used: skip computing it.
            g = self.layers[i].backward(g, need_dx=i > 0)

    def train_step(
        self, x: np.ndarray, y: np.ndarray, loss: Any, optimizer: Any
    ) -> tuple[float, int]:
        """One mini-batch of SGD: forward, loss, backward, update. Returns (loss, correct)."""
        out = self.forward(x, training=True)
        value = loss.forward(out, y)
        if not np.isfinite(value):
            return value, 0
        self.backward(loss.backward())
        optimizer.step(self.params(), self.grads())
        return value, int((out.argmax(axis=1) == y).sum())

    @property
    def ends_with_softmax(self) -> bool:
        return bool(self.layers) and isinstance(self.layers[-1], layers.Softmax)

    # Memory for the arrays of one inference batch. A fixed batch of 1,024 made scratch-cnn4's
    # second convolution build an im2col matrix of gigabytes; 64 MB keeps it to ~50 images,
    # as fast at a fraction of the peak memory (benchmarks/RESULTS.md).
    INFERENCE_MEMORY = 64 << 20
    MAX_INFERENCE_BATCH = 1024

    def inference_batch_size(self) -> int:
        """Largest batch whose biggest forward-pass array fits ``INFERENCE_MEMORY``."""
        per_sample = max((layer.work_size() for layer in self.layers), default=1)
        fits = self.INFERENCE_MEMORY // max(1, per_sample * self.dtype.itemsize)
        return int(min(self.MAX_INFERENCE_BATCH, max(1, fits)))

    def predict_logits(self, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Outputs in inference mode, in batches that bound memory (by default
        :meth:`inference_batch_size`)."""
        batch_size = batch_size or self.inference_batch_size()
        outs = [self.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs) if outs else np.zeros((0, self._shape[-1]), np.float32)

    def predict_proba(self, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities (N, classes) for inputs (N, C, H, W), already normalized."""
        return self.probabilities(self.predict_logits(x, batch_size))

    def probabilities(self, out: np.ndarray) -> np.ndarray:
        """Class probabilities from this model's outputs (softmax unless it ends with one)."""
        return out if self.ends_with_softmax else layers.softmax(out)

    def evaluate(
        self, x: np.ndarray, y: np.ndarray, batch_size: int | None = None, loss: Any = None
    ) -> tuple[float, float]:
        """(mean loss, accuracy) on (x, y) in inference mode."""
        return self.score(self.predict_logits(x, batch_size), y, loss)

    def score(self, out: np.ndarray, y: np.ndarray, loss: Any = None) -> tuple[float, float]:
        """(mean loss, accuracy) of this model's outputs ``out`` against labels ``y``."""
        from digitkit.metrics import log_softmax, safe_log
        from digitkit.scratch.losses import SoftmaxCrossEntropy

        if len(out) == 0:
            return float("nan"), float("nan")
        acc = float((out.argmax(axis=1) == y).mean())
        if loss is not None and not isinstance(loss, SoftmaxCrossEntropy):
            return loss.forward(out, y), acc
        logp = safe_log(out) if self.ends_with_softmax else log_softmax(out)
        return float(-logp[np.arange(len(y)), y].mean()), acc
