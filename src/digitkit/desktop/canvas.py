"""The drawing surface of the desktop app: black anti-aliased strokes on a white image."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

MAX_UNDO = 100


@dataclass
class _Snapshot:
    image: QImage
    ink: bool
    source: bytes | None
    picture: bool


class DrawingCanvas(QWidget):
    """A square canvas the user paints digits on.

    The drawing lives in a fixed-size image (``side`` pixels, 280 by default: ten times
    MNIST), scaled to whatever size the widget has, so predictions do not depend on the
    window size. ``changed`` fires on every edit; ``source`` holds the bytes of an opened
    image file until someone draws over it, so that file is recognized exactly as
    ``digitkit predict`` would read it; :attr:`is_drawing` says whether the canvas holds
    strokes alone (no opened picture since it was last cleared).
    """

    changed = Signal()

    def __init__(self, side: int = 280, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.side = side
        self.brush_size = 20
        self.source: bytes | None = None
        self._picture = False  # an opened image is on the canvas (drawn over or not)
        self._image = self._blank()
        self._ink = False
        self._undo: list[_Snapshot] = []
        self._last: QPointF | None = None
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Drawing area")
        self.setAccessibleDescription("Draw a digit with the mouse or a pen")

    # ----- state --------------------------------------------------------------------------
    def _blank(self) -> QImage:
        image = QImage(self.side, self.side, QImage.Format.Format_RGB32)
        image.fill(QColor("white"))
        return image

    def is_empty(self) -> bool:
        """True when nothing has been drawn or opened."""
        return not self._ink

    def can_undo(self) -> bool:
        return bool(self._undo)

    def image(self) -> QImage:
        """A copy of the drawing at its own resolution."""
        return self._image.copy()

    def png_bytes(self) -> bytes:
        """The drawing as PNG: the exact bytes the model is given."""
        data = QByteArray()
        buf = QBuffer(data)
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        self._image.save(buf, "PNG")
        buf.close()
        return bytes(data.data())

    def _push_undo(self) -> None:
        self._undo.append(_Snapshot(self._image.copy(), self._ink, self.source, self._picture))
        del self._undo[:-MAX_UNDO]

    def undo(self) -> None:
        """Go back one stroke (or one opened image)."""
        if not self._undo:
            return
        snap = self._undo.pop()
        self._image, self._ink, self.source = snap.image, snap.ink, snap.source
        self._picture = snap.picture
        self.update()
        self.changed.emit()

    def clear(self) -> None:
        """Blank the canvas; clearing is itself undoable."""
        if self._ink:
            self._push_undo()
        self._image, self._ink, self.source = self._blank(), False, None
        self._picture = False
        self.update()
        self.changed.emit()

    def load_image(self, data: bytes) -> bool:
        """Show an image file's content, scaled to fit on white; False if Qt cannot read it
        (the recognizer still gets the bytes and explains the problem)."""
        picture = QImage.fromData(data)
        self._push_undo()
        self._image = self._blank()
        if not picture.isNull():
            scaled = picture.scaled(
                self.side,
                self.side,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            p = QPainter(self._image)
            p.drawImage(
                (self.side - scaled.width()) // 2, (self.side - scaled.height()) // 2, scaled
            )
            p.end()
        self._ink, self.source, self._picture = True, data, True
        self.update()
        self.changed.emit()
        return not picture.isNull()

    @property
    def is_drawing(self) -> bool:
        """Whether the canvas holds strokes alone, drawn on its plain background: the
        recognizer is told so (``Recognizer.predict(drawing=True)``) and takes nothing in
        it for print. False once an image is opened, until the canvas is cleared."""
        return not self._picture

    def set_brush_size(self, size: int) -> None:
        self.brush_size = max(2, min(60, int(size)))

    # ----- painting -----------------------------------------------------------------------
    def _target(self) -> QRectF:
        """The centred square of the widget the image is shown in."""
        s = min(self.width(), self.height())
        return QRectF((self.width() - s) / 2, (self.height() - s) / 2, s, s)

    def _to_image(self, pos: QPointF) -> QPointF:
        t = self._target()
        k = self.side / t.width()
        return QPointF((pos.x() - t.x()) * k, (pos.y() - t.y()) * k)

    def _stroke(self, a: QPointF, b: QPointF) -> None:
        p = QPainter(self._image)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(
            QPen(
                QColor("black"),
                self.brush_size,
                Qt.PenStyle.SolidLine,
                Qt.PenCapStyle.RoundCap,
                Qt.PenJoinStyle.RoundJoin,
            )
        )
        if a == b:
            p.drawPoint(a)  # a round cap makes a dot the size of the brush
        else:
            p.drawLine(a, b)
        p.end()
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self._push_undo()
        self.source = None  # the drawing no longer equals the opened file
        self._last = self._to_image(event.position())
        self._ink = True
        self._stroke(self._last, self._last)
        self.changed.emit()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        # Track our own "drawing" state rather than event.buttons(): synthesized events
        # (tests, some tablets) do not always carry the pressed button on moves.
        if self._last is None:
            return
        point = self._to_image(event.position())
        self._stroke(self._last, point)
        self._last = point
        self.changed.emit()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._last is not None:
            self._last = None
            self.changed.emit()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        t = self._target()
        p.drawImage(t, self._image)
        p.setPen(QPen(QColor("#8a8a8a"), 1))
        p.drawRect(t.adjusted(0, 0, -1, -1))
        if not self._ink:
            p.setPen(QColor("#6b6b6b"))
            p.drawText(t, Qt.AlignmentFlag.AlignCenter, "Draw a digit here")
        p.end()
