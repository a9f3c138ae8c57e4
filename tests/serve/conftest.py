"""Fixtures of the web-app tests: an app on a fake recognizer (no model needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # serve_helpers, whatever the import mode

from browser_helpers import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from serve_helpers import FakeModels  # noqa: E402

from digitkit.serve.app import Limits, create_app  # noqa: E402


@pytest.fixture
def fake_models() -> FakeModels:
    return FakeModels()


@pytest.fixture
def fake_app(fake_models: FakeModels):
    return create_app(fake_models.load, fake_models.list, limits=Limits(workers=2))


@pytest.fixture
def client(fake_app):
    from fastapi.testclient import TestClient

    with TestClient(fake_app) as c:
        yield c


@pytest.fixture(scope="session")
def browser():
    """Headless Debian chromium driven by Playwright (skips when it is not installed)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page_server():
    """The app on the fake recognizer, served on a free local port (for the browser)."""
    from browser_helpers import live_server

    models = FakeModels()
    with live_server(create_app(models.load, models.list)) as url:
        yield url


@pytest.fixture
def page(browser, page_server):
    """A fresh desktop-sized page of ``page_server``; fails the test on any JavaScript error."""
    from browser_helpers import open_page

    p = open_page(browser, page_server)
    yield p
    assert p.js_errors == []
    p.context.close()
