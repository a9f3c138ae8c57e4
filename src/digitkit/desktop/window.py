"""The desktop app's main window: canvas, tools, live prediction, menus.

Inference and model loading run in a one-thread ``QThreadPool``; results come back to the UI
thread through a queued Qt signal. While a prediction is running, further edits only mark
the drawing dirty and one fresh prediction follows, so a slow model never builds a backlog
and the canvas never waits for it.

Why one module over 400 lines: nearly all of it is the one ``MainWindow`` class, whose widgets,
menus and prediction queue share the window's state; ``ProbabilityBars`` and the job wrapper
exist only for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QFont, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from digitkit.desktop.canvas import DrawingCanvas

DEBOUNCE_MS = 80  # wait for a short pause in the stroke...
MAX_WAIT_MS = 300  # ...but predict at least this often while drawing
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.webp);;All files (*)"

RecognizerLoader = Callable[[str | None], Any]


class _Signals(QObject):
    done = Signal(int, object)  # request id, result
    failed = Signal(int, str)  # request id, message


class _Job(QRunnable):
    """Run ``fn()`` in the pool; report through queued signals to the UI thread."""

    def __init__(self, request_id: int, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.request_id, self.fn = request_id, fn
        self.signals = _Signals()

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # shown in the status line; the app keeps running
            self.signals.failed.emit(self.request_id, str(exc) or type(exc).__name__)
        else:
            self.signals.done.emit(self.request_id, result)


def _default_loader(name: str | None) -> Any:
    from digitkit.vision.recognize import Recognizer

    return Recognizer.load(model=name)


def _default_models() -> list[str]:
    try:
        from digitkit.vision.recognize import available_models

        return list(available_models())
    except Exception:  # the menu then offers the default model only
        return []


class ProbabilityBars(QWidget):
    """Ten labelled bars, one per digit."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(2)
        self.bars: list[QProgressBar] = []
        self.percents: list[QLabel] = []
        for d in range(10):
            label = QLabel(str(d))
            label.setFont(QFont(label.font().family(), -1, QFont.Weight.Bold))
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(False)
            bar.setFixedHeight(14)
            bar.setAccessibleName(f"probability of {d}")
            pct = QLabel("0%")
            pct.setMinimumWidth(40)
            pct.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(label, d, 0)
            grid.addWidget(bar, d, 1)
            grid.addWidget(pct, d, 2)
            self.bars.append(bar)
            self.percents.append(pct)

    def set_probabilities(self, probs: list[float] | None) -> None:
        for d in range(10):
            p = float(probs[d]) if probs else 0.0
            self.bars[d].setValue(round(p * 1000))
            self.percents[d].setText(f"{round(p * 100)}%")

    def values(self) -> list[float]:
        return [bar.value() / 1000 for bar in self.bars]


class MainWindow(QMainWindow):
    """Draw a digit, see it recognized.

    ``recognizer_loader(name)`` returns an object with the Recognizer interface (None: the
    real ``Recognizer.load``); ``model_names`` are offered in the Model menu (None:
    ``available_models()``); ``model`` is the one to start with (None: shipped default).
    """

    prediction_shown = Signal(object)  # the prediction dict, after the display updated

    def __init__(
        self,
        recognizer_loader: RecognizerLoader | None = None,
        model_names: list[str] | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("digitkit: draw a digit")
        self._loader = recognizer_loader or _default_loader
        self._names = model_names if model_names is not None else _default_models()
        self._model = model
        self._recognizers: dict[str | None, Any] = {}
        # One inference thread: predictions are serialized and the UI thread stays free.
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._jobs: dict[int, _Job] = {}
        self._request = 0  # id of the newest prediction request
        self._stale_before = 0  # answers to requests up to this id describe a cleared canvas
        self._busy = False
        self._dirty = False
        self._first_change = 0.0
        self.last_prediction: dict[str, Any] | None = None
        self.number_mode = False

        self.canvas = DrawingCanvas()
        self.canvas.changed.connect(self._on_changed)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._predict_now)

        self._build_ui()
        self._build_menus()
        self._show_empty()

    # ----- layout -------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.brush = QSlider(Qt.Orientation.Horizontal)
        self.brush.setRange(6, 44)
        self.brush.setSingleStep(2)
        self.brush.setValue(self.canvas.brush_size)
        self.brush.setAccessibleName("Brush size")
        self.brush_label = QLabel()
        self.brush_label.setBuddy(self.brush)
        self.brush.valueChanged.connect(self._set_brush)
        self._set_brush(self.brush.value())

        self.undo_button = QPushButton("&Undo")
        self.clear_button = QPushButton("&Clear")
        self.open_button = QPushButton("&Open image…")
        # Number mode reads several digits in a row (Recognizer.predict_number) instead of one.
        self.number_button = QPushButton("&Number")
        self.number_button.setCheckable(True)
        self.number_button.setToolTip("Read several digits in a row (Ctrl+M)")
        self.number_button.toggled.connect(self.set_number_mode)
        self.undo_button.clicked.connect(self.canvas.undo)
        self.clear_button.clicked.connect(self.canvas.clear)
        self.open_button.clicked.connect(self.open_dialog)

        tools = QHBoxLayout()
        tools.addWidget(self.brush_label)
        tools.addWidget(self.brush, 1)
        buttons = QHBoxLayout()
        for b in (self.undo_button, self.clear_button, self.open_button, self.number_button):
            buttons.addWidget(b)
        left = QVBoxLayout()
        left.addLayout(tools)
        left.addWidget(self.canvas, 1)
        left.addLayout(buttons)

        self.digit_label = QLabel()
        self.digit_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.digit_label.setMinimumWidth(90)
        font = self.digit_label.font()
        font.setPointSize(56)
        font.setBold(True)
        self.digit_label.setFont(font)
        self.digit_label.setAccessibleName("Predicted digit")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setAccessibleName("Prediction status")
        top = QHBoxLayout()
        top.addWidget(self.digit_label)
        top.addWidget(self.status_label, 1)

        self.bars = ProbabilityBars()
        self.preview_label = QLabel()
        self.preview_label.setFixedSize(112, 112)
        self.preview_label.setStyleSheet("background: black; border: 1px solid #8a8a8a;")
        self.preview_label.setAccessibleName("The 28 by 28 image the model sees")
        preview = QHBoxLayout()
        preview.addWidget(self.preview_label)
        preview.addWidget(QLabel("What the model sees\n(28×28)"), 1)

        right = QVBoxLayout()
        right.addLayout(top)
        right.addWidget(self.bars)
        right.addLayout(preview)
        right.addStretch(1)

        body = QHBoxLayout()
        body.addLayout(left, 3)
        body.addLayout(right, 2)
        central = QWidget()
        central.setLayout(body)
        self.setCentralWidget(central)
        self.resize(760, 460)
        self.statusBar().showMessage(self._model_label())

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = self._action(
            file_menu, "&Open image…", QKeySequence.StandardKey.Open, self.open_dialog
        )
        self.save_action = self._action(
            file_menu, "&Save drawing…", QKeySequence.StandardKey.Save, self.save_dialog
        )
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)

        edit = self.menuBar().addMenu("&Edit")
        self.undo_action = self._action(
            edit, "&Undo", QKeySequence.StandardKey.Undo, self.canvas.undo
        )
        self.clear_action = self._action(
            edit, "&Clear", QKeySequence(Qt.Key.Key_Escape), self.canvas.clear
        )
        edit.addSeparator()
        self._action(
            edit,
            "Bigger brush",
            QKeySequence("]"),
            lambda: self.brush.setValue(self.brush.value() + 2),
        )
        self._action(
            edit,
            "Smaller brush",
            QKeySequence("["),
            lambda: self.brush.setValue(self.brush.value() - 2),
        )
        edit.addSeparator()
        self.number_action = self._action(
            edit, "&Number mode", QKeySequence("Ctrl+M"), self.number_button.toggle
        )
        self.number_action.setCheckable(True)

        menu = self.menuBar().addMenu("&Model")
        self.model_group = QActionGroup(self)
        self.model_group.setExclusive(True)
        default = QAction("default (shipped)", self, checkable=True)
        default.setData(None)
        entries = [default] + [
            QAction(n, self, checkable=True) for n in self._names if n != "default"
        ]
        for action in entries[1:]:
            action.setData(action.text())
        for action in entries:
            self.model_group.addAction(action)
            menu.addAction(action)
            action.setChecked(
                action.data() == self._model
                or (self._model in (None, "default") and action is default)
            )
        self.model_group.triggered.connect(lambda a: self.set_model(a.data()))

    def _action(self, menu: Any, text: str, key: Any, slot: Callable[[], Any]) -> QAction:
        action = QAction(text, self)
        action.setShortcut(key)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)  # shortcuts work even while the menu bar is hidden
        return action

    def _set_brush(self, value: int) -> None:
        self.canvas.set_brush_size(value)
        self.brush_label.setText(f"&Brush {value}")

    def _model_label(self) -> str:
        return f"Model: {self._model or 'default'}"

    # ----- actions ------------------------------------------------------------------------
    @Slot()
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image of a digit", "", IMAGE_FILTER)
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path) -> None:
        """Show an image file and recognize its original bytes."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            self._show_error(f"cannot read {path}: {exc.strerror}")
            return
        self.canvas.load_image(data)

    @Slot()
    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the drawing", "digit.png", "PNG image (*.png)"
        )
        if path:
            Path(path).write_bytes(self.canvas.png_bytes())

    def set_model(self, name: str | None) -> None:
        """Switch model (loaded in the background on first use) and predict again."""
        self._model = name
        self.statusBar().showMessage(self._model_label())
        if not self.canvas.is_empty():
            self._predict_now()

    def set_number_mode(self, on: bool) -> None:
        """Read one digit (off) or a number of several digits (on); re-reads the drawing."""
        self.number_mode = bool(on)
        for control in (self.number_button, self.number_action):
            if control.isChecked() != self.number_mode:
                control.blockSignals(True)
                control.setChecked(self.number_mode)
                control.blockSignals(False)
        self.setWindowTitle("digitkit: write a number" if on else "digitkit: draw a digit")
        if not self.canvas.is_empty():
            self._predict_now()

    # ----- prediction ---------------------------------------------------------------------
    @Slot()
    def _on_changed(self) -> None:
        self.undo_action.setEnabled(self.canvas.can_undo())
        self.undo_button.setEnabled(self.canvas.can_undo())
        if self.canvas.is_empty():
            self._timer.stop()
            self._stale_before, self._dirty = self._request, False
            self._show_empty()
            return
        now = time.monotonic()
        if not self._timer.isActive():
            self._first_change = now
        waited_ms = (now - self._first_change) * 1000
        self._timer.start(int(max(0, min(DEBOUNCE_MS, MAX_WAIT_MS - waited_ms))))

    @Slot()
    def _predict_now(self) -> None:
        if self.canvas.is_empty():
            return
        if self._busy:
            self._dirty = True  # one more prediction when the running one ends
            return
        self._busy, self._dirty = True, False
        self._request += 1
        request_id = self._request
        data = self.canvas.source or self.canvas.png_bytes()
        model = self._model
        number = self.number_mode
        drawing = self.canvas.is_drawing

        def work() -> dict[str, Any]:
            recognizer = self._recognizer(model)
            if number:
                return {**recognizer.predict_number(data).to_dict(), "mode": "number"}
            out = recognizer.predict(data, drawing=drawing).to_dict()
            out["preview"] = recognizer.preview(data, drawing=drawing)
            return out

        if model not in self._recognizers:
            self.status_label.setText("Loading the model…")
        job = _Job(request_id, work)
        job.signals.done.connect(self._on_done)
        job.signals.failed.connect(self._on_failed)
        self._jobs[request_id] = job  # keep the Python objects alive until the answer
        self.pool.start(job)

    def _recognizer(self, name: str | None) -> Any:
        """Load on first use (runs in the pool thread, never on the UI thread)."""
        if name not in self._recognizers:
            self._recognizers[name] = self._loader(name)
        return self._recognizers[name]

    def _finish(self, request_id: int) -> bool:
        """Bookkeeping when a job ends; True if its answer should be shown. Jobs run one at
        a time, so answers arrive in order: one taken while drawing is a little behind but
        still the newest there is, and is shown while the next one runs."""
        self._jobs.pop(request_id, None)
        self._busy = False
        fresh = request_id > self._stale_before and not self.canvas.is_empty()
        if self._dirty:
            self._predict_now()
        return fresh

    @Slot(int, object)
    def _on_done(self, request_id: int, result: dict[str, Any]) -> None:
        if self._finish(request_id):
            self._show_prediction(result)

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if self._finish(request_id):
            self._show_error(message)

    # ----- display ------------------------------------------------------------------------
    def _show_empty(self) -> None:
        self.last_prediction = None
        self.digit_label.setText("")
        self.status_label.setText("Nothing drawn yet.")
        self.bars.set_probabilities(None)
        self._set_preview(None)

    def _show_error(self, message: str) -> None:
        self.digit_label.setText("")
        self.status_label.setText(f"Error: {message}")
        self.bars.set_probabilities(None)

    def _show_number(self, n: dict[str, Any]) -> None:
        written = n.get("formatted") or n.get("text") or ""
        self.preview_label.setPixmap(QPixmap())
        self.bars.set_probabilities(None)
        # A long number in the 56-point digit font would push the bars off the window.
        font = self.digit_label.font()
        font.setPointSize(56 if len(written) <= 2 else max(18, 112 // len(written)))
        self.digit_label.setFont(font)
        self.digit_label.setText(written)
        if not n.get("text"):
            # Say why (no ink, or nothing read surely), as the digit mode does.
            reason = n.get("reason")
            self.status_label.setText(f"No number: {reason}" if reason else "No digits found.")
        elif any(d.get("uncertain") or d.get("digit") is None for d in n.get("digits", [])):
            self.status_label.setText(f"Not sure about every digit: {written}")
        else:
            self.status_label.setText(f"It reads {written}")

    def _show_prediction(self, p: dict[str, Any]) -> None:
        if p.get("mode") == "number":
            self.last_prediction = p
            self._show_number(p)
            self.prediction_shown.emit(p)
            return
        font = self.digit_label.font()
        if font.pointSize() != 56:
            font.setPointSize(56)
            self.digit_label.setFont(font)
        preview = p.pop("preview", None)
        self.last_prediction = p
        self._set_preview(preview)
        digit = p.get("digit")
        if digit is None:
            self.digit_label.setText("")
            reason = p.get("reason")
            if reason == "not_a_digit":
                pct = round(float(p.get("confidence", 0)) * 100)
                self.status_label.setText(f"That is not a digit ({pct}% sure).")
            else:
                self.status_label.setText(f"No digit: {reason}" if reason else "No digit found.")
            self.bars.set_probabilities(None)
        else:
            pct = round(float(p.get("confidence", 0)) * 100)
            self.digit_label.setText(str(digit))
            self.status_label.setText(
                f"Not sure: maybe {digit} ({pct}%)"
                if p.get("uncertain")
                else f"It is a {digit} ({pct}%)"
            )
            self.bars.set_probabilities(p.get("probabilities"))
        self.prediction_shown.emit(p)

    def _set_preview(self, image: Any) -> None:
        if image is None:
            self.preview_label.setPixmap(QPixmap())
            return
        grey = np.ascontiguousarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8))
        qimage = QImage(grey.data, 28, 28, 28, QImage.Format.Format_Grayscale8).copy()
        self.preview_label.setPixmap(
            QPixmap.fromImage(qimage).scaled(
                112,
                112,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation,
            )
        )

    def closeEvent(self, event: Any) -> None:
        self._timer.stop()
        self.pool.clear()  # drop queued work; the running one finishes on its own
        self.pool.waitForDone(5000)
        super().closeEvent(event)
