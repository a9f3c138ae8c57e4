"""Request ids and server logs: one access line per request, every line with its request id.

A request may bring its own ``X-Request-ID`` (a proxy or client that traces requests across
services); it is kept when it is short and made of safe characters, since it is written into
logs and echoed in a header, and otherwise replaced by a fresh one. The id lives in a context
variable, so every log line written while the request is handled (on the event loop or in a
thread that copied the context) carries it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_SAFE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
NO_REQUEST = "-"

ACCESS_LOGGER = "digitkit.serve.access"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar(
    "digitkit_request_id", default=NO_REQUEST
)
access_log = logging.getLogger(ACCESS_LOGGER)


# Request ids only tell log lines apart, they guard nothing: drawn from a generator seeded
# once from the OS, not with a system call per request (``uuid4`` reads os.urandom, which
# hands the GIL to the inference threads and makes the event loop wait to get it back).
_ids = random.Random()


def request_id_from(header: str | None) -> str:
    """The client's request id if it is safe to log and echo, else a new random one (32
    hex digits)."""
    if header is not None and _REQUEST_ID_SAFE.fullmatch(header):
        return header
    return f"{_ids.getrandbits(128):032x}"


class RequestContext:
    """ASGI middleware (the outermost): give each request an id, echo it in the response
    and log one access line when the response is finished."""

    def __init__(self, app: ASGIApp, access_log_enabled: bool = True) -> None:
        self.app, self.access_log_enabled = app, access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode())
        rid = request_id_from(header.decode("latin-1") if header is not None else None)
        token = request_id_var.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        started, status = time.perf_counter(), 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())],
                }
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log_enabled:
                client = scope.get("client") or ("-", 0)
                access_log.info(
                    "%s %s %s %d %.1fms",
                    client[0],
                    scope.get("method"),
                    scope.get("path"),
                    status,
                    (time.perf_counter() - started) * 1000,
                    extra={
                        "status": status,
                        "path": scope.get("path"),
                        "method": scope.get("method"),
                    },
                )
            request_id_var.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``-`` outside a request) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and the access
    fields (method, path, status) when present; a traceback as ``exc_info``."""

    EXTRA_FIELDS = ("method", "path", "status")

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", NO_REQUEST),
        }
        doc.update({k: getattr(record, k) for k in self.EXTRA_FIELDS if hasattr(record, k)})
        if record.exc_info:
            doc["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def log_config(level: str = "info", json_logs: bool = False, access: bool = True) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for uvicorn's ``log_config``: digitkit's and
    uvicorn's loggers on stderr, in text or JSON, each line with the request id. uvicorn's
    own access log is left off: :class:`RequestContext` writes one with the request id, at
    INFO whatever ``level`` says when ``access`` is on (asking for access lines means it)."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if json_logs else {"format": TEXT_FORMAT}
    )
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "default",
        "filters": ["request_id"],
    }
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "loggers": {
            "digitkit": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            ACCESS_LOGGER: {
                "handlers": ["default"],
                "propagate": False,
                "level": "INFO" if access else "CRITICAL",
            },
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
