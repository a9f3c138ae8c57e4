"""``digitkit export``: a run as ONNX, optionally quantized to int8."""

from __future__ import annotations

from pathlib import Path

import typer

from digitkit.cli._common import console


def export(
    run: Path = typer.Argument(..., help="Run directory of a torch model."),
    onnx: bool = typer.Option(True, "--onnx/--no-onnx", help="Export to ONNX (the only format)."),
    int8: bool = typer.Option(
        False,
        "--int8",
        help="Also write model.int8.onnx (static quantization: 7-bit weights, which do not "
        "saturate on CPUs without VNNI; activations calibrated on training images; "
        "validation accuracy of both recorded in the card).",
    ),
    calibration: int = typer.Option(
        2000, min=100, help="Training images (a number reader: lines) to calibrate int8 on."
    ),
    max_drop: float | None = typer.Option(
        None,
        min=0.0,
        help="Largest loss of validation accuracy, in points, for which the int8 copy is kept "
        "(default 0.2; a number reader: 0.5 of its --check-lines read exactly).",
    ),
    check_lines: int = typer.Option(
        3000,
        "--check-lines",
        min=100,
        help="A number reader: fresh validation lines its int8 copy is checked on (not the "
        "600 its epoch was chosen on; 3,000: one line is 0.03 points).",
    ),
    out: Path = typer.Option(None, "--out", help="Output file (default RUN/model.onnx)."),
    opset: int = typer.Option(17, help="ONNX opset version."),
) -> None:
    """Export a trained torch run to ONNX (checked against torch with onnxruntime).

    The graph takes the prepared input (after the card's padding and normalization, which
    are stored in the ONNX metadata) and returns logits. With --int8, an int8 copy is
    quantized from it; predictors then use it (set DIGITKIT_INT8=0 to keep float32).

    Examples:

      digitkit export runs/cnn-fast-20261120-230000 --onnx

      digitkit export runs/cnn-medium-drawn --int8 --calibration 2000

      digitkit export runs/number-ctc --int8 --calibration 1024

      digitkit export runs/number-ctc --int8 --check-lines 6000 --max-drop 0.3
    """
    from digitkit.card import RunCard
    from digitkit.errors import DigitkitError
    from digitkit.inference.export import export_onnx, quantize_int8

    if not onnx:
        raise DigitkitError("nothing to do: ONNX is the only export format")
    if int8 and out is not None:
        raise DigitkitError("--int8 writes next to RUN/model.onnx: drop --out")
    if RunCard.load(run).task == "number":
        drop = 0.5 if max_drop is None else max_drop
        _export_number(run, out, opset, int8, calibration, drop, check_lines)
        return
    path, diff = export_onnx(run, out, opset)
    console.print(f"wrote {path} (max |onnx - torch| = {diff:.1e})")
    if int8:
        import numpy as np

        from digitkit.inference.evaluate import model_splits

        splits = model_splits(run)
        pick = np.random.default_rng(0).choice(len(splits.x_train), calibration, replace=False)
        with console.status("calibrating int8 on training images, checking validation"):
            path, record = quantize_int8(
                run,
                splits.x_train[np.sort(pick)],
                (splits.x_val, splits.y_val),
                max_drop=(0.2 if max_drop is None else max_drop) / 100,
            )
        acc = record.get("val_accuracy", {})
        console.print(
            f"wrote {path}: val accuracy {acc.get('int8', 0):.2%} "
            f"(float32 {acc.get('float32', 0):.2%})"
        )


def _export_number(
    run: Path,
    out: Path | None,
    opset: int,
    int8: bool,
    calibration: int,
    max_drop: float,
    check_lines: int,
) -> None:
    """A number reader: its graph, and with ``int8`` its int8 copy calibrated on
    ``calibration`` training lines of its own recipe, checked on ``check_lines`` fresh
    validation lines."""
    import numpy as np

    from digitkit.inference.export import quantize_number_int8
    from digitkit.train.sequence import export_number_onnx, run_line_sets

    path, diff = export_number_onnx(run, out, opset)
    console.print(f"wrote {path} (max |onnx - torch| = {diff:.1e})")
    if int8:
        with console.status("calibrating int8 on training lines, checking validation lines"):
            train_lines, check = run_line_sets(run, check_lines=check_lines)
            rng = np.random.default_rng(0)
            batches = (train_lines.batch(32, rng)[0] for _ in range(-(-calibration // 32)))
            path, record = quantize_number_int8(run, batches, check, max_drop=max_drop / 100)
        exact = record["val_exact"]
        console.print(
            f"wrote {path}: {record['val_lines']} fresh validation lines read exactly "
            f"{exact['int8']:.2%} (float32 {exact['float32']:.2%})"
        )


def register(app: typer.Typer) -> None:
    app.command("export")(export)
