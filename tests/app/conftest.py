"""Fixtures of the desktop-app tests: Qt offscreen, fake recognizers, an artifacts dir."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Before anything imports PySide6: no display here, and tests must not open windows.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The web tests' fakes and drawings serve here too (same Recognizer interface, same shapes).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))

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
