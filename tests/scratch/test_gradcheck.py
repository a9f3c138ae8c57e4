"""Finite-difference gradient checks in float64 for every layer, loss and a composite model.

Each check builds a scalar L = sum(w * layer(x)) with fixed random weights w, so that
dL/dy = w, and compares the layer's backward pass with central differences of L.
"""

from __future__ import annotations

import numpy as np
import pytest
from scratch_helpers import assert_close, numeric_grad

from digitkit.scratch import (
    MSE,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Tanh,
)

RNG = np.random.default_rng(0)


def check_layer(layer, in_shape, batch=3, training=True, x=None):
    rng = np.random.default_rng(1)
    layer.build(in_shape, rng)
    layer.astype(np.float64)
    x = rng.normal(size=(batch, *in_shape)) if x is None else x
    w = rng.normal(size=(batch, *layer.out_shape))

    def loss() -> float:
        if isinstance(layer, Dropout):  # same mask every call
            layer.rng = np.random.default_rng(5)
        return float((layer.forward(x, training) * w).sum())

    loss()
    dx = layer.backward(w)
    idx, num = numeric_grad(loss, x)
    assert_close(dx.reshape(-1)[idx], num, rtol=1e-6, atol=1e-8)
    for name, p in layer.params.items():
        loss()
        layer.backward(w)
        analytic = layer.grads[name].reshape(-1).copy()
        idx, num = numeric_grad(loss, p)
        assert_close(analytic[idx], num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    "kernel,stride,padding", [(3, 1, 0), (3, 2, 1), (5, 1, 2), (2, 2, 0), ((3, 2), (2, 1), (1, 0))]
)
def test_conv2d(kernel, stride, padding):
    check_layer(Conv2D(2, 3, kernel, stride, padding), (7, 6, 2))


@pytest.mark.parametrize("by_rows", [False, True])
@pytest.mark.parametrize(
    "kernel,stride,padding", [(3, 1, 0), (3, 2, 1), (5, 1, 2), (2, 2, 0), ((3, 2), (2, 1), (1, 0))]
)
def test_conv2d_both_input_gradient_methods(kernel, stride, padding, by_rows, monkeypatch):
    """Per kernel offset, or by rows with a banded matrix (chosen by input width)."""
    monkeypatch.setattr(Conv2D, "ROWS_MAX_COST", float("inf") if by_rows else 0.0)
    layer = Conv2D(2, 3, kernel, stride, padding)
    check_layer(layer, (7, 6, 2))
    assert layer.input_grad_by_rows == by_rows


@pytest.mark.parametrize("kernel,padding", [(3, 0), (5, 2), ((2, 3), (1, 0))])
def test_conv2d_one_channel_banded_path(kernel, padding):
    layer = Conv2D(1, 3, kernel, 1, padding)
    assert layer.banded
    check_layer(layer, (7, 6, 1))


def test_dense():
    check_layer(Dense(5, 4), (5,))


@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
@pytest.mark.parametrize("kernel,stride", [(2, None), (3, 2), (2, 1)])
@pytest.mark.parametrize("shape", [(7, 6, 2), (6, 6, 2)])
def test_pools(cls, kernel, stride, shape):
    check_layer(cls(kernel, stride), shape)


def test_maxpool_ties_route_gradient_once():
    pool = MaxPool2D(2)
    pool.build((2, 2, 1), RNG)
    pool.forward(np.zeros((1, 2, 2, 1)), training=True)
    dx = pool.backward(np.ones((1, 1, 1, 1)))
    assert dx.sum() == 1 and dx[0, 0, 0, 0] == 1  # the first maximum, as torch


@pytest.mark.parametrize("shape", [(6,), (4, 3, 5)])
def test_batchnorm(shape):
    check_layer(BatchNorm(shape[-1]), shape, batch=4)


@pytest.mark.parametrize("cls", [ReLU, Tanh, Sigmoid, Softmax])
def test_activations(cls):
    check_layer(cls(), (6,))


def test_dropout_and_flatten():
    check_layer(Dropout(0.4), (3, 4, 2))
    check_layer(Flatten(), (3, 4, 2))


@pytest.mark.parametrize("loss_fn", [SoftmaxCrossEntropy(), SoftmaxCrossEntropy(0.1), MSE()])
def test_losses(loss_fn):
    z = RNG.normal(size=(5, 10)) * 3
    y = RNG.integers(0, 10, 5)
    loss_fn.forward(z, y)
    g = loss_fn.backward()
    idx, num = numeric_grad(lambda: loss_fn.forward(z, y), z)
    assert_close(g.reshape(-1)[idx], num, rtol=1e-6)


def test_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1e4, 0.0, -1e4]], np.float32)
    loss = SoftmaxCrossEntropy()
    assert loss.forward(z, np.array([0])) == 0.0
    assert np.isfinite(loss.forward(z, np.array([2])))
    assert np.all(np.isfinite(loss.backward()))


def test_composite_model():
    model = Sequential(
        [
            Conv2D(1, 3, 3, padding=1),
            BatchNorm(3),
            ReLU(),
            MaxPool2D(2),
            Conv2D(3, 4, 3, stride=2),
            Tanh(),
            AvgPool2D(1),
            Flatten(),
            Dropout(0.3),
            Dense(4, 5),
            Sigmoid(),
            Dense(5, 10),
        ],
        input_shape=(1, 8, 8),
        seed=3,
    ).astype(np.float64)
    x = RNG.normal(size=(4, 1, 8, 8))
    y = RNG.integers(0, 10, 4)
    loss = SoftmaxCrossEntropy()

    def f() -> float:
        model.set_dropout_rng(np.random.default_rng(9))
        return loss.forward(model.forward(x, training=True), y)

    f()
    model.backward(loss.backward())
    grads = {k: v.copy() for k, v in model.grads().items()}
    assert set(grads) == set(model.params())
    for name, p in model.params().items():
        idx, num = numeric_grad(f, p, max_points=12)
        assert_close(grads[name].reshape(-1)[idx], num, rtol=1e-5, atol=1e-9)
