"""The Recognizer: load a model (or ensemble) once, then recognize images, batches and
multi-digit numbers. Every app (CLI, REST API, desktop) recognizes through this class.

    >>> from digitkit import Recognizer
    >>> r = Recognizer.load()                # the shipped default model
    >>> r.predict("drawing.png").to_dict()   # {"digit": 7, "confidence": 0.998, ...}

Answers are honest: a blank image gives ``digit: None`` with a ``reason`` instead of a guess,
and so does something that is not a digit at all (a letter, a symbol, an empty box) when the
model has the "not a digit" class (``reason: "not_a_digit"``); every prediction carries its
calibrated confidence and the 10 digit probabilities, and a confidence below the model's
calibrated threshold is flagged ``uncertain``.

Why one module over 400 lines: it is one job, the public recognition API (the Recognizer, the
result types it returns and the private helpers of its batching and number reading), which the
apps import as one unit and mypy checks as one file; splitting it would spread one interface
over several modules.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from digitkit.errors import DigitkitError
from digitkit.inference.calibrate import DEFAULT_UNCERTAIN_BELOW
from digitkit.labels import DIGITS, NOT_A_DIGIT, NOT_A_DIGIT_REASON
from digitkit.vision.imageio import load_image_reduced
from digitkit.vision.preprocess import (
    FRAME,
    SMALL_SIDE,
    Preprocessed,
    normalize_stack,
    to_mnist_batch,
    to_mnist_grey,
)

# Inputs no larger than this on each side are stacked by shape and preprocessed vectorized.
STACK_MAX_SIDE = SMALL_SIDE
NO_PROBS = [0.0] * 10
SMALL_BATCH = 64  # below this many images, inference runs on one thread
PARALLEL_CHUNK = 512  # big batches are split into chunks of this many images ...
PARALLEL_WORKERS = 2  # ... predicted by this many threads at once (at most one per core)
# Candidate digits of a number are normalized in zero-padded stacks of at most this many
# pixels (4 MB of float32), whatever mix of sizes the segmenter hands over.
SCORE_STACK_PIXELS = 1 << 20
# An alternative reading of an input (the image with printed lines left in, a stretched cell
# squeezed back) replaces the image's when its top digit is more probable by this much (chosen
# on validation boxes and tight crops: benchmarks/RESULTS.md, "Tight crops").
ALTERNATIVE_MARGIN = 0.1
# The reading clear of thick print (Preprocessed.band) must beat the others by this much
# more: removing a bold box's walls can take a digit's straight strokes with them (0.0 /
# 0.2 / 0.3 / 0.4 compared on validation: benchmarks/RESULTS.md, "Thick print").
BAND_MARGIN = 0.2
# Refusing is judged on the readings together: an input whose readings' mean p("not a digit")
# reaches this many times the refusal point is refused, whichever reading the margin keeps.
# An empty box's leftover strokes read as a 1, its reading with the lines left in as a box
# (chosen on validation boxes with preprocessing.pipeline.OFF_EDGE_MIN_PEAK: benchmarks/
# RESULTS.md, "Refusing on the readings together", "Paper grain is no digit").
READINGS_REFUSAL_FACTOR = 1.4


def _with_set_fields(out: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """``out`` plus the optional fields that are set: the JSON contract omits unset ones."""
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


@dataclass
class Prediction:
    """One recognized image (docs/architecture.md, prediction JSON).

    ``digit`` is None when the image is blank, is not a digit or could not be read
    (``reason`` / ``error`` say which); ``confidence`` is the calibrated probability of
    ``digit`` (of "not a digit" when refused as such); ``probabilities`` are the 10 digits'
    (with a "not a digit" class they sum to less than 1); ``uncertain`` is True below the
    model's calibrated threshold (and whenever ``digit`` is None).
    """

    digit: int | None
    confidence: float
    probabilities: list[float]
    uncertain: bool
    reason: str | None = None
    file: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The prediction JSON: digit, confidence, probabilities, uncertain, and reason,
        file, error when set."""
        out: dict[str, Any] = {
            "digit": self.digit,
            "confidence": round(float(self.confidence), 6),
            "probabilities": [round(float(p), 6) for p in self.probabilities],
            "uncertain": bool(self.uncertain),
        }
        return _with_set_fields(out, reason=self.reason, file=self.file, error=self.error)


@dataclass
class DigitResult(Prediction):
    """One digit of a number: a :class:`Prediction` plus its ink box (x0, y0, x1, y1) in the
    input image's pixels (x1, y1 exclusive)."""

    box: tuple[int, int, int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["box"] = list(self.box) if self.box is not None else None
        return out


@dataclass
class NumberPrediction:
    """A multi-digit number read left to right: ``text`` ("" when no digit was found) and one
    :class:`DigitResult` per digit. ``confidence`` is the product of the digits' confidences,
    ``uncertain`` is True when any digit is. ``formatted`` is the number as written, with its
    separators (``25.441``, ``100.-``; the segmenter sees no separators: digits only) and
    ``reader`` says which reader answered: ``"ctc"`` (:mod:`digitkit.vision.numbers`, the whole line
    at once) or ``"segmenter"`` (:mod:`digitkit.vision.segment` + the digit model)."""

    text: str
    digits: list[DigitResult] = field(default_factory=list)
    reason: str | None = None
    file: str | None = None
    error: str | None = None
    formatted: str = ""
    reader: str = "segmenter"

    @property
    def confidence(self) -> float:
        return float(math.prod(d.confidence for d in self.digits)) if self.digits else 0.0

    @property
    def uncertain(self) -> bool:
        return not self.digits or any(d.uncertain for d in self.digits)

    def to_dict(self) -> dict[str, Any]:
        """JSON: text, formatted, digits (each a prediction with its box), confidence,
        uncertain, reader, and reason, file, error when set."""
        out: dict[str, Any] = {
            "text": self.text,
            "formatted": self.formatted,
            "digits": [d.to_dict() for d in self.digits],
            "confidence": round(self.confidence, 6),
            "uncertain": self.uncertain,
            "reader": self.reader,
        }
        return _with_set_fields(out, reason=self.reason, file=self.file, error=self.error)


def _file_of(source: Any) -> str | None:
    return str(source) if isinstance(source, str | Path) else None


def _shift(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


@contextlib.contextmanager
def _threads_for(n: int) -> Iterator[None]:
    """Run a small batch on one torch thread: for a handful of 28x28 images, waking and
    syncing a thread pool costs more than the convolutions (benchmarks/RESULTS.md).

    The thread count is process-wide, so this only happens on the main thread: a server
    calling from worker threads sets its own policy, and two workers must not race to
    restore each other's value."""
    torch = sys.modules.get("torch")
    if (
        torch is None
        or n >= SMALL_BATCH
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Recognizer:
    """A loaded model that recognizes digits in any image.

    Load with :meth:`load`; predict with :meth:`predict` (one image; raises
    ``digitkit.vision.imageio.ImageError`` for undecodable input), :meth:`predict_batch` (many; a
    bad input becomes a prediction with ``error``, never an exception) or
    :meth:`predict_number` (a multi-digit number).
    """

    # Test-time augmentation: the image itself and one-pixel shifts, probabilities averaged.
    TTA_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))

    def __init__(self, predictor: Any, *, tta: bool = False, drawn: Recognizer | None = None):
        self.predictor = predictor
        self.tta = tta
        # The drawn route: the recognizer that reads drawings (Preprocessed.drawn), with its
        # own model and calibration, when the model's spec names one (its "drawn" field).
        self.drawn_reader = drawn
        # Which inputs the route reads: "drawn" (drawings only) or "large" (every crop of a
        # cell's size or more: Preprocessed.large), as the spec's "route_inputs" says.
        self.route_inputs = str((predictor.card or {}).get("route_inputs", "drawn"))
        calibration = (predictor.card or {}).get("calibration", {}) or {}
        self.threshold = float(calibration.get("uncertain_below", DEFAULT_UNCERTAIN_BELOW))
        # Models with the "not a digit" class refuse an image when that class's probability
        # reaches this operating point (chosen on validation; without one, when it is the
        # most probable class).
        refuse = calibration.get("not_a_digit_above")
        self.refuse_above = float(refuse) if refuse is not None else None
        # Drawings (Preprocessed.drawn) have their own, lower operating point where the
        # model was calibrated on drawn validation digits (digitkit.vision.drawn); without
        # one they are judged at the general point.
        drawn = calibration.get("not_a_digit_above_drawn")
        self.refuse_drawn_above = float(drawn) if drawn is not None else None
        self._last_bytes = threading.local()  # see _preprocessed

    @classmethod
    def load(cls, model: str | Path | None = None, *, tta: bool = False) -> Recognizer:
        """Load a model: None (the shipped default), a shipped model's name, a run directory
        or an ensemble spec file. Raises ``DigitkitError`` when there is no such model."""
        from digitkit.inference.predictor import load_predictor

        # load_predictor already applies the inference speed-ups (folded batch norms,
        # channels-last, onnxruntime when the run holds a matching model.onnx).
        predictor = load_predictor(model)
        route = (predictor.card or {}).get("drawn")
        # One level only: the drawn model's own "drawn" field, if any, is not followed.
        drawn = cls(load_predictor(route), tta=tta) if route else None
        return cls(predictor, tta=tta, drawn=drawn)

    def reader_for(self, drawn: bool, large: bool = False) -> Recognizer:
        """The recognizer that reads an input: the route's for a drawing (and, where the
        spec routes ``"large"`` inputs, for any crop of a cell's size or more) when the model
        has a route, else this one."""
        routed = drawn or (large and self.route_inputs == "large")
        return self.drawn_reader if routed and self.drawn_reader is not None else self

    @property
    def name(self) -> str:
        """The model's name (shipped name or path)."""
        return str(self.predictor.name)

    @property
    def card(self) -> dict[str, Any]:
        """The model card (architecture, training, metrics, calibration)."""
        return self.predictor.card

    # ---------------------------------------------------------------- probabilities

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (N, K) of normalized 28x28 images in [0, 1]: K is 10,
        or 11 for a model whose class 10 is "not a digit"."""
        images = np.asarray(images, np.float32).reshape(-1, FRAME, FRAME)
        if len(images) == 0:
            return np.zeros((0, self.classes), np.float32)
        views = (
            images
            if not self.tta
            else np.concatenate([_shift(images, dy, dx) for dy, dx in self.TTA_SHIFTS])
        )
        with _threads_for(len(views)):
            probs = np.asarray(self.predictor.predict_proba(views), np.float32)
        if not self.tta:
            return probs
        return probs.reshape(len(self.TTA_SHIFTS), len(images), -1).mean(axis=0)

    @property
    def classes(self) -> int:
        """How many classes the model outputs: 10, or 11 with "not a digit"."""
        return len((self.card or {}).get("labels") or range(DIGITS))

    def is_not_a_digit(self, probs: np.ndarray, drawn: Any = False) -> np.ndarray:
        """Which rows of (N, K) probabilities the model refuses as "not a digit"; ``drawn``
        (a bool or one per row) says which rows are drawings, judged at the drawn operating
        point."""
        probs = np.atleast_2d(probs)
        if probs.shape[1] <= NOT_A_DIGIT:
            return np.zeros(len(probs), bool)
        other = probs[:, NOT_A_DIGIT]
        if self.refuse_above is not None:
            drawn_above = self.refuse_drawn_above
            if drawn_above is None:
                drawn_above = self.refuse_above
            return other >= np.where(drawn, drawn_above, self.refuse_above)
        return other > probs[:, :DIGITS].max(axis=1)

    def _prediction(
        self, probs: np.ndarray, file: str | None = None, drawn: bool = False
    ) -> Prediction:
        digits = [float(p) for p in probs[:DIGITS]]
        if self.is_not_a_digit(probs, drawn)[0]:
            return Prediction(
                None, float(probs[NOT_A_DIGIT]), digits, True, NOT_A_DIGIT_REASON, file
            )
        digit = int(np.argmax(probs[:DIGITS]))
        confidence = float(probs[digit])
        return Prediction(digit, confidence, digits, confidence < self.threshold, None, file)

    @staticmethod
    def _empty(
        reason: str | None = None, file: str | None = None, error: str | None = None
    ) -> Prediction:
        return Prediction(None, 0.0, list(NO_PROBS), True, reason, file, error)

    # ---------------------------------------------------------------- single digits

    def preprocess_batch(
        self, images: Any, drawing: bool = False
    ) -> list[Preprocessed | Exception]:
        """Preprocess many inputs; an input that fails becomes its exception in the list.
        ``drawing``: every input is a drawing on a plain canvas (see :meth:`predict`)."""
        if isinstance(images, np.ndarray) and images.ndim == 3 and images.dtype != object:
            if max(images.shape[1:]) <= STACK_MAX_SIDE:
                return list(to_mnist_batch(images, drawing))
            images = list(images)
        items = list(images)
        out: list[Any] = [None] * len(items)
        by_shape: dict[tuple[int, int], list[int]] = {}
        # Only small images wait for their stack; a big one is preprocessed (and its pixels
        # dropped) at once, so a batch never holds more than one big image.
        greys: list[Any] = [None] * len(items)
        for i, item in enumerate(items):
            try:
                reduced = load_image_reduced(item)
            except Exception as exc:  # one bad input must never sink the batch
                out[i] = exc
                continue
            grey = reduced.grey
            if max(grey.shape) <= STACK_MAX_SIDE and reduced.scale == 1:
                greys[i] = grey
                by_shape.setdefault(grey.shape, []).append(i)
            else:
                try:
                    out[i] = to_mnist_grey(grey, reduced.scale, drawing)
                except Exception as exc:
                    out[i] = exc
        for idx in by_shape.values():
            stack = np.stack([greys[i] for i in idx])
            try:
                results: list[Any] = to_mnist_batch(stack, drawing)
            except Exception as exc:
                results = [exc] * len(idx)
            for i, r in zip(idx, results, strict=True):
                out[i] = r
        return out

    def predict_batch(self, images: Any, drawing: bool = False) -> list[Prediction]:
        """Recognize many images (a list of anything :meth:`predict` takes, or an (N, H, W)
        array). Every input gets a Prediction: undecodable ones carry ``error``, blank ones
        ``reason``; the model runs once over all the others. ``drawing``: every image is a
        drawing on a plain canvas (see :meth:`predict`)."""
        items = images if isinstance(images, np.ndarray) else list(images)
        workers = min(PARALLEL_WORKERS, os.cpu_count() or 1)
        if len(items) >= 2 * PARALLEL_CHUNK and workers > 1:
            # Two halves of the CPU each preprocess a chunk and run the model on it: the
            # model alone would leave one core idle while NumPy preprocesses, and ORT's own
            # two threads scale worse than two independent chunks (benchmarks/RESULTS.md).
            chunks = [items[i : i + PARALLEL_CHUNK] for i in range(0, len(items), PARALLEL_CHUNK)]
            with ThreadPoolExecutor(workers) as pool:
                parts = pool.map(self._predict_chunk, chunks, [drawing] * len(chunks))
                return [p for part in parts for p in part]
        return self._predict_chunk(items, drawing)

    def predict_batch_with_previews(
        self, images: list[Any], drawing: bool = False
    ) -> list[tuple[Prediction, np.ndarray | None]]:
        """:meth:`predict_batch` of ``images`` (one chunk), each prediction with the input's
        :meth:`preview` (None when blank or undecodable), both from one decoding and
        preprocessing of each input: the web app answers ``?preview=true`` with this."""
        preds, pre = self._predict_preprocessed(list(images), drawing)
        return [
            (p, q.image if isinstance(q, Preprocessed) else None)
            for p, q in zip(preds, pre, strict=True)
        ]

    def _predict_chunk(self, items: Any, drawing: bool = False) -> list[Prediction]:
        return self._predict_preprocessed(items, drawing)[0]

    def _predict_preprocessed(
        self, items: Any, drawing: bool = False
    ) -> tuple[list[Prediction], list[Any]]:
        """Predictions of ``items`` and what preprocessing made of each (a
        :class:`Preprocessed` or the input's exception)."""
        files = (
            [None] * len(items) if isinstance(items, np.ndarray) else [_file_of(x) for x in items]
        )
        pre: list[Any] = self.preprocess_batch(items, drawing)
        ready = [i for i, p in enumerate(pre) if isinstance(p, Preprocessed) and not p.blank]
        # Each reader (this one; the drawn route's, for drawings) runs once over its images.
        probs: dict[int, np.ndarray] = {}
        reader_of: dict[int, Recognizer] = {}
        for reader in (self, self.drawn_reader):
            idx = [i for i in ready if self.reader_for(pre[i].drawn, pre[i].large) is reader]
            if reader is None or not idx:
                continue
            for i, row in zip(idx, reader._read([pre[i] for i in idx]), strict=True):
                probs[i], reader_of[i] = row, reader
        out: list[Prediction] = []
        for i, p in enumerate(pre):
            if isinstance(p, Exception):
                message = (
                    str(p)
                    if isinstance(p, DigitkitError)
                    else f"internal error: {type(p).__name__}: {p}"
                )
                out.append(self._empty(file=files[i], error=message))
            elif p.blank:
                out.append(self._empty(reason=p.reason, file=files[i]))
            else:
                out.append(reader_of[i]._prediction(probs[i], files[i], p.drawn))
        return out, pre

    def _read(self, pres: list[Preprocessed]) -> np.ndarray:
        """Probabilities of preprocessed images (none blank), in one model run.

        Where preprocessing left alternatives (``Preprocessed.alternatives``: the image with
        printed lines left in, a stretched cell squeezed back), they are read too, and the
        surest of them replaces the image's reading when its top digit is more probable by
        ALTERNATIVE_MARGIN: a border left in makes the digit less certain, and so does a
        stroke of the digit removed as a border. The kept image becomes the ``image`` (a
        preview shows what was read; a cached preprocessing is read the same way again).
        Where the readings' mean p("not a digit") reaches READINGS_REFUSAL_FACTOR times the
        refusal point, that mean is the input's reading: it is refused."""
        owners = np.array([i for i, p in enumerate(pres) for _ in p.alternatives], int)
        images = [p.image for p in pres] + [a for p in pres for a in p.alternatives]
        probs = self.probabilities(np.stack(images))  # type: ignore[arg-type]
        out = probs[: len(pres)].copy()
        best = out[:, :DIGITS].max(axis=1) + ALTERNATIVE_MARGIN
        within = np.arange(len(owners)) - np.searchsorted(owners, owners)  # index in its list
        for k, i in enumerate(owners):
            alternative = probs[len(pres) + k]
            extra = BAND_MARGIN if within[k] == pres[i].band else 0.0
            if alternative[:DIGITS].max() > best[i] + extra:
                out[i], best[i] = alternative, alternative[:DIGITS].max()
                pres[i].image = images[len(pres) + k]
        if len(owners) and probs.shape[1] > NOT_A_DIGIT and self.refuse_above is not None:
            # Each input's readings summed: its own row, then its alternatives.
            total = probs[: len(pres)].copy()
            np.add.at(total, owners, probs[len(pres) :])
            mean = total / (1 + np.bincount(owners, minlength=len(pres)))[:, None]
            together = np.flatnonzero(
                mean[:, NOT_A_DIGIT] >= READINGS_REFUSAL_FACTOR * self.refuse_above
            )
            out[together] = mean[together]
        for p in pres:
            p.alternatives, p.band = [], None
        return out

    def _preprocessed(self, image: Any, drawing: bool = False) -> Preprocessed:
        """``image`` decoded and preprocessed (``drawing``: see :meth:`predict`); the same
        encoded bytes, said to be a drawing or not alike, twice in a row on one thread are
        preprocessed once.

        The web page asks for the prediction and the model's view of one canvas:
        :meth:`predict` then :meth:`preview` of the same request body, which decoded and
        preprocessed the image twice (half of such a request's CPU). Only ``bytes`` are
        remembered: they cannot change, unlike a file behind a path or an array. One entry
        per thread (a server's inference threads never see each other's), compared by
        content, so a hit is always the same image."""
        remembered = isinstance(image, bytes)
        if remembered:
            last = self._last_bytes
            if getattr(last, "data", None) == image and last.drawing == drawing:
                return last.result
        reduced = load_image_reduced(image)
        pre = to_mnist_grey(reduced.grey, reduced.scale, drawing)
        if remembered:
            last.data, last.drawing, last.result = image, drawing, pre
        return pre

    def predict(self, image: Any, drawing: bool = False) -> Prediction:
        """Recognize one digit. ``image``: a path, encoded bytes, a PIL image or a NumPy
        array. Raises ``ImageError`` when it is not a decodable image; a blank image gives
        ``digit=None`` with a ``reason``.

        ``drawing``: the caller knows the image is a drawing on a plain canvas (the web
        page and the desktop app say so): nothing in it is taken for a printed line, a box
        or a crop's cut, so a digit drawn to the canvas's edges keeps every stroke, and it
        is read as a drawing whatever it touches. False: judged from the image itself (a
        drawing that reaches the edge is judged as a crop of a photo may be)."""
        pre = self._preprocessed(image, drawing)
        if pre.blank:
            return self._empty(reason=pre.reason, file=_file_of(image))
        reader = self.reader_for(pre.drawn, pre.large)
        return reader._prediction(reader._read([pre])[0], _file_of(image), pre.drawn)

    def preview(self, image: Any, drawing: bool = False) -> np.ndarray | None:
        """What the model sees: the normalized 28x28 float32 image in [0, 1] (white ink on
        black), or None when the image is blank. Raises ``ImageError`` like :meth:`predict`
        (``drawing`` as there)."""
        image = self._preprocessed(image, drawing).image
        # A copy: the remembered preprocessing must not change if the caller edits this one.
        return None if image is None else image.copy()

    # ---------------------------------------------------------------- numbers

    def predict_number(self, image: Any, reader: str | None = None) -> NumberPrediction:
        """Read a multi-digit number left to right. Raises ``ImageError`` for undecodable
        input; an image without digits gives ``text=""`` and a ``reason``.

        ``reader``: None picks the CTC reader (:mod:`digitkit.vision.numbers`: the whole line at
        once, touching digits and separators included) when one is shipped in
        ``digitkit/weights/number-ctc`` (or set as ``recognizer.number_reader``), else the
        segmenter; ``"ctc"`` or ``"segmenter"`` force one (``"ctc"`` raises
        ``DigitkitError`` when there is none). The answer's ``reader`` says which one read.
        With None and ``digitkit.vision.numbers.CONFIRM_WITH_SEGMENTER``, the segmenter reads too
        (unless the CTC reader read separators such as ``.`` or ``-``: amounts are its own; or
        the line held print that the CTC reader's preprocessing took out, such as a box):
        where it finds more digits than the CTC reader, each of them sure (a lone digit far
        from the others, which the CTC reader can drop), its reading answers, with
        ``reader`` ``"segmenter"``.
        """
        from digitkit.vision import numbers

        if reader not in (None, "ctc", "segmenter"):
            raise DigitkitError(f"unknown number reader {reader!r}; choose ctc or segmenter")
        file = _file_of(image)
        # Reduced by whole blocks (bounded memory and time); boxes come back in input pixels.
        reduced = load_image_reduced(image)
        grey, scale = reduced.grey, reduced.scale
        ctc = self._ctc_reader(reader)
        by_ctc = None
        if ctc is not None:
            by_ctc, printed = self._read_with_ctc(ctc, grey, scale, file)
            # A reading of too few characters for its ink's width (TOO_FLAT) says nothing of
            # the line: the segmenter may still find more digits in it, each surely.
            if (
                reader == "ctc"
                or (not by_ctc.text and by_ctc.reason != numbers.TOO_FLAT)
                or not numbers.CONFIRM_WITH_SEGMENTER
                or _written_separators(by_ctc)
                or printed
            ):
                return by_ctc
        digits, reason = self._read_with_segmenter(grey, scale)
        if not digits:
            return by_ctc or NumberPrediction("", [], reason or "blank: no digits found", file)
        text = "".join(str(d.digit) for d in digits)
        by_segments = NumberPrediction(text, digits, None, file, formatted=text)
        if by_ctc is None:
            return by_segments
        return _confirmed(by_ctc, by_segments)

    def _ctc_reader(self, reader: str | None) -> Any:
        """The CTC number reader to read with (None: the segmenter reads alone)."""
        from digitkit.vision.numbers import shipped_reader

        if reader == "segmenter":
            return None
        ctc = getattr(self, "number_reader", None) or shipped_reader()
        if ctc is None and reader == "ctc":
            raise DigitkitError(
                "no CTC number reader: none shipped in "
                "digitkit/weights/number-ctc (train one with "
                "'digitkit train-number')"
            )
        return ctc

    def _read_with_ctc(
        self, ctc: Any, grey: np.ndarray, scale: float, file: str | None
    ) -> tuple[NumberPrediction, bool]:
        """The CTC reader's reading of the whole line, and whether the line held print (ruled
        lines, a box, ink running into the edges) that its preprocessing took out: the
        segmenter, which sees the ink as it is, reads such print as digits (a box's wall as
        a 1), so it does not confirm such a line."""
        # (A reader set by the caller may only take the image: the scale goes to readers
        # of reduced images, which only big images are.)
        read = ctc.read(grey, scale) if scale != 1 else ctc.read(grey)
        # The digits share the line's rows: CTC locates characters along the line only.
        found = [
            DigitResult(
                d.digit,
                d.confidence,
                d.probabilities,
                d.confidence < self.threshold,
                box=(d.x0, read.y0, d.x1, read.y1),
            )
            for d in read.digits
        ]
        prediction = NumberPrediction(
            read.text,
            found,
            read.reason if not read.text else None,
            file,
            formatted=read.formatted,
            reader="ctc",
        )
        return prediction, bool(getattr(read, "printed", False))

    def _read_with_segmenter(
        self, grey: np.ndarray, scale: float
    ) -> tuple[list[DigitResult], str | None]:
        """The digits the segmenter finds and the digit model recognizes, left to right, and
        the segmenter's reason when it finds none."""
        from digitkit.vision.segment import segment_grey

        scorer = _SegmentScorer(self)
        seg = segment_grey(grey, scorer.log_scores, scale)
        digits: list[DigitResult] = []
        for part, (probs, reason) in zip(seg.segments, scorer.scores(seg.segments), strict=True):
            if reason is not None:
                continue  # a stray mark between digits is not part of the number
            p = self._prediction(probs)
            if p.digit is None:
                continue  # a separator or a stray mark the model says is not a digit
            digits.append(
                DigitResult(p.digit, p.confidence, p.probabilities, p.uncertain, box=part.box)
            )
        return digits, seg.reason


class _SegmentScorer:
    """The digit model's view of the segmenter's candidate digits, each recognized once."""

    def __init__(self, recognizer: Recognizer):
        self.recognizer = recognizer
        # Keyed by id(), so each scored segment is kept alive here: the segmenter makes and
        # frees temporary segments, and a freed one's id, reused by a later segment, would
        # hand that segment a stale score (2-3 of 130 number readings varied run to run).
        self.scored: dict[int, tuple[Any, np.ndarray, str | None]] = {}

    def scores(self, segments: list[Any]) -> list[tuple[np.ndarray, str | None]]:
        """(probabilities, reason the ink is no digit or None) of each segment."""
        todo = [s for s in segments if id(s) not in self.scored]
        for chunk in _bounded_stacks(todo):
            stack = _padded_stack([s.ink for s in chunk])
            images, _, reasons = normalize_stack(stack)
            ok = np.array([r is None for r in reasons])
            probs = np.zeros((len(chunk), self.recognizer.classes), np.float32)
            if ok.any():
                probs[ok] = self.recognizer.probabilities(images[ok])
            for k, s in enumerate(chunk):
                self.scored[id(s)] = (s, probs[k], reasons[k])
        return [self.scored[id(s)][1:] for s in segments]

    def log_scores(self, segments: Any) -> list[float]:
        """The segmenter's scorer: the log-probability of each candidate digit."""
        # Log-probability of each candidate digit; ink that is no digit at all (a dash,
        # a dot) makes a reading implausible.
        return [
            math.log(max(float(p[:DIGITS].max()), 1e-6)) if r is None else -20.0
            for p, r in self.scores(list(segments))
        ]


def _written_separators(by_ctc: NumberPrediction) -> bool:
    """True when the CTC reader read separators (``.`` ``,`` ``-`` ...) among the digits.
    The segmenter then does not confirm it: it takes a separator's ink for part of a digit,
    or for a digit, and agrees on the count by chance (amounts on validation lines: 1.5
    points more exact without it; a wide gap, read as a space, is no separator)."""
    return by_ctc.formatted.replace(" ", "") != by_ctc.text


def _confirmed(by_ctc: NumberPrediction, by_segments: NumberPrediction) -> NumberPrediction:
    """The answer when both readers read the line."""
    # Both read the line. More digits, every one of them sure, is the segmenter's: the CTC
    # reader drops a lone thin digit far from the others (a "1" a canvas-width away from a
    # "7"), which the segmenter, seeing a component of its own, keeps. Otherwise the CTC
    # reading stands: fewer digits from the segmenter is its usual failure (touching digits
    # merged), and where the counts agree, taking each digit from the surer reader was
    # wrong far more often than right with the joined-up readers (the digit model reads a
    # join as part of a digit: benchmarks/RESULTS.md, "The segmenter's confirmation, judged
    # again").
    if len(by_segments.digits) > len(by_ctc.digits) and not by_segments.uncertain:
        return by_segments
    return by_ctc


def _bounded_stacks(segments: list[Any]) -> list[list[Any]]:
    """``segments`` in groups whose zero-padded stack holds at most SCORE_STACK_PIXELS
    pixels: one wide bar among small digits must not pad every digit to its size."""
    chunks: list[list[Any]] = []
    h = w = 0
    for s in sorted(segments, key=lambda s: s.ink.size):
        nh, nw = max(h, s.ink.shape[0]), max(w, s.ink.shape[1])
        if chunks and (len(chunks[-1]) + 1) * nh * nw <= SCORE_STACK_PIXELS:
            chunks[-1].append(s)
            h, w = nh, nw
        else:
            chunks.append([s])
            h, w = s.ink.shape
    return chunks


def _padded_stack(inks: list[np.ndarray]) -> np.ndarray:
    """Crops of different sizes as one zero-padded stack (N, H, W)."""
    size = (max(a.shape[0] for a in inks), max(a.shape[1] for a in inks))
    stack = np.zeros((len(inks), *size), np.float32)
    for k, a in enumerate(inks):
        stack[k, : a.shape[0], : a.shape[1]] = a
    return stack


def _is_number_reader(run_dir: Path) -> bool:
    """A CTC number reader's run (``digitkit train-number``) is no digit model."""
    from digitkit.card import RunCard
    from digitkit.vision.numbers import NUMBER_TASK

    try:
        return RunCard.load(run_dir).task == NUMBER_TASK
    except Exception:  # an unreadable card is the digit loader's problem, not the list's
        return False


def available_models() -> list[str]:
    """Model names :meth:`Recognizer.load` accepts without a path: the shipped models, then
    run directories under ``./runs`` and ``./trained`` (the runs a clone of the repository
    keeps), as ``runs/<name>`` and ``trained/<name>``."""
    from digitkit import runs
    from digitkit.inference.predictor import shipped_models

    names = list(shipped_models())
    for folder in ("runs", "trained"):
        root = Path(folder)
        if root.is_dir():
            names += [
                f"{folder}/{p.name}"
                for p in sorted(root.iterdir())
                if runs.is_run_dir(p) and (p / runs.WEIGHTS).is_file() and not _is_number_reader(p)
            ]
    return names
