"""``digitkit app``: the PySide6 desktop painting app."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the ``app`` command to the CLI."""

    @app.command("app")
    def desktop(
        model: str | None = typer.Option(
            None,
            "--model",
            "-m",
            help="Model to start with: a "
            "shipped name, a run directory or an ensemble file "
            "(default: the shipped model).",
        ),
    ) -> None:
        """Open the desktop painting app: draw a digit with the mouse and see it recognized.

        Keys: Ctrl+Z undo, Esc clear, Ctrl+O open an image, [ and ] brush size.

        Examples:

          digitkit app

          digitkit app --model default
        """
        from digitkit.desktop import display_problem, run
        from digitkit.errors import DigitkitError
        from digitkit.vision.recognize import Recognizer

        problem = display_problem()
        if problem:
            raise DigitkitError(problem)

        # Load before opening the window: a bad --model is one clear error line, not a
        # window that only says "error".
        first = Recognizer.load(model=model)

        def loader(name: str | None):
            return first if name == model else Recognizer.load(model=name)

        raise typer.Exit(run(model=model, loader=loader))
