"""The serving pool of issue 14 item 7 (digitkit.serve.inference) keeps quick requests
moving past slow ones, and bounds how many run at once.

Behaviour, not timing: what runs, and how many at a time, is counted."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import threading
import time

import numpy as np
import pytest
from live_helpers import run_async  # Playwright keeps a loop running in the main thread
from PIL import Image


def _recognizers(workers: int, spare: int, **limits):
    from digitkit.serve.inference import Limits, Recognizers

    return Recognizers(
        lambda name: object(),
        lambda: [],
        None,
        Limits(workers=workers, spare_workers=spare, **limits),
        fingerprinter=lambda spec: None,
    )


def _image(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.zeros((height, width), np.uint8)).save(out, fmt)
    return out.getvalue()


def test_a_quick_request_is_not_stuck_behind_a_long_running_one():
    from digitkit.serve.inference import LONG_RUNNING_S

    models = _recognizers(workers=1, spare=1)
    gate = threading.Event()

    async def scenario() -> tuple[str, bool]:
        slow = asyncio.ensure_future(models.run("default", lambda r: gate.wait(10)))
        await asyncio.sleep(3 * LONG_RUNNING_S)
        quick = await asyncio.wait_for(models.run("default", lambda r: "quick"), 5)
        still_running = not slow.done()
        gate.set()
        await slow
        return quick, still_running

    try:
        assert run_async(scenario) == ("quick", True)
    finally:
        models.shutdown()


def test_quick_requests_never_run_more_than_workers_at_once():
    models = _recognizers(workers=1, spare=2)
    running, most = [0], [0]
    lock = threading.Lock()

    def work(recognizer) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.005)  # well under LONG_RUNNING_S
        with lock:
            running[0] -= 1

    async def scenario() -> None:
        await asyncio.gather(*(models.run("default", work) for _ in range(12)))

    try:
        run_async(scenario)
    finally:
        models.shutdown()
    assert most[0] == 1


def test_long_running_requests_are_bounded_by_workers_plus_spare():
    models = _recognizers(workers=1, spare=1)
    gate = threading.Event()
    started: list[int] = []

    def slow(recognizer) -> None:
        started.append(1)
        gate.wait(10)

    async def scenario() -> int:
        tasks = [asyncio.ensure_future(models.run("default", slow)) for _ in range(4)]
        await asyncio.sleep(0.5)  # long past LONG_RUNNING_S: every slot was freed early
        count = len(started)
        gate.set()
        await asyncio.gather(*tasks)
        return count

    try:
        assert run_async(scenario) == 2  # the pool's two threads, no more
    finally:
        models.shutdown()


def test_heavy_images_are_told_by_their_header():
    from digitkit.serve.inference import is_heavy

    assert not is_heavy(_image(280, 280))  # the page's canvas
    assert not is_heavy(_image(600, 600, "JPEG"))
    assert is_heavy(_image(16000, 40))  # the strip whose line fit takes 100+ ms
    assert is_heavy(_image(40, 1000, "JPEG"))  # elongated either way, any format
    assert is_heavy(_image(1000, 1000, "WEBP"))
    assert not is_heavy(b"\xff\xd8\xff garbage")  # no readable header: decoding refuses it


def test_heavy_images_run_on_their_own_lower_priority_threads():
    models = _recognizers(workers=1, spare=1)
    seen: dict[str, tuple[str, int]] = {}

    def where(key: str):
        def work(recognizer) -> None:
            tid = threading.get_native_id()
            nice = os.getpriority(os.PRIO_PROCESS, tid) if sys.platform == "linux" else 0
            seen[key] = (threading.current_thread().name, nice)

        return work

    async def scenario() -> None:
        await models.run("default", where("heavy"), _image(4000, 4000))
        await models.run("default", where("canvas"), _image(280, 280))

    try:
        run_async(scenario)
    finally:
        models.shutdown()
    assert seen["heavy"][0].startswith("digitkit-heavy")
    assert seen["canvas"][0].startswith("digitkit-infer")
    if sys.platform == "linux":
        from digitkit.serve.inference import HEAVY_NICE

        assert seen["heavy"][1] == min(seen["canvas"][1] + HEAVY_NICE, 19)


def test_heavy_images_are_admitted_against_their_own_bound():
    from digitkit.serve.errors import ApiError

    models = _recognizers(workers=1, spare=1, heavy_workers=1, max_heavy_pending=1)
    gate = threading.Event()
    heavy = _image(16000, 40)

    async def scenario() -> tuple[int, str]:
        first = asyncio.ensure_future(models.run("default", lambda r: gate.wait(10), heavy))
        await asyncio.sleep(0.05)
        with pytest.raises(ApiError) as refused:
            await models.run("default", lambda r: "second heavy", heavy)
        # the quick requests' queue is not the heavy images': a canvas still gets in
        quick = await asyncio.wait_for(models.run("default", lambda r: "quick", _image(28, 28)), 5)
        gate.set()
        await first
        return refused.value.status, quick

    try:
        assert run_async(scenario) == (503, "quick")
    finally:
        models.shutdown()
