"""A NumPy runtime for the shipped models: a ``pip install digitkit`` without onnxruntime
(the ``fast`` extra) still recognizes digits and reads numbers.

It runs the float32 weights of the architectures digitkit ships: the digit classifier
``cnn-medium`` (10 classes, or 11 with "not a digit"; the ``default`` and ``mnist`` ensembles'
members), An et al.'s simple CNNs ``simplecnn-m3/m5/m7`` (the ``ensemble`` members) and the
number reader ``crnn-ctc`` (:mod:`digitkit.vision.numbers`). A loaded
:class:`NumpyGraph` offers the two methods of ``onnxruntime.InferenceSession`` that the
predictors call (``get_inputs``, ``run``), with the same input (N, 1, H, W) and output, so
:class:`digitkit.inference.predictor.OnnxPredictor` and the number reader take either; they
pick onnxruntime when it can be imported (:func:`onnxruntime_available`), this otherwise.

Why the weights (``model.safetensors``) and not the graph (``model.onnx``): an ONNX file is
protobuf, which needs the ``onnx`` package (a training dependency) or a hand-written wire
format reader, and then an interpreter of whatever operators and attributes the exporter of
the day emitted. The safetensors file is a JSON header and raw arrays, read by the
``safetensors`` package that the bare install already has, and the architectures are short
fixed stacks, written out below from :mod:`digitkit.models`. What runs is what the
export vouched for: the export compared its graph with torch and recorded the sha256 of
``model.safetensors`` in the card (``onnx.weights_sha256``) next to the graph's; this runtime
hashes the very bytes it parses and refuses any other weights. The cost is that these
architectures are described twice (torch modules, and here); the tests compare this runtime's
logits with onnxruntime's on the shipped models, so a drift shows.

Batch norms are folded into the convolutions at load; every convolution is im2col + one
matrix product (:mod:`digitkit.inference.numpy_ops`). The int8 graphs
(``model.int8.onnx``) are onnxruntime's: this runtime always runs the float32 weights.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from math import isqrt
from pathlib import Path
from typing import Any

import numpy as np

from digitkit import runs
from digitkit.errors import DigitkitError
from digitkit.inference import numpy_ops as ops

Op = Callable[[np.ndarray], np.ndarray]


def onnxruntime_available() -> bool:
    """Whether onnxruntime can be imported (the ``fast`` extra): the predictors then use it."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def _blas() -> Any:
    """The process's BLAS thread pools (threadpoolctl looks up the loaded libraries once)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


# --------------------------------------------------------------------------- layers


@dataclass
class Conv:
    """A convolution with its batch norm folded in (stride 1), channels-last."""

    matrix: np.ndarray
    bias: np.ndarray | None
    kernel: tuple[int, int]
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ops.conv2d(x, self.matrix, self.bias, self.kernel, self.padding, self.dilation)


@dataclass
class MaxPool:
    """Max-pooling over non-overlapping windows (:func:`numpy_ops.max_pool`)."""

    kernel: tuple[int, int]
    ceil_mode: bool = False

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ops.max_pool(x, *self.kernel, ceil_mode=self.ceil_mode)


@dataclass
class Dense:
    """Flatten (N, H, W, C) and multiply: ``matrix`` (H*W*C, K), rows in channels-last order."""

    matrix: np.ndarray
    bias: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), len(self.matrix)) @ self.matrix + self.bias


@dataclass
class Residual:
    """``x + body(x)``."""

    body: Sequence[Op]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = x
        for op in self.body:
            y = op(y)
        return x + y


def frames(x: np.ndarray) -> np.ndarray:
    """(N, 1, T, K) -> (N, T, K): the number reader's per-frame scores."""
    return x.reshape(len(x), x.shape[2], x.shape[3])


# --------------------------------------------------------------------------- architectures


class _Weights:
    """A state dict that remembers which tensors were used, so that weights of another
    architecture (a tensor left over) are refused instead of silently ignored."""

    def __init__(self, tensors: Mapping[str, np.ndarray], where: str):
        self.tensors, self.where = dict(tensors), where
        self.used: set[str] = set()

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.tensors:
            raise DigitkitError(f"{self.where}: no tensor {key!r} in the weights")
        self.used.add(key)
        return self.tensors[key]

    def conv_bn(
        self,
        conv: str,
        bn: str,
        padding: tuple[int, int],
        dilation: tuple[int, int] = (1, 1),
    ) -> Conv:
        """Conv ``conv`` (2-D or 1-D, no bias) and batch norm ``bn``, folded."""
        weight = self[f"{conv}.weight"]
        if weight.ndim == 3:  # Conv1d (F, C, k) over frames: a 1 x k 2-D convolution
            weight = weight[:, :, None, :]
        stats = {k: self[f"{bn}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
        folded, bias = ops.fold_batch_norm(weight, None, stats)
        kernel = (folded.shape[2], folded.shape[3])
        return Conv(ops.conv_weight_matrix(folded), bias, kernel, padding, dilation)

    def check_all_used(self) -> None:
        """Raise DigitkitError when a tensor (other than batch-norm counters) was not used."""
        left = sorted(
            k for k in self.tensors if k not in self.used and not k.endswith("num_batches_tracked")
        )
        if left:
            raise DigitkitError(f"{self.where}: weights do not fit the architecture ({left[:3]})")


# Both architectures are conv-BN-ReLU-pool blocks; here they pool before the ReLU, which
# gives the same result (ReLU is non-decreasing, so it commutes with the maximum) on a quarter
# of the pixels.


def cnn_medium(w: _Weights) -> list[Op]:
    """:func:`digitkit.models.classic.cnn_medium`: three conv-BN-ReLU-pool blocks, dense."""
    layers: list[Op] = []
    for conv, ceil in ((0, False), (4, False), (8, True)):
        layers += [w.conv_bn(f"{conv}", f"{conv + 1}", (1, 1)), MaxPool((2, 2), ceil), ops.relu]
    layers.append(_dense(w["14.weight"], w["14.bias"], w["8.weight"].shape[0], w.where))
    return layers


def _dense(weight: np.ndarray, bias: np.ndarray, channels: int, where: str) -> Dense:
    """A torch linear layer over flattened (C, H, W) square feature maps, as a :class:`Dense`
    over this runtime's (H, W, C) features."""
    side = isqrt(weight.shape[1] // channels)
    if side * side * channels != weight.shape[1]:
        raise DigitkitError(f"{where}: dense weight {weight.shape} does not fit {channels} maps")
    matrix = weight.reshape(-1, channels, side, side).transpose(2, 3, 1, 0).reshape(-1, len(bias))
    return Dense(np.ascontiguousarray(matrix, np.float32), bias.astype(np.float32))


def simple_cnn(w: _Weights) -> list[Op]:
    """:func:`digitkit.models.simplecnn.simple_cnn` (M3, M5, M7 at any width): unpadded
    conv-BN-ReLU layers (modules 3i, 3i+1, 3i+2), flatten, a linear layer without bias and a
    batch norm over the logits, folded into it."""
    layers: list[Op] = []
    i = 0
    while w.tensors.get(f"{i}.weight", np.empty(0)).ndim == 4:
        layers += [w.conv_bn(f"{i}", f"{i + 1}", (0, 0)), ops.relu]
        i += 3
    if not layers:
        raise DigitkitError(f"{w.where}: no convolution where simplecnn has its first")
    linear, norm = f"{i + 1}", f"{i + 2}"  # module i is the flatten
    stats = {k: w[f"{norm}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
    weight, bias = ops.fold_batch_norm(w[f"{linear}.weight"], None, stats)
    layers.append(_dense(weight, bias, w[f"{i - 3}.weight"].shape[0], w.where))
    return layers


# The number reader's context blocks (digitkit.models.sequence.CRNN's default dilations, which
# the registered crnn-ctc keeps; they are not in the weights).
CRNN_DILATIONS = (1, 2, 4, 1)


# The pooling after each of the number reader's four feature stages.
CRNN_POOLS = ((2, 2), (2, 2), (2, 1), (2, 1))


def crnn_ctc(w: _Weights) -> list[Op]:
    """:class:`digitkit.models.sequence.CRNN` of any depth: conv features (height 32 -> 1,
    width / 4), residual dilated 1-D convolutions over the frames, a 1x1 convolution scoring
    each frame. The depth (3x3 convolutions in each stage after the first) is read from the
    weights: one conv in the first stage, ``depth`` in each of the other three, and the one
    that collapses the height."""
    convs = sum(1 for k, v in w.tensors.items() if k.startswith("features.") and v.ndim == 4)
    depth, odd = divmod(convs - 2, len(CRNN_POOLS) - 1)
    if odd or depth < 1:
        raise DigitkitError(f"{w.where}: {convs} convolutions do not make crnn-ctc's stages")
    layers: list[Op] = []
    i = 0  # each conv is followed by its norm and ReLU, each stage by its pool: indices of
    for stage, pool in enumerate(CRNN_POOLS):  # torch's nn.Sequential, which counts them all
        n = 1 if stage == 0 else depth
        for k in range(n):
            layers.append(w.conv_bn(f"features.{i}", f"features.{i + 1}", (1, 1)))
            if k < n - 1:
                layers.append(ops.relu)  # the stage's last ReLU comes after its pool
            i += 3
        layers += [MaxPool(pool), ops.relu]
        i += 1
    layers += [w.conv_bn(f"features.{i}", f"features.{i + 1}", (0, 0)), ops.relu]  # height 2->1
    for i, d in enumerate(CRNN_DILATIONS):
        pad = d * (w[f"context.{i}.body.0.weight"].shape[-1] // 2)
        body = w.conv_bn(f"context.{i}.body.0", f"context.{i}.body.1", (0, pad), (1, d))
        layers.append(Residual([body, ops.relu]))
    head = w["head.weight"][:, :, None, :]  # (K, C, 1) -> (K, C, 1, 1)
    layers += [Conv(ops.conv_weight_matrix(head), w["head.bias"], (1, 1)), frames]
    return layers


ARCHITECTURES: dict[str, Callable[[_Weights], list[Op]]] = {
    "cnn-medium": cnn_medium,
    "crnn-ctc": crnn_ctc,
    "simplecnn-m3": simple_cnn,
    "simplecnn-m5": simple_cnn,
    "simplecnn-m7": simple_cnn,
}


def supports(card: Mapping[str, Any]) -> bool:
    """Whether this runtime runs the architecture of a run's card."""
    return str((card.get("architecture") or {}).get("name")) in ARCHITECTURES


# --------------------------------------------------------------------------- the graph


@dataclass(frozen=True)
class GraphInput:
    """What ``get_inputs()`` describes, as onnxruntime's ``NodeArg``: the input's name."""

    name: str = "input"


class NumpyGraph:
    """A loaded model: ``graph(x)`` maps the model's input (N, 1, H, W) float32 to its
    logits, as the exported ONNX graph does; ``run``/``get_inputs`` as onnxruntime's session.

    Batches are run ``batch`` images at a time: the im2col matrices grow with the batch."""

    runtime = "numpy"

    def __init__(self, name: str, layers: Sequence[Op], batch: int = 64):
        self.name, self.layers, self.batch = name, list(layers), batch

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expects (N, 1, H, W) images, got {x.shape}")
        # One BLAS thread: these products are too small to split, and when the cores are busy
        # BLAS threads wait on each other, many times slower (benchmarks/RESULTS.md, "The NumPy
        # runtime"); predict_batch already runs chunks in parallel.
        with _blas().limit(limits=1, user_api="blas"):
            parts = [self._forward(x[i : i + self.batch]) for i in range(0, len(x), self.batch)]
        return np.concatenate(parts) if parts else self._forward(x)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        y = np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # channels-last
        for layer in self.layers:
            y = layer(y)
        return y

    def get_inputs(self) -> list[GraphInput]:
        """The one input, as ``onnxruntime.InferenceSession.get_inputs``."""
        return [GraphInput()]

    def run(self, output_names: Any, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """``[logits]`` of the one input in ``feeds``, as ``InferenceSession.run``."""
        (x,) = feeds.values()
        return [self(x)]


def load_graph(run_dir: str | Path, card: Mapping[str, Any]) -> NumpyGraph:
    """The run's model on this runtime, from its ``model.safetensors`` when that file is the
    one its card's ``onnx`` record pinned at export (``weights_sha256``).

    Raises DigitkitError when the architecture is not one this runtime runs, when the card
    pins no weights, or when the file is not the pinned one (changed or damaged)."""
    run_dir = Path(run_dir)
    name = str((card.get("architecture") or {}).get("name"))
    if name not in ARCHITECTURES:
        raise DigitkitError(
            f"{run_dir}: the NumPy runtime runs {', '.join(ARCHITECTURES)}, not {name}; "
            "install onnxruntime for it: pip install 'digitkit[fast]'"
        )
    record = card.get("onnx")
    pinned = record.get("weights_sha256") if isinstance(record, dict) else None
    path = run_dir / runs.WEIGHTS
    if not pinned or not path.is_file():
        raise DigitkitError(
            f"{run_dir}: the card pins no weights (no onnx.weights_sha256) for the NumPy "
            "runtime to check; install onnxruntime: pip install 'digitkit[fast]'"
        )
    data = path.read_bytes()  # hashed and parsed from the same bytes
    if hashlib.sha256(data).hexdigest() != pinned:
        raise DigitkitError(
            f"{path}: sha256 differs from the one recorded in {run_dir / runs.CARD} at export "
            "(the weights changed or are damaged); restore them or export again"
        )
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        tensors = load(data)
    except SafetensorError as exc:
        raise DigitkitError(f"{path}: not a readable safetensors file ({exc})") from None
    weights = _Weights(tensors, str(path))
    layers = ARCHITECTURES[name](weights)
    weights.check_all_used()
    return NumpyGraph(str(run_dir), layers)
