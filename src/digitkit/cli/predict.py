"""``digitkit predict``: the digit or number in image files, directories or stdin."""

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
    from digitkit.vision.imageio import is_image_path

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
    from digitkit.vision.recognize import NumberPrediction

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
    drawing: bool = typer.Option(
        False,
        "--drawing",
        help="the images are drawings on a plain canvas: nothing in them is taken for a"
        " printed line or box, strokes may reach the edges (digits only)",
    ),
) -> None:
    """Recognize the digit (or, with --number, the number) in each image.

    Each failure is reported on its own line, with an error.

    Exit code: 0 when every input was read, 1 when any failed (the others' results are
    printed all the same).

    Examples:

      digitkit predict drawing.png

      digitkit predict scans/ --json > predictions.jsonl

      digitkit predict house-number.jpg --number

      digitkit predict canvas-exports/ --drawing

      cat digit.png | digitkit predict - --model runs/cnn-fast-20250101-120000
    """
    from digitkit.cli._common import print_table
    from digitkit.vision.recognize import Recognizer

    if drawing and number:
        raise DigitkitError("--drawing is for single digits; numbers are judged from the image")
    items = list(_expand(paths))
    if not items:
        raise DigitkitError("no image files found in " + ", ".join(paths))
    recognizer = Recognizer.load(model, tta=tta)
    table = None if as_json else _table(number)
    failed = 0
    for chunk in _chunks(items, CHUNK):
        sources = [_read(i) for i in chunk]
        if number:
            results: list[Any] = [_read_number(recognizer, src) for src in sources]
        else:
            results = recognizer.predict_batch(sources, drawing=drawing)
        for item, res in zip(chunk, results, strict=True):
            res.file = str(item)
            out = res.to_dict()
            failed += "error" in out
            if as_json:
                typer.echo(json.dumps(out))
            else:
                table.add_row(*_row(out, number))
    if table is not None:
        print_table(table)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add predict to the digitkit app."""
    app.command()(predict)
