"""Drawing the next epoch in another process while this one trains.

A mixed dataset redraws its training images every epoch (pen trajectories rendered, digits
photographed, every image preprocessed as the recognizer does), and on a CPU that draw can
take as long as the epoch's training steps. :class:`DrawAhead` runs ``draw(*args, epoch)``
in one spawned worker process, one epoch at a time, so the two overlap on two cores.

The draw is a pure function of its arguments and the epoch (its random generator is seeded
by both), so an epoch drawn ahead is the very epoch drawn in place: a run gives the same
result with or without it. Where the worker fails or dies, the epoch is drawn in place
(any error then comes from there, with its own traceback). The worker is a daemon: it ends
with the training process, and an epoch drawn ahead that is never asked for is simply lost.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable
from typing import Any

# The worker's own thread budget: it draws beside training, which has the other cores.
_WORKER_THREADS = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
_POLL_SECONDS = 1.0  # how often a wait for the worker checks that it is still alive


def _serve(draw: Callable[..., Any], args: tuple[Any, ...], tasks: Any, results: Any) -> None:
    """The worker's loop: draw every epoch asked for and send it back (or the error)."""
    while True:
        epoch = tasks.get()
        if epoch is None:
            return
        try:
            results.put((epoch, True, draw(*args, epoch)))
        except Exception as exc:  # reported to the parent, which draws in place
            results.put((epoch, False, f"{type(exc).__name__}: {exc}"))


class DrawAhead:
    """``draw(*args, epoch)`` for the next epoch, computed in a worker process.

    :meth:`start` asks for an epoch (at most one at a time: the next one); :meth:`take`
    returns it once drawn, or None where it was not asked for or could not be drawn there
    (the caller then draws it in place). ``draw`` must be a module-level function and
    ``args`` picklable: they are sent to the worker once, when it starts."""

    def __init__(self, draw: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._draw, self._args = draw, args
        self._process: Any = None
        self._tasks: Any = None
        self._results: Any = None
        self._pending: int | None = None
        self.failure: str | None = None  # why the last take of an epoch asked for was None

    def start(self, epoch: int) -> None:
        """Begin drawing ``epoch`` (nothing if it is already being drawn)."""
        if self._pending == epoch:
            return
        if self._pending is not None:  # an epoch no one took: wait it out, drop it
            self.take(self._pending)
        if self._process is None or not self._process.is_alive():
            self._spawn()
        self._tasks.put(epoch)
        self._pending = epoch

    def take(self, epoch: int) -> Any | None:
        """The drawn ``epoch``, waiting for the worker to finish it; None if it was not
        asked for, or the worker failed (``failure`` says why)."""
        self.failure = None
        if self._pending != epoch:
            return None
        self._pending = None
        while True:
            try:
                got, ok, value = self._results.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if not self._process.is_alive():
                    self.failure = f"the drawing process ended (exit code {self._process.exitcode})"
                    self._process = None
                    return None
                continue
            if got != epoch:  # left over from an epoch dropped unasked
                continue
            self.failure = None if ok else value
            return value if ok else None

    def close(self) -> None:
        """Stop the worker now (it is a daemon: it also ends with this process)."""
        if self._process is not None:
            self._process.terminate()
            self._process.join(timeout=5)
            self._process = None
        self._pending = None

    def _spawn(self) -> None:
        # Spawned, not forked: a fork of a process running torch's thread pools can hang.
        ctx = multiprocessing.get_context("spawn")
        self._tasks, self._results = ctx.Queue(), ctx.Queue()
        self._process = ctx.Process(
            target=_serve,
            args=(self._draw, self._args, self._tasks, self._results),
            daemon=True,
            name="digitkit-draw-ahead",
        )
        saved = {k: os.environ.get(k) for k in _WORKER_THREADS}
        os.environ.update(_WORKER_THREADS)  # the child's environment is copied at start
        try:
            self._process.start()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
