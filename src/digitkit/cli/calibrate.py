"""``digitkit calibrate``: temperature scaling and refusal thresholds for a run or an ensemble."""

from __future__ import annotations

from pathlib import Path

import typer

from digitkit.cli._common import JsonOption, print_json


def calibrate(
    run: Path = typer.Argument(
        ...,
        help="run directory written by 'digitkit train', or an "
        "ensemble spec (JSON) whose members are calibrated already",
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="MNIST data directory"),
    drawn: bool = typer.Option(
        False,
        "--drawn",
        help="fit the drawings' own 'not a digit' point on a calibrated 11-class model, "
        "keeping the rest of its calibration: the lowest point that refuses at most 0.5% of "
        "each hand's drawn validation digits (see docs/realworld.md)",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Fit temperature scaling on the run's validation split and store it in its card.

    Reports the expected calibration error (ECE) before and after.

    Also sets the confidence below which predictions are flagged uncertain and, for a model
    with the "not a digit" class, the refusal operating point (the trade-off curve is drawn
    in refusal-curve.png). For an ensemble spec, measures the average's calibration and
    threshold and writes them into the spec. With --drawn, only a lower refusal point for
    drawings is fitted, on the validation writers' pen digits and MNIST validation
    digits drawn as canvases, each hand within the budget (digitkit.vision.drawn).

    Examples:

      digitkit calibrate runs/cnn-fast-20250101-120000

      digitkit calibrate runs/shipped-avg.json

      digitkit calibrate runs/cnn-fast-20250101-120000 --json

      digitkit calibrate runs/realworld-avg/ensemble.json --drawn
    """
    from digitkit.inference.calibrate import calibrate_ensemble, calibrate_run
    from digitkit.vision.drawn import calibrate_drawn

    if drawn:
        report = calibrate_drawn(run, data_dir=data_dir)
    else:
        report = (
            calibrate_ensemble(run, data_dir) if run.is_file() else calibrate_run(run, data_dir)
        )
    if as_json:
        print_json(report)
        return
    if drawn:
        _echo_drawn(report)
        return
    if run.is_file():
        typer.echo(
            f"ensemble ECE {report['ece_before']:.4f} -> {report['ece_after']:.4f} "
            f"({report['note']})  uncertain below {report['uncertain_below']:.2f}  "
            f"val accuracy {report['acc_val']:.2%}  [{run}]"
        )
        return
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


def _echo_drawn(report: dict) -> None:
    point = next(
        p
        for p in report["drawn_refusal_curve"]
        if p["threshold"] == report["not_a_digit_above_drawn"]
    )
    typer.echo(
        f"not a digit, drawings: refused at p >= {report['not_a_digit_above_drawn']:g}: "
        f"{100 * point['non_digits_refused']:.1f}% of the validation writer's letters, "
        f"{100 * point['digits_refused']:.2f}% of drawn validation digits (each hand's own "
        "point: "
        + ", ".join(f"{hand} {p:g}" for hand, p in report["drawn_points_by_hand"].items())
        + ")"
    )


def register(app: typer.Typer) -> None:
    """Add calibrate to the digitkit app."""
    app.command()(calibrate)
