"""Operations routes: liveness (``/healthz``), readiness (``/readyz``), ``/metrics``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from digitkit.serve.errors import error_response
from digitkit.serve.inference import Limits, Recognizers
from digitkit.serve.metrics import ServeMetrics
from digitkit.serve.schemas import error_docs

__all__ = ["add_health_routes"]


def add_health_routes(
    app: FastAPI, models: Recognizers, limits: Limits, metrics: ServeMetrics
) -> None:
    """Register the liveness, readiness and Prometheus routes."""

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
