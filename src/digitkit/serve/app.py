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
The routes are grouped by concern: ``routes_predict`` (recognition), ``routes_models`` (the
model list), ``routes_health`` (liveness, readiness, metrics); this module builds the app and
wires them, the middlewares, the error handlers and the page together.

Every error is JSON ``{"detail": ..., "code": ...}``; tracebacks, paths and exception text stay
in the server log. Models are chosen by name from the offered list only (shipped models and
finished runs): no client string ever reaches the loader unless it is one of those names.
Running it in production: docs/serving.md.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from digitkit import __version__
from digitkit.serve.docs import add_docs
from digitkit.serve.errors import ApiError, InternalErrors, add_error_handlers
from digitkit.serve.inference import (
    DEFAULT_LABEL,
    Limits,
    ModelLister,
    RecognizerLoader,
    Recognizers,
)
from digitkit.serve.logs import RequestContext
from digitkit.serve.metrics import MetricsMiddleware, ServeMetrics
from digitkit.serve.routes_health import add_health_routes
from digitkit.serve.routes_models import add_model_routes
from digitkit.serve.routes_predict import add_predict_routes
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
    from digitkit.vision.recognize import Recognizer

    return Recognizer.load(model=name)


def _default_lister() -> list[str]:
    from digitkit.vision.recognize import available_models

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
    app = _new_app(models)
    app.state.recognizers = models
    app.state.metrics = metrics
    _add_middlewares(app, limits, metrics, allowed_hosts, access_log)
    add_error_handlers(app)
    add_predict_routes(app, models, limits)
    add_model_routes(app, models)
    add_health_routes(app, models, limits, metrics)
    _add_page(app)
    return app


def _new_app(models: Recognizers) -> FastAPI:
    """The bare FastAPI app, preloading the default model at start-up and stopping the
    inference pool at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        models.start_preload()
        yield
        models.shutdown()

    # docs_url/redoc_url None: FastAPI's own pages load from a CDN; add_docs serves local ones.
    return FastAPI(
        title="digitkit",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="Handwritten-digit recognition. Send a PNG, JPEG, BMP or WebP "
        "image (multipart field `file`, a JSON data URL, or a raw image "
        "body); get the digit, its confidence and all 10 probabilities.",
    )


def _add_middlewares(
    app: FastAPI,
    limits: Limits,
    metrics: ServeMetrics,
    allowed_hosts: Iterable[str] | None,
    access_log: bool,
) -> None:
    """The request layers, in the order of the module docstring."""
    # add_middleware wraps: the last one added is the outermost (see the module docstring).
    app.add_middleware(InternalErrors)
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    if allowed_hosts is not None:
        app.add_middleware(HostAllowlist, allowed=allowed_hosts)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestContext, access_log_enabled=access_log)


def _add_page(app: FastAPI) -> None:
    """The drawing page, its static files and the offline API docs."""

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        # The CSP (security.PAGE_CSP) makes "works offline, no CDN" hold.
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    add_docs(app)


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
