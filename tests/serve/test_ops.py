"""Regression tests of the server's operability (issues 13 and 14): readiness under load,
cancelled and timed-out work, SIGTERM, fresh models, request ids, logs, metrics, CLI."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from live_helpers import connect, guarded_server, run_async, server_process
from serve_helpers import ONE, SEVEN, FakeModels, draw_png

from digitkit.serve.app import Limits, create_app
from digitkit.serve.logs import ACCESS_LOGGER, JsonFormatter, RequestIdFilter

ONE_PNG, SEVEN_PNG = draw_png(ONE), draw_png(SEVEN)
PNG = {"content-type": "image/png"}


def wait_for(predicate, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


# ----- readiness, cancellation, time budget -------------------------------------------------


def test_readyz_is_503_while_the_queue_is_full():
    gate = threading.Event()
    models = FakeModels(gate=gate)
    app = create_app(models.load, models.list, limits=Limits(workers=1, max_pending=2))

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            while (await c.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.01)
            waiting = [
                asyncio.create_task(c.post("/api/predict", content=ONE_PNG, headers=PNG))
                for _ in range(2)
            ]
            while app.state.recognizers.pending < 2:
                await asyncio.sleep(0.005)
            busy = await c.get("/readyz")
            gate.set()
            await asyncio.gather(*waiting)
            return busy, await c.get("/readyz")

    with TestClient(app):  # lifespan: preload the model
        pass
    busy, after = run_async(scenario)
    assert busy.status_code == 503 and busy.json()["code"] == "busy"
    assert busy.headers["Retry-After"]
    assert after.status_code == 200


def test_queued_work_of_a_gone_client_is_dropped():
    """A client that disconnects while its request waits for the pool costs no inference."""
    gate = threading.Event()
    models = FakeModels(gate=gate)
    app = create_app(models.load, models.list, limits=Limits(workers=1))
    with guarded_server(app) as (base, port):
        wait_for(lambda: httpx.get(base + "/readyz").status_code == 200)
        first = threading.Thread(
            target=lambda: httpx.post(
                base + "/api/predict", content=ONE_PNG, headers=PNG, timeout=30
            )
        )
        first.start()
        wait_for(lambda: models.instances[None].threads)  # the pool's one thread is busy
        sock = connect(port)
        sock.sendall(
            b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: image/png\r\nContent-Length: %d\r\n\r\n" % len(SEVEN_PNG) + SEVEN_PNG
        )
        wait_for(lambda: app.state.recognizers.pending == 2)
        sock.close()
        wait_for(lambda: app.state.recognizers.pending == 1)  # dropped while still queued
        gate.set()
        first.join(30)
    assert len(models.instances[None].threads) == 1  # the gone client's image never ran


def test_a_request_over_its_time_budget_gets_503():
    gate = threading.Event()
    models = FakeModels(gate=gate)
    app = create_app(models.load, models.list, limits=Limits(workers=1, request_timeout_s=0.3))
    with TestClient(app) as c:
        started = time.monotonic()
        resp = c.post("/api/predict", content=ONE_PNG, headers=PNG)
        gate.set()
    assert resp.status_code == 503 and resp.json()["code"] == "timeout"
    assert "0.3 s" in resp.json()["detail"] and resp.headers["Retry-After"]
    assert time.monotonic() - started < 5


def test_sigterm_drains_in_flight_requests_and_exits_within_5s():
    with server_process(predict_delay_s=1.0) as (proc, base):
        result = {}

        def request():
            result["resp"] = httpx.post(
                base + "/api/predict", content=ONE_PNG, headers=PNG, timeout=30
            )

        worker = threading.Thread(target=request)
        worker.start()
        time.sleep(0.3)  # in flight: the fake recognizer takes 1 s
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        exited_after = time.monotonic() - started
        worker.join(10)
    assert exited_after < 5, exited_after
    assert result["resp"].status_code == 200 and result["resp"].json()["digit"] == 1


# ----- models: fresh weights, only finished runs ----------------------------------------


def _make_run(root, name: str, status: str, weights: bytes = b"w1") -> None:
    run = root / "runs" / name
    run.mkdir(parents=True)
    (run / "card.json").write_text(json.dumps({"status": status}))
    (run / "model.safetensors").write_bytes(weights)


def test_a_model_whose_files_changed_is_reloaded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _make_run(tmp_path, "cnn", "done")
    models = FakeModels(names=("default", "runs/cnn"))
    with TestClient(create_app(models.load, models.list)) as c:
        for _ in range(2):
            resp = c.post("/api/predict?model=runs/cnn", content=ONE_PNG, headers=PNG)
            assert resp.status_code == 200, resp.text
        assert models.loaded.count("runs/cnn") == 1  # cached while unchanged
        (tmp_path / "runs" / "cnn" / "model.safetensors").write_bytes(b"retrained weights")
        assert (
            c.post("/api/predict?model=runs/cnn", content=ONE_PNG, headers=PNG).status_code == 200
        )
        assert models.loaded.count("runs/cnn") == 2  # new weights, new model


def test_runs_still_training_are_not_offered(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _make_run(tmp_path, "finished", "done")
    _make_run(tmp_path, "training", "running")
    _make_run(tmp_path, "broken", "failed")
    models = FakeModels(names=("default", "runs/finished", "runs/training", "runs/broken"))
    with TestClient(create_app(models.load, models.list)) as c:
        assert c.get("/api/models").json()["models"] == ["default", "runs/finished"]
        for name in ("runs/training", "runs/broken"):
            resp = c.post("/api/predict", params={"model": name}, content=ONE_PNG, headers=PNG)
            assert resp.status_code == 422 and resp.json()["code"] == "unknown_model"
    assert "runs/training" not in models.loaded and "runs/broken" not in models.loaded


# ----- request ids and logs ---------------------------------------------------------------


def test_request_id_is_echoed_validated_or_created(client):
    assert (
        client.get("/healthz", headers={"x-request-id": "abc-123.x"}).headers["x-request-id"]
        == "abc-123.x"
    )
    for bad in ("a" * 200, "bad id", "<script>"):
        rid = client.get("/healthz", headers={"x-request-id": bad}).headers["x-request-id"]
        assert rid != bad and re.fullmatch(r"[0-9a-f]{32}", rid)
    first = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert client.get("/healthz").headers["x-request-id"] != first


def test_each_request_is_logged_with_its_id(client, caplog):
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        client.post("/api/predict", content=ONE_PNG, headers={**PNG, "x-request-id": "trace-42"})
    lines = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert lines and lines[-1].request_id == "trace-42"
    assert "POST /api/predict 200" in lines[-1].getMessage()


def test_no_access_log_when_turned_off(caplog, fake_models):
    app = create_app(fake_models.load, fake_models.list, access_log=False)
    with TestClient(app) as c, caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        c.get("/healthz")
    assert not [r for r in caplog.records if r.name == ACCESS_LOGGER]


def test_json_log_lines():
    record = logging.LogRecord(
        "digitkit.serve.access", logging.INFO, __file__, 1, "GET %s", ("/healthz",), None
    )
    record.request_id, record.status = "r1", 200
    doc = json.loads(JsonFormatter().format(record))
    assert doc["message"] == "GET /healthz" and doc["request_id"] == "r1"
    assert doc["status"] == 200 and doc["level"] == "info"


# ----- metrics ------------------------------------------------------------------------------


def test_metrics(client):
    client.post("/api/predict", content=ONE_PNG, headers=PNG)
    client.get("/nope")
    text = client.get("/metrics").text
    assert (
        'digitkit_http_requests_total{method="POST",route="/api/predict",status="200"} 1.0' in text
    )
    assert 'route="unmatched",status="404"' in text
    assert 'digitkit_http_request_duration_seconds_bucket{le="0.005",method="POST"' in text
    assert "digitkit_inference_queue_depth 0.0" in text
    assert "digitkit_inference_queue_limit 32.0" in text
    assert 'digitkit_model_load_seconds_count{model="default"} 1.0' in text


def test_metrics_count_503s():
    gate = threading.Event()
    models = FakeModels(gate=gate)
    app = create_app(models.load, models.list, limits=Limits(workers=1, request_timeout_s=0.2))
    with TestClient(app) as c:
        assert c.post("/api/predict", content=ONE_PNG, headers=PNG).status_code == 503
        gate.set()
        text = c.get("/metrics").text
    assert 'digitkit_http_unavailable_total{route="/api/predict"} 1.0' in text


# ----- the CLI ------------------------------------------------------------------------------


@pytest.fixture
def uvicorn_calls(monkeypatch):
    import sys
    import types

    import uvicorn

    models = FakeModels()

    class Recognizer:
        @staticmethod
        def load(model=None, **_):
            return models.load(model)

    module = types.SimpleNamespace(Recognizer=Recognizer, available_models=models.list)
    monkeypatch.setitem(sys.modules, "digitkit.vision.recognize", module)
    import digitkit.serve.app

    monkeypatch.setattr(digitkit.serve.app, "limit_torch_threads", lambda n: None)
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    return calls


def test_serve_options_reach_uvicorn_and_the_app(uvicorn_calls, capsys):
    from digitkit.cli import main

    assert (
        main(
            [
                "serve",
                "--host",
                "0.0.0.0",
                "--allowed-host",
                "digits.example.org",
                "--log-level",
                "warning",
                "--no-access-log",
                "--json-logs",
            ]
        )
        == 0
    )
    app, kw = uvicorn_calls[0]
    assert kw["timeout_graceful_shutdown"] < 5 and kw["limit_concurrency"]
    assert kw["timeout_keep_alive"] and kw["h11_max_incomplete_event_size"]
    assert kw["log_level"] == "warning" and kw["access_log"] is False
    assert "JsonFormatter" in kw["log_config"]["formatters"]["default"]["()"]
    with TestClient(app, base_url="http://digits.example.org") as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/healthz", headers={"host": "evil.example"}).status_code == 400


def test_serve_rejects_an_unknown_log_level(uvicorn_calls, capsys):
    from digitkit.cli import main

    assert main(["serve", "--log-level", "loud"]) == 2
    assert "--log-level" in capsys.readouterr().err and not uvicorn_calls


def test_serving_the_shipped_model_never_imports_torch():
    # Inference runs on onnxruntime; importing torch only to set a thread count cost 2.7 s of
    # start-up (and torch is an optional extra).
    script = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from digitkit.serve.app import create_app, limit_torch_threads\n"
        "limit_torch_threads(1)\n"
        "from PIL import Image\n"
        "import io\n"
        "buf = io.BytesIO(); Image.new('L', (28, 28), 0).save(buf, 'PNG')\n"
        "with TestClient(create_app()) as client:\n"
        "    r = client.post('/api/predict', content=buf.getvalue(),\n"
        "                    headers={'content-type': 'image/png'})\n"
        "assert r.status_code == 200, r.text\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_the_fingerprint_of_a_spec_covers_its_members_and_its_drawn_route(tmp_path):
    from digitkit.serve.modelcache import fingerprint

    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"w")
        (tmp_path / name / "card.json").write_text("{}")
    spec = {"format": "digitkit-ensemble/1", "members": ["c"], "weights": [1.0]}
    (tmp_path / "drawn.json").write_text(json.dumps(spec))
    (tmp_path / "spec.json").write_text(
        json.dumps({**spec, "members": ["a", "b"], "drawn": "drawn.json"})
    )
    before = fingerprint(str(tmp_path / "spec.json"))
    watched = {entry[0] for entry in before}
    assert {str(tmp_path / n / "model.safetensors") for n in "abc"} <= watched
    assert str(tmp_path / "drawn.json") in watched
    time.sleep(0.01)
    (tmp_path / "c" / "model.safetensors").write_bytes(b"retrained")  # the route's member
    assert fingerprint(str(tmp_path / "spec.json")) != before
