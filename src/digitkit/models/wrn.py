"""WideResNet-28-10 (Zagoruyko & Komodakis 2016) as the Keras MNIST zoo built it for 32x32x1.

A 3x3 convolution to 16 channels, three stages of four pre-activation basic blocks
(BN-ReLU-conv3x3, BN-ReLU-dropout-conv3x3) of widths 160/320/640 and strides 1/2/2, a 1x1
projection shortcut on each stage's first block, then BN-ReLU, global average pooling and a
linear layer. Convolutions keep their biases like the zoo: 36.5 M parameters.
"""

from __future__ import annotations

from torch import nn

from digitkit.models.registry import register
from digitkit.models.resnet import PreActBasic, PreActResNet, _stage, he_init


@register(
    "wrn-28-10",
    description="WideResNet-28-10 with dropout 0.3, 32x32 (Keras zoo 99.76%)",
    recipe="keras-zoo-wrn",
    input_pad=2,
    normalization="per-image",
    family="wrn",
)
def wrn_28_10(
    depth: int = 28, widen: int = 10, dropout: float = 0.3, num_classes: int = 10
) -> nn.Module:
    """WideResNet-``depth``-``widen`` (depth = 6n + 4) with dropout between the 3x3 convs."""
    if (depth - 4) % 6:
        raise ValueError("depth must be 6n + 4 (e.g. 16, 28, 40)")
    n = (depth - 4) // 6
    w = (16 * widen, 32 * widen, 64 * widen)
    stages = [
        _stage(PreActBasic, 16, w[0], n, 1, dropout=dropout),
        _stage(PreActBasic, w[0], w[1], n, 2, dropout=dropout),
        _stage(PreActBasic, w[1], w[2], n, 2, dropout=dropout),
    ]
    return he_init(PreActResNet(16, stages, w[2], num_classes))
