"""The NumPy engine's architectures, registered in the shared model registry.

Each builder returns a built :class:`~digitkit.scratch.model.Sequential` (weights
initialized from ``seed``). ``digitkit models`` lists them; ``digitkit train NAME --engine
numpy`` trains them with the recipe named here.
"""

from __future__ import annotations

from typing import Any

from digitkit.errors import DigitkitError
from digitkit.models import registry
from digitkit.models.registry import ModelSpec, register
from digitkit.scratch.conv import AvgPool2D, Conv2D, MaxPool2D
from digitkit.scratch.layers import ACTIVATIONS, Dense, Dropout, Flatten, ReLU
from digitkit.scratch.model import Sequential


def numpy_spec(name: str) -> ModelSpec:
    """The registered NumPy architecture ``name`` (looking it up imports no torch)."""
    return registry.get_spec(name, "numpy")


def build(name: str, **kwargs: Any) -> Sequential:
    """Build the NumPy architecture ``name`` with its defaults overridden by ``kwargs``."""
    spec = numpy_spec(name)
    return spec.builder(**{**spec.defaults, **kwargs})


def _activation(name: str) -> type:
    if name not in ("tanh", "relu", "sigmoid"):
        raise DigitkitError(f"activation must be tanh, relu or sigmoid, not {name!r}")
    return ACTIVATIONS[name]


@register(
    "lenet5",
    engine="numpy",
    recipe="scratch-lenet5",
    input_pad=2,
    family="scratch",
    description="LeNet-5 in NumPy: 6@5x5, avg-pool, 16@5x5, avg-pool, 120@5x5, 84, 10; 32x32",
)
def lenet5(activation: str = "tanh", init: str = "", seed: int = 0) -> Sequential:
    """LeNet-5 as in LeCun et al. 1998 (full C3 connection table, plain average-pool
    subsampling, 61.7k parameters). ``init`` defaults to LeCun normal for tanh and He for
    ReLU; ``init="lecun"`` is the paper's U(+-2.4/fan_in), which was meant for its scaled
    tanh (1.7159 tanh(2x/3)) and starts plain tanh slowly."""
    act = _activation(activation)
    init = init or ("he" if activation == "relu" else "lecun_normal")
    return Sequential(
        [
            Conv2D(1, 6, 5, init=init),
            act(),
            AvgPool2D(2),  # 32 -> 28 -> 14
            Conv2D(6, 16, 5, init=init),
            act(),
            AvgPool2D(2),  # 14 -> 10 -> 5
            Conv2D(16, 120, 5, init=init),
            act(),
            Flatten(),  # 5 -> 1: C5 is a 120-vector
            Dense(120, 84, init=init),
            act(),
            Dense(84, 10, init="xavier"),
        ],
        input_shape=(1, 32, 32),
        seed=seed,
    )


@register(
    "scratch-mlp",
    engine="numpy",
    recipe="scratch-mlp",
    family="scratch",
    description="784-128-50-10 ReLU perceptron with dropout (the NumPy library's early models)",
)
def scratch_mlp(
    hidden1: int = 128, hidden2: int = 50, dropout: float = 0.2, seed: int = 0
) -> Sequential:
    """A small fully connected net: the step before convolutions in the from-scratch story."""
    return Sequential(
        [
            Flatten(),
            Dense(784, hidden1),
            ReLU(),
            Dropout(dropout),
            Dense(hidden1, hidden2),
            ReLU(),
            Dropout(dropout),
            Dense(hidden2, 10, init="xavier"),
        ],
        input_shape=(1, 28, 28),
        seed=seed,
    )


@register(
    "scratch-cnn4",
    engine="numpy",
    recipe="scratch-cnn4",
    family="scratch",
    description="conv 16/32/48/64 5x5 pad 2, ReLU, dropout 0.2, 2 max-pools, dense 10 "
    "(the 0.40% NumPy model)",
)
def scratch_cnn4(
    widths: tuple[int, ...] | list[int] = (16, 32, 48, 64), dropout: float = 0.2, seed: int = 0
) -> Sequential:
    """RaoulLuque's best model: four 5x5 convolutions (padding 2) with ReLU and dropout,
    max-pooling after the second and fourth, then one dense layer (160k parameters)."""
    w1, w2, w3, w4 = widths
    return Sequential(
        [
            Conv2D(1, w1, 5, padding=2),
            ReLU(),
            Dropout(dropout),
            Conv2D(w1, w2, 5, padding=2),
            ReLU(),
            MaxPool2D(2),
            Dropout(dropout),  # 28 -> 14
            Conv2D(w2, w3, 5, padding=2),
            ReLU(),
            Dropout(dropout),
            Conv2D(w3, w4, 5, padding=2),
            ReLU(),
            MaxPool2D(2),
            Dropout(dropout),  # 14 -> 7
            Flatten(),
            Dense(7 * 7 * w4, 10, init="xavier"),
        ],
        input_shape=(1, 28, 28),
        seed=seed,
    )
