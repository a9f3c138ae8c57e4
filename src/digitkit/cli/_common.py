"""Helpers shared by the command modules: consoles and common options."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DataDirOption = typer.Option(
    None, "--data-dir", help="MNIST folder (default: $DIGITKIT_DATA or ~/.cache/digitkit/mnist).",
    show_default=False,
)


def data_dir_arg(value: Path | None) -> Path | None:
    return value


def pct(x: float) -> str:
    """0.99123 -> '99.12%'."""
    return f"{100 * x:.2f}%"
