"""Input specification: how raw [0, 1] images become a model's input tensor.

A model card stores an :class:`InputSpec`; training and every inference path apply the same
``prepare`` so that a model never sees differently scaled inputs at train and test time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

MNIST_MEAN = 0.1306605
MNIST_STD = 0.3081078
KINDS = ("global", "per-image", "scale", "symmetric")


@dataclass(frozen=True)
class InputSpec:
    """How images in [0, 1] of shape (N, 28, 28) become model inputs (N, 1, S, S).

    kind: ``global`` ((x - mean) / std with dataset statistics), ``per-image`` (each image by
    its own mean and std, as the Keras zoo did), ``scale`` (x as is, the tutorials' /255),
    ``symmetric`` ((x - 0.5) * 2, An et al.). ``pad`` zero-pads the border before normalizing
    (LeNet-5 and the Keras zoo use 32x32 inputs).
    """

    kind: str = "global"
    mean: float = MNIST_MEAN
    std: float = MNIST_STD
    pad: int = 0

    @property
    def size(self) -> int:
        return 28 + 2 * self.pad

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSpec:
        return cls(**{k: d[k] for k in ("kind", "mean", "std", "pad") if k in d})

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28) in [0, 1] (or uint8 0..255) -> float32 (N, 1, S, S) model input."""
        x = np.asarray(images)
        x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
        if x.ndim == 3:
            x = x[:, None]
        if self.pad:
            p = self.pad
            x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        if self.kind == "global":
            return (x - np.float32(self.mean)) / np.float32(self.std)
        if self.kind == "per-image":
            m = x.mean(axis=(1, 2, 3), keepdims=True)
            s = x.std(axis=(1, 2, 3), keepdims=True)
            return (x - m) / np.maximum(s, 1e-6)
        if self.kind == "scale":
            return x
        if self.kind == "symmetric":
            return (x - 0.5) * 2.0
        raise ValueError(f"unknown normalization kind {self.kind!r}; choose from {KINDS}")


def fit_input_spec(images01: np.ndarray, kind: str = "global", pad: int = 0) -> InputSpec:
    """An InputSpec whose statistics come from ``images01`` (training split, [0, 1] floats)."""
    if kind not in KINDS:
        raise ValueError(f"unknown normalization kind {kind!r}; choose from {KINDS}")
    if kind == "global":
        return InputSpec(kind, float(images01.mean()), float(images01.std()), pad)
    return InputSpec(kind, 0.0, 1.0, pad)
