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
        "(default 0.2; a number reader: 0.5 of its validation lines read exactly, which are "
        "600, so 3 lines).",
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
    """
    from digitkit.card import RunCard
    from digitkit.errors import DigitkitError
    from digitkit.inference.export import export_onnx, quantize_int8

    if not onnx:
        raise DigitkitError("nothing to do: ONNX is the only export format")
    if int8 and out is not None:
        raise DigitkitError("--int8 writes next to RUN/model.onnx: drop --out")
    if RunCard.load(run).task == "number":
        _export_number(run, out, opset, int8, calibration, 0.5 if max_drop is None else max_drop)
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
    run: Path, out: Path | None, opset: int, int8: bool, calibration: int, max_drop: float
) -> None:
    """A number reader: its graph, and with ``int8`` its int8 copy calibrated on
    ``calibration`` training lines of its own recipe, checked on its validation lines."""
    import numpy as np

    from digitkit.inference.export import quantize_number_int8
    from digitkit.train.sequence import export_number_onnx, run_line_sets

    path, diff = export_number_onnx(run, out, opset)
    console.print(f"wrote {path} (max |onnx - torch| = {diff:.1e})")
    if int8:
        with console.status("calibrating int8 on training lines, checking validation lines"):
            train_lines, val_lines = run_line_sets(run)
            rng = np.random.default_rng(0)
            batches = (train_lines.batch(32, rng)[0] for _ in range(-(-calibration // 32)))
            path, record = quantize_number_int8(run, batches, val_lines, max_drop=max_drop / 100)
        exact = record["val_exact"]
        console.print(
            f"wrote {path}: validation lines read exactly {exact['int8']:.2%} "
            f"(float32 {exact['float32']:.2%})"
        )


def register(app: typer.Typer) -> None:
    app.command("export")(export)
