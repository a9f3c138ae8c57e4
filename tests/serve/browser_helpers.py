"""A live uvicorn server in a thread and a headless Debian chromium for browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 in a background thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def draw(
    page: Any,
    strokes: list[list[tuple[float, float]]],
    canvas: str = "#pad",
    space: tuple[int, int] = (280, 280),
    steps: int = 4,
) -> None:
    """Draw ``strokes`` (coordinates in a ``space``-sized box) with real mouse events."""
    box = page.locator(canvas).bounding_box()
    sx, sy = box["width"] / space[0], box["height"] / space[1]

    def at(p: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + p[0] * sx, box["y"] + p[1] * sy

    for stroke in strokes:
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for p in stroke[1:]:
            page.mouse.move(*at(p), steps=steps)
        page.mouse.up()


def open_page(browser: Any, url: str, **context: Any) -> Any:
    """A fresh page on ``url`` once the script is ready; ``page.js_errors`` collects errors."""
    ctx = browser.new_context(**({"viewport": {"width": 1000, "height": 760}} | context))
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(url)
    page.wait_for_selector("html[data-ready=true]")
    page.js_errors = errors
    return page


def expect_state(page: Any, state: str, top: str | None = None, timeout: float = 8000) -> None:
    """Wait until the result panel shows ``state`` (and ``top`` as the big text)."""
    from playwright.sync_api import expect

    result = page.locator("#result")
    for _ in range(2):  # again once settled: an answer to an older request may come first
        expect(result).to_have_attribute("data-state", state, timeout=timeout)
        if top is not None:
            expect(page.locator("#top")).to_have_text(top, timeout=timeout)
        expect(result).not_to_have_attribute("aria-busy", "true", timeout=timeout)


def canvas_png(page: Any, canvas: str = "#pad") -> bytes:
    """The canvas as PNG bytes, as the page sends it to the server."""
    import base64

    url = page.locator(canvas).evaluate("c => c.toDataURL('image/png')")
    return base64.b64decode(url.split(",", 1)[1])
