"""MobileNet v1 (Howard et al. 2017) as the Keras MNIST zoo adapted it to 32x32x1 input.

Depthwise-separable blocks (depthwise 3x3 + BN + ReLU, pointwise 1x1 + BN + ReLU) with a width
multiplier ``alpha``. The zoo kept the first convolution at stride 1 (the paper uses 2) and
dropped the last block's stride, so a 32x32 input ends at 2x2 before global average pooling.
Convolutions keep their biases, as Keras does by default, so the parameter count matches the
zoo's 3.23 M trainable parameters (3,227,594).
"""

from __future__ import annotations

from torch import nn

from digitkit.models.registry import register

# (output channels, stride) of the 13 depthwise-separable blocks.
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


def _separable(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin),
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


@register(
    "mobilenet",
    description="MobileNet v1 (13 depthwise-separable blocks, 32x32; Keras zoo 99.68%)",
    recipe="keras-zoo-mobilenet",
    input_pad=2,
    normalization="per-image",
    family="mobilenet",
)
def mobilenet(alpha: float = 1.0, num_classes: int = 10) -> nn.Module:
    """MobileNet v1 with width multiplier ``alpha`` for (N, 1, 32, 32) inputs."""
    width = lambda c: max(8, int(c * alpha))  # noqa: E731
    layers: list[nn.Module] = [
        nn.Conv2d(1, width(32), 3, padding=1),
        nn.BatchNorm2d(width(32)),
        nn.ReLU(inplace=True),
    ]
    cin = width(32)
    for cout, stride in BLOCKS:
        layers.append(_separable(cin, width(cout), stride))
        cin = width(cout)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)
