"""Pre-activation residual networks (He et al. 2016, "Identity Mappings in Deep Residual
Networks").

``resnet164``: the bottleneck ResNet-164 of the Keras MNIST zoo on 32x32x1 input: a 3x3
convolution to 16 channels, three stages of 18 bottleneck blocks (BN-ReLU-1x1, BN-ReLU-3x3,
BN-ReLU-1x1) with output widths 64/128/256 (bottlenecks a quarter of that) and strides
1/2/2, a 1x1 projection shortcut on each stage's first block (which shares its BN-ReLU with
the shortcut), then BN-ReLU, global average pooling and a linear layer; He-normal init.
1.72 M trainable parameters (1,715,530), as in the zoo.

``resnet-small``: a compact pre-activation ResNet for 28x28 input (basic blocks, widths
32/64/128, two blocks per stage, no biases before BN): 0.70 M parameters, about 0.2 GFLOP
per image, a cheap and diverse ensemble member next to the Keras zoo's big nets.
"""

from __future__ import annotations

import torch
from torch import nn

from digitkit.models.registry import register


def he_init(module: nn.Module) -> nn.Module:
    """He-normal (fan-in) weights for convolutions, zero biases, BN at identity."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module


class PreActBottleneck(nn.Module):
    """BN-ReLU-conv1x1, BN-ReLU-conv3x3, BN-ReLU-conv1x1 plus the (projected) input."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        mid = cout // 4
        self.project = cin != cout or stride != 1
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, mid, 1, stride=stride)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride) if self.project else None
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))
        # A projecting block feeds the shared pre-activation to both paths (as the zoo did).
        skip = self.shortcut(pre) if self.shortcut is not None else x
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + skip


class PreActBasic(nn.Module):
    """BN-ReLU-conv3x3, BN-ReLU-(dropout)-conv3x3 plus the (projected) input."""

    def __init__(
        self, cin: int, cout: int, stride: int = 1, dropout: float = 0.0, bias: bool = True
    ):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)
        self.bn2 = nn.BatchNorm2d(cout)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=bias)
        project = cin != cout or stride != 1
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=bias) if project else None
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))
        skip = self.shortcut(pre) if self.shortcut is not None else x
        out = self.conv1(pre)
        out = self.conv2(self.dropout(self.relu(self.bn2(out))))
        return out + skip


class PreActResNet(nn.Module):
    """Stem convolution, residual stages, BN-ReLU, global average pooling, linear head."""

    def __init__(
        self,
        stem: int,
        stages: list[nn.Module],
        width: int,
        num_classes: int = 10,
        bias: bool = True,
    ):
        super().__init__()
        self.stem = nn.Conv2d(1, stem, 3, padding=1, bias=bias)
        self.stages = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn(self.stages(self.stem(x))))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _stage(block: type, cin: int, cout: int, count: int, stride: int, **kw) -> nn.Sequential:
    return nn.Sequential(
        block(cin, cout, stride, **kw), *(block(cout, cout, 1, **kw) for _ in range(count - 1))
    )


@register(
    "resnet164",
    description="pre-activation bottleneck ResNet-164, 32x32 (Keras zoo 99.70%)",
    recipe="keras-zoo-resnet164",
    input_pad=2,
    normalization="per-image",
    family="resnet",
)
def resnet164(depth: int = 164, num_classes: int = 10) -> nn.Module:
    """Pre-activation bottleneck ResNet of ``depth`` = 9n + 2 layers (164 -> n = 18)."""
    if (depth - 2) % 9:
        raise ValueError("depth must be 9n + 2 (e.g. 164, 1001)")
    n = (depth - 2) // 9
    widths = (64, 128, 256)
    stages = [
        _stage(PreActBottleneck, 16, widths[0], n, 1),
        _stage(PreActBottleneck, widths[0], widths[1], n, 2),
        _stage(PreActBottleneck, widths[1], widths[2], n, 2),
    ]
    return he_init(PreActResNet(16, stages, widths[2], num_classes))


@register(
    "resnet-small",
    description="compact pre-activation ResNet (32/64/128, 2 blocks per stage), 28x28",
    recipe="long",
    family="resnet",
)
def resnet_small(width: int = 32, blocks: int = 2, num_classes: int = 10) -> nn.Module:
    """A small pre-activation ResNet for 28x28 input: stages at 28, 14 and 7 pixels."""
    w = (width, 2 * width, 4 * width)
    stages = [
        _stage(PreActBasic, width, w[0], blocks, 1, bias=False),
        _stage(PreActBasic, w[0], w[1], blocks, 2, bias=False),
        _stage(PreActBasic, w[1], w[2], blocks, 2, bias=False),
    ]
    return he_init(PreActResNet(width, stages, w[2], num_classes, bias=False))
