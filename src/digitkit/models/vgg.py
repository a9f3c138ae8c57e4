"""VGG16 with batch normalization, as the Keras MNIST zoo adapted it to 32x32x1 input.

Thirteen 3x3 convolutions (each followed by BN and ReLU) in five blocks of 64, 128, 256, 512
and 512 channels, max-pooling after each block (32 -> 1), then a small head: dense 256,
dropout 0.5, dense 256, dropout 0.5, dense 10 (the paper's 4096-wide head is pointless on a
1x1x512 feature map). Convolutions keep their biases like Keras: 14.92 M parameters.
"""

from __future__ import annotations

from torch import nn

from digitkit.models.registry import register

CONFIG: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


@register(
    "vgg16",
    description="VGG16 with batch norm, dense 256-256 head with dropout (Keras zoo 99.68%)",
    recipe="keras-zoo-vgg16",
    input_pad=2,
    normalization="per-image",
    family="vgg",
)
def vgg16(
    hidden: int = 256, dropout: float = 0.5, num_classes: int = 10, input_size: int = 32
) -> nn.Module:
    """VGG16-BN for (N, 1, ``input_size``, ``input_size``) inputs (32 after padding)."""
    layers: list[nn.Module] = []
    cin = 1
    for cout, repeat in CONFIG:
        for _ in range(repeat):
            layers += [
                nn.Conv2d(cin, cout, 3, padding=1),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]
            cin = cout
        layers.append(nn.MaxPool2d(2))
    side = input_size // 2 ** len(CONFIG)
    layers += [
        nn.Flatten(),
        nn.Linear(cin * side * side, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    ]
    return nn.Sequential(*layers)
