"""The API docs work offline: /docs (Swagger UI) and /redoc load their bundles from this
server (fastapi-offline's files, under /docs/assets), their CSP names no CDN and no inline
script, and the schema's example image is a real PNG that the API recognizes.

The browser tests run headless chromium with every host name but 127.0.0.1 unresolvable and
every request elsewhere aborted, then look for Swagger UI's operation blocks."""

from __future__ import annotations

import re

import pytest
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, live_server
from serve_helpers import FakeModels, real_model_skip_reason

from digitkit.serve.app import create_app
from digitkit.serve.docs import assets_dir

OFFLINE_ARGS = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
# ReDoc's sidebar footer always asks cdn.redoc.ly for a logo; the CSP refuses it (and ReDoc
# hides the broken image), so offline it is one console line and nothing else.
REDOC_LOGO = "cdn.redoc.ly/redoc/logo-mini.svg"

needs_assets = pytest.mark.skipif(
    assets_dir() is None, reason="fastapi-offline not installed (the serve extra)"
)


def json_body(spec: dict) -> dict:
    return spec["paths"]["/api/predict"]["post"]["requestBody"]["content"]["application/json"]


# ----- without a browser -----------------------------------------------------------------


@needs_assets
@pytest.mark.parametrize(
    "path, bundle", [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
def test_docs_pages_load_only_local_files(client, path, bundle):
    resp = client.get(path)
    assert resp.status_code == 200
    assert f'src="/docs/assets/{bundle}"' in resp.text
    assert not re.search(r"(src|href)=[\"'](https?:)?//", resp.text)
    assert "<script>" not in resp.text  # no inline script: the CSP allows none
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "http" not in csp and "jsdelivr" not in csp
    asset = client.get(f"/docs/assets/{bundle}")
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]


@needs_assets
def test_swagger_start_script_is_served(client):
    resp = client.get("/static/swagger-init.js")
    assert resp.status_code == 200 and "SwaggerUIBundle(" in resp.text
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200


def test_schema_example_is_recognized(client):
    spec = client.get("/openapi.json").json()
    example = json_body(spec)["example"]
    assert example["image"].startswith("data:image/png;base64,")
    resp = client.post("/api/predict", json=example)
    assert resp.status_code == 200, resp.text
    assert resp.json()["digit"] == 7  # the fake model: a wide mark is a 7
    # The field's own example (shown in the schema view) is the same image.
    field = json_body(spec)["schema"]["properties"]["image"]
    assert field["examples"] == [example["image"]]


_real_reason = real_model_skip_reason()


@pytest.mark.skipif(_real_reason is not None, reason=_real_reason or "")
def test_schema_example_is_a_seven_for_the_shipped_model():
    from fastapi.testclient import TestClient

    from digitkit.serve.schemas import EXAMPLE_DATA_URL

    with TestClient(create_app()) as real:
        resp = real.post("/api/predict", json={"image": EXAMPLE_DATA_URL})
    assert resp.status_code == 200, resp.text
    assert resp.json()["digit"] == 7 and not resp.json()["uncertain"]


# ----- in a browser without network ------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    models = FakeModels()
    with live_server(create_app(models.load, models.list)) as url:
        yield url


@pytest.fixture(scope="module")
def offline_browser(browser):
    """A second chromium of the same Playwright whose DNS knows only 127.0.0.1."""
    b = browser.browser_type.launch(executable_path=str(CHROMIUM), headless=True, args=OFFLINE_ARGS)
    yield b
    b.close()


def offline_page(browser, url: str):
    """A page on which any request that leaves 127.0.0.1 is aborted and recorded
    (``page.outside``), with console errors in ``page.js_errors``."""
    ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    outside: list[str] = []

    def only_local(route):
        if route.request.url.startswith(("http://127.0.0.1", "blob:", "data:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    ctx.route("**/*", only_local)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.outside, page.js_errors = outside, errors
    page.goto(url)
    return page


@needs_assets
@pytest.mark.browser
def test_swagger_ui_renders_offline_and_its_example_runs(offline_browser, server, artifacts_dir):
    from playwright.sync_api import expect

    page = offline_page(offline_browser, server + "/docs")
    try:
        predict = page.locator("#operations-default-predict_api_predict_post")
        expect(predict).to_be_visible(timeout=20000)
        assert page.locator(".opblock").count() >= 5
        page.screenshot(path=artifacts_dir / "docs-offline.png")
        # "Try it out" with the schema's example: the answer is a digit.
        predict.locator(".opblock-summary").click()
        page.get_by_role("button", name="Try it out").click()
        page.get_by_role("button", name="Execute").click()
        status = page.locator(".live-responses-table .response .response-col_status")
        expect(status).to_have_text("200", timeout=15000)
        expect(page.locator(".live-responses-table .microlight").first).to_contain_text(
            '"digit": 7'
        )
        assert page.outside == [] and page.js_errors == []
    finally:
        page.context.close()


@needs_assets
@pytest.mark.browser
def test_redoc_renders_offline(offline_browser, server, artifacts_dir):
    from playwright.sync_api import expect

    page = offline_page(offline_browser, server + "/redoc")
    try:
        expect(page.get_by_role("heading", name="Recognize one digit")).to_be_visible(timeout=30000)
        page.screenshot(path=artifacts_dir / "redoc-offline.png")
        assert page.outside == []
        assert [e for e in page.js_errors if REDOC_LOGO not in e] == []
    finally:
        page.context.close()
