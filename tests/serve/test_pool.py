"""The serving pool of issue 14 item 7 (digitkit.serve.inference) keeps quick requests
moving past slow ones, and bounds how many run at once.

Behaviour, not timing: what runs, and how many at a time, is counted."""

from __future__ import annotations

import asyncio
import threading
import time

from live_helpers import run_async  # Playwright keeps a loop running in the main thread


def _recognizers(workers: int, spare: int):
    from digitkit.serve.inference import Limits, Recognizers

    return Recognizers(
        lambda name: object(),
        lambda: [],
        None,
        Limits(workers=workers, spare_workers=spare),
        fingerprinter=lambda spec: None,
    )


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
