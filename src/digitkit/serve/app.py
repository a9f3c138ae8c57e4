"""FastAPI application: the drawing page, the REST API and the layers that protect them.

Request flow, outermost first (each layer is an ASGI middleware with one job):

* ``logs.RequestContext``: request id (``X-Request-ID``, echoed), one access log line;
* ``metrics.MetricsMiddleware``: count and time the request for ``GET /metrics``;
* ``security.SecurityHeaders``: CSP, nosniff, frame and referrer policy on every response;
* ``security.HostAllowlist``: 400 for a Host this server was not started for;
* ``security.BodyLimit``: read at most ``max_body_bytes`` (413) without stalling (408);
* ``errors.InternalErrors``: an unhandled exception becomes a bare 500 (logged).

A route then turns the body into image bytes (``parsing``; JSON and base64 in a thread), checks
the format by its magic bytes (415 otherwise), and hands the bytes to the recognizer in the
inference pool (``inference``), within a time budget and only while the client is still there.

Every error is JSON ``{"detail": ..., "code": ...}``; tracebacks, paths and exception text stay
in the server log. Models are chosen by name from the offered list only (shipped models and
finished runs): no client string ever reaches the loader unless it is one of those names.
Running it in production: docs/serving.md.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from digitkit import __version__
from digitkit.serve.catalog import describe_models
from digitkit.serve.docs import add_docs
from digitkit.serve.errors import ApiError, InternalErrors, error_response
from digitkit.serve.inference import (
    CLIENT_CLOSED_REQUEST,
    DEFAULT_LABEL,
    ClientGone,
    Limits,
    ModelLister,
    RecognizerLoader,
    Recognizers,
    within_budget,
)
from digitkit.serve.logs import RequestContext
from digitkit.serve.metrics import MetricsMiddleware, ServeMetrics
from digitkit.serve.parsing import check_image_bytes, read_image_request
from digitkit.serve.schemas import (
    ModelsOut,
    NumberOut,
    PredictionOut,
    error_docs,
    image_body_schema,
)
from digitkit.serve.security import BodyLimit, HostAllowlist, SecurityHeaders

__all__ = [
    "DEFAULT_LABEL",
    "STATIC_DIR",
    "ApiError",
    "BodyLimit",
    "Limits",
    "app_from_env",
    "create_app",
    "limit_torch_threads",
]

STATIC_DIR = Path(__file__).parent / "static"


def _default_loader(name: str | None) -> Any:
    from digitkit.recognize import Recognizer

    return Recognizer.load(model=name)


def _default_lister() -> list[str]:
    from digitkit.recognize import available_models

    return list(available_models())


def limit_torch_threads(n: int) -> None:
    """Give each inference thread ``n`` torch threads (a process-wide setting, so only the
    server's entry point calls it). The pool already runs ``workers`` requests in parallel;
    letting torch also fan each tiny batch out over every core makes its threads spin
    against each other: on 2 busy cores one 28x28 forward pass took many times the CPU
    with 2 torch threads than with 1 (benchmarks/RESULTS.md).

    Torch is not imported for this (seconds of start-up, and inference runs on onnxruntime):
    when no model has imported it yet, the thread count waits in OMP_NUM_THREADS, which torch
    reads when a run without an ONNX file makes it load."""
    torch = sys.modules.get("torch")
    if torch is None:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, n)))
        return
    torch.set_num_threads(max(1, n))


def preview_grid(image: Any) -> list[list[int]] | None:
    """A 28x28 float image in [0, 1] as rows of grey levels 0..255 (None stays None)."""
    if image is None:
        return None
    a = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    return np.rint(a * 255).astype(np.uint8).tolist()


def create_app(
    recognizer_loader: RecognizerLoader | None = None,
    model_lister: ModelLister | None = None,
    *,
    default_model: str | None = None,
    limits: Limits | None = None,
    allowed_hosts: Iterable[str] | None = None,
    access_log: bool = True,
) -> FastAPI:
    """The web app.

    ``recognizer_loader(name)`` returns an object with the Recognizer interface (``predict``,
    ``predict_number``, ``preview``); None means ``Recognizer.load``. ``model_lister`` returns
    the model names clients may choose (default ``available_models``; runs whose card is not
    "done" are left out). ``default_model`` is the model used when a request names none (None:
    the shipped default). ``allowed_hosts``: the Host names answered (see
    :func:`digitkit.serve.security.allowed_host_names`); None turns the check off, for an app
    mounted inside another server that checks Host itself; ``digitkit serve`` always sets it.
    ``access_log``: one log line per request.
    """
    limits = limits or Limits()
    metrics = ServeMetrics()
    models = Recognizers(
        recognizer_loader or _default_loader,
        model_lister or _default_lister,
        default_model,
        limits,
        on_load=metrics.model_loaded,
    )
    metrics.watch_queue(lambda: models.pending, limits.max_pending)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        models.start_preload()
        yield
        models.shutdown()

    # docs_url/redoc_url None: FastAPI's own pages load from a CDN; add_docs serves local ones.
    app = FastAPI(
        title="digitkit",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="Handwritten-digit recognition. Send a PNG, JPEG, BMP or WebP "
        "image (multipart field `file`, a JSON data URL, or a raw image "
        "body); get the digit, its confidence and all 10 probabilities.",
    )
    app.state.recognizers = models
    app.state.metrics = metrics
    # add_middleware wraps: the last one added is the outermost (see the module docstring).
    app.add_middleware(InternalErrors)
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    if allowed_hosts is not None:
        app.add_middleware(HostAllowlist, allowed=allowed_hosts)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestContext, access_log_enabled=access_log)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [
            ".".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg", ""))
            for e in exc.errors()[:5]
        ]
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    async def infer(
        request: Request,
        model: str | None,
        preview: bool,
        work: Callable[[Any, bytes], dict[str, Any]] | None,
    ) -> JSONResponse:
        """Parse, queue and run one request; ``work`` None means a single-digit predict."""

        async def answer() -> dict[str, Any]:
            req = await read_image_request(request, model)
            label = models.resolve(req.model)
            check_image_bytes(req.data)

            def job(recognizer: Any) -> dict[str, Any]:
                out = (work or predict_digit)(recognizer, req.data)
                if preview:
                    out["preview"] = preview_grid(recognizer.preview(req.data))
                return out

            if work is None and not preview:
                out = await models.predict(label, req.data)
            else:
                out = await models.run(label, job)
            out["model"] = label
            if req.filename:
                out["file"] = req.filename
            return out

        await request.body()  # read first: from here on, receive() only reports a disconnect
        try:
            out = await within_budget(answer(), request.receive, limits.request_timeout_s)
        except ClientGone:  # nobody is listening; logs and metrics still see the request
            return error_response(
                CLIENT_CLOSED_REQUEST, "client_closed_request", "the client disconnected"
            )
        return JSONResponse(out)

    def predict_digit(recognizer: Any, data: bytes) -> dict[str, Any]:
        return recognizer.predict(data).to_dict()

    model_query = Query(None, max_length=200, description="model name from GET /api/models")

    @app.post(
        "/api/predict",
        response_model=None,
        openapi_extra=image_body_schema(),
        responses={200: {"model": PredictionOut}, **error_docs(413, 415, 422, 503)},
        summary="Recognize one digit",
    )
    async def predict(
        request: Request,
        model: str | None = model_query,
        preview: bool = Query(False, description="add the 28x28 model input"),
    ) -> JSONResponse:
        """Recognize a single digit; ``digit`` is null when the image is blank."""
        return await infer(request, model, preview, None)

    @app.post(
        "/api/predict/number",
        response_model=None,
        openapi_extra=image_body_schema(),
        responses={200: {"model": NumberOut}, **error_docs(413, 415, 422, 503)},
        summary="Read a number of several digits",
    )
    async def predict_number(request: Request, model: str | None = model_query) -> JSONResponse:
        """Segment the image into digits and recognize each, left to right."""
        return await infer(request, model, False, lambda r, data: r.predict_number(data).to_dict())

    @app.get("/api/models", response_model=ModelsOut, summary="Models a client may choose")
    async def list_models() -> ModelsOut:
        """Names accepted by the ``model`` parameter, and the one used when none is given;
        ``details`` labels each for a menu, with its MNIST test accuracy."""
        names = models.names()
        details = await asyncio.to_thread(describe_models, names, models.default_label)
        return ModelsOut(default=models.default_label, models=names, details=details)

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        """The process answers (says nothing about the model)."""
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness", responses=error_docs(503))
    async def readyz() -> JSONResponse:
        """200 once the default model is loaded and the inference queue has room; 503 while
        loading, if loading failed, or while new requests would be refused as busy."""
        if not models.ready:
            models.start_preload()
            detail = (
                "default model failed to load; the server log has the reason"
                if models.load_failed
                else "default model is loading"
            )
            return error_response(503, "not_ready", detail, {"Retry-After": "1"})
        if models.saturated:
            return error_response(
                503, "busy", "inference queue is full", {"Retry-After": str(limits.retry_after_s)}
            )
        return JSONResponse({"status": "ready", "model": models.default_label})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return metrics.response()

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        # The CSP (security.PAGE_CSP) makes "works offline, no CDN" hold.
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    add_docs(app)
    return app


ENV_MODEL, ENV_WORKERS, ENV_TORCH_THREADS, ENV_ALLOWED_HOSTS, ENV_ACCESS_LOG = (
    "DIGITKIT_SERVE_MODEL",
    "DIGITKIT_SERVE_WORKERS",
    "DIGITKIT_SERVE_TORCH_THREADS",
    "DIGITKIT_SERVE_ALLOWED_HOSTS",
    "DIGITKIT_SERVE_ACCESS_LOG",
)


def app_from_env() -> FastAPI:
    """App factory for several server processes (``uvicorn --workers``, which can only name
    a factory, not pass arguments): ``digitkit serve --processes N`` puts its options in the
    ``DIGITKIT_SERVE_*`` environment variables. One Python process runs Python-level
    preprocessing on one core at a time (the GIL); more processes use the other cores.
    ``DIGITKIT_SERVE_ALLOWED_HOSTS`` is a comma-separated list (default: the local names)."""
    from digitkit.serve.security import allowed_host_names

    limit_torch_threads(int(os.environ.get(ENV_TORCH_THREADS, "1")))
    workers = int(os.environ.get(ENV_WORKERS, "2"))
    hosts = [h for h in os.environ.get(ENV_ALLOWED_HOSTS, "").split(",") if h.strip()]
    return create_app(
        default_model=os.environ.get(ENV_MODEL) or None,
        limits=Limits(workers=workers),
        allowed_hosts=allowed_host_names(None, hosts),
        access_log=os.environ.get(ENV_ACCESS_LOG, "1") != "0",
    )
