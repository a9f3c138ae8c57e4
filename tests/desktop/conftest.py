"""Fixtures of the desktop-app tests: Qt offscreen, fake recognizers, an artifacts dir."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Before anything imports PySide6: no display here, and tests must not open windows.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# This folder's helpers (app_helpers), whatever the import mode; and the web tests' fakes and
# drawings serve here too (same Recognizer interface, same shapes).
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "serve")]

from serve_helpers import FakeModels  # noqa: E402


@pytest.fixture
def fake_models() -> FakeModels:
    return FakeModels()


@pytest.fixture
def window(qtbot, fake_models):
    from digitkit.desktop.window import MainWindow

    w = MainWindow(fake_models.load, fake_models.list())
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()
