"""The one error shape of the API, and the net that keeps exception text out of 5xx bodies.

Every error is JSON ``{"detail": ..., "code": ...}``. A 5xx says what kind of failure it was
and nothing else: exception messages can hold filesystem paths or a deserializer's words
about the weights file, which tell an attacker about the machine and a user nothing useful.
Those details go to the server log (with the request id) instead.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("digitkit.serve")


class ApiError(Exception):
    """An error answered as ``{"detail", "code"}`` with ``status``."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one shape of every error the API returns."""
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


def add_error_handlers(app: FastAPI) -> None:
    """Answer API errors, HTTP errors (404, 405) and invalid requests (422) in the one shape."""

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


class InternalErrors:
    """ASGI middleware (the innermost): an unhandled exception becomes a plain 500 JSON answer
    and a log line with its traceback.

    FastAPI would send its ``Exception`` handler's answer from the outermost layer, past every
    middleware, so that 500 would lack the security headers, the request id and its metrics.
    Catching here makes it an ordinary response that all of them see.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # too late for an error answer: let the server drop the connection
                raise
            response = error_response(500, "internal_error", "internal server error")
            await response(scope, receive, send)
