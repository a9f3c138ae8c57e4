"""Prometheus metrics of the web app (``GET /metrics``), from ``prometheus-client``.

Each app has its own registry, so several apps in one process (tests, embedding) never
clash. Routes are labelled by their template (``/api/predict``, ``/static``), never by the
raw path, so a client cannot grow the label set; unmatched paths share one label.

With ``digitkit serve --processes N`` each process keeps its own numbers and a scrape reaches
one of them (see docs/serving.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED_ROUTE = "unmatched"
# Any other method a client invents is counted as "other": labels must stay a small set.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Latency buckets (seconds) around what a prediction costs (benchmarks/RESULTS.md): the
# low buckets for a cached 28x28 image, the middle ones for a photo, seconds only when
# something is wrong.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LOAD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServeMetrics:
    """The app's metrics and the registry ``/metrics`` renders."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "digitkit_http_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "digitkit_http_request_duration_seconds",
            "Time from request start to the end of the response",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.unavailable = Counter(
            "digitkit_http_unavailable_total",
            "503 answers (busy, timed out, model unavailable)",
            ["route"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "digitkit_inference_queue_depth",
            "Inference requests queued or running",
            registry=self.registry,
        )
        self.queue_limit = Gauge(
            "digitkit_inference_queue_limit",
            "Queue depth at which requests are refused with 503",
            registry=self.registry,
        )
        self.model_load = Histogram(
            "digitkit_model_load_seconds",
            "Time to load a model",
            ["model"],
            buckets=LOAD_BUCKETS,
            registry=self.registry,
        )

    def watch_queue(self, depth: Callable[[], float], limit: float) -> None:
        """Report ``depth()`` as the queue depth at every scrape."""
        self.queue_depth.set_function(depth)
        self.queue_limit.set(limit)

    def model_loaded(self, label: str, seconds: float) -> None:
        """Record one model load (called from the model cache)."""
        self.model_load.labels(model=label).observe(seconds)

    def response(self) -> Response:
        """The text exposition format, for ``GET /metrics``."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def route_label(scope: Scope) -> str:
    """The matched route's template, or :data:`UNMATCHED_ROUTE`."""
    return getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE


class MetricsMiddleware:
    """ASGI middleware: count and time every HTTP request by method, route and status."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            route, method = route_label(scope), scope.get("method", "")
            method = method if method in KNOWN_METHODS else "other"
            labels = {"method": method, "route": route, "status": str(status)}
            self.metrics.requests.labels(**labels).inc()
            self.metrics.latency.labels(**labels).observe(time.perf_counter() - started)
            if status == 503:
                self.metrics.unavailable.labels(route=route).inc()
