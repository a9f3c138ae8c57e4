"""The NumPy forward operations (digitkit.inference.numpy_ops) against plain loops."""

from __future__ import annotations

import numpy as np
import pytest

from digitkit.inference import numpy_ops as ops


def _conv_reference(x, weight, bias, padding, dilation):
    """Direct cross-correlation, one output pixel at a time (NHWC in, torch weight)."""
    (ph, pw), (dh, dw) = padding, dilation
    f, _, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    ho, wo = xp.shape[1] - dh * (kh - 1), xp.shape[2] - dw * (kw - 1)
    out = np.zeros((len(x), ho, wo, f))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, i : i + dh * (kh - 1) + 1 : dh, j : j + dw * (kw - 1) + 1 : dw]
            out[:, i, j] = np.einsum("nabc,fcab->nf", patch, weight) + bias
    return out


@pytest.mark.parametrize(
    ("channels", "kernel", "padding", "dilation"),
    [(1, (3, 3), (1, 1), (1, 1)), (4, (3, 3), (0, 0), (1, 1)), (5, (1, 3), (0, 2), (1, 2))],
)
def test_conv2d_equals_the_direct_sum(channels, kernel, padding, dilation):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 9, channels)).astype(np.float32)
    weight = rng.standard_normal((3, channels, *kernel)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    y = ops.conv2d(x, ops.conv_weight_matrix(weight), bias, kernel, padding, dilation)
    np.testing.assert_allclose(y, _conv_reference(x, weight, bias, padding, dilation), atol=1e-4)


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool_floor_and_ceil(ceil_mode):
    x = np.random.default_rng(1).standard_normal((2, 7, 5, 3)).astype(np.float32)
    y = ops.max_pool(x, 2, 2, ceil_mode)
    ho, wo = (4, 3) if ceil_mode else (3, 2)
    assert y.shape == (2, ho, wo, 3)
    for i in range(ho):
        for j in range(wo):
            window = x[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
            np.testing.assert_array_equal(y[:, i, j], window.max(axis=(1, 2)))


def test_folded_batch_norm_is_conv_then_norm():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    weight = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    bn = {
        "weight": rng.standard_normal(4).astype(np.float32),
        "bias": rng.standard_normal(4).astype(np.float32),
        "running_mean": rng.standard_normal(4).astype(np.float32),
        "running_var": rng.random(4).astype(np.float32) + 0.5,
    }
    folded, bias = ops.fold_batch_norm(weight, None, bn)
    y = ops.conv2d(x, ops.conv_weight_matrix(folded), bias, (3, 3), (1, 1))
    z = ops.conv2d(x, ops.conv_weight_matrix(weight), None, (3, 3), (1, 1))
    z = (z - bn["running_mean"]) / np.sqrt(bn["running_var"] + 1e-5) * bn["weight"] + bn["bias"]
    np.testing.assert_allclose(y, z, atol=1e-4)
