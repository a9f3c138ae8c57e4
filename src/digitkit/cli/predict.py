"""``digitkit predict``, ``digitkit calibrate`` and ``digitkit kaggle {predict,train}``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from digitkit.errors import DigitkitError

CHUNK = 256  # files recognized per model call: bounded memory, output streams as it goes


def _expand(paths: list[str]) -> Iterator[str | Path]:
    """Files as given, directories walked recursively (image types only), '-' kept as is."""
    from digitkit.imageio import is_image_path

    for raw in paths:
        if raw == "-":
            yield "-"
            continue
        p = Path(raw)
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file() and is_image_path(f))
        else:
            yield p  # a missing file is reported on its own line by the recognizer


def _read(item: str | Path) -> Any:
    return sys.stdin.buffer.read() if item == "-" else item


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _table(number: bool) -> Any:
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("file")
    if number:
        table.add_column("number", justify="right")
    else:
        table.add_column("digit", justify="right")
    table.add_column("confidence", justify="right")
    table.add_column("note")
    return table


def _row(out: dict[str, Any], number: bool) -> list[str]:
    note = out.get("error") or out.get("reason") or ("uncertain" if out.get("uncertain") else "")
    digit = "-" if out.get("digit") is None else str(out["digit"])
    # A number as written (separators kept); its digits alone are in --json's "text".
    value = (out.get("formatted") or out["text"] or "-") if number else digit
    conf = "" if out.get("error") else f"{out['confidence']:.3f}"
    return [str(out.get("file", "")), value, conf, note]


def _read_number(recognizer: Any, source: Any) -> Any:
    """The number in one input; a failure is that input's error, never the whole run's (the
    other files' results are still printed), like predict_batch does for digits."""
    from digitkit.recognize import NumberPrediction

    try:
        return recognizer.predict_number(source)
    except DigitkitError as exc:
        return NumberPrediction("", [], None, None, str(exc))
    except Exception as exc:  # a bug must not lose the other files' results
        return NumberPrediction("", [], None, None, f"internal error: {type(exc).__name__}: {exc}")


def predict(
    paths: list[str] = typer.Argument(
        ..., help="image files, directories (searched recursively for image files) or - for stdin"
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="shipped model name, run directory or ensemble spec (default: shipped model)",
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object per input"),
    number: bool = typer.Option(False, "--number", help="read multi-digit numbers"),
    tta: bool = typer.Option(False, "--tta", help="test-time augmentation (5 shifted views)"),
) -> None:
    """Recognize the digit (or, with --number, the number) in each image.

    Each failure is reported on its own line, with an error.

    Exit code: 0 when at least one input was read, 1 when every input failed.

    Examples:

      digitkit predict drawing.png

      digitkit predict scans/ --json > predictions.jsonl

      digitkit predict house-number.jpg --number

      cat digit.png | digitkit predict - --model runs/cnn-fast-20250101-120000
    """
    from rich.console import Console

    from digitkit.recognize import Recognizer

    items = list(_expand(paths))
    if not items:
        raise DigitkitError("no image files found in " + ", ".join(paths))
    recognizer = Recognizer.load(model, tta=tta)
    console = Console(highlight=False, soft_wrap=True)
    table = None if as_json else _table(number)
    failed = 0
    for chunk in _chunks(items, CHUNK):
        sources = [_read(i) for i in chunk]
        if number:
            results: list[Any] = [_read_number(recognizer, src) for src in sources]
        else:
            results = recognizer.predict_batch(sources)
        for item, res in zip(chunk, results, strict=True):
            res.file = str(item)
            out = res.to_dict()
            failed += "error" in out
            if as_json:
                typer.echo(json.dumps(out))
            else:
                table.add_row(*_row(out, number))
    if table is not None:
        console.print(table)
    if failed == len(items):
        raise typer.Exit(1)


def calibrate(
    run: Path = typer.Argument(
        ...,
        help="run directory written by 'digitkit train', or an "
        "ensemble spec (JSON) whose members are calibrated already",
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="MNIST data directory"),
) -> None:
    """Fit temperature scaling on the run's validation split and store it in its card.

    Reports the expected calibration error (ECE) before and after.

    Also sets the confidence below which predictions are flagged uncertain and, for a model
    with the "not a digit" class, the refusal operating point (the trade-off curve is drawn
    in refusal-curve.png). For an ensemble spec, measures the average's calibration and
    threshold and writes them into the spec.

    Examples:

      digitkit calibrate runs/cnn-fast-20250101-120000

      digitkit calibrate runs/shipped-avg.json
    """
    from digitkit.calibrate import calibrate_ensemble, calibrate_run

    if run.is_file():
        report = calibrate_ensemble(run, data_dir)
        typer.echo(
            f"ensemble ECE {report['ece_before']:.4f} -> {report['ece_after']:.4f} "
            f"({report['note']})  uncertain below {report['uncertain_below']:.2f}  "
            f"val accuracy {report['acc_val']:.2%}  [{run}]"
        )
        return
    report = calibrate_run(run, data_dir)
    typer.echo(
        f"temperature {report['temperature']:.4f}  ECE {report['ece_before']:.4f} -> "
        f"{report['ece_after']:.4f}  uncertain below {report['uncertain_below']:.2f} "
        f"({100 * report['uncertain_fraction_val']:.2f}% of val)  [{run}/card.json]"
    )
    if "not_a_digit_above" in report:
        point = next(
            p for p in report["refusal_curve"] if p["threshold"] == report["not_a_digit_above"]
        )
        typer.echo(
            f"not a digit: refused at p >= {report['not_a_digit_above']:g}: "
            f"{100 * point['non_digits_refused']:.1f}% of val non-digits, "
            f"{100 * point['digits_refused']:.2f}% of val digits  "
            f"[{run}/refusal-curve.png]"
        )


kaggle_app = typer.Typer(
    help="Kaggle's digit-recognizer competition: predict test.csv, train on train.csv.\n\n"
    "Examples:\n\n  digitkit kaggle predict test.csv --out submission.csv --grid grid.png\n\n"
    "  digitkit kaggle train train.csv --out runs/kaggle-cnn",
    no_args_is_help=True,
)


def save_grid(path: Path, images: Any, labels: Any, n: int = 40) -> None:
    """The first ``n`` test images titled ``index:prediction`` (ImageId from 1), as a PNG."""
    from digitkit.plots import plot_gallery

    n = min(n, len(images))
    plot_gallery(
        images[:n],
        [f"{k + 1}:{int(labels[k])}" for k in range(n)],
        path,
        cols=max(1, min(10, n)),
        cmap="gray",
    )


@kaggle_app.command("predict")
def kaggle_predict(
    test_csv: Path = typer.Argument(..., help="Kaggle test.csv (pixel0..pixel783)"),
    out: Path = typer.Option(Path("submission.csv"), "--out", "-o", help="submission file"),
    model: str | None = typer.Option(None, "--model", "-m", help="model (default: shipped)"),
    grid: Path | None = typer.Option(
        None, "--grid", help="also save a PNG of the first images titled index:prediction"
    ),
    grid_n: int = typer.Option(40, "--grid-n", min=1, max=400, help="images in the grid"),
    tta: bool = typer.Option(False, "--tta", help="test-time augmentation"),
) -> None:
    """Write a Kaggle submission (ImageId,Label) for test.csv.

    Kaggle's images are MNIST-normalized already, so they go to the model as they are.

    Example:

      digitkit kaggle predict test.csv --out submission.csv --grid grid.png
    """
    import numpy as np

    from digitkit.data.kaggle import read_test_csv, write_submission
    from digitkit.recognize import Recognizer

    images = read_test_csv(test_csv)
    recognizer = Recognizer.load(model, tta=tta)
    probs = recognizer.probabilities(images.astype(np.float32) / np.float32(255.0))
    labels = probs.argmax(axis=1)
    write_submission(out, labels)
    typer.echo(f"wrote {len(labels)} predictions to {out}")
    if grid is not None:
        save_grid(grid, images, labels, grid_n)
        typer.echo(f"wrote {grid}")


@kaggle_app.command("train")
def kaggle_train(
    train_csv: Path = typer.Argument(
        ..., help="Kaggle train.csv (label, pixel0..pixel783) or the folder holding it"
    ),
    model: str = typer.Option(
        "cnn-fast", "--model", "-m", help="architecture (see 'digitkit models')"
    ),
    recipe: str | None = typer.Option(
        None, "--recipe", help="training recipe (default: the model's own)"
    ),
    out: Path | None = typer.Option(None, "--out", help="run directory (default runs/...)"),
    n_val: int = typer.Option(5000, "--n-val", min=100, help="validation images held out"),
    overrides: list[str] = typer.Argument(None, help="recipe overrides key=value"),
) -> None:
    """Train a model on Kaggle's train.csv (validation split held out of it).

    Example:

      digitkit kaggle train train.csv --model cnn-fast --out runs/kaggle-cnn epochs=4
    """
    from digitkit import runs
    from digitkit.data import load_splits
    from digitkit.models import get_spec
    from digitkit.train.loop import train
    from digitkit.train.recipes import apply_overrides, get_recipe

    spec = get_spec(model, "torch")
    chosen = apply_overrides(get_recipe(recipe or spec.recipe), overrides or [])
    splits = load_splits(f"kaggle:{train_csv}", n_val=n_val)
    run_dir = out or runs.default_run_dir(f"kaggle-{model}")
    card = train(model, chosen, splits, run_dir)
    acc = card.get("metrics", {}).get("val", {}).get("accuracy")
    typer.echo(
        f"trained {model} on {train_csv}: val accuracy "
        f"{acc if acc is None else f'{acc:.4f}'}  [{run_dir}]"
    )


def register(app: typer.Typer) -> None:
    """Add predict, calibrate and the kaggle group to the digitkit app."""
    app.command()(predict)
    app.command()(calibrate)
    app.add_typer(kaggle_app, name="kaggle")
