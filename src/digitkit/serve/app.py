"""FastAPI application: the drawing page, the REST API and the limits that protect them.

Request flow: ``BodyLimit`` (ASGI middleware) reads at most ``max_body_bytes`` of the body
before any route runs, so an oversized upload is refused with 413 whether or not it declared a
Content-Length. A route then extracts the image bytes (multipart file, JSON data URL or a raw
image body), checks the format by its magic bytes (415 otherwise), and hands the bytes to the
:class:`~digitkit.recognize.Recognizer` in a thread pool: inference never runs on the event
loop. Single-digit requests that arrive while the pool is busy are answered together by one
``predict_batch`` call (much cheaper per image than one call each). At most ``max_pending``
requests may be queued or running; beyond that the answer is 503 with ``Retry-After``, so a
burst degrades into quick refusals instead of growing latency.

Every error is JSON ``{"detail": ..., "code": ...}``; tracebacks stay in the server log.
Models are chosen by name from :func:`digitkit.recognize.available_models` only: no client
string ever reaches the loader unless it is one of those names.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digitkit import __version__

log = logging.getLogger("digitkit.serve")

STATIC_DIR = Path(__file__).parent / "static"
MiB = 1024 * 1024
DEFAULT_LABEL = "default"

# Formats the API accepts, recognized by their first bytes rather than by a client-declared
# name or content type (both are trivially wrong or spoofed).
IMAGE_MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "bmp": "image/bmp",
                     "webp": "image/webp"}
_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,"
                       r"(?P<data>.*)", re.DOTALL)

# HTTP status of each ImageError code raised by digitkit.imageio.
IMAGE_ERROR_STATUS = {"empty_file": 422, "corrupt": 422, "unsupported_format": 415,
                      "too_large": 413}

RecognizerLoader = Callable[[str | None], Any]
ModelLister = Callable[[], list[str]]


@dataclass(frozen=True)
class Limits:
    """What one client may ask of the server."""

    max_body_bytes: int = 2 * MiB
    workers: int = 2            # inference threads; more only oversubscribes a small CPU
    max_pending: int = 32       # queued + running inferences before answering 503
    retry_after_s: int = 1


class ApiError(Exception):
    """An error answered as ``{"detail", "code"}`` with ``status``."""

    def __init__(self, status: int, code: str, detail: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def error_response(status: int, code: str, detail: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The one shape of every error the API returns."""
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


def sniff_format(data: bytes) -> str | None:
    """The image format of ``data`` from its magic bytes, or None if not an accepted one."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"BM"):
        return "bmp"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def check_image_bytes(data: bytes) -> None:
    """Refuse empty bodies (422) and anything that is not PNG/JPEG/BMP/WebP (415)."""
    if not data:
        raise ApiError(422, "empty_file", "the image is empty (0 bytes)")
    if sniff_format(data) is None:
        raise ApiError(415, "unsupported_format",
                       "unsupported image format: send PNG, JPEG, BMP or WebP")


def decode_data_url(url: Any) -> bytes:
    """The bytes of a ``data:image/...;base64,...`` URL; 422 if malformed, 415 if not an
    accepted image type."""
    if not isinstance(url, str):
        raise ApiError(422, "invalid_data_url", "'image' must be a data URL string")
    m = _DATA_URL.fullmatch(url.strip())
    if m is None:
        raise ApiError(422, "invalid_data_url",
                       "'image' must look like data:image/png;base64,<data>")
    mime = (m.group("mime") or "").lower()
    if mime and mime not in IMAGE_MEDIA_TYPES.values():
        raise ApiError(415, "unsupported_format",
                       f"unsupported data URL type {mime!r}: send PNG, JPEG, BMP or WebP")
    try:
        data = base64.b64decode(re.sub(r"\s+", "", m.group("data")), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "invalid_data_url", "the data URL is not valid base64") from None
    return data


class BodyLimit:
    """ASGI middleware: read the whole request body, refusing it with 413 as soon as it is
    known to exceed ``max_bytes`` (from Content-Length, else while counting chunks), then
    replay it to the app. Buffering is fine at a 2 MiB cap and makes the check exact for
    chunked uploads too."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body only a disconnect can come

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_bytes / MiB
        response = error_response(413, "request_too_large",
                                  f"request body larger than {limit:g} MiB")
        # The unread rest of the body makes the connection unusable for keep-alive.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


# ----- OpenAPI models (documentation and schemathesis; handlers return plain dicts) --------

class PredictJSON(BaseModel):
    """JSON body of the predict endpoints."""

    image: str = Field(description="the image as a data URL: data:image/png;base64,...",
                       examples=["data:image/png;base64,iVBORw0KGgo="])
    model: str | None = Field(None, description="a name from GET /api/models")


class PredictionOut(BaseModel):
    """One recognized digit (docs/architecture.md, prediction JSON)."""

    model_config = ConfigDict(extra="allow")
    digit: int | None = Field(description="the digit, or null when blank/unrecognizable")
    confidence: float
    probabilities: list[float]
    uncertain: bool = False
    reason: str | None = None
    model: str
    file: str | None = None
    preview: list[list[int]] | None = Field(
        None, description="28x28 grey levels 0..255 the model saw (with ?preview=true)")


class NumberOut(BaseModel):
    """A multi-digit number: its text and one prediction per digit."""

    model_config = ConfigDict(extra="allow")
    text: str
    digits: list[dict[str, Any]]
    model: str
    file: str | None = None


class ModelsOut(BaseModel):
    """Models a client may choose by name."""

    default: str
    models: list[str]


class ErrorOut(BaseModel):
    """Every error response."""

    detail: str
    code: str


def _image_body_schema() -> dict[str, Any]:
    """requestBody of the predict routes: a route reads the Request itself so that one path
    accepts multipart, JSON and raw image bodies; this tells OpenAPI clients about all three."""
    binary = {"type": "string", "format": "binary"}
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": binary}}},
        "application/json": {"schema": PredictJSON.model_json_schema()},
        **{mime: {"schema": binary} for mime in IMAGE_MEDIA_TYPES.values()},
    }}}


def _error_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorOut} for s in statuses}


# ----- recognizers ---------------------------------------------------------------------------

def _default_loader(name: str | None) -> Any:
    from digitkit.recognize import Recognizer

    return Recognizer.load(model=name)


def _default_lister() -> list[str]:
    from digitkit.recognize import available_models

    return list(available_models())


class Recognizers:
    """Loads each allowed model once (in a worker thread) and runs inference in a bounded
    thread pool."""

    def __init__(self, loader: RecognizerLoader, lister: ModelLister,
                 default_model: str | None, limits: Limits) -> None:
        self.loader, self.lister, self.limits = loader, lister, limits
        self.default_model = default_model
        self.default_label = default_model or DEFAULT_LABEL
        self._executor: ThreadPoolExecutor | None = None
        self.pending = 0  # touched only on the event loop thread, so no lock
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._preload: asyncio.Future[Any] | None = None
        self.load_error: str | None = None
        self._batchers: dict[str, _Batcher] = {}
        self._batch_loop: asyncio.AbstractEventLoop | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The inference pool, (re)created on demand: an app may see several lifespans
        (test clients start one per session), and each shutdown ends the previous pool."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.limits.workers,
                                                thread_name_prefix="digitkit-infer")
        return self._executor

    def shutdown(self) -> None:
        """Stop the pool without waiting for queued work (the server is going away)."""
        for batcher in self._batchers.values():
            batcher.cancel()
        self._batchers, self._batch_loop = {}, None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
            self._preload = None

    def names(self) -> list[str]:
        """Model names a client may pass: the available ones plus the default's label."""
        return sorted(set(self.lister()) | {self.default_label})

    def resolve(self, name: str | None) -> str:
        """The allowed model name for a client's choice (None/empty -> default), else 422."""
        if not name or name == self.default_label:
            return self.default_label
        if name not in self.lister():
            raise ApiError(422, "unknown_model",
                           f"unknown model {name[:80]!r}: choose one from GET /api/models")
        return name

    def get(self, label: str) -> Any:
        """The loaded recognizer for an allowed ``label`` (called in a worker thread)."""
        loaded = self._cache.get(label)
        if loaded is not None:  # the common case: no lock, so no wait behind another load
            return loaded
        with self._lock:  # one load per model even when requests arrive together
            if label not in self._cache:
                arg = self.default_model if label == self.default_label else label
                self._cache[label] = self.loader(arg)
            return self._cache[label]

    @property
    def ready(self) -> bool:
        return self.default_label in self._cache

    def start_preload(self) -> None:
        """Load the default model in the background (idempotent)."""
        if self._preload is None or (self._preload.done() and not self.ready):
            loop = asyncio.get_running_loop()
            self._preload = loop.run_in_executor(self.executor, self._load_default)

    def _load_default(self) -> None:
        try:
            self.get(self.default_label)
            self.load_error = None
        except Exception as exc:  # reported by /readyz; requests retry the load
            self.load_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("default model failed to load: %s", self.load_error)

    def _admit(self) -> None:
        """Count one more queued request, or refuse it: 503 + Retry-After when full."""
        if self.pending >= self.limits.max_pending:
            raise ApiError(503, "busy", "server busy: too many requests queued, retry shortly",
                           headers={"Retry-After": str(self.limits.retry_after_s)})
        self.pending += 1

    async def run(self, label: str, work: Callable[[Any], Any]) -> Any:
        """``work(recognizer)`` in the pool (admitted like every request)."""
        self._admit()
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, self._work, label, work)
        finally:
            self.pending -= 1

    async def predict(self, label: str, data: bytes) -> dict[str, Any]:
        """One digit's prediction dict; requests that wait together are answered by one
        ``predict_batch`` call (see :class:`_Batcher`)."""
        self._admit()
        try:
            return await self._batcher(label).submit(data)
        finally:
            self.pending -= 1

    def _batcher(self, label: str) -> _Batcher:
        loop = asyncio.get_running_loop()
        if self._batch_loop is not loop:  # a new event loop (new test client, new server)
            self._batchers, self._batch_loop = {}, loop
        if label not in self._batchers:
            self._batchers[label] = _Batcher(self, label, loop)
        return self._batchers[label]

    def _recognizer(self, label: str) -> Any:
        from digitkit.errors import DigitkitError

        try:
            return self.get(label)
        except DigitkitError as exc:
            raise ApiError(503, "model_unavailable", f"model {label!r} unavailable: {exc}",
                           headers={"Retry-After": "5"}) from None

    def _work(self, label: str, work: Callable[[Any], Any]) -> Any:
        from digitkit.errors import DigitkitError

        recognizer = self._recognizer(label)
        try:
            return work(recognizer)
        except DigitkitError as exc:
            raise _api_error_of(exc) from None

    def _work_batch(self, label: str, images: list[bytes]) -> list[dict[str, Any] | ApiError]:
        """Predictions of ``images`` (in a pool thread); a bad image becomes its ApiError."""
        from digitkit.errors import DigitkitError

        recognizer = self._recognizer(label)
        if len(images) == 1 or not hasattr(recognizer, "predict_batch"):
            preds = [None] * len(images)
        else:
            preds = [p.to_dict() for p in recognizer.predict_batch(images)]
        out: list[dict[str, Any] | ApiError] = []
        for data, pred in zip(images, preds, strict=True):
            if pred is None or pred.get("error"):
                # predict_batch reports a bad input as text; predict raises the ImageError
                # whose code picks the HTTP status (rare: only for bad inputs).
                try:
                    pred = recognizer.predict(data).to_dict()
                except DigitkitError as exc:
                    out.append(_api_error_of(exc))
                    continue
            out.append(pred)
        return out


def _api_error_of(exc: Exception) -> ApiError:
    """The HTTP answer to an ImageError (by its code) or another DigitkitError."""
    code = getattr(exc, "code", None) or "invalid_image"
    return ApiError(IMAGE_ERROR_STATUS.get(code, 422), code, str(exc))


class _Batcher:
    """Answers concurrent single-digit requests for one model with ``predict_batch``.

    ``workers`` consumer tasks each take every request waiting in the queue (up to
    ``MAX_BATCH``) and predict them in one pool call. An idle server thus answers a lone
    request at once, while under load the requests that queue up behind a running batch go
    together: for 28x28 PNGs one batch of 8 costs about a quarter of 8 single predictions,
    so throughput rises exactly when it is needed. Results are the same as ``predict``'s
    (and ``digitkit predict``, which batches too).
    """

    MAX_BATCH = 16

    def __init__(self, owner: Recognizers, label: str, loop: asyncio.AbstractEventLoop) -> None:
        self.owner, self.label = owner, label
        self.queue: asyncio.Queue[tuple[bytes, asyncio.Future[Any]]] = asyncio.Queue()
        self.tasks = [loop.create_task(self._consume()) for _ in range(owner.limits.workers)]

    async def submit(self, data: bytes) -> dict[str, Any]:
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((data, future))
        result = await future
        if isinstance(result, ApiError):
            raise result
        return result

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            batch = [(d, f) for d, f in batch if not f.done()]  # clients gone: skip
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(
                    self.owner.executor, self.owner._work_batch, self.label,
                    [d for d, _ in batch])
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


def limit_torch_threads(n: int) -> None:
    """Give each inference thread ``n`` torch threads (a process-wide setting, so only the
    server's entry point calls it). The pool already runs ``workers`` requests in parallel;
    letting torch also fan each tiny batch out over every core makes its threads spin
    against each other: measured on 2 busy cores, one 28x28 forward pass took 21 ms of CPU
    with 2 torch threads and 0.85 ms with 1."""
    try:
        import torch
    except ImportError:  # NumPy-engine models only
        return
    torch.set_num_threads(max(1, n))


def preview_grid(image: Any) -> list[list[int]] | None:
    """A 28x28 float image in [0, 1] as rows of grey levels 0..255 (None stays None)."""
    if image is None:
        return None
    a = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    return np.rint(a * 255).astype(np.uint8).tolist()


# ----- request parsing -----------------------------------------------------------------------

@dataclass
class ImageRequest:
    data: bytes
    filename: str | None
    model: str | None


async def read_image_request(request: Request, model_param: str | None) -> ImageRequest:
    """Extract image bytes, file name and model choice from a multipart, JSON or raw body."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=4)
        except Exception:  # any parser failure is the client's malformed body
            raise ApiError(422, "invalid_multipart", "malformed multipart body") from None
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(422, "missing_file", "multipart body needs a 'file' part")
            data = await upload.read()
            model = model_param or _str_or_none(form.get("model"))
            return ImageRequest(data, upload.filename, model)
        finally:
            await form.close()  # parts over 1 MiB were spooled to temporary files
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            doc = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise ApiError(422, "invalid_json", "the body is not valid JSON") from None
        if not isinstance(doc, dict) or "image" not in doc:
            raise ApiError(422, "invalid_json",
                           'expected a JSON object {"image": "data:image/png;base64,..."}')
        model = doc.get("model")
        if model is not None and not isinstance(model, str):
            raise ApiError(422, "invalid_json", "'model' must be a string")
        return ImageRequest(decode_data_url(doc["image"]), None, model_param or model)
    if ctype in IMAGE_MEDIA_TYPES.values():
        return ImageRequest(await request.body(), None, model_param)
    raise ApiError(415, "unsupported_media_type",
                   "send multipart/form-data (field 'file'), application/json with a data URL, "
                   "or a raw image/png|jpeg|bmp|webp body")


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# ----- the app -------------------------------------------------------------------------------

def create_app(recognizer_loader: RecognizerLoader | None = None,
               model_lister: ModelLister | None = None, *,
               default_model: str | None = None, limits: Limits | None = None) -> FastAPI:
    """The web app.

    ``recognizer_loader(name)`` returns an object with the Recognizer interface (``predict``,
    ``predict_number``, ``preview``); None means ``Recognizer.load``. ``model_lister`` returns
    the model names clients may choose (default ``available_models``). ``default_model`` is
    the model used when a request names none (None: the shipped default).
    """
    limits = limits or Limits()
    models = Recognizers(recognizer_loader or _default_loader, model_lister or _default_lister,
                         default_model, limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        models.start_preload()
        yield
        models.shutdown()

    app = FastAPI(title="digitkit", version=__version__, lifespan=lifespan,
                  description="Handwritten-digit recognition. Send a PNG, JPEG, BMP or WebP "
                              "image (multipart field `file`, a JSON data URL, or a raw image "
                              "body); get the digit, its confidence and all 10 probabilities.")
    app.state.recognizers = models
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [".".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg", ""))
                 for e in exc.errors()[:5]]
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error")

    async def infer(request: Request, model: str | None, preview: bool,
                    work: Callable[[Any, bytes], dict[str, Any]]) -> dict[str, Any]:
        req = await read_image_request(request, model)
        label = models.resolve(req.model)
        check_image_bytes(req.data)

        def job(recognizer: Any) -> dict[str, Any]:
            out = work(recognizer, req.data)
            if preview:
                out["preview"] = preview_grid(recognizer.preview(req.data))
            return out

        if work is predict_digit and not preview:
            out = await models.predict(label, req.data)
        else:
            out = await models.run(label, job)
        out["model"] = label
        if req.filename:
            out["file"] = req.filename
        return out

    def predict_digit(recognizer: Any, data: bytes) -> dict[str, Any]:
        return recognizer.predict(data).to_dict()

    model_query = Query(None, max_length=200, description="model name from GET /api/models")

    @app.post("/api/predict", response_model=None, openapi_extra=_image_body_schema(),
              responses={200: {"model": PredictionOut}, **_error_docs(413, 415, 422, 503)},
              summary="Recognize one digit")
    async def predict(request: Request, model: str | None = model_query,
                      preview: bool = Query(False, description="add the 28x28 model input")
                      ) -> JSONResponse:
        """Recognize a single digit; ``digit`` is null when the image is blank."""
        out = await infer(request, model, preview, predict_digit)
        return JSONResponse(out)

    @app.post("/api/predict/number", response_model=None, openapi_extra=_image_body_schema(),
              responses={200: {"model": NumberOut}, **_error_docs(413, 415, 422, 503)},
              summary="Read a number of several digits")
    async def predict_number(request: Request, model: str | None = model_query) -> JSONResponse:
        """Segment the image into digits and recognize each, left to right."""
        out = await infer(request, model, False,
                          lambda r, data: r.predict_number(data).to_dict())
        return JSONResponse(out)

    @app.get("/api/models", response_model=ModelsOut, summary="Models a client may choose")
    async def list_models() -> ModelsOut:
        """Names accepted by the ``model`` parameter, and the one used when none is given."""
        return ModelsOut(default=models.default_label, models=models.names())

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        """The process answers (says nothing about the model)."""
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness", responses=_error_docs(503))
    async def readyz() -> JSONResponse:
        """200 once the default model is loaded; 503 while loading or if it failed."""
        if models.ready:
            return JSONResponse({"status": "ready", "model": models.default_label})
        models.start_preload()
        detail = (f"default model failed to load: {models.load_error}" if models.load_error
                  else "default model is loading")
        return error_response(503, "not_ready", detail, {"Retry-After": "1"})

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        # The page uses only its own files: a strict CSP makes "works offline, no CDN" hold.
        return FileResponse(STATIC_DIR / "index.html", headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                                       "style-src 'self'; script-src 'self'",
            "Cache-Control": "no-cache",
        })

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


ENV_MODEL, ENV_WORKERS, ENV_TORCH_THREADS = (
    "DIGITKIT_SERVE_MODEL", "DIGITKIT_SERVE_WORKERS", "DIGITKIT_SERVE_TORCH_THREADS")


def app_from_env() -> FastAPI:
    """App factory for several server processes (``uvicorn --workers``, which can only name
    a factory, not pass arguments): ``digitkit serve --processes N`` puts its options in the
    ``DIGITKIT_SERVE_*`` environment variables. One Python process runs Python-level
    preprocessing on one core at a time (the GIL); more processes use the other cores."""
    limit_torch_threads(int(os.environ.get(ENV_TORCH_THREADS, "1")))
    workers = int(os.environ.get(ENV_WORKERS, "2"))
    return create_app(default_model=os.environ.get(ENV_MODEL) or None,
                      limits=Limits(workers=workers))

