"""``digitkit train-number`` and ``digitkit read-number``: the segmentation-free CTC reader
of whole numbers (:mod:`digitkit.vision.numbers`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from digitkit.cli._common import DataDirOption, console, pct
from digitkit.errors import DigitkitError

if TYPE_CHECKING:
    from digitkit.train.sequence import NumberRecipe


def train_number(
    out: Path = typer.Option(None, "--out", help="Run directory (default runs/number-ctc-<time>)."),
    resume: Path = typer.Option(
        None, "--resume", help="Continue the run in this directory from its last finished epoch."
    ),
    init: Path = typer.Option(
        None,
        "--init",
        help="Start from this number-reader run's "
        "weights (continue a finished run with a new schedule; with a larger --depth, a "
        "deeper copy of it whose added convolutions start as the identity).",
    ),
    epochs: int = typer.Option(None, help="Epochs (default 20)."),
    steps: int = typer.Option(None, "--steps", help="Training steps per epoch (default 300)."),
    batch_size: int = typer.Option(None, help="Lines per step (default 32)."),
    lr: float = typer.Option(None, help="Peak learning rate (default 2e-3)."),
    width: int = typer.Option(
        None, help="Model width: channels per frame; the conv features scale with it (default 128)."
    ),
    depth: int = typer.Option(
        None,
        min=1,
        help="3x3 convolutions in each feature stage after the first (default 1).",
    ),
    seed: int = typer.Option(None, help="Seed of the model and the generated lines."),
    photo_fraction: float = typer.Option(
        None,
        "--photo-fraction",
        help="Share of training lines photographed on paper (boxes, rules, light, blur, "
        "JPEG; default 0.1).",
    ),
    styled: int = typer.Option(
        None,
        "--styled",
        min=0,
        help="Pen digits added to the training pool in styles MNIST lacks: the flagged 1, "
        "the crossed 7, the slashed 0 (default 0).",
    ),
    pen_renderings: int = typer.Option(
        None,
        "--pen-renderings",
        min=1,
        help="Renderings of every training writer's pen digit in the pool, each with its own "
        "random pen (default 1).",
    ),
    joined: float = typer.Option(
        None,
        "--joined",
        min=0.0,
        max=1.0,
        help="Share of training lines written joined-up: neighbouring digits linked by the "
        "pen's joining stroke (default 0).",
    ),
    empty: float = typer.Option(
        None,
        "--empty",
        min=0.0,
        max=1.0,
        help="Share of training lines that are empty fields, photographed, to be read as no "
        "number (default 0).",
    ),
    distant: float = typer.Option(
        None,
        "--distant",
        min=0.0,
        max=1.0,
        help="Share of training lines photographed from afar besides --photo-fraction's: "
        "always at a low resolution (default 0).",
    ),
    leaning: float = typer.Option(
        None,
        "--leaning",
        min=0.0,
        max=1.0,
        help="Share of training lines written in an italic hand, leaning right 9-27 degrees "
        "more (default 0).",
    ),
    distill: float = typer.Option(
        None,
        "--distill",
        min=0.0,
        help="With --init: weight of a term keeping the reader's frame distributions close "
        "to the starting run's on the lines it reads right (default 0: off).",
    ),
    teacher: Path = typer.Option(
        None,
        "--teacher",
        help="With --distill: the number-reader run to stay close to (default: the --init "
        "run). A second distilled step keeps to the reader the first one started from.",
    ),
    int8_aware: bool = typer.Option(
        None,
        "--int8-aware/--no-int8-aware",
        help="Train through the int8 export's 7-bit weight rounding (batch norms frozen), so "
        "a fine-tuned reader's int8 graph reads as it does (default off).",
    ),
    threads: int = typer.Option(1, help="Torch threads (1: the machine is shared)."),
    export: bool = typer.Option(
        True, "--export/--no-export", help="Export model.onnx (checked against torch) at the end."
    ),
    overwrite: bool = typer.Option(False, help="Replace an existing run directory at --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or epoch lines."),
    data_dir: Path = DataDirOption,
) -> None:
    """Train the CTC number reader (crnn-ctc) on synthetic number lines made of MNIST
    training digits with separators (25.441, 280.000=, 100.-); validated on lines of the
    validation digits (exact match of the whole number). Writes a run directory with
    card.json, model.safetensors, history.csv, checkpoint/ and model.onnx.

    Examples:

      digitkit train-number --out runs/number-ctc

      digitkit train-number --epochs 2 --steps 50 --out runs/number-smoke

      digitkit train-number --resume runs/number-ctc

      digitkit train-number --init runs/number-ctc --lr 1e-3 --out runs/number-ctc-2

      digitkit train-number --init runs/number-ctc --lr 5e-4 --epochs 10 --photo-fraction 0.4

      digitkit train-number --init runs/number-ctc --lr 3e-4 --styled 1500

      digitkit train-number --init runs/number-ctc --lr 3e-4 --styled 1500 --pen-renderings 3

      digitkit train-number --init runs/number-ctc --lr 3e-4 --styled 1500 --joined 0.3

      digitkit train-number --init runs/number-ctc --lr 3e-4 --joined 0.3 --empty 0.08

      digitkit train-number --init runs/number-ctc --depth 2 --lr 3e-4 --epochs 16

      digitkit train-number --init runs/number-ctc --depth 2 --lr 1e-4 --epochs 4 --distant 0.2

      digitkit train-number --init runs/number-ctc --depth 2 --distant 0.2 --distill 1.0

      digitkit train-number --init runs/number-ctc --depth 2 --leaning 0.3 --distill 1.0

      digitkit train-number --init runs/step-1 --distill 1.0 --teacher runs/number-ctc

      digitkit train-number --init runs/number-ctc --depth 2 --lr 1e-4 --int8-aware --distill 1.0
    """
    import torch

    from digitkit import runs
    from digitkit.card import RunCard
    from digitkit.train.sequence import check_fine_tuning, export_number_onnx

    torch.set_num_threads(max(1, threads))
    changes = _recipe_changes(
        epochs=epochs,
        steps_per_epoch=steps,
        batch_size=batch_size,
        lr=lr,
        width=width,
        depth=depth,
        seed=seed,
        photo_fraction=photo_fraction,
        styled_digits=styled,
        pen_renderings=pen_renderings,
        joined=joined,
        empty=empty,
        distant=distant,
        distill=distill,
        leaning=leaning,
        int8_aware=int8_aware,
    )
    # before any folder is touched or data loaded (a resumed run's recipe is its card's)
    check_fine_tuning(teacher, init, distill, int8_aware and resume is None)
    if resume is not None:
        out, recipe = _resumed_run(resume, changes, init)
    else:
        out, recipe = _new_run(out, changes, overwrite)
    card = _train(
        out,
        recipe,
        data_dir,
        resumed=resume is not None,
        quiet=quiet,
        init=init,
        teacher=teacher,
    )
    done = RunCard.of(card)
    console.print(
        f"[bold]crnn-ctc[/]: val exact {pct(done.metric('val', 'exact', 0.0))} "
        f"(4-6 digits {pct(done.metric('val', 'exact_4_6', 0.0))}, formatted "
        f"{pct(done.metric('val', 'format_exact', 0.0))}), best epoch {done.best_epoch}"
    )
    if export:
        path, diff = export_number_onnx(out)
        console.print(f"onnx:   {path} (max difference to torch {diff:.1e})")
    console.print(f"model:  {out / runs.WEIGHTS}\ncard:   {out / runs.CARD}")


def _recipe_changes(**options: Any) -> dict[str, Any]:
    """The recipe fields given on the command line (an option left out is None)."""
    return {k: v for k, v in options.items() if v is not None}


def _resumed_run(
    resume: Path, changes: dict[str, Any], init: Path | None
) -> tuple[Path, NumberRecipe]:
    """The folder and recipe of a number-reader run to continue: the recipe is its card's."""
    from digitkit.card import RunCard
    from digitkit.train.sequence import NumberRecipe

    if changes or init is not None:
        raise DigitkitError(
            "--resume continues with the recipe in the run's card; "
            "drop the recipe options and --init"
        )
    card = RunCard.load(resume)
    if card.task != "number":
        raise DigitkitError(f"{resume} is not a number-reader run")
    if card.status == "done":
        raise DigitkitError(f"{resume}: this run already finished; nothing to resume")
    return Path(resume), NumberRecipe(**card.recipe)


def _new_run(
    out: Path | None, changes: dict[str, Any], overwrite: bool
) -> tuple[Path, NumberRecipe]:
    """The folder and recipe of a new run; an existing run at ``out`` is removed only with
    ``overwrite``, and a folder that holds anything else never."""
    from digitkit import runs
    from digitkit.train.sequence import NumberRecipe

    recipe = NumberRecipe().replace(**changes)
    out = out or runs.default_run_dir("number-ctc")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise DigitkitError(
                f"{out} already exists; use --overwrite, another --out, or --resume {out}"
            )
        if not runs.is_run_dir(out):
            raise DigitkitError(f"{out} is not a run directory; refusing to overwrite it")
        shutil.rmtree(out)
    return out, recipe


def _train(
    out: Path,
    recipe: NumberRecipe,
    data_dir: Path,
    *,
    resumed: bool,
    quiet: bool,
    init: Path | None,
    teacher: Path | None,
) -> dict[str, Any]:
    """Run the training; Ctrl+C ends with the command that continues it."""
    from digitkit.train.sequence import train_number as run_training

    log = None if quiet else (lambda msg: console.print(msg))
    try:
        return run_training(
            out,
            recipe,
            data_dir=data_dir,
            resume=resumed,
            progress=not quiet,
            log=log,
            init=init,
            teacher=teacher,
        )
    except KeyboardInterrupt:
        raise DigitkitError(
            f"interrupted; continue with: digitkit train-number --resume {out}"
        ) from None


def read_number(
    image: Path = typer.Argument(..., help="Image of a written number (PNG, JPEG, ...)."),
    model: Path = typer.Option(
        None, "--model", help="Number-reader run directory (default: the shipped one)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Read a whole number with the CTC reader (no segmentation): digits, the separators as
    written, and each digit's confidence and horizontal extent.

    Examples:

      digitkit read-number amount.png

      digitkit read-number amount.png --model runs/number-ctc --json
    """
    import json

    from digitkit.vision.imageio import load_image
    from digitkit.vision.numbers import NumberReader, shipped_reader_dirs

    folders = [model] if model else shipped_reader_dirs()
    if not folders:
        raise DigitkitError("no number reader shipped; pass --model RUN_DIR")
    reading = NumberReader.load_members(folders).read(load_image(image))
    if json_out:
        console.print_json(json.dumps(reading.to_dict()))
        return
    if not reading.text:
        console.print(f"no number: {reading.reason}")
        return
    console.print(f"[bold]{reading.text}[/]  (written {reading.formatted!r})")
    for d in reading.digits:
        console.print(f"  {d.digit}  {pct(d.confidence)}  x {d.x0}..{d.x1}")


def register(app: typer.Typer) -> None:
    app.command("train-number")(train_number)
    app.command("read-number")(read_number)
