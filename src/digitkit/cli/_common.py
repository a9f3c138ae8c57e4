"""Helpers shared by the command modules: consoles and common options."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DataDirOption = typer.Option(
    None, "--data-dir", help="MNIST folder (default: $DIGITKIT_DATA or ~/.cache/digitkit/mnist).",
    show_default=False,
)


def pct(x: float) -> str:
    """0.99123 -> '99.12%'."""
    return f"{100 * x:.2f}%"
