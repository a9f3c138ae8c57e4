"""Named, versioned training recipes.

A recipe is a frozen dataclass holding every choice that shapes a training run: optimizer,
learning rate and schedule, epochs, batch size, regularization, augmentation, early stopping,
input normalization and seed. Each model names a default recipe in the registry; any field can
be overridden from the command line (``lr=0.01 epochs=3``), and the resolved recipe is stored
in the model card. Both engines (torch and NumPy) read the same recipes.

Why one module over 400 lines: one job, the recipe table; more than half of it is the
registered recipes themselves, and splitting them from the Recipe fields they set would scatter
the recipes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, fields
from typing import Any

from digitkit.data.augment import PRESETS, AugmentConfig
from digitkit.errors import DigitkitError

# What Adam's bias correction counts: steps (everyone) or epochs (the NumPy library behind
# scratch-cnn4; NumPy engine only, see digitkit.scratch.optim.Adam).
ADAM_BIAS_CORRECTIONS = ("step", "epoch")

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adadelta")
SCHEDULES = (
    "constant",
    "step",
    "halving",
    "exponential",
    "onecycle",
    "cosine",
    "plateau",
    "inverse-time",
)
MONITORS = ("val_loss", "val_acc", "train_loss")
# Where training batches are augmented and prepared (torch engine): ``numpy`` on the CPU
# (digitkit.data.augment, per batch, copied to the device), ``torch`` on the training device
# with the whole dataset resident there (digitkit.train.augment_torch), ``auto`` = torch when
# the device is a GPU. Same transforms and distributions either way, different random streams.
AUGMENT_DEVICES = ("auto", "numpy", "torch")


@dataclass(frozen=True)
class Recipe:
    """Everything that shapes a training run except the architecture."""

    name: str = "custom"
    version: int = 1
    description: str = ""
    # optimizer
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    beta2: float = 0.999
    rho: float = 0.9  # RMSprop's squared-gradient decay (Keras's default; torch's is 0.99)
    eps: float = 1e-8
    # Adam's bias correction counts steps (everyone) or epochs (the NumPy library behind
    # scratch-cnn4; NumPy engine only, see digitkit.scratch.optim.Adam).
    adam_bias_correction: str = "step"
    weight_decay: float = 0.0
    # schedule (see digitkit.train.schedules)
    schedule: str = "constant"
    step_size: int = 1  # epochs between steps (step, halving)
    gamma: float = 0.1  # step factor; per-epoch factor for exponential; plateau factor
    halve_at: int = 0  # halving: first halving at this 0-based epoch (0 = step_size)
    second_after: int = 0  # halving: after this epoch halve every second_step_size instead
    second_step_size: int = 0
    warmup_epochs: float = 0.0
    warmup_start: float = 0.2  # warm-up starts at lr * warmup_start
    pct_start: float = 0.25  # onecycle: fraction of steps spent rising
    final_lr_factor: float = 1e-3  # onecycle/cosine end at lr * this
    decay: float = 0.0  # inverse-time: lr / (1 + decay * iteration), the Keras default decay
    plateau_patience: int = 10
    # data and regularization
    epochs: int = 10
    batch_size: int = 128
    label_smoothing: float = 0.0
    # Fine-tuning only (--init RUN): weight of a distillation term that keeps the model's
    # digit probabilities close to the starting run's on the batch's digits (Learning without
    # Forgetting, Li & Hoiem 2016), so new data costs less of what it learned; 0 = off.
    distill: float = 0.0
    distill_temperature: float = 2.0
    augment: str = "none"  # a preset name, or "rotation:10,shift:0.1,p:0.5"
    augment_device: str = "auto"  # see AUGMENT_DEVICES
    normalization: str = "global"  # see digitkit.data.normalize.KINDS
    n_val: int = 5000
    split_seed: int = 0
    # averaging and early stopping
    ema: float = 0.0  # decay of an exponential moving average of the weights (0 = off)
    patience: int = 0  # early stopping patience in epochs (0 = off)
    min_rel_improvement: float = 0.0
    monitor: str = "val_loss"
    restore_best: bool = True  # keep the best epoch on validation (False: the last epoch)
    seed: int = 0
    max_train_seconds: float = 0.0  # stop after the epoch that crosses this (0 = no limit)

    def augment_config(self) -> AugmentConfig:
        """The AugmentConfig this recipe's ``augment`` field names or spells out."""
        return parse_augment(self.augment)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def validate(self) -> Recipe:
        """Raise DigitkitError on values no trainer can use; return self."""
        checks = [
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}"),
            (self.monitor in MONITORS, f"monitor must be one of {', '.join(MONITORS)}"),
            (
                self.augment_device in AUGMENT_DEVICES,
                f"augment_device must be one of {', '.join(AUGMENT_DEVICES)}",
            ),
            (self.lr > 0, "lr must be positive"),
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (0 <= self.ema < 1, "ema must be in [0, 1)"),
            (0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
            (self.distill >= 0, "distill must be 0 or more"),
            (self.distill_temperature > 0, "distill_temperature must be positive"),
            (self.n_val >= 0, "n_val must be 0 or more"),
            (
                self.adam_bias_correction in ADAM_BIAS_CORRECTIONS,
                f"adam_bias_correction must be one of {', '.join(ADAM_BIAS_CORRECTIONS)}",
            ),
            # Without a validation split nothing can be selected or monitored on it: the
            # last epoch's weights are the result (the tutorials' protocol).
            (
                self.n_val > 0
                or (
                    self.schedule != "plateau"
                    and (self.patience == 0 or self.monitor == "train_loss")
                ),
                "n_val=0 (no validation split) cannot drive a plateau schedule or early "
                "stopping on val; use monitor=train_loss or set n_val",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise DigitkitError(f"recipe {self.name}: {message}")
        self.augment_config()
        return self


def parse_augment(spec: str) -> AugmentConfig:
    """``none``/a preset name, or ``key:value,...`` over AugmentConfig fields."""
    if spec in PRESETS:
        return PRESETS[spec]
    if ":" not in spec:
        raise DigitkitError(
            f"unknown augmentation {spec!r}; use a preset ({', '.join(PRESETS)}) "
            "or key:value pairs such as rotation:10,shift:0.1"
        )
    known = {f.name: f for f in fields(AugmentConfig)}
    values: dict[str, Any] = {}
    for part in spec.split(","):
        key, _, raw = part.partition(":")
        key = key.strip()
        if key not in known:
            raise DigitkitError(f"unknown augmentation key {key!r}; valid: {', '.join(known)}")
        try:
            values[key] = (
                raw.strip().lower() in ("1", "true", "yes") if key == "zoom_uniform" else float(raw)
            )
        except ValueError:
            raise DigitkitError(f"augmentation {key}: {raw!r} is not a number") from None
    return AugmentConfig(**values)


RECIPES: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe) -> Recipe:
    """Add a recipe to the named collection (names are unique)."""
    if recipe.name in RECIPES:
        raise ValueError(f"recipe {recipe.name!r} registered twice")
    RECIPES[recipe.name] = recipe.validate()
    return recipe


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; a clear error lists the known ones otherwise."""
    try:
        return RECIPES[name]
    except KeyError:
        raise DigitkitError(
            f"unknown recipe {name!r}; known recipes: {', '.join(sorted(RECIPES))}"
        ) from None


_FIELD_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def _coerce(value: str, annotation: str, key: str) -> Any:
    """Parse a command-line override for a field annotated ``annotation`` (e.g. "float")."""
    target = _FIELD_TYPES[str(annotation)]
    try:
        if target is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if target is int:
            as_float = float(value)
            if not as_float.is_integer():
                raise ValueError(value)
            return int(as_float)
        return target(value)
    except ValueError:
        raise DigitkitError(f"override {key}={value!r}: expected {target.__name__}") from None


def apply_overrides(recipe: Recipe, overrides: list[str] | dict[str, Any]) -> Recipe:
    """A copy of ``recipe`` with ``key=value`` overrides applied and validated."""
    types = {f.name: f.type for f in fields(Recipe)}
    items = overrides.items() if isinstance(overrides, dict) else None
    parsed: dict[str, Any] = {}
    if items is None:
        for item in overrides:
            key, sep, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep:
                raise DigitkitError(f"override {item!r} must look like key=value (e.g. lr=0.01)")
            if key not in types or key == "name":
                valid = ", ".join(t for t in types if t != "name")
                raise DigitkitError(f"unknown recipe field {key!r}; fields: {valid}")
            parsed[key] = _coerce(value.strip(), types[key], key)
    else:
        for key, value in items:
            if key not in types:
                raise DigitkitError(f"unknown recipe field {key!r}")
            parsed[key] = value
    return dataclasses.replace(recipe, **parsed).validate() if parsed else recipe


# ---------------------------------------------------------------------------------------------
# The recipes. Figures quoted in descriptions are the published ones we reproduce; our own
# measurements live in benchmarks/RESULTS.md.

# Keras tutorial (machinelearningmastery): /255, Adam, 10 epochs, batch 200. The tutorial
# trained on all 60,000 images and reported the last epoch's test accuracy (its "validation
# data" was the test set, used for nothing else): n_val=0 does the same, so nothing is
# selected at all, least of all on test. Add n_val=5000 to hold out a validation split.
register_recipe(
    Recipe(
        name="tutorial",
        description=(
            "Keras tutorial: Adam 1e-3, 10 epochs, batch 200, x/255, all 60,000, last epoch"
        ),
        optimizer="adam",
        lr=1e-3,
        epochs=10,
        batch_size=200,
        normalization="scale",
        n_val=0,
    )
)
# Kaggle blog's fully connected nets: Adam, 25 epochs, batch 64.
register_recipe(
    Recipe(
        name="kaggle-fc",
        description="Kaggle blog FC nets: Adam 1e-3, 25 epochs, batch 64, x/255",
        optimizer="adam",
        lr=1e-3,
        epochs=25,
        batch_size=64,
        normalization="scale",
    )
)
register_recipe(
    Recipe(
        name="lenet5",
        description="LeNet-5 on 32x32: Adam 2e-3, cosine, 12 epochs, light distortions",
        # LeCun et al. reached 99.05% without distortions and 99.2% with them; without them this
        # recipe fell short of the first (benchmarks/RESULTS.md), so it distorts lightly.
        optimizer="adam",
        lr=2e-3,
        schedule="cosine",
        epochs=12,
        batch_size=128,
        augment="light",
    )
)
# cnn-fast: accuracy per CPU-second. One-cycle SGD with Nesterov momentum.
register_recipe(
    Recipe(
        name="fast",
        description="cnn-fast, >= 99.0% in <= 20 s on 2 CPU cores: one-cycle, 2 epochs",
        # Batch 256 (lr 0.2) trains faster than 128 on a CPU at the same val accuracy
        # (benchmarks/RESULTS.md).
        optimizer="nesterov",
        lr=0.2,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="onecycle",
        pct_start=0.25,
        epochs=2,
        batch_size=256,
        label_smoothing=0.1,
    )
)
register_recipe(
    Recipe(
        name="fast-long",
        description="cnn-fast, aiming at 99.5% in 120 s: one-cycle, 16 epochs, aug",
        optimizer="nesterov",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="onecycle",
        pct_start=0.25,
        epochs=16,
        batch_size=128,
        label_smoothing=0.1,
        augment="light",
    )
)
# cnn-swift: >= 99.5% in <= 120 s. 4 epochs chosen on val over 5 (the same val accuracy for
# more time: benchmarks/RESULTS.md).
register_recipe(
    Recipe(
        name="swift",
        description="cnn-swift, >= 99.5% in <= 120 s on 2 CPU cores: one-cycle, 4 "
        "epochs, light augmentation",
        optimizer="nesterov",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="onecycle",
        pct_start=0.25,
        epochs=4,
        batch_size=128,
        label_smoothing=0.1,
        augment="light",
    )
)
register_recipe(
    Recipe(
        name="long",
        description="30 epochs of augmentation and one-cycle SGD, EMA weights",
        optimizer="nesterov",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="onecycle",
        pct_start=0.2,
        epochs=30,
        batch_size=128,
        label_smoothing=0.1,
        augment="light",
        ema=0.999,
    )
)
register_recipe(
    Recipe(
        name="drawn",
        description="for the shipped recognizer: augmentation like real drawings",
        optimizer="nesterov",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="onecycle",
        pct_start=0.2,
        epochs=20,
        batch_size=128,
        label_smoothing=0.1,
        augment="drawn",
        ema=0.999,
    )
)
register_recipe(
    Recipe(
        name="realworld",
        description="fine-tune a digit model (--init RUN) on the mixed data "
        "(--dataset mixed): MNIST, pen drawings, boxes and photos, 'not a digit'; 10 epochs",
        # Starts from trained weights, so a short schedule at a third of drawn's peak rate.
        optimizer="nesterov",
        lr=0.03,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="onecycle",
        pct_start=0.2,
        epochs=10,
        batch_size=128,
        label_smoothing=0.1,
        augment="drawn",
        ema=0.999,
    )
)

# Zoo recipes
# The Keras zoo (Curt-Park/handwritten_digit_recognition): 32x32 input normalized per image,
# ImageDataGenerator augmentation, 200 epochs of batch 64, ReduceLROnPlateau on val loss. The
# zoo also had Keras' optimizer decay lr / (1 + 1e-4 * iteration) on top of the plateau; a
# recipe has one schedule, so we keep the plateau (the decay only divides the lr by ~17 over
# 200 epochs). Validation stays at our 5,000 stratified images (the zoo held out the last
# 10,000) so that every zoo member shares one val split and can be ensembled.
register_recipe(
    Recipe(
        name="keras-zoo-mobilenet",
        description="Keras zoo MobileNet: RMSprop 0.01, plateau x0.1 "
        "patience 30, 200 epochs, batch 64, zoo augmentation (published 99.68%)",
        optimizer="rmsprop",
        lr=0.01,
        schedule="plateau",
        gamma=0.1,
        plateau_patience=30,
        epochs=200,
        batch_size=64,
        augment="keras-zoo",
        normalization="per-image",
    )
)
register_recipe(
    Recipe(
        name="keras-zoo-vgg16",
        description="Keras zoo VGG16: SGD 0.01 momentum 0.9, plateau x0.1 "
        "patience 10, 200 epochs, batch 64, zoo augmentation (published 99.68%)",
        optimizer="momentum",
        lr=0.01,
        momentum=0.9,
        schedule="plateau",
        gamma=0.1,
        plateau_patience=10,
        epochs=200,
        batch_size=64,
        augment="keras-zoo",
        normalization="per-image",
    )
)
register_recipe(
    Recipe(
        name="keras-zoo-resnet164",
        description="Keras zoo ResNet-164: SGD 0.1 momentum 0.9, "
        "plateau x0.1 patience 10, 200 epochs, batch 64, zoo augmentation (published 99.70%)",
        optimizer="momentum",
        lr=0.1,
        momentum=0.9,
        schedule="plateau",
        gamma=0.1,
        plateau_patience=10,
        epochs=200,
        batch_size=64,
        augment="keras-zoo",
        normalization="per-image",
    )
)
# Keras' l2(5e-4) adds 5e-4 * w^2 to the loss (gradient 1e-3 * w); we use the WRN paper's
# torch weight decay 5e-4 instead.
register_recipe(
    Recipe(
        name="keras-zoo-wrn",
        description="Keras zoo WRN-28-10: SGD Nesterov 0.1, weight decay "
        "5e-4, plateau x0.2 patience 10, 200 epochs, batch 64, zoo augmentation (published 99.76%)",
        optimizer="nesterov",
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="plateau",
        gamma=0.2,
        plateau_patience=10,
        epochs=200,
        batch_size=64,
        augment="keras-zoo",
        normalization="per-image",
    )
)
# An et al. 2020 (arXiv 2008.10400) for simplecnn-m3/m5/m7.
register_recipe(
    Recipe(
        name="simplecnn",
        description="An et al. 2020: Adam 1e-3, lr x0.98 per epoch, weight EMA "
        "0.999, rotation 20 deg + shift 20%, 150 epochs, batch 120, (x - 0.5) * 2",
        optimizer="adam",
        lr=1e-3,
        schedule="exponential",
        gamma=0.98,
        ema=0.999,
        augment="simplecnn",
        epochs=150,
        batch_size=120,
        normalization="symmetric",
    )
)


# NumPy engine recipes
# (digitkit.scratch; figures measured with these recipes are in benchmarks/RESULTS.md)
register_recipe(
    Recipe(
        name="scratch-lenet5",
        description="NumPy LeNet-5: Adam 2e-3, cosine, 10 epochs, batch 64, light augmentation",
        optimizer="adam",
        lr=2e-3,
        schedule="cosine",
        epochs=10,
        batch_size=64,
        augment="light",
    )
)
register_recipe(
    Recipe(
        name="scratch-mlp",
        description="NumPy 784-128-50-10 MLP with dropout: Adam 1e-3, 20 epochs, batch 64, x/255",
        optimizer="adam",
        lr=1e-3,
        epochs=20,
        batch_size=64,
        normalization="scale",
    )
)
# RaoulLuque's 0.40% model: Adam, batch 16, warm-up 0.001 -> 0.005 over epochs 1-5, halve at
# epochs 11, 16, 21 then every 3; augmentation p=0.8; early stopping when the training loss
# has not improved by 0.5% for 15 epochs (the best weights on validation are kept). Its Adam
# counted epochs, not steps, in the bias correction: that damping is part of the recipe.
register_recipe(
    Recipe(
        name="scratch-cnn4",
        description="NumPy 4-conv CNN (0.40% model): Adam 5e-3 warm-up + halvings, batch 16, aug",
        optimizer="adam",
        lr=5e-3,
        schedule="halving",
        warmup_epochs=5,
        warmup_start=0.2,
        halve_at=10,
        step_size=5,
        second_after=20,
        second_step_size=3,
        epochs=60,
        batch_size=16,
        augment="scratch-cnn4",
        normalization="scale",
        patience=15,
        min_rel_improvement=0.005,
        monitor="train_loss",
        adam_bias_correction="epoch",
    )
)
