"""Training the CTC number reader (``crnn-ctc``) on synthetic number lines.

Every step draws a fresh batch of lines (:mod:`digitkit.data.strings`) from the MNIST
*training* digits; validation reads a fixed set of lines built from the MNIST *validation*
digits (exact match of the whole number, per length). The test split is never touched here.

The run directory is the standard one (:mod:`digitkit.runs`): ``card.json`` (with
``"task": "number"`` and the alphabet), ``model.safetensors`` (the best epoch on validation,
averaged weights), ``history.csv``, ``checkpoint/`` (weights and optimizer state as
safetensors, the rest as JSON: no pickle) so ``resume=True`` continues exactly where the last
finished epoch left off, and after :func:`export_number_onnx` ``model.onnx``.

Why one long module: it is the whole number-reader pipeline (recipe, CTC targets and loss,
validation lines, checkpoint, the run object ``_NumberRun``, ONNX export), read together.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from digitkit import atomic, runs
from digitkit.card import RunCard
from digitkit.data.strings import NumberLines, digit_count
from digitkit.errors import DigitkitError
from digitkit.models import build_model, count_params
from digitkit.models.sequence import deepen, fit_identity_norms
from digitkit.progress import progress_bar
from digitkit.train import protocol
from digitkit.train.int8_aware import RoundedWeights
from digitkit.train.recipes import Recipe
from digitkit.vision.ctc import ctc_greedy
from digitkit.vision.numbers import (
    ALPHABET,
    INK_HEIGHT,
    LINE_HEIGHT,
    MARGIN_X,
    MAX_WIDTH,
    NUMBER_TASK,
    STRIDE,
    labels_to_text,
    text_to_labels,
)

ARCHITECTURE = "crnn-ctc"
STATE = "state.safetensors"
STATE_JSON = "state.json"
#: Lines that fit a deepened reader's added layers (:func:`fit_identity_norms`), and the
#: generator stream they are drawn from (apart from every epoch's).
DEEPEN_LINES = 256
DEEPEN_STREAM = 1_000_001
VAL_SEED = 20_240_601  # the validation lines are the same in every run and every epoch
DISTILL_TEMPERATURE = Recipe.distill_temperature  # the digit trainer's, one value for both
# An int8 export's check lines: fresh lines of the validation generator, not the ones a run's
# epoch was chosen on (on those the float graph has the edge of having been picked)
CHECK_SEED = VAL_SEED + 1


@dataclass(frozen=True)
class NumberRecipe:
    """Every choice that shapes a number-reader run (stored in the card)."""

    epochs: int = 20
    steps_per_epoch: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 300
    clip: float = 5.0
    ema: float = 0.998
    width: int = 128  # channels per frame; the conv features scale with it (models.sequence)
    dropout: float = 0.1
    depth: int = 1  # 3x3 convs per feature stage after the first (models.sequence)
    max_digits: int = 10
    val_per_length: int = 60
    seed: int = 0
    photo_fraction: float = 0.1  # training lines photographed (digitkit.data.context)
    # pen digits in the pool rewritten as flagged 1s, crossed 7s, slashed 0s (data.styles)
    styled_digits: int = 0
    # renderings of every training writer's pen digit in the pool, each with its own random
    # pen: the writers are few (32), so their digits are what the pool varies
    pen_renderings: int = 1
    # share of training lines written joined-up: neighbouring digits a little apart linked by
    # the pen's joining stroke (digitkit.data.strings), as amounts are written in one go
    joined: float = 0.0
    # share of training lines that are empty fields, photographed, labelled "" (the paper's
    # grain, shadows and a box's walls are no digits)
    empty: float = 0.0
    # share of training lines photographed from afar, besides photo_fraction's: always at a
    # low resolution (digitkit.data.context.ContextStyle.from_afar)
    distant: float = 0.0
    # share of training lines written in an italic hand, leaning right 9-27 degrees more
    # (digitkit.data.strings.LEAN_RANGE)
    leaning: float = 0.0
    # Fine-tuning only (--init RUN): weight of a term that keeps the reader's frame
    # distributions close to the starting run's on the lines it reads right (Learning without
    # Forgetting), so new kinds of lines cost less of what it read; 0 = off
    distill: float = 0.0
    # Train through the int8 export's 7-bit weight rounding, batch norms frozen
    # (digitkit.train.int8_aware): a fine-tuned reader whose int8 graph reads as it does
    int8_aware: bool = False

    def __post_init__(self) -> None:
        if self.photo_fraction + self.distant > 1.0:  # one draw picks a line's camera
            raise DigitkitError(
                f"photo_fraction + distant must be at most 1 (the shares of photographed "
                f"lines add up), not {self.photo_fraction:g} + {self.distant:g}"
            )

    def replace(self, **changes: Any) -> NumberRecipe:
        known = {f.name for f in fields(self)}
        bad = sorted(set(changes) - known)
        if bad:
            raise DigitkitError(f"unknown recipe field(s) {bad}; fields: {sorted(known)}")
        return NumberRecipe(**{**asdict(self), **changes})


def input_spec() -> dict[str, Any]:
    """How a line is prepared for the model (see :func:`digitkit.vision.numbers.normalize_line`)."""
    return {
        "kind": "line",
        "height": LINE_HEIGHT,
        "ink_height": INK_HEIGHT,
        "margin_x": MARGIN_X,
        "stride": STRIDE,
        "max_width": MAX_WIDTH,
        "polarity": "white ink on black, [0, 1]",
    }


# --------------------------------------------------------------------------- batches


def ctc_targets(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(concatenated targets, target lengths) of label strings, for ``nn.CTCLoss``."""
    labels = [text_to_labels(t) for t in texts]
    flat = torch.tensor([k for lab in labels for k in lab], dtype=torch.long)
    return flat, torch.tensor([len(lab) for lab in labels], dtype=torch.long)


def frame_lengths(widths: np.ndarray | torch.Tensor, frames: int) -> torch.Tensor:
    """The number of frames that see each line (its width / STRIDE, rounded up)."""
    w = torch.as_tensor(np.asarray(widths), dtype=torch.long)
    return torch.clamp((w + STRIDE - 1) // STRIDE, 1, frames)


def ctc_loss(
    model: nn.Module, images: np.ndarray, widths: np.ndarray, texts: list[str], loss_fn: nn.CTCLoss
) -> torch.Tensor:
    """The CTC loss of a batch of lines (images (N, 32, W))."""
    return logits_ctc_loss(model(torch.from_numpy(images)[:, None]), widths, texts, loss_fn)


def logits_ctc_loss(
    logits: torch.Tensor, widths: np.ndarray, texts: list[str], loss_fn: nn.CTCLoss
) -> torch.Tensor:
    """The CTC loss of a batch's model outputs (N, T, C)."""
    log_probs = logits.log_softmax(-1).transpose(0, 1)  # (T, N, C)
    targets, target_lengths = ctc_targets(texts)
    lengths = frame_lengths(widths, log_probs.shape[0])
    return loss_fn(log_probs, targets, lengths, target_lengths)


def line_distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    widths: np.ndarray,
    texts: list[str],
    temperature: float = DISTILL_TEMPERATURE,
) -> torch.Tensor:
    """KL(teacher || student) of each frame's character distribution (N, T, C), at
    ``temperature``, over the frames of the lines the teacher reads right (digits and
    separators): what it knew is kept, its misreadings (the lines the fine-tuning is for) are
    left to the labels, as :func:`digitkit.train.loop.distillation_loss` does for digits.
    The mean over those frames, scaled by temperature squared; 0 without such a line."""
    reads = decode_batch(teacher, widths)
    right = torch.tensor(
        [got.strip() == want.strip() for got, want in zip(reads, texts, strict=True)]
    )
    frames = (
        torch.arange(student.shape[1])[None, :] < frame_lengths(widths, student.shape[1])[:, None]
    )
    keep = frames & right[:, None]
    if not bool(keep.any()):
        return student.new_zeros(())
    t = (teacher[keep] / temperature).log_softmax(-1)
    s = (student[keep] / temperature).log_softmax(-1)
    per_frame = (t.exp() * (t - s)).sum(-1)
    return per_frame.mean() * temperature**2


def decode_batch(logits: torch.Tensor, widths: np.ndarray) -> list[str]:
    """Greedy CTC decoding of model outputs (N, T, C), each up to its own frame count."""
    probs = logits.softmax(-1).numpy()
    lengths = frame_lengths(widths, probs.shape[1]).numpy()
    return [
        labels_to_text([k for k, *_ in ctc_greedy(p[:n])])
        for p, n in zip(probs, lengths, strict=True)
    ]


# --------------------------------------------------------------------------- validation


@dataclass
class LineSet:
    """A fixed set of lines (images, widths, texts), sorted by width so batches pad little."""

    images: list[np.ndarray]
    texts: list[str]

    @classmethod
    def build(
        cls, generator: NumberLines, per_length: int, seed: int = VAL_SEED, max_digits: int = 10
    ) -> LineSet:
        rng = np.random.default_rng(seed)
        lengths = np.repeat(np.arange(1, max_digits + 1), per_length)
        texts = generator.texts(len(lengths), rng, lengths)
        images = [generator.line(t, rng) for t in texts]
        order = np.argsort([im.shape[1] for im in images], kind="stable")
        return cls([images[i] for i in order], [texts[i] for i in order])

    def batches(self, size: int):
        for i in range(0, len(self.texts), size):
            part = self.images[i : i + size]
            widths = np.array([p.shape[1] for p in part])
            width = int(-(-widths.max() // STRIDE) * STRIDE)
            out = np.zeros((len(part), LINE_HEIGHT, width), np.float32)
            for k, p in enumerate(part):
                out[k, :, : p.shape[1]] = p
            yield out, widths, self.texts[i : i + size]


def digits_of(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def evaluate_lines(
    model: Callable[[torch.Tensor], torch.Tensor], lines: LineSet, batch: int = 64
) -> dict[str, float]:
    """Loss and exact-match rates of ``model`` on ``lines``: ``exact`` (the digits read
    exactly), ``format_exact`` (digits and separators), ``exact_4_6`` and ``exact_len{k}``.
    ``model``: a torch module (put in eval mode) or any callable from lines (N, 1, H, W) to
    logits (N, frames, classes), such as an exported graph's session."""
    if isinstance(model, nn.Module):
        model.eval()
    loss_fn = nn.CTCLoss(blank=0, zero_infinity=True)
    losses, hits, fmt_hits, lengths = [], [], [], []
    with torch.inference_mode():
        for images, widths, texts in lines.batches(batch):
            logits = model(torch.from_numpy(images)[:, None])
            log_probs = logits.log_softmax(-1).transpose(0, 1)
            targets, target_lengths = ctc_targets(texts)
            losses.append(
                float(
                    loss_fn(
                        log_probs, targets, frame_lengths(widths, logits.shape[1]), target_lengths
                    )
                )
                * len(texts)
            )
            for got, want in zip(decode_batch(logits, widths), texts, strict=True):
                hits.append(digits_of(got) == digits_of(want))
                fmt_hits.append(got.strip() == want.strip())
                lengths.append(digit_count(want))
    hits_a, lengths_a = np.array(hits), np.array(lengths)
    out = {
        "loss": sum(losses) / len(hits),
        "exact": float(hits_a.mean()),
        "format_exact": float(np.mean(fmt_hits)),
    }
    mid = (lengths_a >= 4) & (lengths_a <= 6)
    if mid.any():
        out["exact_4_6"] = float(hits_a[mid].mean())
    for k in np.unique(lengths_a):
        out[f"exact_len{k}"] = float(hits_a[lengths_a == k].mean())
    return out


# --------------------------------------------------------------------------- checkpoints


def _model_state(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().contiguous().numpy() for k, v in model.state_dict().items()}


def _load_model_state(model: nn.Module, arrays: dict[str, np.ndarray], prefix: str = "") -> None:
    state = {
        k[len(prefix) :]: torch.from_numpy(np.array(v))
        for k, v in arrays.items()
        if k.startswith(prefix)
    }
    model.load_state_dict(state)


def save_checkpoint(
    folder: Path,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    info: dict[str, Any],
) -> None:
    """Tensors (model, averaged model, optimizer moments) as safetensors, the rest as JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v for k, v in _model_state(model).items()}
    tensors.update({f"ema.{k}": v for k, v in _model_state(ema).items()})
    opt = optimizer.state_dict()
    for pid, state in opt["state"].items():
        for key, value in state.items():
            tensors[f"opt.{pid}.{key}"] = torch.as_tensor(value).detach().cpu().numpy().copy()
    # Dropout draws from torch's generator: its state makes a resumed run continue exactly.
    tensors["rng.torch"] = torch.get_rng_state().numpy().copy()
    runs.save_weights(folder, tensors, STATE)
    atomic.write_json(folder / STATE_JSON, {**info, "param_groups": opt["param_groups"]})


def load_checkpoint(
    folder: Path, model: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """Restore what :func:`save_checkpoint` wrote; returns its JSON part."""
    if not (folder / STATE).is_file() or not (folder / STATE_JSON).is_file():
        raise DigitkitError(f"{folder}: no checkpoint to resume from")
    arrays = runs.load_weights(folder, STATE)
    info = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
    _load_model_state(model, arrays, "model.")
    _load_model_state(ema, arrays, "ema.")
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in arrays.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = torch.from_numpy(np.array(value))
    optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})
    if "rng.torch" in arrays:
        torch.set_rng_state(torch.from_numpy(np.array(arrays["rng.torch"])))
    return info


# --------------------------------------------------------------------------- training


def lr_at(step: int, recipe: NumberRecipe) -> float:
    """Linear warm-up, then cosine decay to 2 % of the peak over the whole run."""
    total = recipe.epochs * recipe.steps_per_epoch
    if step < recipe.warmup_steps:
        return recipe.lr * (step + 1) / recipe.warmup_steps
    t = (step - recipe.warmup_steps) / max(1, total - recipe.warmup_steps)
    return recipe.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def _update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters(), strict=True):
            e.lerp_(p, 1 - decay)
        for e, b in zip(ema.buffers(), model.buffers(), strict=True):
            e.copy_(b)


def train_number(
    out_dir: str | Path,
    recipe: NumberRecipe = NumberRecipe(),
    *,
    train_lines: NumberLines | None = None,
    val_lines: LineSet | None = None,
    data_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    data_source: dict[str, Any] | None = None,
    init: str | Path | None = None,
    teacher: str | Path | None = None,
) -> dict[str, Any]:
    """Train ``crnn-ctc`` and write its run directory; returns the final card.

    ``init`` (a number-reader run of the same width) starts from its weights instead of a
    random initialization: a longer schedule continues a finished run without repeating it.
    With ``recipe.distill``, ``teacher`` (a number-reader run; default ``init``) is the
    reader the run is kept close to: a second step of a distilled run keeps to the reader the
    first step started from, not to the first step's drift.

    ``train_lines``/``val_lines`` default to lines from the MNIST train/validation split
    (``data_dir`` or $DIGITKIT_DATA). With ``resume=True`` the run continues from the
    checkpoint of its last finished epoch with the recipe stored in its card.
    """
    out = Path(out_dir)
    if resume:
        recipe = NumberRecipe(**runs.read_card(out)["recipe"])
    train_lines, val_lines, source = _line_sets(
        recipe, train_lines, val_lines, data_dir, data_source or {}
    )
    run = _NumberRun(out, recipe, train_lines, val_lines, init, resume, teacher)
    run.start(source)
    with progress_bar(progress) as bar:
        task = bar.add_task(
            "train-number",
            total=recipe.epochs * recipe.steps_per_epoch,
            completed=run.start_epoch * recipe.steps_per_epoch,
            stats="",
        )
        # Epochs always run to the end of the schedule (no early stopping): the best epoch
        # on validation is kept as it goes.
        protocol.run_epochs(
            run.start_epoch,
            recipe.epochs,
            lambda epoch: run.train_one_epoch(epoch, bar, task),
            lambda row: run.end_epoch(row, log or (lambda _msg: None)),
        )
    return runs.update_card(
        out,
        status="done",
        finished=runs.now_iso(),
        timings={"train_seconds": round(run.elapsed, 1)},
    )


def run_line_sets(
    run_dir: str | Path, data_dir: str | Path | None = None, check_lines: int | None = None
) -> tuple[NumberLines, LineSet]:
    """The training-line generator and the validation lines of a finished run, rebuilt from
    its card's recipe (what an int8 export calibrates on and checks against). With
    ``check_lines``, the validation lines are that many fresh ones instead (rounded up to
    whole lengths; CHECK_SEED): the same generator, not the lines the run's epoch was
    chosen on, and as many as a check of a fraction of a point needs."""
    card = RunCard.load(run_dir)
    if card.task != NUMBER_TASK:
        raise DigitkitError(f"{run_dir}: not a number-reader run")
    known = {f.name for f in fields(NumberRecipe)}
    recipe = NumberRecipe(**{k: v for k, v in card.recipe.items() if k in known})
    seed = VAL_SEED
    if check_lines is not None:
        recipe = recipe.replace(val_per_length=-(-check_lines // recipe.max_digits))
        seed = CHECK_SEED
    train_lines, val_lines, _ = _line_sets(recipe, None, None, data_dir, {}, val_seed=seed)
    return train_lines, val_lines


def _line_sets(
    recipe: NumberRecipe,
    train_lines: NumberLines | None,
    val_lines: LineSet | None,
    data_dir: str | Path | None,
    source: dict[str, Any],
    val_seed: int = VAL_SEED,
) -> tuple[NumberLines, LineSet, dict[str, Any]]:
    """The training lines and validation set (by default from the MNIST train/validation
    split, ``val_seed``'s lines) and the card's ``data`` block describing them."""
    if train_lines is None or val_lines is None:
        from digitkit.data import load_splits

        splits = load_splits(data_dir=data_dir)
        source = {**splits.source, "generator": "digitkit.data.strings"}
        if train_lines is None:
            train_lines = NumberLines.from_mnist(
                splits.x_train,
                splits.y_train,
                seed=recipe.seed,
                max_digits=recipe.max_digits,
                photo_fraction=recipe.photo_fraction,
                distant=recipe.distant,
                leaning=recipe.leaning,
                styled_digits=recipe.styled_digits,
                pen_renderings=recipe.pen_renderings,
                joined=recipe.joined,
                empty=recipe.empty,
            )
        if val_lines is None:
            # The epoch kept is the best on these lines, so they hold the training lines'
            # share of joined-up ones: on plain lines alone a run continued with joins kept
            # its first epoch, before it had learned them.
            val_gen = NumberLines.from_mnist(
                splits.x_val,
                splits.y_val,
                use_pen=False,
                use_photos=False,
                max_digits=recipe.max_digits,
                joined=recipe.joined,
            )
            val_lines = LineSet.build(
                val_gen, recipe.val_per_length, seed=val_seed, max_digits=recipe.max_digits
            )
    source = {
        **source,
        "pools": len(train_lines.pools),
        "photo_fraction": train_lines.photo_fraction,
        "distant": train_lines.distant,
        "leaning": train_lines.leaning,
    }
    return train_lines, val_lines, source


def check_fine_tuning(
    teacher: str | Path | None,
    init: str | Path | None,
    distill: float | None,
    int8_aware: bool | None = False,
) -> None:
    """The options that only fine-tune a finished reader come with ``init`` (DigitkitError):
    a teacher is what a distilled run started from ``init`` keeps close to (without both it
    would be silently unused), and an int8-aware run freezes its batch norms, whose
    statistics a run from scratch has not learnt yet (a resumed run finds its start in its
    card: pass ``int8_aware`` False)."""
    if teacher is not None and (init is None or not distill or distill <= 0):
        raise DigitkitError("--teacher needs --init RUN and --distill W above 0")
    if int8_aware and init is None:
        raise DigitkitError("--int8-aware needs --init RUN: it fine-tunes a finished reader")


class _NumberRun:
    """The state of one number-reader run (model, averaged model, optimizer, history, the
    best score so far), with the steps of an epoch as methods."""

    def __init__(
        self,
        out: Path,
        recipe: NumberRecipe,
        train_lines: NumberLines,
        val_lines: LineSet,
        init: str | Path | None,
        resume: bool,
        teacher: str | Path | None = None,
    ) -> None:
        self.out, self.recipe, self.init, self.resume = out, recipe, init, resume
        check_fine_tuning(teacher, init, recipe.distill, recipe.int8_aware and not resume)
        self.teacher_run = teacher
        self.train_lines, self.val_lines = train_lines, val_lines
        torch.manual_seed(recipe.seed)
        self.arch_args = {"width": recipe.width, "dropout": recipe.dropout}
        if recipe.depth != 1:  # the readers of depth 1 keep the cards they were shipped with
            self.arch_args["depth"] = recipe.depth
        self.model = model = build_model(ARCHITECTURE, **self.arch_args)
        self.deepened_from: int | None = None
        if init is not None and not resume:
            self.deepened_from = self._warm_start(init, model)
        self.teacher = self._teacher() if recipe.distill > 0 else None
        self.ema = copy.deepcopy(model)
        for p in self.ema.parameters():
            p.requires_grad_(False)
        # What trains and what is validated: the reader itself, or (int8-aware) the reader
        # as its int8 graph will compute it; the weights trained and kept are the reader's.
        self.forward: nn.Module = RoundedWeights(model) if recipe.int8_aware else model
        self.judged: nn.Module = RoundedWeights(self.ema) if recipe.int8_aware else self.ema
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            (no_decay if p.ndim == 1 or name.endswith(".bias") else decay).append(p)
        self.optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": recipe.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=recipe.lr,
        )
        self.loss_fn = nn.CTCLoss(blank=0, zero_infinity=True)
        self.ckpt = out / runs.CHECKPOINT_DIR
        self.history: list[dict[str, Any]] = []
        self.start_epoch, self.best, self.elapsed = 0, -1.0, 0.0
        self.metrics: dict[str, float] = {}
        self.seconds = 0.0

    def _teacher(self) -> nn.Module:
        """The reader ``recipe.distill`` keeps the run close to, frozen in eval mode: the
        teacher run if one was given, else the reader the run started from. A resumed run
        rebuilds it from the runs its card names (``init``)."""
        if not self.resume:
            if self.init is None:
                raise DigitkitError("distill needs --init RUN: the reader to stay close to")
            if self.teacher_run is not None:
                teacher = load_number_model(self.teacher_run)
            else:
                teacher = copy.deepcopy(self.model)
        else:
            start = runs.read_card(self.out).get("init") or {}
            if "teacher" in start:
                teacher = load_number_model(start["teacher"])
            elif "run" in start:
                teacher = build_model(ARCHITECTURE, **self.arch_args)
                self._warm_start(start["run"], teacher)
            else:
                raise DigitkitError(f"{self.out}: distill needs the run it started from")
        for p in teacher.parameters():
            p.requires_grad_(False)
        return teacher.eval()

    def _warm_start(self, init: str | Path, model: nn.Module) -> int | None:
        """Load ``init``'s weights into ``model`` (deepened where ``model`` is deeper); the
        depth it was deepened from, or None."""
        init_card = RunCard.load(init)
        if init_card.task != NUMBER_TASK:
            raise DigitkitError(f"--init {init}: not a number-reader run")
        init_args = dict(init_card.model_args)
        init_depth = init_args.pop("depth", 1)
        same_but_depth = init_args == {k: v for k, v in self.arch_args.items() if k != "depth"}
        if init_card.model_args != self.arch_args and not (
            same_but_depth and init_depth < self.recipe.depth
        ):
            raise DigitkitError(
                f"--init {init}: its model is {init_card.model_args}"
                f", this recipe builds {self.arch_args}"
            )
        if init_depth == self.recipe.depth:
            _load_model_state(model, runs.load_weights(init))
            return None
        # A deeper reader than the run it starts from: its layers are copied and each
        # added convolution starts as the identity, fitted on a batch of training lines
        # drawn from a generator of its own (the epochs' lines stay those of a fresh run).
        shallow = build_model(ARCHITECTURE, **init_card.model_args)
        _load_model_state(shallow, runs.load_weights(init))
        inserted = deepen(shallow, model)
        rng = np.random.default_rng([self.recipe.seed, DEEPEN_STREAM])
        images, _, _ = self.train_lines.batch(DEEPEN_LINES, rng)
        fit_identity_norms(model, inserted, torch.from_numpy(images)[:, None])
        return init_depth

    def start(self, source: dict[str, Any]) -> None:
        """Restore the last checkpoint (resume) or write the run's first card."""
        out, recipe = self.out, self.recipe
        if self.resume:
            info = load_checkpoint(self.ckpt, self.model, self.ema, self.optimizer)
            self.start_epoch, self.best = info["epoch"], info["best"]
            self.elapsed = info.get("seconds", 0.0)
            self.history = runs.read_history(out)[: self.start_epoch]
            return
        out.mkdir(parents=True, exist_ok=True)
        card = runs.new_card(
            engine="torch",
            architecture=ARCHITECTURE,
            arch_args=self.arch_args,
            input_spec=input_spec(),
            recipe=asdict(recipe),
            data=source,
            seed=recipe.seed,
            num_params=count_params(self.model),
        )
        card.update(task=NUMBER_TASK, alphabet=ALPHABET, labels=list(ALPHABET))
        if self.init is not None:
            card["init"] = {"run": str(self.init)}
            if self.deepened_from is not None:
                card["init"]["deepened_from_depth"] = self.deepened_from
            if self.teacher_run is not None:
                card["init"]["teacher"] = str(self.teacher_run)
        runs.write_card(out, card)

    def train_one_epoch(self, epoch: int, bar: Any, task: Any) -> dict[str, Any]:
        """Train ``epoch`` (0-based) on fresh lines, validate the averaged model, and return
        its history row."""
        recipe, model, optimizer = self.recipe, self.model, self.optimizer
        # One generator per epoch, seeded by (seed, epoch): a resumed run draws the very
        # lines the uninterrupted run would have drawn.
        rng = np.random.default_rng([recipe.seed, epoch])
        self.forward.train()
        t0 = time.perf_counter()
        loss_sum, n_lines = 0.0, 0
        for i in range(recipe.steps_per_epoch):
            step = epoch * recipe.steps_per_epoch + i
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, recipe)
            images, widths, texts = self.train_lines.batch(recipe.batch_size, rng)
            x = torch.from_numpy(images)[:, None]
            logits = self.forward(x)
            loss = logits_ctc_loss(logits, widths, texts, self.loss_fn)
            if self.teacher is not None:
                with torch.no_grad():
                    taught = self.teacher(x)
                loss = loss + recipe.distill * line_distillation_loss(logits, taught, widths, texts)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), recipe.clip)
            optimizer.step()
            _update_ema(self.ema, model, recipe.ema if step > recipe.warmup_steps else 0.9)
            loss_sum += float(loss.detach()) * len(texts)
            n_lines += len(texts)
            rate = n_lines / max(time.perf_counter() - t0, 1e-9)
            bar.update(task, advance=1, stats=f"loss {loss_sum / n_lines:.3f} {rate:.0f} lines/s")
        seconds = time.perf_counter() - t0
        metrics = evaluate_lines(self.judged, self.val_lines)
        self.elapsed += seconds
        self.metrics, self.seconds = metrics, seconds
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / n_lines,
            "val_loss": metrics["loss"],
            "val_exact": metrics["exact"],
            "val_exact_4_6": metrics.get("exact_4_6", float("nan")),
            "val_format_exact": metrics["format_exact"],
            "lr": lr_at((epoch + 1) * recipe.steps_per_epoch - 1, recipe),
            "seconds": round(seconds, 2),
            "lines_per_s": round(n_lines / seconds, 1),
        }
        row.update({f"val_{k}": v for k, v in metrics.items() if k.startswith("exact_len")})
        return row

    def end_epoch(self, row: dict[str, Any], say: Callable[[str], None]) -> None:
        """Write the history, keep the best averaged weights, checkpoint; never stops early."""
        metrics, epoch = self.metrics, int(row["epoch"])
        self.history.append(row)
        runs.write_history(self.out, self.history)
        # Exact match decides; on a tie (600 lines: often) the lower loss does.
        score = metrics["exact"] - 1e-6 * metrics["loss"]
        if score > self.best:
            self.best = score
            runs.save_weights(self.out, _model_state(self.ema))
            runs.update_card(
                self.out, best_epoch=epoch, metrics={"val": {k: v for k, v in metrics.items()}}
            )
        save_checkpoint(
            self.ckpt,
            self.model,
            self.ema,
            self.optimizer,
            {"epoch": epoch, "best": self.best, "seconds": self.elapsed},
        )
        say(
            f"epoch {epoch}/{self.recipe.epochs}  loss {row['train_loss']:.4f}  "
            f"val loss {metrics['loss']:.4f}  exact {100 * metrics['exact']:.2f}%  "
            f"4-6 digits {100 * metrics.get('exact_4_6', 0):.2f}%  "
            f"formatted {100 * metrics['format_exact']:.2f}%  "
            f"{row['lines_per_s']:.0f} lines/s  {self.seconds:.0f}s"
        )


def load_number_model(run_dir: str | Path) -> nn.Module:
    """The torch model of a number-reader run (eval mode), from its card and weights."""
    card = RunCard.load(run_dir)
    if card.task != NUMBER_TASK:
        raise DigitkitError(f"{run_dir}: not a number-reader run")
    model = build_model(card.model_name, **card.model_args)
    _load_model_state(model, runs.load_weights(run_dir))
    return model.eval()


def export_number_onnx(
    run_dir: str | Path, out: str | Path | None = None, opset: int = 17, atol: float = 1e-4
) -> tuple[Path, float]:
    """Write ``model.onnx`` (dynamic batch and width) for a number-reader run; return its
    path and the largest logit difference to torch on lines of several widths."""
    import warnings

    import onnx
    import onnxruntime as ort

    run_dir = runs.require_run_dir(run_dir)
    model = load_number_model(run_dir)
    card = RunCard.load(run_dir)
    out = Path(out) if out else run_dir / "model.onnx"
    example = torch.zeros(1, 1, LINE_HEIGHT, 64)
    with atomic.atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=["line"],
            output_names=["logits"],
            dynamic_axes={"line": {0: "batch", 3: "width"}, "logits": {0: "batch", 1: "frames"}},
        )
        proto = onnx.load(str(tmp))
        meta = {
            "digitkit_task": NUMBER_TASK,
            "digitkit_alphabet": card.alphabet or ALPHABET,
            "digitkit_input": json.dumps(card.input),
        }
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(tmp))
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        diff = 0.0
        for width in (8, 96, 412):
            x = rng.random((2, 1, LINE_HEIGHT, width), dtype=np.float32)
            with torch.inference_mode():
                expected = model(torch.from_numpy(x)).numpy()
            got = session.run(None, {"line": x})[0]
            if got.shape != expected.shape:
                raise DigitkitError(
                    f"ONNX export of {run_dir}: shape {got.shape} != torch {expected.shape}"
                )
            diff = max(diff, float(np.abs(got - expected).max()))
        if diff > atol:
            raise DigitkitError(f"ONNX export of {run_dir} differs from torch by {diff:.2e}")
    runs.record_onnx(run_dir, out, diff, opset)  # the card pins the file: loading needs no torch
    return out, diff
