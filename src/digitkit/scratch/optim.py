"""Optimizers: SGD (plain, momentum, Nesterov) and Adam/AdamW, with weight decay.

Each follows torch.optim's update rule exactly, so that one step matches torch on the same
gradients (tested). Parameters are updated in place; the state (moment buffers, step count)
is a flat dict of arrays so that checkpoints can store it as safetensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from digitkit.errors import DigitkitError
from digitkit.train.recipes import ADAM_BIAS_CORRECTIONS


class Optimizer:
    """Base: holds the learning rate, which the trainer sets before every step."""

    def __init__(self, lr: float, weight_decay: float = 0.0) -> None:
        self.lr, self.weight_decay = lr, weight_decay
        self.state: dict[str, np.ndarray] = {}
        self.steps = 0

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update every array of ``params`` in place from ``grads`` (same keys)."""
        self.steps += 1
        for name, p in params.items():
            g = grads[name]
            if self.weight_decay and not self.decoupled:
                g = g + self.weight_decay * p  # L2 penalty folded into the gradient, as torch
            self.update(name, p, g.astype(p.dtype, copy=False))

    decoupled = False

    def update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, JSON scalars) that restore this optimizer exactly."""
        return dict(self.state), {"steps": self.steps, "lr": self.lr}

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.state = {k: np.array(v) for k, v in arrays.items()}
        self.steps, self.lr = int(meta["steps"]), float(meta["lr"])


class SGD(Optimizer):
    """p -= lr * g; with momentum: buf = m * buf + g, step along buf (or g + m * buf with
    Nesterov). The first step initializes buf = g, as torch does."""

    def __init__(
        self, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0
    ) -> None:
        super().__init__(lr, weight_decay)
        if nesterov and momentum <= 0:
            raise DigitkitError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov = momentum, nesterov

    def update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        if self.momentum:
            buf = self.state.get(name)
            if buf is None:
                buf = self.state[name] = g.copy()
            else:
                buf *= self.momentum
                buf += g
            g = g + self.momentum * buf if self.nesterov else buf
        p -= p.dtype.type(self.lr) * g


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``decoupled=True`` is AdamW (weight decay
    applied to the weights directly instead of through the gradient).

    ``bias_correction="epoch"`` reproduces the NumPy library whose 4-conv model reached
    0.40%: its bias-correction exponent t counts epochs, not steps, so within epoch e the
    moments are divided by 1 - beta^e. With beta2 = 0.999 that scales every step by about
    sqrt(1 - 0.999^e) / (1 - 0.9^e): 0.32 in epoch 1, 0.15-0.2 from epoch 5 to 40. Its
    recipe's peak learning rate of 0.005 was tuned with that damping; standard Adam at 0.005
    and batch 16 is several times hotter (its training loss rises during the warm-up). The
    trainer sets :attr:`epoch` (1-based) before each epoch.
    """

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
        bias_correction: str = "step",
    ) -> None:
        super().__init__(lr, weight_decay)
        if bias_correction not in ADAM_BIAS_CORRECTIONS:
            raise DigitkitError(f"Adam bias_correction must be one of {ADAM_BIAS_CORRECTIONS}")
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.decoupled = decoupled
        self.bias_correction = bias_correction
        self.epoch = 1
        self._scratch: dict[str, np.ndarray] = {}  # work arrays, not state: not saved

    def update(self, name: str, p: np.ndarray, g: np.ndarray) -> None:
        b1, b2 = self.beta1, self.beta2
        t = self.steps if self.bias_correction == "step" else max(1, self.epoch)
        f = p.dtype.type
        if self.decoupled and self.weight_decay:
            p *= f(1 - self.lr * self.weight_decay)
        m = self.state.get(name + ".m")
        if m is None:
            m = self.state[name + ".m"] = np.zeros_like(p)
            self.state[name + ".v"] = np.zeros_like(p)
        v = self.state[name + ".v"]
        # Every operation writes into the moments or one scratch array kept per parameter:
        # no temporaries (this runs once per step, between the parallel parts of a step).
        tmp = self._scratch.get(name)
        if tmp is None or tmp.shape != p.shape or tmp.dtype != p.dtype:
            tmp = self._scratch[name] = np.empty_like(p)
        # m = b1 m + (1 - b1) g and v = b2 v + (1 - b2) g^2, as torch's lerp_ and addcmul_
        np.subtract(g, m, out=tmp)
        tmp *= f(1 - b1)
        m += tmp
        v *= f(b2)
        np.multiply(g, g, out=tmp)
        tmp *= f(1 - b2)
        v += tmp
        # torch's formulation: p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        np.sqrt(v, out=tmp)
        tmp /= f(np.sqrt(bc2))
        tmp += f(self.eps)
        np.divide(m, tmp, out=tmp)
        tmp *= f(self.lr / bc1)
        p -= tmp


def make_optimizer(recipe: Any) -> Optimizer:
    """The optimizer a Recipe names (sgd, momentum, nesterov, adam, adamw)."""
    r = recipe
    if r.optimizer == "sgd":
        return SGD(r.lr, weight_decay=r.weight_decay)
    if r.optimizer in ("momentum", "nesterov"):
        return SGD(r.lr, r.momentum, r.optimizer == "nesterov", r.weight_decay)
    if r.optimizer in ("adam", "adamw"):
        return Adam(
            r.lr,
            (r.momentum, r.beta2),
            r.eps,
            r.weight_decay,
            decoupled=r.optimizer == "adamw",
            bias_correction=r.adam_bias_correction,
        )
    raise DigitkitError(
        f"optimizer {r.optimizer!r} is not in the NumPy engine; use sgd, "
        "momentum, nesterov, adam or adamw"
    )
