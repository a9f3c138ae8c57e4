"""Real uvicorn servers for the hardening tests: in a thread (to look inside the app) or in
a subprocess (to send it signals), both with the production settings of ``digitkit serve``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
from browser_helpers import free_port

HERE = Path(__file__).parent
SERVER_SCRIPT = HERE / "fake_server.py"
STARTUP_TIMEOUT_S = 30


@contextmanager
def guarded_server(app: Any, settings: Any = None) -> Iterator[tuple[str, int]]:
    """Serve ``app`` in a thread with :class:`ServerSettings`; yields (base URL, port)."""
    import uvicorn

    from digitkit.serve.server import ServerSettings

    options = (settings or ServerSettings()).uvicorn_options()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options
        )
    )
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def server_process(
    predict_delay_s: float = 0.0, header_timeout_s: float = 10.0
) -> Iterator[tuple[subprocess.Popen, str]]:
    """``fake_server.py`` (the fake recognizer, real settings) in its own process; yields
    (process, base URL) once /healthz answers. Killed at exit if still running."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SERVER_SCRIPT),
            str(port),
            str(predict_delay_s),
            str(header_timeout_s),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start: " + proc.stderr.read().decode()[-2000:])
            time.sleep(0.05)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stderr.close()


def connect(port: int) -> socket.socket:
    """A raw TCP connection to the test server."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """True if the server closes ``sock`` within ``within_s`` seconds."""
    sock.settimeout(within_s)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def run_async(coro_fn: Any) -> Any:
    """``asyncio.run(coro_fn())`` in a fresh thread: the browser tests' Playwright keeps an
    event loop running in the main thread for the rest of the session."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro_fn())
        except BaseException as exc:  # re-raised in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]
