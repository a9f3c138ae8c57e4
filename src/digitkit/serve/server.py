"""Running the app on uvicorn with the timeouts and limits a public server needs.

uvicorn bounds a connection only between requests (``timeout_keep_alive``): one that opens
and then sends its headers a byte at a time (slowloris), or nothing at all, is held forever.
:class:`GuardedH11Protocol` adds the missing deadline for the request head; the body has its
own idle deadline in :class:`digitkit.serve.security.BodyLimit`. The rest is uvicorn's own
settings: a connection limit, the h11 header-size limit, and a bounded graceful shutdown so
SIGTERM drains the requests in flight and then exits.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

# Seconds a client has to send a complete request head (line + headers), from connecting
# or from its first byte after a keep-alive pause. Env override: tests and odd networks.
ENV_HEADER_TIMEOUT = "DIGITKIT_SERVE_HEADER_TIMEOUT"
HEADER_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ServerSettings:
    """uvicorn's connection limits (see docs/serving.md for how to size them)."""

    keep_alive_s: int = 5  # idle keep-alive connections are closed after this
    max_connections: int = 200  # uvicorn answers 503 beyond this many connections+tasks
    max_header_bytes: int = 16 * 1024  # request line + headers (h11's incomplete-event limit)
    graceful_shutdown_s: int = 4  # SIGTERM: drain in-flight requests this long, then exit
    header_timeout_s: float = HEADER_TIMEOUT_S

    def uvicorn_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`uvicorn.run` that apply these settings."""
        os.environ[ENV_HEADER_TIMEOUT] = str(self.header_timeout_s)  # read by each process
        return {
            "http": GuardedH11Protocol,
            "timeout_keep_alive": self.keep_alive_s,
            "limit_concurrency": self.max_connections,
            "h11_max_incomplete_event_size": self.max_header_bytes,
            "timeout_graceful_shutdown": self.graceful_shutdown_s,
            "server_header": False,  # no version banner for scanners
        }


def header_timeout_s() -> float:
    """The request-head deadline of this process (:data:`ENV_HEADER_TIMEOUT` or default)."""
    try:
        return float(os.environ.get(ENV_HEADER_TIMEOUT, HEADER_TIMEOUT_S))
    except ValueError:
        return HEADER_TIMEOUT_S


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request head.

    The deadline runs while the connection waits for a request: from ``connection_made``,
    and again from the first byte of a later request on a kept-alive connection. It stops
    once h11 has parsed a whole request head (uvicorn then starts a new request cycle).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._head_timeout_s = header_timeout_s()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_deadline is None and self._awaiting_head():
            self._arm_head_deadline()
        super().data_received(data)
        if not self._awaiting_head():
            self._cancel_head_deadline()

    def _awaiting_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self._head_timeout_s, self._head_too_slow)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self._awaiting_head() and not self.transport.is_closing():
            self.logger.info(
                "closing a connection that sent no complete request head in %g s",
                self._head_timeout_s,
            )
            self.transport.close()
