"""``digitkit train``: train a registered architecture with a named recipe."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from digitkit.cli._common import DataDirOption, console, pct
from digitkit.errors import DigitkitError

# The command's options, declared once here so the command's signature stays one line each.
_ModelArgument = typer.Argument(
    None, help="Architecture (see 'digitkit models'); optional with --resume."
)
_OverridesArgument = typer.Argument(
    None, help="Recipe overrides as key=value, e.g. lr=0.01 epochs=3 augment=light."
)
_EngineOption = typer.Option("torch", help="torch or numpy (the from-scratch engine).")
_RecipeOption = typer.Option(None, help="Named recipe (default: the model's own).")
_DatasetOption = typer.Option(
    "mnist",
    help="mnist, mixed (MNIST + real pen drawings + "
    "synthetic boxes/photos + 'not a digit' examples; mixed:KEY=VALUE,... changes how many "
    "of each an epoch holds, e.g. mixed:pen_copies=6,mnist_per_epoch=15000), or "
    "kaggle:PATH to Kaggle's train.csv.",
)
_InitOption = typer.Option(
    None, "--init", help="Start from this run's weights (fine-tuning; same architecture)."
)
_OutOption = typer.Option(None, "--out", help="Run directory (default runs/<model>-<time>).")
_ResumeOption = typer.Option(None, "--resume", help="Continue the run in this directory.")
_OverwriteOption = typer.Option(False, help="Replace an existing run directory at --out.")
_NTrainOption = typer.Option(None, help="Use only the first N training images (quick runs).")
_ArchOption = typer.Option(
    None,
    "--arch",
    help="Architecture argument KEY=VALUE (repeatable), e.g. --arch width=48; see the builder.",
)
_QuietOption = typer.Option(False, "--quiet", "-q", help="No progress bar or epoch lines.")
_CompileOption = typer.Option(
    False,
    "--compile",
    help="torch.compile the model (faster steps on a GPU after a minute of compiling).",
)
_GraphsOption = typer.Option(
    False,
    "--graphs",
    help="Capture each training step as a CUDA graph (GPU, Adam/AdamW recipes; the small "
    "CNNs train 3-5x faster); a run that cannot be captured says why and trains as usual.",
)
_DrawAheadOption = typer.Option(
    1,
    "--draw-ahead",
    min=0,
    metavar="N",
    help="With a mixed dataset, draw the next N epochs' images in other processes (one each) "
    "while one trains: the same images either way. 1 suits two cores; on a GPU machine, "
    "about its cores; 0: draw in place, in one process (e.g. beside another job).",
)


def train(
    model: str = _ModelArgument,
    overrides: list[str] = _OverridesArgument,
    engine: str = _EngineOption,
    recipe: str = _RecipeOption,
    dataset: str = _DatasetOption,
    init: Path = _InitOption,
    out: Path = _OutOption,
    resume: Path = _ResumeOption,
    overwrite: bool = _OverwriteOption,
    n_train: int = _NTrainOption,
    arch: list[str] = _ArchOption,
    quiet: bool = _QuietOption,
    compile_model: bool = _CompileOption,
    graphs: bool = _GraphsOption,
    draw_ahead: int = _DrawAheadOption,
    data_dir: Path = DataDirOption,
) -> None:
    """Train a model and write a run directory (weights, card, history, curves, checkpoint).

    The best epoch on the validation split is kept; the test split is only reported.

    Examples:

      digitkit train cnn-fast

      digitkit train cnn-simple --recipe tutorial epochs=5

      digitkit train lenet5 --engine numpy --out runs/lenet5-np

      digitkit train cnn-medium --recipe long --arch width=48

      digitkit train --resume runs/cnn-medium-20261120-230000

      digitkit train cnn-medium --dataset mixed --arch classes=11 --init RUN --recipe realworld

      digitkit train cnn-medium --dataset mixed:pen_copies=6,mnist_per_epoch=15000
      --arch classes=11 --init RUN --recipe realworld epochs=4 lr=0.01   (more pen drawings)

      digitkit train cnn-medium --dataset mixed --arch classes=11 --draw-ahead 8   (a GPU
      machine: eight epochs drawn at once on its cores while the GPU trains)

      digitkit train wrn-28-10 augment_device=torch --compile   (on a GPU: batches augmented
      there from the resident dataset; augment_device=auto does so whenever the device is one)

      digitkit train simplecnn-m5 --graphs   (on a GPU: each step one CUDA graph replay)
    """
    from digitkit.train.distributed import env_world

    # Under torchrun every rank runs this command; only rank 0 touches the output folder
    # and prints, so a slow rank can never delete what rank 0 has just written.
    is_main = env_world()[0] == 0
    if resume is not None:
        plan = _resume_plan(resume, model, arch)
    else:
        plan = _new_plan(
            model,
            engine,
            recipe,
            overrides or [],
            arch or [],
            dataset,
            init,
            out,
            n_train,
            overwrite,
            is_main,
        )
    # Everything is validated before anything is written: now load data and train.
    splits = plan.split.load(data_dir, draw_ahead=draw_ahead)
    if plan.n_train:
        splits = splits.subset(n_train=plan.n_train)
    if is_main and resume is None and plan.out.exists() and overwrite:
        shutil.rmtree(plan.out)
    log = None if quiet or not is_main else (lambda msg: console.print(msg))
    card = _run_engine(
        plan,
        splits,
        resumed=resume is not None,
        quiet=quiet,
        log=log,
        options={"compile": compile_model, "graphs": graphs, "draw_ahead": draw_ahead},
    )
    if is_main:
        _report(plan, card)


def _run_engine(
    plan: _Plan,
    splits: Any,
    *,
    resumed: bool,
    quiet: bool,
    log: Callable[[str], None] | None,
    options: dict[str, Any],
) -> dict[str, Any]:
    """Train the planned run with its engine (the NumPy one or torch); returns the card.
    Ctrl+C ends with the command that continues the run."""
    try:
        if plan.engine == "numpy":
            from digitkit.scratch.trainer import train_run

            return train_run(
                plan.model,
                plan.recipe,
                splits,
                plan.out,
                resume=resumed,
                progress=not quiet,
                arch_args=plan.arch_args,
            )
        from digitkit.train.loop import TrainOptions
        from digitkit.train.loop import train as train_torch

        return train_torch(
            plan.model,
            plan.recipe,
            splits,
            plan.out,
            arch_args=plan.arch_args,
            resume=resumed,
            init=plan.init,
            options=TrainOptions(progress=not quiet, log=log, **options),
        )
    except KeyboardInterrupt:
        raise DigitkitError(
            f"interrupted; continue with: digitkit train --resume {plan.out}"
        ) from None


def _report(plan: _Plan, card: dict[str, Any]) -> None:
    """The accuracies the run reached and where its files are."""
    from digitkit import runs
    from digitkit.card import RunCard

    out = plan.out
    run = RunCard.from_dict(card, out / runs.CARD)
    val_acc, test_acc = run.metric("val", "accuracy"), run.metric("test", "accuracy")
    val = f"val {pct(val_acc)}" if val_acc is not None else "no val split"
    line = f"[bold]{plan.model}[/] ({plan.engine}, recipe {plan.recipe.name}): {val}"
    if test_acc is not None:
        line += f", test [bold]{pct(test_acc)}[/] ({run.metric('test', 'errors')} errors)"
    console.print(line + f" in {run.train_time_s:.1f}s of training")
    console.print(
        f"model:  {out / runs.WEIGHTS}\ncurves: {out / 'curves.png'}\ncard:   {out / runs.CARD}"
    )


@dataclass
class _Plan:
    """What to train, resolved and checked before any data is loaded or file written."""

    model: str
    engine: str
    recipe: Any
    arch_args: dict[str, object] | None
    split: Any  # digitkit.card.SplitSpec
    out: Path
    init: Path | None = None
    n_train: int | None = None


def _resume_plan(resume: Path, model: str | None, arch: list[str] | None) -> _Plan:
    """Continue a run: everything comes from its card (a resumed run sees the same data)."""
    from digitkit import runs
    from digitkit.card import RunCard
    from digitkit.train.recipes import Recipe

    if arch:
        raise DigitkitError("--arch cannot change a run being resumed; its card has them")
    card = RunCard.load(resume)
    if card.status == "done":
        raise DigitkitError(f"{resume}: this run already finished; nothing to resume")
    if model and model != card.model_name:
        raise DigitkitError(f"{resume} is a run of {card.model_name}, not {model}")
    if not (Path(resume) / runs.CHECKPOINT_DIR).is_dir():
        raise DigitkitError(f"{resume}: no checkpoint to resume from")
    # init stays None (the checkpoint already holds the weights), unless the recipe
    # distills: then the run its card started from is the teacher again.
    recipe = Recipe.from_dict(card.recipe)
    started_from = (card.to_dict().get("init") or {}).get("run")
    return _Plan(
        card.model_name,
        card.engine,
        recipe,
        card.model_args or None,
        card.split,
        Path(resume),
        init=Path(started_from) if recipe.distill > 0 and started_from else None,
        n_train=card.data.get("n_train") or None,
    )


def _new_plan(
    model: str | None,
    engine: str,
    recipe: str | None,
    overrides: list[str],
    arch: list[str],
    dataset: str,
    init: Path | None,
    out: Path | None,
    n_train: int | None,
    overwrite: bool,
    is_main: bool,
) -> _Plan:
    """A new run: the model's recipe with the overrides, and an output folder we may use."""
    from digitkit import runs
    from digitkit.card import SplitSpec
    from digitkit.data.splits import is_mixed
    from digitkit.models import get_spec
    from digitkit.train.protocol import check_out_dir
    from digitkit.train.recipes import apply_overrides, get_recipe

    if not model:
        raise DigitkitError("name a model to train (see 'digitkit models') or pass --resume")
    if init is not None and engine != "torch":
        raise DigitkitError("--init works with the torch engine only")
    if init is not None:
        runs.require_run_dir(init)
    if is_mixed(dataset):
        from digitkit.data.sources import parse_mix

        parse_mix(dataset)  # a typo in the mix fails here, before any data is loaded
    spec = get_spec(model, engine)
    resolved = apply_overrides(get_recipe(recipe or spec.recipe), overrides)
    arch_args = parse_arch_args(spec, arch)
    out = out or runs.default_run_dir(model)
    if is_main:
        check_out_dir(out, overwrite)
    return _Plan(
        model,
        engine,
        resolved,
        arch_args,
        SplitSpec(dataset, resolved.n_val, resolved.split_seed),
        out,
        init,
        n_train,
    )


def parse_arch_args(spec: object, items: list[str]) -> dict[str, object] | None:
    """``["width=48"]`` -> ``{"width": 48}``, checked against the builder's parameters so a
    typo fails before any data is loaded. Values are read as int, float, true/false or text."""
    import inspect

    if not items:
        return None
    accepted = inspect.signature(spec.builder).parameters  # type: ignore[attr-defined]
    args: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise DigitkitError(f"--arch takes KEY=VALUE, not {item!r}")
        if key not in accepted:
            known = ", ".join(accepted) or "none"
            raise DigitkitError(
                f"{spec.name} has no argument {key!r} "  # type: ignore[attr-defined]
                f"(it takes: {known})"
            )
        value: object = text
        for cast in (int, float):
            try:
                value = cast(text)
                break
            except ValueError:
                continue
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        args[key] = value
    return args


def register(app: typer.Typer) -> None:
    app.command("train")(train)
