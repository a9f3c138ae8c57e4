"""digitkit.scratch: a from-scratch neural-network engine in NumPy (no torch).

Layers with explicit forward and backward passes, losses, optimizers, initializers and a
Sequential model, fast enough to train LeNet-5 in seconds per epoch on a laptop CPU. It
writes the same run directories as the torch engine, so ``evaluate``, ``predict`` and the
apps read its models like any other. Start with docs/scratch.md.
"""

from digitkit.scratch.conv import AvgPool2D, Conv2D, MaxPool2D
from digitkit.scratch.layers import (
    BatchNorm,
    Dense,
    Dropout,
    Flatten,
    Layer,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from digitkit.scratch.losses import MSE, SoftmaxCrossEntropy
from digitkit.scratch.model import Sequential
from digitkit.scratch.optim import SGD, Adam

__all__ = [
    "MSE",
    "SGD",
    "Adam",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Layer",
    "MaxPool2D",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Tanh",
]
