"""The desktop app on the real model: mouse-drawn digits are recognized, and the drawing the
app shows gives the same prediction through the Recognizer API and ``digitkit predict``.

Skips (with the reason) until ``digitkit.vision.recognize`` and the shipped default model exist
(``DIGITKIT_TEST_MODEL=<run dir>`` tries a training run instead).
"""

from __future__ import annotations

import json

import pytest
from app_helpers import draw
from serve_helpers import (
    ONE,
    SEVEN,
    ZERO,
    docs_image,
    load_real_recognizer,
    real_model_skip_reason,
    real_model_spec,
)

_reason = real_model_skip_reason()
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")


@pytest.fixture(scope="module")
def recognizer():
    return load_real_recognizer()


def test_drawn_digits_match_the_cli(qtbot, recognizer, tmp_path, capsys, artifacts_dir):
    from digitkit.cli import main
    from digitkit.desktop.window import MainWindow

    spec = real_model_spec()
    w = MainWindow(lambda name: recognizer if name == spec else None, [], model=spec)
    qtbot.addWidget(w)
    w.show()
    try:
        for expected, strokes in [("1", ONE), ("7", SEVEN), ("0", ZERO)]:
            draw(w.canvas, strokes)
            qtbot.waitUntil(lambda e=expected: w.digit_label.text() == e, timeout=10000)
            # Wait for the last answer (the drawing's final state), then compare.
            qtbot.waitUntil(lambda: not w._busy and not w._timer.isActive(), timeout=10000)
            shown = dict(w.last_prediction)
            png = w.canvas.png_bytes()
            direct = recognizer.predict(png).to_dict()
            path = tmp_path / f"desktop-{expected}.png"
            path.write_bytes(png)
            capsys.readouterr()
            args = ["predict", str(path), "--json"] + (["--model", spec] if spec else [])
            assert main(args) == 0
            cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
            for other in (direct, cli):
                assert other["digit"] == shown["digit"] == int(expected)
                assert other["probabilities"] == pytest.approx(shown["probabilities"], abs=1e-4)
            if expected == "7":
                w.grab().save(str(artifacts_dir / "desktop-real-7.png"))
                if docs := docs_image("desktop-app.png"):
                    w.grab().save(str(docs))
            w.canvas.clear()
    finally:
        w.close()
