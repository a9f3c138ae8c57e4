"""The desktop painting app (``digitkit app``): a PySide6 window to draw digits in.

Like the web app it recognizes only through :class:`digitkit.vision.recognize.Recognizer`, with the
drawing handed over as PNG bytes, the same input ``digitkit predict`` reads from a file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def display_problem() -> str | None:
    """Why a window cannot open here (None when it can): on Linux and the BSDs Qt needs an X11
    or Wayland display unless a platform is chosen (QT_QPA_PLATFORM=offscreen in tests);
    without one it aborts the whole process (exit 134) instead of raising."""
    import os
    import sys

    if sys.platform in ("darwin", "win32") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "no display: 'digitkit app' needs a desktop session (DISPLAY or WAYLAND_DISPLAY "
        "is not set); on a server use 'digitkit serve' and open the web page instead"
    )


def run(
    model: str | None = None,
    loader: Callable[[str | None], Any] | None = None,
    argv: list[str] | None = None,
) -> int:
    """Open the main window and run the Qt event loop; returns the exit code.

    ``loader(name)`` loads a recognizer (default ``Recognizer.load``)."""
    import sys

    from PySide6.QtWidgets import QApplication

    from digitkit.desktop.window import MainWindow

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("digitkit")
    window = MainWindow(loader, model=model)
    window.show()
    return app.exec()


__all__ = ["display_problem", "run"]
