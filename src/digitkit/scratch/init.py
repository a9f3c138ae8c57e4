"""Weight initialization: He, LeCun (the LeNet paper's uniform fan-in rule), Xavier/Glorot.

Every initializer takes the weight shape, its fan-in and fan-out, and a NumPy Generator, so
that a model built with the same seed always starts from the same weights. Biases start at
zero (see the layers).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from digitkit.errors import DigitkitError

Initializer = Callable[[tuple[int, ...], int, int, np.random.Generator], np.ndarray]


def he_normal(
    shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator
) -> np.ndarray:
    """N(0, 2 / fan_in): keeps the activation variance constant through ReLU layers."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)


def lecun_uniform(
    shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator
) -> np.ndarray:
    """U(-2.4 / fan_in, 2.4 / fan_in), as in LeCun et al. 1998 (tanh units)."""
    limit = 2.4 / fan_in
    return rng.uniform(-limit, limit, shape)


def lecun_normal(
    shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator
) -> np.ndarray:
    """N(0, 1 / fan_in): the modern 'LeCun normal' for tanh/SELU units."""
    return rng.normal(0.0, np.sqrt(1.0 / fan_in), shape)


def xavier_uniform(
    shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator
) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape)


INITIALIZERS: dict[str, Initializer] = {
    "he": he_normal,
    "lecun": lecun_uniform,
    "lecun_normal": lecun_normal,
    "xavier": xavier_uniform,
}


def get_initializer(name: str) -> Initializer:
    """The initializer called ``name`` (he, lecun, lecun_normal, xavier)."""
    try:
        return INITIALIZERS[name]
    except KeyError:
        raise DigitkitError(
            f"unknown initializer {name!r}; choose from {', '.join(INITIALIZERS)}"
        ) from None
