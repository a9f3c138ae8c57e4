"""The simple CNNs of An et al. 2020 ("An Ensemble of Simple Convolutional Neural Network
Models for MNIST Digit Recognition", arXiv 2008.10400).

Each model is a stack of unpadded convolutions (no bias) with BN and ReLU, no pooling and no
dropout, shrinking 28x28 to a small map; then flatten, a linear layer without bias and
BatchNorm1d over the 10 logits. M3 uses ten 3x3 convs (32..176 channels, 28 -> 8), M5 five
5x5 convs (32..160, 28 -> 8), M7 four 7x7 convs (48..192, 28 -> 4). Inputs are (x - 0.5) * 2.
The paper flattens in NHWC order (TensorFlow); we flatten NCHW, which is the same model up to
a permutation of the linear layer's inputs.
"""

from __future__ import annotations

from torch import nn

from digitkit.models.registry import register


def simple_cnn(kernel: int, channels: list[int], num_classes: int = 10) -> nn.Sequential:
    """Unpadded ``kernel``x``kernel`` conv-BN-ReLU layers of ``channels``, linear + BN1d head."""
    layers: list[nn.Module] = []
    cin, side = 1, 28
    for cout in channels:
        layers += [nn.Conv2d(cin, cout, kernel, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        cin, side = cout, side - (kernel - 1)
    layers += [
        nn.Flatten(),
        nn.Linear(cin * side * side, num_classes, bias=False),
        nn.BatchNorm1d(num_classes),
    ]
    return nn.Sequential(*layers)


def _scaled(channels, width: float) -> list[int]:
    """The paper's channel counts times ``width`` (--arch width=0.5: a CPU-sized member with
    the same depth and receptive field), at least 8 each."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return [max(8, round(c * width)) for c in channels]


@register(
    "simplecnn-m3",
    description="An et al. M3: ten 3x3 conv-BN-ReLU (32..176), no pooling, BN head",
    recipe="simplecnn",
    normalization="symmetric",
    family="simplecnn",
)
def simplecnn_m3(width: float = 1.0) -> nn.Module:
    """M3: 3x3 convolutions with 32, 48, ..., 176 channels (28x28 -> 8x8), times ``width``."""
    return simple_cnn(3, _scaled(range(32, 177, 16), width))


@register(
    "simplecnn-m5",
    description="An et al. M5: five 5x5 conv-BN-ReLU (32..160), no pooling, BN head",
    recipe="simplecnn",
    normalization="symmetric",
    family="simplecnn",
)
def simplecnn_m5(width: float = 1.0) -> nn.Module:
    """M5: 5x5 convolutions with 32, 64, 96, 128, 160 channels (28x28 -> 8x8), times ``width``."""
    return simple_cnn(5, _scaled([32, 64, 96, 128, 160], width))


@register(
    "simplecnn-m7",
    description="An et al. M7: four 7x7 conv-BN-ReLU (48..192), no pooling, BN head",
    recipe="simplecnn",
    normalization="symmetric",
    family="simplecnn",
)
def simplecnn_m7(width: float = 1.0) -> nn.Module:
    """M7: 7x7 convolutions with 48, 96, 144, 192 channels (28x28 -> 4x4), times ``width``."""
    return simple_cnn(7, _scaled([48, 96, 144, 192], width))
