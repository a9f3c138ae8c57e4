"""REST API on a fake recognizer: every route, every error code, the limits."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from live_helpers import run_async  # Playwright keeps a loop running in the main thread
from PIL import Image
from serve_helpers import ONE, SEVEN, FakeModels, draw_png, png_bytes

from digitkit.errors import DigitkitError
from digitkit.serve.app import STATIC_DIR, Limits, create_app

ONE_PNG = draw_png(ONE)
SEVEN_PNG = draw_png(SEVEN)
BLANK_PNG = draw_png([])


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def assert_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"detail", "code"}, body
    assert body["code"] == code, body
    assert "Traceback" not in resp.text
    return body


# ----- routes ----------------------------------------------------------------------------


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_after_startup(client):
    for _ in range(200):
        resp = client.get("/readyz")
        if resp.status_code == 200:
            break
        threading.Event().wait(0.01)
    assert resp.json() == {"status": "ready", "model": "default"}


def test_readyz_reports_a_failed_model_load():
    def broken(name):
        raise DigitkitError("no weights in weights/default")

    with TestClient(create_app(broken, lambda: ["default"])) as c:
        for _ in range(200):
            body = assert_error(c.get("/readyz"), 503, "not_ready")
            if "failed" in body["detail"]:
                break
            threading.Event().wait(0.01)
        # The reason (which may name files) is logged, never sent: see test_hardening.
        assert "no weights" not in body["detail"] and "server log" in body["detail"]
        assert c.get("/readyz").headers["Retry-After"]
        assert_error(
            c.post("/api/predict", content=ONE_PNG, headers={"content-type": "image/png"}),
            503,
            "model_unavailable",
        )


def test_models(client):
    body = client.get("/api/models").json()
    assert {k: body[k] for k in ("default", "models")} == {
        "default": "default",
        "models": ["default", "unsure"],
    }
    assert [d["name"] for d in body["details"]] == ["default", "unsure"]  # test_page.py


def test_predict_multipart(client):
    resp = client.post("/api/predict", files={"file": ("one.png", ONE_PNG, "image/png")})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["digit"] == 1 and body["model"] == "default" and body["file"] == "one.png"
    assert len(body["probabilities"]) == 10 and 0 <= body["confidence"] <= 1
    assert body["uncertain"] is False and "preview" not in body


def test_predict_json_data_url(client):
    resp = client.post("/api/predict", json={"image": data_url(SEVEN_PNG)})
    assert resp.status_code == 200, resp.text
    assert resp.json()["digit"] == 7 and "file" not in resp.json()


def test_predict_raw_body(client):
    resp = client.post("/api/predict", content=ONE_PNG, headers={"content-type": "image/png"})
    assert resp.json()["digit"] == 1


@pytest.mark.parametrize(
    "fmt,mime", [("JPEG", "image/jpeg"), ("BMP", "image/bmp"), ("WEBP", "image/webp")]
)
def test_predict_accepts_the_other_formats(client, fmt, mime):
    data = png_bytes(Image.open(__import__("io").BytesIO(ONE_PNG)).convert("RGB"), fmt)
    resp = client.post("/api/predict", files={"file": (f"one.{fmt.lower()}", data, mime)})
    assert resp.status_code == 200, resp.text
    assert resp.json()["digit"] == 1


def test_predict_preview(client):
    body = client.post(
        "/api/predict?preview=true", content=ONE_PNG, headers={"content-type": "image/png"}
    ).json()
    grid = body["preview"]
    assert len(grid) == 28 and all(len(r) == 28 for r in grid)
    assert max(max(r) for r in grid) > 200 and min(min(r) for r in grid) == 0


def test_predict_passes_on_whether_the_image_is_a_canvas_drawing(client, fake_models):
    def told(path: str, data: bytes = ONE_PNG, mime: str = "image/png") -> bool:
        resp = client.post(path, content=data, headers={"content-type": mime})
        assert resp.status_code == 200, resp.text
        (recognizer,) = fake_models.instances.values()
        return recognizer.drawings[-1]

    assert told("/api/predict") is False
    assert told("/api/predict?drawing=true") is True
    assert told("/api/predict?drawing=true&preview=true") is True
    # An image that runs alone (not a small PNG) is told too.
    jpeg = png_bytes(Image.open(__import__("io").BytesIO(ONE_PNG)).convert("RGB"), "JPEG")
    assert told("/api/predict?drawing=true", jpeg, "image/jpeg") is True
    assert told("/api/predict", jpeg, "image/jpeg") is False
    assert_error(client.post("/api/predict?drawing=maybe", content=ONE_PNG), 422, "invalid_request")


def test_blank_image_claims_nothing(client):
    body = client.post(
        "/api/predict?preview=true", content=BLANK_PNG, headers={"content-type": "image/png"}
    ).json()
    assert body["digit"] is None and body["preview"] is None


def test_predict_number(client):
    strokes = [[(x + 20, y) for x, y in s] for s in ONE] + [
        [(x + 280, y) for x, y in s] for s in SEVEN
    ]
    png = draw_png(strokes, size=(560, 280))
    resp = client.post("/api/predict/number", files={"file": ("n.png", png, "image/png")})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["text"] == "17" and len(body["digits"]) == 2 and body["file"] == "n.png"
    assert client.post("/api/predict/number", json={"image": data_url(png)}).json()["text"] == "17"


def test_model_choice_by_name(client, fake_models):
    body = client.post(
        "/api/predict?model=unsure", content=ONE_PNG, headers={"content-type": "image/png"}
    ).json()
    assert body["model"] == "unsure" and body["uncertain"] is True
    body = client.post("/api/predict", json={"image": data_url(ONE_PNG), "model": "unsure"})
    assert body.json()["model"] == "unsure"
    form = client.post(
        "/api/predict", files={"file": ("a.png", ONE_PNG, "image/png")}, data={"model": "unsure"}
    )
    assert form.json()["model"] == "unsure"
    assert fake_models.loaded.count("unsure") == 1  # loaded once, then cached


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/tmp/run", "http://evil/model.json", "runs/cnn", "nope"]
)
def test_models_only_by_listed_name(client, fake_models, name):
    resp = client.post(
        "/api/predict",
        params={"model": name},
        content=ONE_PNG,
        headers={"content-type": "image/png"},
    )
    assert_error(resp, 422, "unknown_model")
    resp = client.post("/api/predict", json={"image": data_url(ONE_PNG), "model": name})
    assert_error(resp, 422, "unknown_model")
    assert name not in fake_models.loaded


def test_inference_runs_in_the_pool(client, fake_models):
    client.post("/api/predict", content=ONE_PNG, headers={"content-type": "image/png"})
    threads = fake_models.instances[None].threads
    assert threads and all(t.startswith("digitkit-infer") for t in threads)


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    css = client.get("/static/style.css").text
    assert "touch-action: none" in css


def test_page_works_offline():
    """No CDN: the page's files reference nothing outside the server."""
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", text), path.name
        assert "@import" not in text and "url(http" not in text, path.name


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/predict", "/api/predict/number", "/api/models", "/healthz", "/readyz"):
        assert path in spec["paths"], path
    content = spec["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json", "image/png"} <= set(content)
    assert client.get("/docs").status_code == 200


# ----- errors ----------------------------------------------------------------------------


def test_404_and_405_are_json(client):
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/api/predict"), 405, "method_not_allowed")


def test_413_from_content_length(client):
    big = b"\x89PNG\r\n\x1a\n" + bytes(2 * 1024 * 1024)
    resp = client.post("/api/predict", content=big, headers={"content-type": "image/png"})
    assert_error(resp, 413, "request_too_large")


def test_413_while_reading_a_chunked_body(client):
    def chunks():
        for _ in range(40):
            yield bytes(64 * 1024)

    resp = client.post("/api/predict", content=chunks(), headers={"content-type": "image/png"})
    assert "content-length" not in resp.request.headers
    assert_error(resp, 413, "request_too_large")


def test_body_limit_middleware_stops_reading():
    """At the ASGI level: a body without Content-Length is refused once past the limit,
    without reading the rest."""
    from digitkit.serve.app import BodyLimit

    reached = []

    async def app(scope, receive, send):  # never reached
        reached.append(True)

    sent, pulled = [], []

    async def receive():
        pulled.append(1)
        return {"type": "http.request", "body": bytes(1000), "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
    run_async(lambda: BodyLimit(app, 5000)(scope, receive, send))
    assert not reached and len(pulled) == 6
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["code"] == "request_too_large"


def test_413_decoded_pixels(client):
    huge = png_bytes(Image.new("L", (5000, 5000), 255))  # ~25 MB of pixels, tiny file
    assert len(huge) < 2 * 1024 * 1024
    resp = client.post("/api/predict", files={"file": ("huge.png", huge, "image/png")})
    assert_error(resp, 413, "too_large")


def test_415_unsupported_image_format(client):
    gif = png_bytes(Image.new("L", (28, 28), 255), "GIF")
    assert_error(
        client.post("/api/predict", files={"file": ("a.gif", gif, "image/gif")}),
        415,
        "unsupported_format",
    )
    # The declared type does not matter: the bytes decide.
    assert_error(
        client.post("/api/predict", content=b"hello", headers={"content-type": "image/png"}),
        415,
        "unsupported_format",
    )
    assert_error(
        client.post("/api/predict", json={"image": data_url(gif, "image/gif")}),
        415,
        "unsupported_format",
    )


def test_415_unsupported_media_type(client):
    assert_error(
        client.post("/api/predict", content=b"x", headers={"content-type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    assert_error(client.post("/api/predict/number", content=b"x"), 415, "unsupported_media_type")


def test_422_corrupt_image(client):
    corrupt = ONE_PNG[:40] + b"garbage" * 10
    assert_error(
        client.post("/api/predict", files={"file": ("c.png", corrupt, "image/png")}), 422, "corrupt"
    )


def test_422_empty_file(client):
    assert_error(
        client.post("/api/predict", files={"file": ("e.png", b"", "image/png")}), 422, "empty_file"
    )


@pytest.mark.parametrize(
    "body,code",
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (b'{"picture": 1}', "invalid_json"),
        (b'{"image": "data:image/png;base64,"}', "empty_file"),
        (b'{"image": 42}', "invalid_data_url"),
        (b'{"image": "iVBORw0KGgo="}', "invalid_data_url"),
        (b'{"image": "data:image/png;base64,@@@not base64@@@"}', "invalid_data_url"),
        (b'{"image": "data:image/png,rawtext"}', "invalid_data_url"),
        (b'{"image": "data:image/png;base64,iVBORw0KGgo=", "model": 3}', "invalid_json"),
        ("\ufeff{}".encode("utf-16"), "invalid_json"),
    ],
)
def test_422_malformed_json_or_data_url(client, body, code):
    resp = client.post("/api/predict", content=body, headers={"content-type": "application/json"})
    assert_error(resp, 422, code)


def test_422_multipart_problems(client):
    assert_error(
        client.post(
            "/api/predict", data={"other": "x"}, files={"notfile": ("a.png", ONE_PNG, "image/png")}
        ),
        422,
        "missing_file",
    )
    resp = client.post(
        "/api/predict", content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data"}
    )
    assert_error(resp, 422, "invalid_multipart")


def test_422_bad_query(client):
    assert_error(
        client.post(
            "/api/predict?preview=maybe", content=ONE_PNG, headers={"content-type": "image/png"}
        ),
        422,
        "invalid_request",
    )


def test_500_is_json_without_traceback():
    models = FakeModels(fail=RuntimeError("secret internal state"))
    with TestClient(create_app(models.load, models.list), raise_server_exceptions=False) as c:
        resp = c.post("/api/predict", content=ONE_PNG, headers={"content-type": "image/png"})
    body = assert_error(resp, 500, "internal_error")
    assert "secret" not in body["detail"]


def test_503_when_the_queue_is_full():
    """max_pending requests block in the pool; the next one is refused at once."""
    gate = threading.Event()
    models = FakeModels(gate=gate)
    app = create_app(models.load, models.list, limits=Limits(workers=1, max_pending=2))

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:

            def post():
                return c.post(
                    "/api/predict", content=ONE_PNG, headers={"content-type": "image/png"}
                )

            waiting = [asyncio.create_task(post()) for _ in range(2)]
            while app.state.recognizers.pending < 2:
                await asyncio.sleep(0.005)
            refused = await post()
            gate.set()
            done = await asyncio.gather(*waiting)
            return refused, done

    refused, done = run_async(scenario)
    assert_error(refused, 503, "busy")
    assert refused.headers["Retry-After"] == "1"
    assert [r.status_code for r in done] == [200, 200]


def test_concurrent_requests_are_batched():
    """Requests that wait behind a running prediction go to the model together; a bad image
    in the batch still gets its own error code."""
    gate = threading.Event()
    models = FakeModels(gate=gate)
    app = create_app(models.load, models.list, limits=Limits(workers=1, max_pending=32))

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:

            def post(data):
                return c.post("/api/predict", content=data, headers={"content-type": "image/png"})

            first = asyncio.create_task(post(ONE_PNG))
            while not models.instances.get(None) or not models.instances[None].threads:
                await asyncio.sleep(0.005)
            rest = [
                asyncio.create_task(post(d))
                for d in [SEVEN_PNG, ONE_PNG, ONE_PNG[:40] + b"broken", SEVEN_PNG]
            ]
            while app.state.recognizers.pending < 5:
                await asyncio.sleep(0.005)
            gate.set()
            return await first, await asyncio.gather(*rest)

    first, rest = run_async(scenario)
    assert first.json()["digit"] == 1
    assert [r.status_code for r in rest] == [200, 200, 422, 200]
    assert [r.json().get("digit") for r in rest if r.status_code == 200] == [7, 1, 7]
    assert rest[2].json()["code"] == "corrupt"
    assert 4 in models.instances[None].batches  # the four waiting requests: one batch
