"""The ``digitkit`` command line (Typer + Rich): the only place that parses arguments or
prints for humans.

Each area of the tool lives in its own module here with a ``register(app)`` function that
adds its commands; ``COMMAND_MODULES`` lists them in help order. A ``DigitkitError`` anywhere
becomes one red line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from digitkit import __version__
from digitkit.errors import DigitkitError

COMMAND_MODULES: tuple[str, ...] = (
    "digitkit.cli.data",
    "digitkit.cli.models",
    "digitkit.cli.train",
    "digitkit.cli.number",
    "digitkit.cli.evaluate",
    "digitkit.cli.ensemble",
    "digitkit.cli.predict",
    "digitkit.cli.export",
    "digitkit.cli.serve",
    "digitkit.cli.app",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"digitkit {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """The Typer application with every available command module registered."""
    app = typer.Typer(
        name="digitkit",
        help="Handwritten-digit recognition: train, evaluate, ensemble and recognize digits.\n\n"
        "Examples:\n\n"
        "  digitkit data info\n\n"
        "  digitkit train cnn-fast\n\n"
        "  digitkit evaluate runs/cnn-fast-... --split test\n\n"
        "  digitkit predict drawing.png --json",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                     help="Print the version and exit."),
    ) -> None:
        """digitkit command line."""

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def error(message: str) -> None:
    """Print one clear error line to stderr."""
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {message}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``digitkit`` console script."""
    app = build_app()
    try:
        # Non-standalone click returns a command's typer.Exit code instead of raising it.
        result = app(args=argv, standalone_mode=False)
    except DigitkitError as exc:
        error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        error("aborted")
        return 1
    except _click_exceptions() as exc:  # usage errors carry their own message and exit code
        error(exc.format_message())
        return exc.exit_code
    return result if isinstance(result, int) else 0


def _click_exceptions() -> tuple[type[Exception], ...]:
    """Click's exception class, from every click that may parse the command line: typer >=
    0.26 bundles its own (``typer._click``), whose errors are no ``click.ClickException``."""
    found: list[type[Exception]] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(module).ClickException)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


if __name__ == "__main__":
    sys.exit(main())
