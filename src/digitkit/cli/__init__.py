"""The ``digitkit`` command line (Typer + Rich): the only place that parses arguments or
prints for humans.

Each area of the tool lives in its own module here with a ``register(app)`` function that
adds its commands; ``COMMAND_MODULES`` lists them in help order. A ``DigitkitError`` anywhere
becomes one red line on stderr and exit code 2, never a traceback; so does a missing optional
library, as the line naming the extra to install (``digitkit._extras``).
"""

from __future__ import annotations

import importlib
import sys

import typer

from digitkit import __version__, _extras
from digitkit.errors import DigitkitError

COMMAND_MODULES: tuple[str, ...] = (
    "digitkit.cli.data",
    "digitkit.cli.models",
    "digitkit.cli.train",
    "digitkit.cli.number",
    "digitkit.cli.evaluate",
    "digitkit.cli.ensemble",
    "digitkit.cli.interpolate",
    "digitkit.cli.predict",
    "digitkit.cli.calibrate",
    "digitkit.cli.kaggle",
    "digitkit.cli.export",
    "digitkit.cli.serve",
    "digitkit.cli.app",
    "digitkit.cli.env",
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
        # --install-completion / --show-completion for bash, zsh, fish and PowerShell.
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        """digitkit command line."""

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def error(message: str) -> None:
    """Print one clear error line to stderr."""
    from rich.console import Console
    from rich.markup import escape

    # escaped: a message's own brackets ('digitkit[train]', paths) are text, not markup
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(message)}"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``digitkit`` console script."""
    app = build_app()
    _extras.set_command(_command_name(app, sys.argv[1:] if argv is None else argv))
    try:
        # Non-standalone click returns a command's typer.Exit code instead of raising it.
        # prog_name: 'python -m digitkit' would otherwise name itself so in usage and help.
        result = app(args=argv, standalone_mode=False, prog_name="digitkit")
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
    except ImportError as exc:  # an optional library of an extra that is not installed
        missing = _extras.missing_extra(exc)
        if missing is None:
            raise
        error(str(missing))
        return missing.exit_code
    except OSError as exc:  # a place the user pointed at: read-only, missing, full
        if not exc.filename:
            raise
        error(f"{exc.filename}: {exc.strerror or exc}")
        return 1
    except _click_exceptions() as exc:  # usage errors carry their own message and exit code
        error(exc.format_message() + _usage_hint(exc, sys.argv[1:] if argv is None else argv))
        return exc.exit_code
    return result if isinstance(result, int) else 0


def _command_name(app: typer.Typer, args: list[str]) -> str:
    """``digitkit train`` or ``digitkit data show``: what the arguments run, for messages."""
    groups = {g.name for g in app.registered_groups if g.name}
    words = [a for a in args if not a.startswith("-")][:2]
    if words and words[0] not in groups:
        words = words[:1]
    return " ".join(["digitkit", *words])


def _usage_hint(exc: Exception, args: list[str]) -> str:
    """A hint for the likeliest slip: a recipe field given as an option (``--epochs 1``)
    where ``train`` takes ``key=value`` overrides."""
    option = getattr(exc, "option_name", None)
    if not option or not option.startswith("--"):
        return ""
    field = option[2:].replace("-", "_")
    from dataclasses import fields

    from digitkit.train.recipes import Recipe

    if field not in {f.name for f in fields(Recipe)}:
        return ""
    at = args.index(option) if option in args else -1
    value = args[at + 1] if 0 <= at < len(args) - 1 else "VALUE"
    return f"; recipe fields are key=value: {field}={value}"


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
