"""``digitkit export``: a run as ONNX."""

from __future__ import annotations

from pathlib import Path

import typer

from digitkit.cli._common import console


def export(
    run: Path = typer.Argument(..., help="Run directory of a torch model."),
    onnx: bool = typer.Option(True, "--onnx/--no-onnx", help="Export to ONNX (the only format)."),
    out: Path = typer.Option(None, "--out", help="Output file (default RUN/model.onnx)."),
    opset: int = typer.Option(17, help="ONNX opset version."),
) -> None:
    """Export a trained torch run to ONNX (checked against torch with onnxruntime).

    The graph takes the prepared input (after the card's padding and normalization, which
    are stored in the ONNX metadata) and returns logits.

    Example:

      digitkit export runs/cnn-fast-20261120-230000 --onnx
    """
    from digitkit.errors import DigitkitError
    from digitkit.export import export_onnx

    if not onnx:
        raise DigitkitError("nothing to do: ONNX is the only export format")
    path, diff = export_onnx(run, out, opset)
    console.print(f"wrote {path} (max |onnx - torch| = {diff:.1e})")


def register(app: typer.Typer) -> None:
    app.command("export")(export)
