"""``digitkit serve`` and ``digitkit app``: options, the printed address, bad models."""

from __future__ import annotations

import sys
import types

import pytest
from serve_helpers import FakeModels

from digitkit.cli import main
from digitkit.errors import DigitkitError


@pytest.fixture
def fake_recognize(monkeypatch):
    """A stand-in ``digitkit.vision.recognize`` whose Recognizer.load knows only 'default'."""
    models = FakeModels()

    class Recognizer:
        @staticmethod
        def load(model=None, **_):
            if model not in (None, "default", "unsure"):
                raise DigitkitError(f"no model {model!r}")
            return models.load(model)

    module = types.SimpleNamespace(Recognizer=Recognizer, available_models=models.list)
    monkeypatch.setitem(sys.modules, "digitkit.vision.recognize", module)
    # torch's thread count is process-wide: keep the test session's as it is.
    import digitkit.serve.app

    monkeypatch.setattr(digitkit.serve.app, "limit_torch_threads", lambda n: None)
    return models


def test_serve_prints_the_address_and_binds_localhost(fake_recognize, monkeypatch, capsys):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    assert main(["serve", "--port", "8123"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8123/" in out
    app, kw = calls[0]
    assert kw["host"] == "127.0.0.1" and kw["port"] == 8123
    assert fake_recognize.loaded == [None]  # the model is loaded before serving
    assert app.state.recognizers.default_label == "default"


def test_serve_with_a_model_and_host(fake_recognize, monkeypatch, capsys):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    assert main(["serve", "--host", "0.0.0.0", "--model", "unsure"]) == 0
    assert "http://0.0.0.0:8000/" in capsys.readouterr().out
    assert calls[0][0].state.recognizers.default_label == "unsure"


def test_serve_bad_model_is_one_clear_error(fake_recognize, capsys):
    assert main(["serve", "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no model 'nope'" in err and "Traceback" not in err


def test_app_command_runs_the_window(fake_recognize, monkeypatch):
    import digitkit.desktop

    seen = {}

    def fake_run(model=None, loader=None):
        seen["model"], seen["recognizer"] = model, loader(model)
        return 0

    monkeypatch.setattr(digitkit.desktop, "run", fake_run)
    # A platform chosen, as a desktop session or the test suite has: no display needed.
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert main(["app", "--model", "unsure"]) == 0
    assert seen["model"] == "unsure" and seen["recognizer"].uncertain


def test_help_texts(capsys):
    for cmd in (["serve", "--help"], ["app", "--help"]):
        assert main(cmd) == 0
    out = capsys.readouterr().out
    assert "--port" in out and "Examples" in out
