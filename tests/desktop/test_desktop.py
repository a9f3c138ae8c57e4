"""The desktop app offscreen on a fake recognizer (tall mark -> 1, other marks -> 7): mouse
strokes, clear/undo, opening files, the model menu, shortcuts, inference off the UI thread."""

from __future__ import annotations

import threading

import pytest
from app_helpers import draw, stroke
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeySequence
from serve_helpers import ONE, SEVEN, FakeModels, draw_png


def shown(qtbot, window, digit: str, timeout: int = 5000) -> None:
    qtbot.waitUntil(lambda: window.digit_label.text() == digit, timeout=timeout)


def test_starts_empty(window):
    assert window.canvas.is_empty()
    assert window.digit_label.text() == ""
    assert window.status_label.text() == "Nothing drawn yet."
    assert window.bars.values() == [0.0] * 10
    assert window.preview_label.pixmap().isNull()


def test_mouse_strokes_are_recognized(qtbot, window, artifacts_dir):
    draw(window.canvas, ONE)
    shown(qtbot, window, "1")
    assert window.status_label.text() == "It is a 1 (90%)"
    assert window.bars.values()[1] == pytest.approx(0.9)
    assert not window.preview_label.pixmap().isNull()
    window.grab().save(str(artifacts_dir / "desktop-one.png"))
    window.canvas.clear()
    draw(window.canvas, SEVEN)
    shown(qtbot, window, "7")


def test_qtbot_mouse_events_draw(qtbot, window):
    """QTest's own mouse helpers (what pytest-qt users write) draw as well."""
    c = window.canvas
    side = min(c.width(), c.height())
    x = c.width() // 2
    top, bottom = (c.height() - side) // 2 + side // 6, (c.height() + side) // 2 - side // 6
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=QPoint(x, top))
    for y in range(top, bottom, 8):
        qtbot.mouseMove(c, QPoint(x, y))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=QPoint(x, bottom))
    shown(qtbot, window, "1")


def test_anti_aliased_brush_of_chosen_size(window):
    window.brush.setValue(30)
    assert window.canvas.brush_size == 30
    stroke(window.canvas, [(40, 140), (240, 140)])
    img = window.canvas.image()
    column = [img.pixelColor(140, y).red() for y in range(100, 181)]
    dark = sum(v < 128 for v in column)
    assert 26 <= dark <= 34  # as thick as the brush
    stroke(window.canvas, [(40, 20), (240, 90)])  # a slanted edge shows the anti-aliasing
    img = window.canvas.image()
    greys = {img.pixelColor(x, y).red() for x in range(60, 220) for y in range(10, 110)}
    assert len(greys - {0, 255}) > 20


def test_clear_and_undo(qtbot, window):
    draw(window.canvas, ONE)
    shown(qtbot, window, "1")
    stroke(window.canvas, [(60, 140), (230, 140)])
    shown(qtbot, window, "7")
    window.undo_button.click()
    shown(qtbot, window, "1")
    window.clear_button.click()
    assert window.canvas.is_empty()
    assert window.status_label.text() == "Nothing drawn yet."
    assert window.digit_label.text() == ""
    window.canvas.undo()  # clearing is undoable
    shown(qtbot, window, "1")
    window.canvas.undo()
    assert window.canvas.is_empty() and window.digit_label.text() == ""


def test_keyboard_shortcuts(qtbot, window):
    assert window.undo_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)
    assert window.open_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Open)
    window.activateWindow()
    window.canvas.setFocus()
    draw(window.canvas, ONE)
    shown(qtbot, window, "1")
    qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    assert window.canvas.is_empty()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    shown(qtbot, window, "1")
    size = window.canvas.brush_size
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketRight)
    assert window.canvas.brush_size == size + 2


def test_open_a_file(qtbot, window, tmp_path, monkeypatch):
    path = tmp_path / "seven.png"
    path.write_bytes(draw_png(SEVEN))
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), ""))
    )
    window.open_action.trigger()
    shown(qtbot, window, "7")
    assert window.canvas.source == path.read_bytes()  # the file's own bytes are recognized
    assert window.canvas.image().pixelColor(140, 60).red() < 128  # and shown


def test_strokes_alone_are_read_as_a_drawing_an_opened_image_is_not(
    qtbot, window, tmp_path, fake_models
):
    def told() -> bool:
        return recognizer().drawings[-1]

    def recognizer():
        (loaded,) = fake_models.instances.values()
        return loaded

    draw(window.canvas, ONE)
    shown(qtbot, window, "1")
    assert window.canvas.is_drawing and told() is True
    path = tmp_path / "seven.png"
    path.write_bytes(draw_png(SEVEN))
    window.open_file(path)
    shown(qtbot, window, "7")
    assert not window.canvas.is_drawing and told() is False
    before = len(recognizer().drawings)
    draw(window.canvas, [[(60, 250), (90, 250)]])  # drawn over the picture: still no drawing
    qtbot.waitUntil(lambda: len(recognizer().drawings) > before, timeout=5000)
    assert not window.canvas.is_drawing and told() is False
    window.canvas.undo()
    window.canvas.undo()  # back before the picture was opened
    assert window.canvas.is_drawing
    window.canvas.clear()
    assert window.canvas.is_drawing


def test_open_a_bad_file_says_why(qtbot, window, tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    window.open_file(path)
    qtbot.waitUntil(lambda: window.status_label.text().startswith("Error:"))
    window.open_file(tmp_path / "missing.png")
    assert "cannot read" in window.status_label.text()


def test_model_menu(qtbot, window, fake_models):
    names = [a.text() for a in window.model_group.actions()]
    assert names == ["default (shipped)", "unsure"]
    draw(window.canvas, ONE)
    shown(qtbot, window, "1")
    window.model_group.actions()[1].trigger()
    qtbot.waitUntil(lambda: window.status_label.text().startswith("Not sure"))
    assert "unsure" in fake_models.loaded


def test_inference_runs_off_the_ui_thread(qtbot):
    """While the model is stuck, the canvas keeps taking strokes; the answer comes later."""
    from digitkit.desktop.window import MainWindow

    gate = threading.Event()
    models = FakeModels(gate=gate)
    w = MainWindow(models.load, models.list())
    qtbot.addWidget(w)
    w.show()
    try:
        draw(w.canvas, SEVEN)
        qtbot.waitUntil(lambda: bool(models.instances.get(None) and models.instances[None].threads))
        qtbot.wait(50)
        draw(w.canvas, [[(30, 250), (250, 250)]])  # UI still responsive
        assert w.canvas.image().pixelColor(140, 250).red() < 128
        assert w.digit_label.text() == ""
        gate.set()
        shown(qtbot, w, "7")
        assert threading.main_thread().name not in models.instances[None].threads
    finally:
        gate.set()
        w.close()


def test_save_drawing(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    target = tmp_path / "out.png"
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), ""))
    )
    draw(window.canvas, ONE)
    window.save_action.trigger()
    assert target.read_bytes() == window.canvas.png_bytes()


def test_number_mode_reads_several_digits(qtbot, window):
    window.number_button.click()
    assert window.number_mode and window.number_action.isChecked()
    stroke(window.canvas, [(60, 60), (60, 220)])  # a tall mark: 1
    stroke(window.canvas, [(150, 100), (250, 100)])  # a flat mark: 7
    shown(qtbot, window, "17")
    assert window.status_label.text() == "It reads 17"
    assert window.last_prediction["mode"] == "number"
    # The shortcut switches back; the same drawing is read as one digit again.
    window.number_action.trigger()
    assert not window.number_mode and not window.number_button.isChecked()
    qtbot.waitUntil(lambda: window.digit_label.text() in {"1", "7"}, timeout=5000)


def test_number_mode_says_why_nothing_was_read(qtbot, window):
    window.model_group.actions()[1].trigger()  # "unsure": the fake reads no digit surely
    window.number_button.click()
    stroke(window.canvas, [(60, 60), (60, 220)])
    qtbot.waitUntil(
        lambda: window.status_label.text().startswith("No number: blank: no digit read surely"),
        timeout=5000,
    )
    assert window.digit_label.text() == ""
