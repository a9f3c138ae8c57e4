"""Test doubles and drawings shared by the web-app tests.

``FakeRecognizer`` has the Recognizer interface but only looks at the ink's bounding box, so
routing, limits and page behaviour are tested without a trained model: a tall thin mark is a
1, any other mark a 7, an empty image has no digit.
"""

from __future__ import annotations

import io
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

from digitkit.errors import DigitkitError
from digitkit.vision.numbers import UNSURE

MAX_PIXELS = 4096 * 4096
WEIGHTS = Path(__file__).resolve().parents[2] / "src" / "digitkit" / "weights" / "default"

# Strokes in a 280x280 box (the page's canvas): the same shapes are drawn with PIL, with
# Playwright's mouse and with Qt mouse events, so every path sees the same drawing.
ONE = [[(150, 45), (146, 120), (140, 235)]]
SEVEN = [[(70, 55), (140, 52), (210, 55), (175, 125), (140, 190), (120, 235)]]
ZERO = [
    [
        (140 + 58 * math.sin(2 * math.pi * i / 32), 140 - 88 * math.cos(2 * math.pi * i / 32))
        for i in range(33)
    ]
]
BRUSH = 20


def real_model_spec() -> str | None:
    """The model the real-model tests use: ``DIGITKIT_TEST_MODEL`` (a run directory, to try
    the apps on a fresh training run) or None, the shipped default."""
    return os.environ.get("DIGITKIT_TEST_MODEL") or None


def real_model_skip_reason() -> str | None:
    """Why tests needing the real model cannot run, or None when they can."""
    try:
        import digitkit.vision.recognize  # noqa: F401
    except ImportError as exc:
        return f"digitkit.vision.recognize not available yet ({exc})"
    spec = real_model_spec()
    if spec is not None:
        return None if Path(spec).exists() else f"DIGITKIT_TEST_MODEL={spec} does not exist"
    from digitkit.inference.predictor import shipped_models

    if "default" not in shipped_models():  # a run directory or an ensemble spec
        return f"shipped default model missing (in {WEIGHTS.parent})"
    return None


def docs_image(name: str) -> Path | None:
    """Where to also save a screenshot for the README (``DIGITKIT_DOCS_IMG=docs/img``), or
    None: by default tests leave the committed screenshots alone."""
    root = os.environ.get("DIGITKIT_DOCS_IMG")
    if not root:
        return None
    Path(root).mkdir(parents=True, exist_ok=True)
    return Path(root) / name


def load_real_recognizer():
    """The Recognizer of :func:`real_model_spec`."""
    from digitkit.vision.recognize import Recognizer

    return Recognizer.load(model=real_model_spec())


def draw_png(
    strokes: list[list[tuple[float, float]]], size: tuple[int, int] = (280, 280), width: int = BRUSH
) -> bytes:
    """Black round-capped strokes on white, as PNG bytes."""
    img = Image.new("L", size, 255)
    d = ImageDraw.Draw(img)
    for stroke in strokes:
        d.line(stroke, fill=0, width=width, joint="curve")
        for x, y in (stroke[0], stroke[-1]):
            d.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=0)
    return png_bytes(img)


def png_bytes(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


class FakeImageError(DigitkitError):
    """Like digitkit.vision.imageio.ImageError: a DigitkitError with a ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class FakePrediction:
    digit: int | None
    confidence: float
    probabilities: list[float]
    uncertain: bool = False
    reason: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "error" or v is not None}


@dataclass
class FakeNumber:
    text: str
    digits: list[dict[str, Any]]
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "digits": self.digits}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass
class FakeRecognizer:
    """Recognizer stand-in; ``uncertain`` makes every answer unsure, ``gate`` (an Event)
    makes predict block until set, ``fail`` makes it raise."""

    name: str = "default"
    uncertain: bool = False
    gate: threading.Event | None = None
    fail: Exception | None = None
    threads: list[str] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    drawings: list[bool] = field(default_factory=list)  # each predict's ``drawing``

    def _ink(self, image: Any) -> np.ndarray:
        if not isinstance(image, bytes | bytearray):
            raise TypeError("the app must hand over bytes")
        if not image:
            raise FakeImageError("empty_file", "empty file")
        try:
            img = Image.open(io.BytesIO(image))
            if img.width * img.height > MAX_PIXELS:
                raise FakeImageError("too_large", f"{img.width}x{img.height} is too many pixels")
            grey = np.asarray(img.convert("L"))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise FakeImageError("corrupt", "cannot decode the image") from None
        return grey < 128

    def _classify(self, ink: np.ndarray) -> FakePrediction:
        if not ink.any():
            return FakePrediction(None, 0.0, [0.1] * 10, True, "blank")
        rows, cols = np.nonzero(ink)
        tall = (np.ptp(rows) + 1) > 2.2 * (np.ptp(cols) + 1)
        digit = 1 if tall else 7
        conf = 0.4 if self.uncertain else 0.9
        probs = [(1 - conf) / 9] * 10
        probs[digit] = conf
        return FakePrediction(digit, conf, probs, self.uncertain)

    def predict(self, image: Any, drawing: bool = False) -> FakePrediction:
        self.threads.append(threading.current_thread().name)
        self.drawings.append(drawing)
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail is not None:
            raise self.fail
        return self._classify(self._ink(image))

    def predict_batch(self, images: list[Any], drawing: bool = False) -> list[FakePrediction]:
        """Like Recognizer.predict_batch: a bad input becomes a prediction with ``error``."""
        self.batches.append(len(images))
        out = []
        for image in images:
            try:
                out.append(self.predict(image, drawing))
            except FakeImageError as exc:
                out.append(FakePrediction(None, 0.0, [0.0] * 10, True, None, str(exc)))
        return out

    def predict_number(self, image: Any) -> FakeNumber:
        ink = self._ink(image)
        cols = ink.any(axis=0)
        digits, start = [], None
        for x, on in enumerate([*cols, False]):
            if on and start is None:
                start = x
            elif not on and start is not None:
                part = self._classify(ink[:, start:x]).to_dict()
                rows = np.nonzero(ink[:, start:x].any(axis=1))[0]
                part["box"] = [start, int(rows.min()), x - start, int(np.ptp(rows) + 1)]
                digits.append(part)
                start = None
        if self.uncertain and digits:
            # As the real reader does with digits read under MIN_SURETY: no number, and why.
            return FakeNumber("", [], f"{UNSURE}: the digits read have a mean confidence of 0.20")
        return FakeNumber("".join(str(d["digit"]) for d in digits), digits)

    def preview(self, image: Any, drawing: bool = False) -> np.ndarray | None:
        ink = self._ink(image)
        if not ink.any():
            return None
        img = Image.fromarray((ink * 255).astype(np.uint8)).resize((28, 28))
        return np.asarray(img, dtype=np.float32) / 255


class FakeModels:
    """A loader + lister pair that records what was loaded."""

    def __init__(self, names: tuple[str, ...] = ("default", "unsure"), **kwargs: Any) -> None:
        self.names = list(names)
        self.loaded: list[str | None] = []
        self.kwargs = kwargs
        self.instances: dict[str | None, FakeRecognizer] = {}

    def load(self, name: str | None) -> FakeRecognizer:
        self.loaded.append(name)
        rec = FakeRecognizer(name=name or "default", uncertain=name == "unsure", **self.kwargs)
        self.instances[name] = rec
        return rec

    def list(self) -> list[str]:
        return list(self.names)
