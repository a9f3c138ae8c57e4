"""Int8-aware fine-tuning: train a reader through the rounding its int8 export will apply.

The int8 export (:mod:`digitkit.inference.export`) folds each batch norm into the convolution
before it, then rounds every output channel's weights to 7-bit signed steps of ``max |w| /
WEIGHT_LEVELS`` (onnxruntime's per-channel symmetric quantization with ``reduce_range``).
Those steps, not the activations, cost a number reader most of what its int8 graph loses
(RESULTS.md, 2026-12-07 12:50). :class:`RoundedWeights` computes a reader with its weights
rounded exactly so, the rounding passed through by the straight-through estimator (Bengio
et al. 2013): training through it teaches the float weights to keep their reading once
rounded. Activations stay float. The module's weights and state dict are the reader's own,
so checkpoints, averaging and the export see an ordinary reader.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

#: Largest weight step of the int8 export: 7-bit signed weights, -64..64 (``reduce_range``).
WEIGHT_LEVELS = 64

_CONVS = (nn.Conv1d, nn.Conv2d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def conv_norm_pairs(model: nn.Module) -> list[tuple[str, nn.Module, nn.Module | None]]:
    """Every convolution of ``model`` by name, with the batch norm that directly follows it in
    the same ``nn.Sequential`` (the one the export folds into it), or None."""
    pairs = []
    names = {id(m): n for n, m in model.named_modules()}
    for seq in (m for m in model.modules() if isinstance(m, nn.Sequential)):
        children = list(seq)
        for i, layer in enumerate(children):
            if isinstance(layer, _CONVS):
                after = children[i + 1] if i + 1 < len(children) else None
                pairs.append(
                    (names[id(layer)], layer, after if isinstance(after, _NORMS) else None)
                )
    found = {id(conv) for _, conv, _ in pairs}
    pairs += [
        (name, m, None)
        for name, m in model.named_modules()
        if isinstance(m, _CONVS) and id(m) not in found
    ]
    return pairs


def rounded_weight(weight: torch.Tensor, norm: nn.Module | None) -> torch.Tensor:
    """``weight`` as the int8 export will hold it, mapped back to the unfolded convolution:
    folded with ``norm``'s running statistics (which must be frozen), rounded per output
    channel to steps of ``max |w| / WEIGHT_LEVELS``, unfolded; gradients pass the rounding
    unchanged."""
    shape = (-1,) + (1,) * (weight.dim() - 1)
    if norm is None:
        fold = weight.new_ones(weight.shape[0])
    else:
        fold = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        # A dead channel's folded weights are ~0 however they round: round its unfolded ones
        # instead of dividing by ~0.
        tiny = fold.abs() < 1e-12
        fold = torch.where(tiny, torch.ones_like(fold), fold)
    folded = weight * fold.reshape(shape)
    scale = folded.detach().abs().amax(dim=tuple(range(1, weight.dim())), keepdim=True)
    scale = (scale / WEIGHT_LEVELS).clamp_min(1e-12)
    steps = folded / scale
    steps = steps + (torch.round(steps) - steps).detach()  # straight-through rounding
    return steps * scale / fold.reshape(shape)


class RoundedWeights(nn.Module):
    """``reader`` computed with its convolution weights rounded as its int8 export will round
    them (:func:`rounded_weight`). Its only submodule is ``reader``: training this module
    trains the reader's own float weights."""

    def __init__(self, reader: nn.Module) -> None:
        super().__init__()
        self.reader = reader
        self.pairs = conv_norm_pairs(reader)

    def train(self, mode: bool = True) -> RoundedWeights:
        """Training mode for all but the batch norms: their running statistics are what the
        export folds, so they stay frozen and normalize as they will in the graph."""
        super().train(mode)
        for m in self.reader.modules():
            if isinstance(m, _NORMS):
                m.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = {
            f"{name}.weight": rounded_weight(conv.weight, norm) for name, conv, norm in self.pairs
        }
        return functional_call(self.reader, weights, (x,))
