"""Mouse strokes for the desktop canvas, in the same 280x280 space as the web tests."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def _send(widget, kind: QEvent.Type, pos: QPointF, button, buttons) -> None:
    event = QMouseEvent(
        kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, event)


def stroke(canvas, points: list[tuple[float, float]], steps: int = 4) -> None:
    """Press, move through ``points`` (with ``steps`` moves per segment), release: the
    mouse events a user's drag produces, with the left button held during the moves."""
    side = min(canvas.width(), canvas.height())
    ox, oy = (canvas.width() - side) / 2, (canvas.height() - side) / 2
    k = side / 280

    def at(p: tuple[float, float]) -> QPointF:
        return QPointF(ox + p[0] * k, oy + p[1] * k)

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _send(canvas, QEvent.Type.MouseButtonPress, at(points[0]), left, left)
    for a, b in zip(points, points[1:], strict=False):
        for i in range(1, steps + 1):
            t = i / steps
            p = (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
            _send(canvas, QEvent.Type.MouseMove, at(p), none, left)
    _send(canvas, QEvent.Type.MouseButtonRelease, at(points[-1]), left, none)


def draw(canvas, strokes: list[list[tuple[float, float]]]) -> None:
    for s in strokes:
        stroke(canvas, s)


def center(widget) -> QPoint:
    return widget.rect().center()
