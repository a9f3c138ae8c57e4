"""Sequence models that read a whole line of digits (segmentation-free, trained with CTC).

``crnn-ctc``: a small convolutional feature extractor over the normalized line (height 32,
any width) collapses the height to 1 and the width by 4 (one frame per 4 columns), a stack of
residual dilated 1-D convolutions gives each frame the context of about three digits, and a
1x1 convolution scores blank + the alphabet per frame. 1-D convolutions rather than a BiLSTM:
they export to ONNX with a dynamic width without loops, and run several times faster on CPU
for the same context. Input (N, 1, 32, W), W a multiple of 4, ink 1 on background 0; output
logits (N, W // 4, classes).
"""

from __future__ import annotations

import torch
from torch import nn

from digitkit.models.registry import register
from digitkit.vision.numbers import ALPHABET, LINE_HEIGHT, STRIDE

#: The feature extractor's channels at the default width (the shipped reader's).
BASE_CHANNELS = (24, 48, 80, 96)
BASE_WIDTH = 128


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class _Block1d(nn.Module):
    """Residual dilated conv over frames: context grows without shrinking the sequence."""

    def __init__(self, width: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(
                width,
                width,
                kernel,
                padding=dilation * (kernel // 2),
                dilation=dilation,
                bias=False,
            ),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class CRNN(nn.Module):
    """Conv features (height 32 -> 1, width / 4) + dilated 1-D conv context + CTC head."""

    def __init__(
        self,
        classes: int = len(ALPHABET) + 1,
        channels: tuple[int, ...] = BASE_CHANNELS,
        width: int = 128,
        kernel: int = 3,
        dilations: tuple[int, ...] = (1, 2, 4, 1),
        dropout: float = 0.1,
        depth: int = 1,
    ):
        super().__init__()
        c1, c2, c3, c4 = channels

        def stage(cin: int, cout: int) -> list[nn.Module]:
            layers = _conv(cin, cout)
            for _ in range(depth - 1):
                layers += _conv(cout, cout)
            return layers

        self.features = nn.Sequential(
            *_conv(1, c1),  # one conv at full resolution whatever the depth: the costliest
            nn.MaxPool2d(2),  # 32 x W   -> 16 x W/2
            *stage(c1, c2),
            nn.MaxPool2d(2),  # 16 x W/2 -> 8 x W/4
            *stage(c2, c3),
            nn.MaxPool2d((2, 1)),  # -> 4 x W/4
            *stage(c3, c4),
            nn.MaxPool2d((2, 1)),  # -> 2 x W/4
            nn.Conv2d(c4, width, (LINE_HEIGHT // 16, 1), bias=False),  # height 2 -> 1
            nn.BatchNorm2d(width),
            nn.ReLU(),
        )
        self.context = nn.Sequential(*[_Block1d(width, kernel, d, dropout) for d in dilations])
        self.head = nn.Conv1d(width, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x).squeeze(2)  # (N, width, T)
        return self.head(self.context(f)).transpose(1, 2)  # (N, T, classes)


def deepen(shallow: CRNN, deep: CRNN) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    """Copy a reader into a deeper one of the same width (Net2DeeperNet, Chen et al. 2016).

    Every layer ``shallow`` has keeps its weights in ``deep``; each 3x3 convolution ``deep``
    adds to a feature stage starts as the identity, so a deepened reader continues from
    what the shallow one learnt instead of from scratch. Returns the inserted (convolution,
    batch norm) pairs: their norms must then be fitted to their inputs
    (:func:`fit_identity_norms`) for ``deep`` to compute what ``shallow`` did.
    """
    same_rest = all(
        a.shape == b.shape
        for part in ("context", "head")
        for a, b in zip(
            getattr(shallow, part).state_dict().values(),
            getattr(deep, part).state_dict().values(),
            strict=True,
        )
    )
    if not same_rest:
        raise ValueError("deepen: the two readers differ in width")
    deep.context.load_state_dict(shallow.context.state_dict())
    deep.head.load_state_dict(shallow.head.state_dict())
    source, j = list(shallow.features), 0
    inserted: list[tuple[nn.Conv2d, nn.BatchNorm2d]] = []
    pending: nn.Conv2d | None = None
    for layer in deep.features:
        if pending is None and j < len(source) and repr(layer) == repr(source[j]):
            layer.load_state_dict(source[j].state_dict())
            j += 1
        elif pending is None and isinstance(layer, nn.Conv2d):
            if layer.in_channels != layer.out_channels:
                raise ValueError("deepen: the deeper reader is not the same layout")
            with torch.no_grad():
                nn.init.dirac_(layer.weight)
            pending = layer
        elif pending is not None and isinstance(layer, nn.BatchNorm2d):
            inserted.append((pending, layer))
        elif pending is not None and isinstance(layer, nn.ReLU):
            pending = None
        else:
            raise ValueError("deepen: the deeper reader is not the same layout")
    if j != len(source) or not inserted:
        raise ValueError("deepen: the deeper reader is not a deeper copy of the same layout")
    return inserted


@torch.no_grad()
def fit_identity_norms(
    model: CRNN, inserted: list[tuple[nn.Conv2d, nn.BatchNorm2d]], images: torch.Tensor
) -> None:
    """Make each inserted (identity convolution, batch norm) pair pass its input through.

    Each norm's statistics and affine parameters are set to its input's per-channel mean
    and variance over ``images`` (N, 1, 32, W): in evaluation it computes the identity
    exactly, and in training (batch statistics) nearly, so the first steps of fine-tuning
    start from the shallow reader's function. The input is non-negative (after a ReLU),
    so the ReLU that follows keeps it.
    """
    stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def hook(conv: nn.Module, args: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        x = args[0]
        stats[id(conv)] = (x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False))

    was_training = model.training
    model.eval()
    handles = [conv.register_forward_hook(hook) for conv, _ in inserted]
    try:
        # One pass: an inserted pair with its norm at the defaults (mean 0, variance 1) is
        # already the identity up to eps in evaluation, so each sees the shallow reader's
        # activations.
        model(images)
        for conv, norm in inserted:
            mean, var = stats[id(conv)]
            norm.running_mean.copy_(mean)
            norm.running_var.copy_(var)
            norm.weight.copy_((var + norm.eps).sqrt())
            norm.bias.copy_(mean)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)


@register(
    "crnn-ctc",
    description="Line reader: conv features + dilated 1-D convs, CTC over "
    f"blank + {ALPHABET!r} (input 32 x W, one frame per {STRIDE} columns)",
    recipe="number-ctc",
    family="sequence",
)
def crnn_ctc(width: int = 128, dropout: float = 0.1, depth: int = 1) -> nn.Module:
    """The CTC number reader (:mod:`digitkit.vision.numbers`): ``width`` channels per frame,
    and the convolutional features scale with it (:data:`BASE_CHANNELS` at width 128), so
    one number sizes the whole reader. ``depth`` 3x3 convolutions in each feature stage after
    the first (a deeper view of each digit's shape before the height is collapsed)."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    channels = tuple(max(8, round(c * width / BASE_WIDTH)) for c in BASE_CHANNELS)
    return CRNN(channels=channels, width=width, dropout=dropout, depth=depth)
