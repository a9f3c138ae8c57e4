"""Parity with PyTorch: the same weights in the equivalent torch layers give the same outputs
and gradients (float32, 1e-4 relative), and one optimizer step matches torch.optim.

Our layers are channels-last (N, H, W, C); torch's are (N, C, H, W): the helpers transpose.
"""

from __future__ import annotations

import numpy as np
import pytest
from scratch_helpers import assert_close

from digitkit.scratch import AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, MaxPool2D
from digitkit.scratch.optim import SGD, Adam

torch = pytest.importorskip("torch")
nn = torch.nn
RTOL = 1e-4


def nchw(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 3, 1, 2) if a.ndim == 4 else a


def nhwc(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


def compare(
    ours,
    theirs: nn.Module,
    x: np.ndarray,
    params: dict[str, str] | None = None,
    training: bool = True,
) -> None:
    """Forward x through both, backward a fixed random dL/dy, compare y, dx and the grads of
    ``params`` (our name -> torch attribute)."""
    y = ours.forward(x, training)
    dy = np.random.default_rng(7).normal(size=y.shape).astype(np.float32)
    dx = ours.backward(dy)
    xt = torch.tensor(nchw(x), requires_grad=True)
    theirs.train(training)
    yt = theirs(xt)
    yt.backward(torch.tensor(nchw(dy)))
    assert_close(y, nhwc(yt.detach().numpy()), RTOL)
    assert_close(dx, nhwc(xt.grad.numpy()), RTOL)
    for ours_name, attr in (params or {}).items():
        assert_close(ours.grads[ours_name], getattr(theirs, attr).grad.numpy(), RTOL)


def copy_params(ours, theirs: nn.Module) -> None:
    with torch.no_grad():
        for name, value in ours.params.items():
            getattr(theirs, name).copy_(torch.from_numpy(value))


@pytest.mark.parametrize(
    "k,s,p",
    [(5, 1, 0), (5, 1, 2), (3, 2, 1), (3, 2, 0), (4, 3, 2), (1, 1, 0), ((3, 5), (2, 1), (0, 2))],
)
@pytest.mark.parametrize("c", [3, 1])  # one channel takes the banded first-layer path
def test_conv2d(k, s, p, c):
    rng = np.random.default_rng(0)
    ours = Conv2D(c, 5, k, s, p)
    ours.build((11, 10, c), rng)
    theirs = nn.Conv2d(c, 5, k, s, p)
    ours.params["bias"] = rng.normal(size=5).astype(np.float32)
    copy_params(ours, theirs)
    x = rng.normal(size=(4, 11, 10, c)).astype(np.float32)
    compare(ours, theirs, x, {"weight": "weight", "bias": "bias"})


@pytest.mark.parametrize("by_rows", [False, True])
@pytest.mark.parametrize("k,s,p", [(5, 1, 0), (3, 2, 1), (4, 3, 2), ((3, 5), (2, 1), (0, 2))])
def test_conv2d_both_input_gradient_methods(k, s, p, by_rows, monkeypatch):
    monkeypatch.setattr(Conv2D, "ROWS_MAX_COST", float("inf") if by_rows else 0.0)
    rng = np.random.default_rng(0)
    ours = Conv2D(3, 5, k, s, p)
    ours.build((11, 10, 3), rng)
    assert ours.input_grad_by_rows == by_rows
    theirs = nn.Conv2d(3, 5, k, s, p)
    copy_params(ours, theirs)
    x = rng.normal(size=(4, 11, 10, 3)).astype(np.float32)
    compare(ours, theirs, x, {"weight": "weight", "bias": "bias"})


@pytest.mark.parametrize(
    "ours_cls,theirs_cls", [(MaxPool2D, nn.MaxPool2d), (AvgPool2D, nn.AvgPool2d)]
)
@pytest.mark.parametrize("k,s", [(2, 2), (3, 2), (2, 1), (3, 3)])
@pytest.mark.parametrize("hw", [(9, 8), (12, 6)])  # (12, 6): windows of 2 and 3 tile it
def test_pools(ours_cls, theirs_cls, k, s, hw):
    rng = np.random.default_rng(1)
    ours = ours_cls(k, s)
    ours.build((*hw, 3), rng)
    x = rng.normal(size=(3, *hw, 3)).astype(np.float32)
    compare(ours, theirs_cls(k, s), x)


def test_maxpool_after_relu_zeros():
    """Windows full of zeros (common after ReLU): torch routes the gradient to the first."""
    rng = np.random.default_rng(2)
    ours = MaxPool2D(2)
    ours.build((6, 6, 2), rng)
    x = np.maximum(rng.normal(size=(2, 6, 6, 2)), 0.5).astype(np.float32) - 0.5
    compare(ours, nn.MaxPool2d(2), x)


def test_dense():
    rng = np.random.default_rng(3)
    ours = Dense(7, 4)
    ours.build((7,), rng)
    ours.params["bias"] = rng.normal(size=4).astype(np.float32)
    theirs = nn.Linear(7, 4)
    copy_params(ours, theirs)
    compare(
        ours,
        theirs,
        rng.normal(size=(5, 7)).astype(np.float32),
        {"weight": "weight", "bias": "bias"},
    )


@pytest.mark.parametrize("shape,cls", [((6,), nn.BatchNorm1d), ((5, 4, 3), nn.BatchNorm2d)])
def test_batchnorm(shape, cls):
    rng = np.random.default_rng(4)
    c = shape[-1]
    ours = BatchNorm(c)
    ours.build(shape, rng)
    ours.params = {
        "weight": rng.normal(size=c).astype(np.float32),
        "bias": rng.normal(size=c).astype(np.float32),
    }
    theirs = cls(c)
    copy_params(ours, theirs)
    x = (rng.normal(size=(8, *shape)) * 3 + 1).astype(np.float32)
    compare(ours, theirs, x, {"weight": "weight", "bias": "bias"})
    # running statistics after one training step, then inference
    assert_close(ours.buffers["running_mean"], theirs.running_mean.numpy(), RTOL)
    assert_close(ours.buffers["running_var"], theirs.running_var.numpy(), RTOL)
    with torch.no_grad():
        theirs.eval()
        expected = nhwc(theirs(torch.from_numpy(nchw(x))).numpy())
    assert_close(ours.forward(x, training=False), expected, RTOL)


def test_dropout_with_fixed_mask():
    """Same mask on both sides: torch's dropout is x * mask / (1 - p) as ours."""
    p = 0.3
    ours = Dropout(p)
    ours.build((10,), np.random.default_rng(0))
    ours.rng = np.random.default_rng(11)
    x = np.random.default_rng(5).normal(size=(6, 10)).astype(np.float32)
    y = ours.forward(x, training=True)
    dy = np.random.default_rng(6).normal(size=y.shape).astype(np.float32)
    dx = ours.backward(dy)
    keep = np.random.default_rng(11).random(x.shape, dtype=np.float32) >= p
    xt = torch.tensor(x, requires_grad=True)
    mask = torch.from_numpy(keep.astype(np.float32))
    yt = xt * mask / (1 - p)  # torch.nn.functional.dropout with this mask
    yt.backward(torch.from_numpy(dy))
    assert_close(y, yt.detach().numpy(), RTOL)
    assert_close(dx, xt.grad.numpy(), RTOL)
    assert np.array_equal(ours.forward(x, training=False), x)


@pytest.mark.parametrize(
    "name,ours_fn,theirs_fn",
    [
        (
            "sgd",
            lambda: SGD(0.1, weight_decay=0.01),
            lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01),
        ),
        (
            "momentum",
            lambda: SGD(0.1, momentum=0.9),
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        ),
        (
            "nesterov",
            lambda: SGD(0.05, momentum=0.9, nesterov=True, weight_decay=5e-4),
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4),
        ),
        (
            "adam",
            lambda: Adam(1e-2, weight_decay=1e-3),
            lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-3),
        ),
        (
            "adamw",
            lambda: Adam(1e-2, weight_decay=1e-2, decoupled=True),
            lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=1e-2),
        ),
    ],
)
def test_optimizer_steps_match_torch(name, ours_fn, theirs_fn):
    rng = np.random.default_rng(8)
    params = {
        "w": rng.normal(size=(4, 3)).astype(np.float32),
        "b": rng.normal(size=3).astype(np.float32),
    }
    tparams = [torch.tensor(v.copy(), requires_grad=True) for v in params.values()]
    ours, theirs = ours_fn(), theirs_fn(tparams)
    for _ in range(3):  # three steps: momentum buffers and bias corrections come into play
        grads = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in params.items()}
        ours.step(params, grads)
        for t, g in zip(tparams, grads.values(), strict=True):
            t.grad = torch.from_numpy(g.copy())
        theirs.step()
    for ours_value, t in zip(params.values(), tparams, strict=True):
        assert_close(ours_value, t.detach().numpy(), 1e-5)
