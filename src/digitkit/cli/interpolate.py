"""``digitkit interpolate``: a run on the line between a model and its fine-tuned descendant."""

from __future__ import annotations

from pathlib import Path

import typer

from digitkit.cli._common import console


def interpolate(
    base: Path = typer.Argument(..., help="Run directory the fine-tuning started from."),
    tuned: Path = typer.Argument(..., help="Run directory fine-tuned from BASE (--init)."),
    alpha: float = typer.Option(
        ...,
        "--alpha",
        "-a",
        help="Weight of TUNED: 0 gives BASE, 1 gives TUNED, above 1 goes further.",
        show_default=False,
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="New run directory to write.", show_default=False
    ),
) -> None:
    """Write the weights (1 - alpha) * BASE + alpha * TUNED as a new run (WiSE-FT).

    Fine-tuning on real handwriting can cost some MNIST accuracy; runs between the two often
    keep most of both. Classes the fine-tuning added ("not a digit") keep TUNED's weights.
    Calibrate, export and evaluate the new run like any other; choose alpha on validation.

    Examples:

      digitkit interpolate runs/cnn-swift-s0 runs/realworld-swift-s0 --alpha 0.6 --out runs/wise-0.6

      digitkit calibrate runs/wise-0.6 && digitkit export runs/wise-0.6 --int8
    """
    from digitkit.train.interpolate import interpolate_runs

    path = interpolate_runs(base, tuned, alpha, out)
    console.print(f"wrote {path} ({1 - alpha:g} x {base} + {alpha:g} x {tuned})")


def register(app: typer.Typer) -> None:
    app.command("interpolate")(interpolate)
