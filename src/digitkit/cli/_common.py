"""Helpers shared by the command modules: consoles and common options."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DataDirOption = typer.Option(
    None,
    "--data-dir",
    help="MNIST folder (default: $DIGITKIT_DATA or ~/.cache/digitkit/mnist).",
    show_default=False,
)


def pct(x: float) -> str:
    """0.99123 -> '99.12%'."""
    return f"{100 * x:.2f}%"


def print_table(table: Table) -> None:
    """A table as a framed rich table on a terminal; piped or redirected, as tab-separated
    values with a header line, so no cell is cut to a terminal's width."""
    if console.is_terminal:
        console.print(table)
        return
    columns = table.columns
    typer.echo("\t".join(Text.from_markup(str(c.header)).plain for c in columns))
    for row in zip(*(list(c.cells) for c in columns), strict=True):
        typer.echo("\t".join(_plain(cell) for cell in row))


def _plain(cell: Any) -> str:
    text = cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain
    return text.replace("\t", " ").replace("\n", " ")


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout, with no markup or wrapping (for ``--json``)."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


JsonOption = typer.Option(False, "--json", help="Print JSON instead of tables.")
