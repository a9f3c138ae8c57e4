"""ASGI middleware that protects the app from what a client sends: a bounded body read
with an idle deadline, a Host allowlist, and security headers on every response."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digitkit.serve.errors import error_response

MiB = 1024 * 1024

# A client that stops sending in the middle of its body holds a connection and a buffer:
# after this many seconds without a chunk it gets 408 and the connection is closed.
BODY_IDLE_TIMEOUT_S = 10.0

# Host names every server answers to: only the machine itself can reach them.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
# Binding to these means "every interface": not a name a browser sends as Host.
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")

# The drawing page loads only its own files ("works offline, no CDN" is enforced by this).
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# /docs and /redoc (serve/docs.py) load Swagger UI and ReDoc from this server too, and start
# them from files, not inline scripts. What they get beyond the page: inline styles (both
# bundles write <style> elements at run time), data: images (Swagger UI's icons) and blob:
# workers (ReDoc's search).
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
# JSON and everything else: nothing to load, nothing to frame.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
DOCS_PATHS = ("/docs", "/redoc")


class BodyLimit:
    """ASGI middleware: read the whole request body, refusing it with 413 as soon as it is
    known to exceed ``max_bytes`` (from Content-Length, else while counting chunks) and with
    408 when the client stalls for ``idle_timeout_s``, then replay it to the app. Buffering
    is fine at a 2 MiB cap, makes the check exact for chunked uploads too, and means every
    parser downstream sees a bounded, complete body."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, idle_timeout_s: float = BODY_IDLE_TIMEOUT_S
    ) -> None:
        self.app, self.max_bytes, self.idle_timeout_s = app, max_bytes, idle_timeout_s

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
            try:
                message = await asyncio.wait_for(receive(), self.idle_timeout_s)
            except TimeoutError:
                await _close_with(
                    error_response(
                        408, "body_timeout", f"no request body data for {self.idle_timeout_s:g} s"
                    ),
                    scope,
                    receive,
                    send,
                )
                return
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
        await _close_with(
            error_response(413, "request_too_large", f"request body larger than {limit:g} MiB"),
            scope,
            receive,
            send,
        )


async def _close_with(response, scope: Scope, receive: Receive, send: Send) -> None:
    # The unread rest of the body makes the connection unusable for keep-alive.
    response.headers["Connection"] = "close"
    await response(scope, receive, send)


def allowed_host_names(bound_host: str | None, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host names a server bound to ``bound_host`` answers: the local names, the bound
    address unless it is a wildcard, and ``extra`` (``--allowed-host``); lower case."""
    names = {*LOCAL_HOSTS, *(h.strip().lower() for h in extra if h.strip())}
    if bound_host is not None and bound_host.strip("[]") not in WILDCARD_ADDRESSES:
        names.add(bound_host.strip("[]").lower())
    return frozenset(names)


def host_name(header: str) -> str:
    """The name part of a Host header: port and IPv6 brackets removed, lower case."""
    header = header.strip().lower()
    if header.startswith("["):  # [::1]:8000
        return header[1 : header.find("]")] if "]" in header else header
    name, sep, port = header.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        return name
    try:  # a bare IPv6 address has colons but no port
        return str(ipaddress.IPv6Address(header))
    except ValueError:
        return header


class HostAllowlist:
    """ASGI middleware: 400 unless the Host header names this server.

    A web page on another origin can make the browser send requests here after pointing
    its own DNS name at 127.0.0.1 (DNS rebinding); the browser then still sends that name
    as Host, which this check refuses."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app, self.allowed = app, frozenset(h.lower() for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if host_name(host) not in self.allowed:
                response = error_response(
                    400,
                    "invalid_host",
                    "unknown Host header: this server answers only "
                    "the names it was started with (--allowed-host)",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def csp_for(path: str) -> str:
    """The Content-Security-Policy of a response to ``path``."""
    if path == "/" or path.startswith("/static/"):
        return PAGE_CSP
    if path in DOCS_PATHS or path.startswith("/docs/"):
        return DOCS_CSP
    return API_CSP


class SecurityHeaders:
    """ASGI middleware: the same defensive headers on every response, errors included.

    nosniff stops a browser from running a JSON or image answer as a script or page;
    ``frame-ancestors 'none'`` and ``X-Frame-Options`` (for older browsers) stop click-
    jacking; ``no-referrer`` keeps page URLs out of other sites' logs."""

    STATIC_HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = csp_for(scope.get("path", "")).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != b"content-security-policy"
                ]
                headers += [*self.STATIC_HEADERS, (b"content-security-policy", csp)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
