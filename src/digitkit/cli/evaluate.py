"""``digitkit evaluate``: metrics, confusion matrix and error gallery of a run."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from digitkit.cli._common import JsonOption, console, pct, print_json, print_table


def evaluate(
    run: Path = typer.Argument(..., help="Run directory or ensemble spec (.json)."),
    split: str = typer.Option("test", help="train, val or test."),
    no_cache: bool = typer.Option(False, help="Recompute probabilities even if cached."),
    as_json: bool = JsonOption,
) -> None:
    """Evaluate a run on a split: accuracy, per-class precision/recall, confusion matrix PNG,
    gallery of the misclassified images, JSON report, cached probabilities.

    Examples:

      digitkit evaluate runs/cnn-fast-20261120-230000

      digitkit evaluate runs/cnn-fast-20261120-230000 --split val

      digitkit evaluate runs/cnn-fast-20261120-230000 --json > report.json
    """
    from digitkit.errors import DigitkitError
    from digitkit.inference.evaluate import evaluate as run_evaluation

    if split not in ("train", "val", "test"):
        raise DigitkitError(f"unknown split {split!r}; choose train, val or test")
    rep = run_evaluation(run, split, use_cache=not no_cache)
    out = run if run.is_dir() else run.parent
    name = split if run.is_dir() else f"{run.stem}-{split}"
    files = {
        "report": out / f"eval-{name}.json",
        "confusion": out / f"confusion-{name}.png",
        "errors": out / f"errors-{name}.png",
    }
    if as_json:
        print_json({**rep, "files": {k: str(v) for k, v in files.items()}})
        return
    table = Table("class", "precision", "recall", "support", title=f"{run} on {split}")
    for c, m in rep["per_class"].items():
        table.add_row(c, pct(m["precision"]), pct(m["recall"]), str(m["support"]))
    print_table(table)
    console.print(
        f"accuracy [bold]{pct(rep['accuracy'])}[/] ({rep['errors']} errors of {rep['n']})"
    )
    console.print("\n".join(f"{k}: {v}" for k, v in files.items()), soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
