"""Previews through the batcher (issue 14, item 7): ``?preview=true`` requests that wait
together are answered by one batch call, the digit and its preview from one preprocessing of
each image, and every answer is the one a lone request gets (on the shipped model: the same
bytes as ``predict`` then ``preview``, on the 200 canvases of benchmarks/bench_serve.py)."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from live_helpers import run_async
from PIL import Image
from serve_helpers import (
    ONE,
    SEVEN,
    FakeRecognizer,
    draw_png,
    load_real_recognizer,
    png_bytes,
    real_model_skip_reason,
)

from digitkit.serve.app import Limits, create_app
from digitkit.serve.inference import BATCH_MAX_PIXELS, Recognizers, _Batcher, preview_grid
from digitkit.serve.parsing import png_pixels

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
ONE_PNG, SEVEN_PNG = draw_png(ONE), draw_png(SEVEN)
BROKEN_PNG = ONE_PNG[:40] + b"broken"


@dataclass
class PreviewBatcher(FakeRecognizer):
    """A fake recognizer with the real one's batch call for previews."""

    preview_batches: list[int] = field(default_factory=list)

    def predict_batch_with_previews(
        self, images: list[Any], drawing: bool = False
    ) -> list[tuple[Any, Any]]:
        self.preview_batches.append(len(images))
        preds = self.predict_batch(images, drawing)
        return [
            (p, None if p.error else self.preview(i)) for p, i in zip(preds, images, strict=True)
        ]


def lone_answer(recognizer: FakeRecognizer, data: bytes, preview: bool) -> dict:
    """What a request alone gets: the prediction, then (if asked) the preview, the model."""
    out = recognizer.predict(data).to_dict()
    if preview:
        out["preview"] = preview_grid(recognizer.preview(data))
    return {**out, "model": "default"}


def queued_behind_a_running_request(
    recognizer: FakeRecognizer, bodies: list[tuple[bytes, bool]], drawing: list[bool] | None = None
) -> tuple[Any, list[Any]]:
    """A lone preview request held in the model while ``bodies`` (image, preview wanted;
    said to be a drawing where ``drawing`` says so) queue behind it; then all are answered."""
    drawing = drawing or [False] * len(bodies)
    gate = threading.Event()
    recognizer.gate = gate
    app = create_app(lambda name: recognizer, lambda: ["default"], limits=Limits(workers=1))

    async def scenario() -> tuple[Any, list[Any]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:

            def post(data: bytes, preview: bool, drawn: bool = False) -> Any:
                path = "/api/predict?preview=true" if preview else "/api/predict?x=1"
                path += "&drawing=true" if drawn else ""
                return c.post(path, content=data, headers={"content-type": "image/png"})

            first = asyncio.create_task(post(ONE_PNG, True))
            while not recognizer.threads:
                await asyncio.sleep(0.005)
            kinds = zip(bodies, drawing, strict=True)
            rest = [asyncio.create_task(post(d, p, k)) for (d, p), k in kinds]
            while app.state.recognizers.pending < 1 + len(bodies):
                await asyncio.sleep(0.005)
            gate.set()
            return await first, await asyncio.gather(*rest)

    return run_async(scenario)


@pytest.mark.parametrize("kind", [PreviewBatcher, FakeRecognizer], ids=["batched", "fallback"])
def test_waiting_preview_requests_get_the_lone_answers(kind):
    """With the batch call the four waiting requests are one batch; a recognizer without it
    answers them one by one. Either way each gets what it would get alone, errors included."""
    recognizer = kind()
    bodies = [(SEVEN_PNG, True), (ONE_PNG, False), (BROKEN_PNG, True), (SEVEN_PNG, True)]
    first, rest = queued_behind_a_running_request(recognizer, bodies)
    reference = kind()
    assert first.json() == lone_answer(reference, ONE_PNG, True)
    assert [r.status_code for r in rest] == [200, 200, 422, 200]
    assert rest[2].json()["code"] == "corrupt"
    assert rest[0].json() == lone_answer(reference, SEVEN_PNG, True)
    assert rest[1].json() == lone_answer(reference, ONE_PNG, False)  # no preview asked
    assert rest[3].json() == lone_answer(reference, SEVEN_PNG, True)
    if kind is PreviewBatcher:
        assert recognizer.preview_batches == [4]


def test_waiting_drawings_and_other_images_are_batched_apart():
    """A canvas's drawing is preprocessed as one (``drawing=True``), an image as a file:
    requests of both kinds that wait together go in two batches, each told its kind."""
    recognizer = PreviewBatcher()
    bodies = [(SEVEN_PNG, True), (ONE_PNG, True), (SEVEN_PNG, True), (ONE_PNG, False)]
    drawing = [True, False, True, False]
    first, rest = queued_behind_a_running_request(recognizer, bodies, drawing)
    assert [r.status_code for r in rest] == [200] * 4
    assert [r.json()["digit"] for r in rest] == [7, 1, 7, 1]
    assert recognizer.drawings[0] is False  # the lone first request
    told = recognizer.drawings[1:]
    assert recognizer.preview_batches == [2, 2]  # the lone first one was answered alone
    assert told in ([True, True, False, False], [False, False, True, True])  # one kind each


# --------------------------------------------------------------------------- real model


@pytest.fixture(scope="module")
def canvases(mnist) -> list[bytes]:
    """The 200 canvases benchmarks/bench_serve.py posts (MNIST validation digits)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_serve
    finally:
        sys.path.pop(0)
    return bench_serve.canvas_pngs()


@pytest.mark.skipif(real_model_skip_reason() is not None, reason=real_model_skip_reason() or "")
def test_batched_previews_are_bit_identical_on_the_shipped_model(canvases):
    """Digit, probabilities and preview of each canvas, alone and in batches of every size
    the server makes (some requests without the preview), serialize to the same JSON as
    ``predict`` followed by ``preview``: the answers before previews were batched."""
    recognizer = load_real_recognizer()
    models = Recognizers(lambda name: recognizer, lambda: ["default"], None, Limits())

    def expected(data: bytes, preview: bool) -> str:
        out = recognizer.predict(data).to_dict()
        if preview:
            out["preview"] = preview_grid(recognizer.preview(data))
        return json.dumps(out)

    items = [(data, i % 7 != 3) for i, data in enumerate(canvases)]
    want = [expected(d, p) for d, p in items]
    for size in (1, 2, 3, 5, 8, 16):
        got = [
            json.dumps(answer)
            for k in range(0, len(items), size)
            for answer in models._work_batch("default", items[k : k + size])
        ]
        assert got == want, f"batches of {size}"


def test_big_and_non_png_images_run_alone():
    """Only small PNGs wait in a batch (its answers come when its last image is done): a
    bigger PNG and a JPEG run on their own, with the same answers."""
    big = draw_png(SEVEN, size=(400, 400))
    jpeg = png_bytes(Image.open(io.BytesIO(ONE_PNG)).convert("RGB"), "JPEG")
    assert png_pixels(big) == 400 * 400 > BATCH_MAX_PIXELS and png_pixels(jpeg) is None
    recognizer = PreviewBatcher()
    bodies = [(SEVEN_PNG, True), (big, True), (jpeg, True), (ONE_PNG, True)]
    _, rest = queued_behind_a_running_request(recognizer, bodies)
    reference = PreviewBatcher()
    assert [r.json() for r in rest] == [lone_answer(reference, d, p) for d, p in bodies]
    assert recognizer.preview_batches == [2]  # the two canvases


def test_a_batch_of_canvases_stops_at_its_pixel_budget():
    """Canvases go at most MAX_PIXELS' worth at a time (a batch answers when its last image
    is done), small images up to MAX_BATCH."""
    assert _Batcher.MAX_PIXELS // (280 * 280) == 4
    recognizer = PreviewBatcher()
    bodies = [(SEVEN_PNG, True), (ONE_PNG, True)] * 3
    _, rest = queued_behind_a_running_request(recognizer, bodies)
    assert [r.status_code for r in rest] == [200] * 6
    assert recognizer.preview_batches == [4, 2]
    small = PreviewBatcher()
    tiny = [(draw_png([[(2, 2), (20, 25)]], size=(28, 28), width=3), True)] * 6
    queued_behind_a_running_request(small, tiny)
    assert small.preview_batches == [6]
