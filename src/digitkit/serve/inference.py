"""Running recognizers for the web app: a bounded queue, a thread pool, batching, time limits.

Inference never runs on the event loop. At most ``Limits.max_pending`` requests may be queued
or running; beyond that the answer is 503 with ``Retry-After``, so a burst degrades into quick
refusals instead of growing latency (and ``/readyz`` says 503 meanwhile, so a load balancer
sends traffic elsewhere). Single-digit requests for small PNGs that wait together are
answered by one ``predict_batch`` call, with or without their previews (``?preview=true``,
what the drawing page asks for: the digit and the model's view come from one preprocessing
of the image); other images run alone (see BATCH_MAX_PIXELS). A request whose client has
gone, or that ran out of its time budget, is cancelled: work that has not started is dropped
from the queue. ``Limits.workers`` requests run at once; one that is still running after
LONG_RUNNING_S (the worst inputs) lets the next start on one of ``Limits.spare_workers``
extra threads, so slow inputs cannot stall quick ones (see :meth:`Recognizers.in_pool`).
Images whose header already says they are costly (HEAVY_PIXELS, HEAVY_ASPECT) do not enter
that pool at all: they run on ``Limits.heavy_workers`` threads of their own at a lower
scheduling priority, admitted against their own bound (see :meth:`Recognizers.run_heavy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from starlette.types import Receive

from digitkit.serve.errors import ApiError
from digitkit.serve.modelcache import ModelCache, fingerprint, offered_models
from digitkit.serve.parsing import image_size, png_pixels

log = logging.getLogger("digitkit.serve")

DEFAULT_LABEL = "default"
MODEL_RETRY_AFTER_S = 5
# Nginx's code for "client closed the request": only logs and metrics ever see it.
CLIENT_CLOSED_REQUEST = 499

# HTTP status of each ImageError code raised by digitkit.vision.imageio.
IMAGE_ERROR_STATUS = {
    "empty_file": 422,
    "corrupt": 422,
    "unsupported_format": 415,
    "too_large": 413,
}

RecognizerLoader = Callable[[str | None], Any]
ModelLister = Callable[[], list[str]]
T = TypeVar("T")
# A request still running after this long is long-running: its thread stops counting
# against ``Limits.workers`` (a 280x280 canvas takes 5-10 ms; the worst inputs 100-600 ms).
LONG_RUNNING_S = 0.05
# Only images this small (by their header) wait in a batch: the page's 280x280 canvas and
# anything smaller. A batch's answers come when its last image is done, so one slow image
# (a 16 MP PNG, a 16000 px strip) would hold every other; such images run alone, where
# LONG_RUNNING_S lets quick requests pass them.
BATCH_MAX_PIXELS = 320 * 320
# Images at least this large, or this elongated, by their header are heavy: 50-300 ms of
# CPU each (a 16 MP PNG's inflate, the line fit along a 16000x40 strip) against 5-10 ms for
# a canvas. They run on threads of their own at nice HEAVY_NICE, so when the CPU is short
# the kernel runs the quick requests first and the heavy ones take what is left (Pillow and
# NumPy release the GIL for the long parts); a client sending them only slows itself.
HEAVY_PIXELS = 1_000_000
HEAVY_ASPECT = 16
HEAVY_NICE = 10


def is_heavy(data: bytes) -> bool:
    """True when the image's header declares a heavy image (HEAVY_PIXELS, HEAVY_ASPECT);
    an unreadable header is not heavy (decoding refuses it quickly)."""
    size = image_size(data)
    if size is None:
        return False
    width, height = size
    return width * height >= HEAVY_PIXELS or max(width, height) >= HEAVY_ASPECT * max(
        1, min(width, height)
    )


def _lower_priority() -> None:
    """Initializer of the heavy pool's threads: a higher nice value for the calling thread
    only (Linux schedules threads one by one; a thread may raise its own nice value without
    privileges). Elsewhere the heavy threads keep the normal priority."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(AttributeError, OSError):
            tid = threading.get_native_id()
            nice = os.getpriority(os.PRIO_PROCESS, tid) + HEAVY_NICE  # relative to the server's
            os.setpriority(os.PRIO_PROCESS, tid, min(nice, 19))


@dataclass(frozen=True)
class Limits:
    """What one client may ask of the server."""

    max_body_bytes: int = 2 * 1024 * 1024
    workers: int = 2  # inference threads; more only oversubscribes a small CPU
    # Threads beyond ``workers`` that start only while long-running requests (the worst
    # inputs: a 16 MP PNG, a 16000 px strip, hundreds of ms each) hold regular ones, so a
    # client sending those cannot stall everyone else's quick requests; also the bound on
    # how many such requests (and their decoded images) run at once: workers + spare.
    spare_workers: int = 2
    max_pending: int = 32  # queued + running inferences before answering 503
    heavy_workers: int = 2  # low-priority threads for heavy images (see HEAVY_PIXELS)
    max_heavy_pending: int = 8  # heavy images queued + running before answering 503
    retry_after_s: int = 1
    request_timeout_s: float = 10.0  # parsing + queueing + inference of one request


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


class _Slot:
    """One acquired slot of a semaphore, freed at most once (by whichever comes first: the
    work's end, its long-running timer, or its cancellation before it started)."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self.semaphore: asyncio.Semaphore | None = semaphore

    def free(self) -> None:
        if self.semaphore is not None:
            self.semaphore.release()
            self.semaphore = None


class Recognizers:
    """Loads each allowed model (in a worker thread, again when its files change) and runs
    inference in a bounded thread pool."""

    def __init__(
        self,
        loader: RecognizerLoader,
        lister: ModelLister,
        default_model: str | None,
        limits: Limits,
        on_load: Callable[[str, float], None] | None = None,
        fingerprinter: Callable[[str | None], Any] = fingerprint,
    ) -> None:
        self.lister, self.limits = lister, limits
        self.default_model = default_model
        self.default_label = default_model or DEFAULT_LABEL
        self.cache = ModelCache(loader, fingerprinter, on_load)
        self._executor: ThreadPoolExecutor | None = None
        self._heavy_executor: ThreadPoolExecutor | None = None
        self.pending = 0  # touched only on the event loop thread, so no lock
        self.heavy_pending = 0  # likewise, for heavy images (run_heavy)
        self._preload: asyncio.Future[Any] | None = None
        self.load_failed = False
        self._batchers: dict[str, _Batcher] = {}
        self._batch_loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None  # see in_pool
        self._slots_loop: asyncio.AbstractEventLoop | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The inference pool, (re)created on demand: an app may see several lifespans
        (test clients start one per session), and each shutdown ends the previous pool."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.limits.workers + self.limits.spare_workers, thread_name_prefix="digitkit-infer"
            )
        return self._executor

    @property
    def heavy_executor(self) -> ThreadPoolExecutor:
        """The low-priority pool for heavy images (see :meth:`run_heavy`), made on demand."""
        if self._heavy_executor is None:
            self._heavy_executor = ThreadPoolExecutor(
                self.limits.heavy_workers,
                thread_name_prefix="digitkit-heavy",
                initializer=_lower_priority,
            )
        return self._heavy_executor

    def _regular_slots(self) -> asyncio.Semaphore:
        """``Limits.workers`` slots for work starting in the pool (one per event loop: an
        asyncio semaphore belongs to the loop it first waited on)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots_loop is not loop:
            self._slots, self._slots_loop = asyncio.Semaphore(self.limits.workers), loop
        return self._slots

    async def in_pool(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the inference pool, started once one of ``Limits.workers``
        regular slots is free. The slot is freed when the work ends or once it has been
        running for LONG_RUNNING_S, whichever comes first: then the next request starts on a spare
        thread instead of queueing behind it. Quick requests thus keep ``workers`` threads
        (no oversubscription in normal traffic) while slow inputs cannot take them all."""
        slots = self._regular_slots()
        await slots.acquire()
        slot = _Slot(slots)
        loop = asyncio.get_running_loop()
        timers: list[asyncio.TimerHandle] = []
        started = threading.Event()

        def time_it() -> None:  # on the loop: the work has started in its thread
            timers.append(loop.call_later(LONG_RUNNING_S, slot.free))

        def run() -> T:
            started.set()
            try:
                with contextlib.suppress(RuntimeError):  # the loop closed (shutdown)
                    loop.call_soon_threadsafe(time_it)
                return fn(*args)
            finally:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(slot.free)

        try:
            return await loop.run_in_executor(self.executor, run)
        finally:
            for timer in timers:
                timer.cancel()
            if not started.is_set():  # cancelled while queued: it will never run
                slot.free()

    def shutdown(self) -> None:
        """Stop the pool without waiting for queued work (the server is going away)."""
        for batcher in self._batchers.values():
            batcher.cancel()
        self._batchers, self._batch_loop = {}, None
        self._slots, self._slots_loop = None, None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
            self._preload = None
        if self._heavy_executor is not None:
            self._heavy_executor.shutdown(wait=False, cancel_futures=True)
            self._heavy_executor = None

    def offered(self) -> list[str]:
        """Models a client may choose: shipped ones and finished runs (not those training)."""
        return offered_models(self.lister)

    def names(self) -> list[str]:
        """Model names a client may pass: the offered ones plus the default's label."""
        return sorted(set(self.offered()) | {self.default_label})

    def resolve(self, name: str | None) -> str:
        """The allowed model name for a client's choice (None/empty -> default), else 422."""
        if not name or name == self.default_label:
            return self.default_label
        if name not in self.offered():
            raise ApiError(
                422,
                "unknown_model",
                f"unknown model {name[:80]!r}: choose one from GET /api/models",
            )
        return name

    def get(self, label: str) -> Any:
        """The loaded recognizer for an allowed ``label`` (called in a worker thread)."""
        spec = self.default_model if label == self.default_label else label
        return self.cache.get(label, spec)

    @property
    def ready(self) -> bool:
        """True once the default model is loaded."""
        return self.default_label in self.cache

    @property
    def saturated(self) -> bool:
        """True while a new request would be refused with 503 (the queue is full)."""
        return self.pending >= self.limits.max_pending

    def start_preload(self) -> None:
        """Load the default model in the background (idempotent)."""
        if self._preload is None or (self._preload.done() and not self.ready):
            loop = asyncio.get_running_loop()
            self._preload = loop.run_in_executor(self.executor, self._load_default)

    def _load_default(self) -> None:
        try:
            self.get(self.default_label)
            self.load_failed = False
        except Exception:  # reported by /readyz (without details); requests retry the load
            self.load_failed = True
            log.exception("default model %s failed to load", self.default_label)

    def _admit(self) -> None:
        """Count one more queued request, or refuse it: 503 + Retry-After when full."""
        if self.saturated:
            raise self._busy("server busy: too many requests queued, retry shortly")
        self.pending += 1

    def _busy(self, detail: str) -> ApiError:
        """The 503 of a full queue, with Retry-After."""
        return ApiError(
            503, "busy", detail, headers={"Retry-After": str(self.limits.retry_after_s)}
        )

    async def run(self, label: str, work: Callable[[Any], Any], data: bytes | None = None) -> Any:
        """``work(recognizer)`` in the pool (admitted like every request); ``data``, the
        image the work reads, sends a heavy image (:func:`is_heavy`) to :meth:`run_heavy`."""
        if data is not None and is_heavy(data):
            return await self.run_heavy(label, work)
        self._admit()
        try:
            context = contextvars.copy_context()  # log lines in the thread keep the request id
            return await self.in_pool(context.run, self._work, label, work)
        finally:
            self.pending -= 1

    async def run_heavy(self, label: str, work: Callable[[Any], Any]) -> Any:
        """``work(recognizer)`` on the low-priority heavy pool: at most
        ``Limits.max_heavy_pending`` heavy images queued or running (then 503 + Retry-After
        for the heavy image only), never counted against the quick requests' queue."""
        if self.heavy_pending >= self.limits.max_heavy_pending:
            raise self._busy("server busy: too many large images queued, retry shortly")
        self.heavy_pending += 1
        try:
            context = contextvars.copy_context()
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self.heavy_executor, context.run, self._work, label, work
            )
        finally:
            self.heavy_pending -= 1

    async def predict(
        self, label: str, data: bytes, preview: bool = False, drawing: bool = False
    ) -> dict[str, Any]:
        """One digit's prediction dict, with the model's view of it (``preview``: see
        :func:`preview_grid`) when asked; ``drawing``: the image is a canvas's drawing
        (``Recognizer.predict``). Requests for small PNGs (BATCH_MAX_PIXELS) that wait
        together, drawings with drawings, are answered by one ``predict_batch`` call (see
        :class:`_Batcher`), other images alone."""
        pixels = png_pixels(data)
        if pixels is None or pixels > BATCH_MAX_PIXELS:
            return await self.run(
                label, lambda recognizer: digit_answer(recognizer, data, preview, drawing), data
            )
        self._admit()
        try:
            return await self._batcher(label, drawing).submit(data, preview, pixels)
        finally:
            self.pending -= 1

    def _batcher(self, label: str, drawing: bool) -> _Batcher:
        loop = asyncio.get_running_loop()
        if self._batch_loop is not loop:  # a new event loop (new test client, new server)
            self._batchers, self._batch_loop = {}, loop
        if (label, drawing) not in self._batchers:
            self._batchers[label, drawing] = _Batcher(self, label, loop, drawing)
        return self._batchers[label, drawing]

    def _recognizer(self, label: str) -> Any:
        from digitkit.errors import DigitkitError

        try:
            return self.get(label)
        except DigitkitError:
            # The message names files and what the deserializer disliked: server log only.
            log.exception("model %s failed to load", label)
            raise ApiError(
                503,
                "model_unavailable",
                f"model {label!r} is unavailable; the server log has the reason",
                headers={"Retry-After": str(MODEL_RETRY_AFTER_S)},
            ) from None

    def _work(self, label: str, work: Callable[[Any], Any]) -> Any:
        from digitkit.errors import DigitkitError

        recognizer = self._recognizer(label)
        try:
            return work(recognizer)
        except DigitkitError as exc:
            raise _api_error_of(exc) from None

    def _work_batch(
        self, label: str, items: list[tuple[bytes, bool]], drawing: bool = False
    ) -> list[dict[str, Any] | ApiError]:
        """Answers to ``items`` (image bytes, whether the preview is wanted; ``drawing``: all
        are canvases' drawings), in a pool thread; a bad image becomes its ApiError."""
        from digitkit.errors import DigitkitError

        recognizer = self._recognizer(label)
        out: list[dict[str, Any] | ApiError] = []
        answers = _batch_answers(recognizer, items, drawing)
        for (data, preview), answer in zip(items, answers, strict=True):
            if answer is None or answer[0].get("error"):
                # A batch reports a bad input as text; predict raises the ImageError whose
                # code picks the HTTP status (rare: only for bad inputs).
                try:
                    answer = _single_answer(recognizer, data, preview, drawing)
                except DigitkitError as exc:
                    out.append(_api_error_of(exc))
                    continue
            pred, image = answer
            if preview:
                pred["preview"] = preview_grid(image)
            out.append(pred)
        return out


_Answer = tuple[dict[str, Any], Any]


def _batch_answers(
    recognizer: Any, items: list[tuple[bytes, bool]], drawing: bool = False
) -> list[_Answer | None]:
    """(prediction dict, 28x28 model input or None) of each item from one batch call, or
    None for each where the item is answered alone (a lone request: :func:`_single_answer`)."""
    images = [data for data, _ in items]
    if len(items) > 1 and any(preview for _, preview in items):
        if hasattr(recognizer, "predict_batch_with_previews"):
            # One decoding and preprocessing per image gives both the digit and its view.
            both = recognizer.predict_batch_with_previews(images, drawing=drawing)
            return [(p.to_dict(), v) for p, v in both]
        return [None] * len(items)
    if len(items) > 1 and hasattr(recognizer, "predict_batch"):
        return [(p.to_dict(), None) for p in recognizer.predict_batch(images, drawing=drawing)]
    return [None] * len(items)


def _single_answer(recognizer: Any, data: bytes, preview: bool, drawing: bool) -> _Answer:
    """One image's answer on its own: ``predict`` raises its ImageError; the recognizer
    remembers the preprocessing of the bytes it just predicted, so the preview reuses it."""
    pred = recognizer.predict(data, drawing=drawing).to_dict()
    return pred, recognizer.preview(data, drawing=drawing) if preview else None


def digit_answer(
    recognizer: Any, data: bytes, preview: bool, drawing: bool = False
) -> dict[str, Any]:
    """One digit's answer (with its preview when asked) for a request that runs alone."""
    pred, image = _single_answer(recognizer, data, preview, drawing)
    if preview:
        pred["preview"] = preview_grid(image)
    return pred


def preview_grid(image: Any) -> list[list[int]] | None:
    """A 28x28 float image in [0, 1] as rows of grey levels 0..255 (None stays None)."""
    if image is None:
        return None
    a = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    return np.rint(a * 255).astype(np.uint8).tolist()


def _api_error_of(exc: Exception) -> ApiError:
    """The HTTP answer to an ImageError (by its code) or another DigitkitError: both are
    about the client's image, so their text is the client's to read."""
    code = getattr(exc, "code", None) or "invalid_image"
    return ApiError(IMAGE_ERROR_STATUS.get(code, 422), code, str(exc))


class _Batcher:
    """Answers concurrent single-digit requests for one model (canvases' drawings, or not:
    ``drawing``) with ``predict_batch`` (``predict_batch_with_previews`` when one of them
    asks for the preview).

    ``workers`` consumer tasks each take every request waiting in the queue (up to
    ``MAX_BATCH`` and ``MAX_PIXELS``) and predict them in one pool call. An idle server thus
    answers a lone request at once, while under load the requests that queue up behind a
    running batch go together: for 28x28 PNGs one batch of 8 costs about a quarter of 8
    single predictions, so throughput rises exactly when it is needed. Results are the same
    as ``predict``'s (and ``digitkit predict``, which batches too). A request cancelled while
    it waits (its client left, or its time ran out) is skipped, never predicted.
    """

    MAX_BATCH = 16
    # A batch also stops growing once it holds this many pixels: its answers come when its
    # last image is done, so the page's canvases (preprocessed one by one, milliseconds
    # each) go at most four at a time, while small images still fill MAX_BATCH.
    MAX_PIXELS = 4 * 280 * 280

    def __init__(
        self, owner: Recognizers, label: str, loop: asyncio.AbstractEventLoop, drawing: bool
    ) -> None:
        self.owner, self.label, self.drawing = owner, label, drawing
        # (image bytes, preview wanted), the image's pixels, the answer to come
        self.queue: asyncio.Queue[tuple[tuple[bytes, bool], int, asyncio.Future[Any]]] = (
            asyncio.Queue()
        )
        self.tasks = [loop.create_task(self._consume()) for _ in range(owner.limits.workers)]

    async def submit(self, data: bytes, preview: bool = False, pixels: int = 0) -> dict[str, Any]:
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(((data, preview), pixels, future))
        result = await future
        if isinstance(result, ApiError):
            raise result
        return result

    async def _consume(self) -> None:
        while True:
            item, pixels, future = await self.queue.get()
            batch = [(item, future)]
            while len(batch) < self.MAX_BATCH and pixels < self.MAX_PIXELS:
                if self.queue.empty():
                    break
                item, more, future = self.queue.get_nowait()
                batch.append((item, future))
                pixels += more
            batch = [(d, f) for d, f in batch if not f.done()]  # cancelled while queued: skip
            if not batch:
                continue
            try:
                results = await self.owner.in_pool(
                    self.owner._work_batch,
                    self.label,
                    [item for item, _ in batch],
                    self.drawing,
                )
            except Exception as exc:  # model unavailable, or a bug: every request hears it
                for _, f in batch:
                    if not f.done():
                        f.set_exception(exc)
                continue
            for (_, f), r in zip(batch, results, strict=True):
                if not f.done():
                    f.set_result(r)

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()


async def wait_for_disconnect(receive: Receive) -> None:
    """Return once the client has disconnected (the body must already have been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def within_budget(work: Awaitable[T], receive: Receive, budget_s: float) -> T:
    """``work``'s result, unless the client disconnects first (:class:`ClientGone`) or it
    takes longer than ``budget_s`` (503 ``timeout``): then ``work`` is cancelled, which
    drops it from the inference queue if it has not started."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(wait_for_disconnect(receive))
    try:
        done, _ = await asyncio.wait(
            {task, gone}, timeout=budget_s, return_when=asyncio.FIRST_COMPLETED
        )
    except asyncio.CancelledError:  # the server itself gave up on this request
        task.cancel()
        raise
    finally:
        gone.cancel()
    if task in done:
        return task.result()
    task.cancel()
    if gone in done:
        raise ClientGone
    raise ApiError(
        503,
        "timeout",
        f"the request took longer than {budget_s:g} s; retry later",
        headers={"Retry-After": "1"},
    )
