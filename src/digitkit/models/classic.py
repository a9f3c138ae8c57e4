"""The classic MNIST models: the tutorials' MLP and CNNs, the Kaggle blog's fully connected
nets, LeNet-5, and ``cnn-fast``, digitkit's small default tuned for accuracy per CPU-second."""

from __future__ import annotations

from torch import nn

from digitkit.models.registry import register


def keras_init(model: nn.Module) -> nn.Module:
    """Keras's default initialization (Glorot-uniform weights, zero biases).

    The tutorial and blog models were trained in Keras; torch's default (Kaiming-uniform with
    a = sqrt(5), uniform biases) trains them measurably worse with the same recipe, so the
    faithful reproduction starts where Keras starts.
    """
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def _mlp(sizes: list[int], dropout_in: float = 0.0, dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    if dropout_in:
        layers.append(nn.Dropout(dropout_in))
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return keras_init(nn.Sequential(*layers))


@register(
    "mlp",
    description="784-784-10 ReLU perceptron (Keras tutorial baseline, 1.7% error)",
    recipe="tutorial",
    family="mlp",
)
def mlp(hidden: int = 784, init: str = "normal") -> nn.Module:
    model = _mlp([784, hidden, 10])
    if init == "normal":
        # The tutorial's MLP asked Keras for kernel_initializer='normal': N(0, 0.05), not
        # the Glorot default its CNNs used.
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.05)
    elif init != "glorot":
        raise ValueError(f"mlp init must be 'normal' or 'glorot', not {init!r}")
    return model


@register(
    "fc-small",
    description="784-48-24-10 fully connected (Kaggle blog, small end)",
    recipe="kaggle-fc",
    family="mlp",
)
def fc_small() -> nn.Module:
    return _mlp([784, 48, 24, 10])


@register(
    "fc-deep",
    description="784-960-480-240-120-60-10 with dropout (Kaggle blog's best FC)",
    recipe="kaggle-fc",
    family="mlp",
)
def fc_deep(dropout_in: float = 0.1, dropout: float = 0.25) -> nn.Module:
    return _mlp([784, 960, 480, 240, 120, 60, 10], dropout_in, dropout)


@register(
    "cnn-simple",
    description="conv 32@5x5, maxpool, dropout 0.2, dense 128 (Keras tutorial, 0.95%)",
    recipe="tutorial",
    family="cnn",
)
def cnn_simple() -> nn.Module:
    return keras_init(
        nn.Sequential(
            nn.Conv2d(1, 32, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.2),
            nn.Flatten(),
            nn.Linear(32 * 12 * 12, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )
    )


@register(
    "cnn-large",
    description="conv 30@5x5, pool, conv 15@3x3, pool, dropout, dense 128-50 (0.83%)",
    recipe="tutorial",
    family="cnn",
)
def cnn_large() -> nn.Module:
    return keras_init(
        nn.Sequential(
            nn.Conv2d(1, 30, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(30, 15, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.2),
            nn.Flatten(),
            nn.Linear(15 * 5 * 5, 128),
            nn.ReLU(),
            nn.Linear(128, 50),
            nn.ReLU(),
            nn.Linear(50, 10),
        )
    )


@register(
    "lenet5",
    description="LeNet-5 (LeCun 1998): 6@5x5, avg-pool, 16@5x5, avg-pool, 120, 84, 10; 32x32",
    recipe="lenet5",
    input_pad=2,
    family="lenet",
)
def lenet5(activation: str = "tanh") -> nn.Module:
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    return nn.Sequential(
        nn.Conv2d(1, 6, 5),
        act(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5),
        act(),
        nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5),
        act(),
        nn.Flatten(),
        nn.Linear(120, 84),
        act(),
        nn.Linear(84, 10),
    )


def _conv_bn(cin: int, cout: int, kernel: int = 3, padding: int = 1) -> list[nn.Module]:
    # No conv bias: the BatchNorm that follows has its own shift.
    return [
        nn.Conv2d(cin, cout, kernel, padding=padding, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    ]


@register(
    "cnn-fast",
    description="digitkit default for CPUs: conv 16@5x5-BN-pool, conv 32@5x5-BN-pool, dense",
    recipe="fast",
    family="cnn",
)
def cnn_fast(width: int = 16) -> nn.Module:
    # 1.05 M multiply-adds per image: the cheapest net we found that reaches 99% in a couple
    # of epochs (benchmarks/RESULTS.md).
    w = width
    return nn.Sequential(
        *_conv_bn(1, w, 5, 0),
        nn.MaxPool2d(2),  # 24 -> 12
        *_conv_bn(w, 2 * w, 5, 0),
        nn.MaxPool2d(2),  # 8 -> 4
        nn.Flatten(),
        nn.Linear(2 * w * 16, 10),
    )


def _conv_pool_bn(cin: int, cout: int, pool: bool = True) -> list[nn.Module]:
    # Pool before BatchNorm and ReLU: they then run on a quarter of the pixels. On a CPU,
    # BatchNorm and ReLU forward and backward are a large share of a cnn-medium step
    # (torch.profiler), so this order trains faster per epoch at equal width (figures in
    # benchmarks/RESULTS.md). Max-pool commutes with ReLU, not with a BN scale that may be
    # negative; the net learns either way.
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1, bias=False)]
    if pool:
        layers.append(nn.MaxPool2d(2, ceil_mode=True))
    return [*layers, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


@register(
    "cnn-swift",
    description="4 conv 3x3 (24/48/96/96), pool before BN-ReLU: 99.5% in under 2 minutes",
    recipe="swift",
    family="cnn",
)
def cnn_swift(width: int = 24, classes: int = 10) -> nn.Module:
    # Chosen on validation accuracy per CPU-second among pool-first variants (3 and 4 convs,
    # widths 24-48; timings in benchmarks/RESULTS.md). Two convs at 7x7 add depth cheaply.
    w = width
    return nn.Sequential(
        *_conv_pool_bn(1, w),  # 28 -> 14
        *_conv_pool_bn(w, 2 * w),  # 14 -> 7
        *_conv_pool_bn(2 * w, 4 * w, pool=False),
        *_conv_pool_bn(4 * w, 4 * w),  # 7 -> 4
        nn.Flatten(),
        nn.Linear(4 * w * 16, classes),
    )


@register(
    "cnn-medium",
    description="3 conv-BN-ReLU blocks (32/64/128) with pooling; the shipped recognizer",
    recipe="drawn",
    family="cnn",
)
def cnn_medium(width: int = 32, dropout: float = 0.1, classes: int = 10) -> nn.Module:
    # classes=11 adds the "not a digit" class (label 10) of the real-handwriting models.
    w = width
    return nn.Sequential(
        *_conv_bn(1, w),
        nn.MaxPool2d(2),  # 14x14
        *_conv_bn(w, 2 * w),
        nn.MaxPool2d(2),  # 7x7
        *_conv_bn(2 * w, 4 * w),
        nn.MaxPool2d(2, ceil_mode=True),  # 4x4
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(4 * w * 16, classes),
    )
