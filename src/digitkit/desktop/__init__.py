"""The desktop painting app (``digitkit app``): a PySide6 window to draw digits in.

Like the web app it recognizes only through :class:`digitkit.recognize.Recognizer`, with the
drawing handed over as PNG bytes, the same input ``digitkit predict`` reads from a file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def run(model: str | None = None, loader: Callable[[str | None], Any] | None = None,
        argv: list[str] | None = None) -> int:
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


__all__ = ["run"]
