"""``digitkit kaggle {predict,train}``: Kaggle's digit-recognizer competition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

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
    from digitkit.vision.recognize import Recognizer

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
    from digitkit.card import RunCard
    from digitkit.data import load_splits
    from digitkit.models import get_spec
    from digitkit.train.loop import train
    from digitkit.train.recipes import apply_overrides, get_recipe

    spec = get_spec(model, "torch")
    chosen = apply_overrides(get_recipe(recipe or spec.recipe), overrides or [])
    splits = load_splits(f"kaggle:{train_csv}", n_val=n_val)
    run_dir = out or runs.default_run_dir(f"kaggle-{model}")
    card = RunCard.from_dict(train(model, chosen, splits, run_dir), Path(run_dir) / runs.CARD)
    acc = card.metric("val", "accuracy")
    typer.echo(
        f"trained {model} on {train_csv}: val accuracy "
        f"{acc if acc is None else f'{acc:.4f}'}  [{run_dir}]"
    )


def register(app: typer.Typer) -> None:
    """Add the kaggle group to the digitkit app."""
    app.add_typer(kaggle_app, name="kaggle")
