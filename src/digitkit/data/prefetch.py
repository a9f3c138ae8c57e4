"""Drawing the next epochs in other processes while this one trains.

A mixed dataset redraws its training images every epoch (pen trajectories rendered, digits
photographed, every image preprocessed as the recognizer does), and on a CPU that draw can
take as long as the epoch's training steps. :class:`DrawAhead` runs ``draw(*args, epoch)``
for epochs asked for ahead of need, each in a worker process of its own (workers are reused
once their epoch is taken), so drawing overlaps training: one epoch ahead keeps two
cores busy, more keep the cores of a GPU machine drawing for a fast trainer.

The draw is a pure function of its arguments and the epoch (its random generator is seeded
by both), so an epoch drawn ahead is the very epoch drawn in place: a run gives the same
result however many epochs are drawn ahead. Where a worker fails or dies, its epoch is drawn
in place (any error then comes from there, with its own traceback). Workers are daemons:
they end with the training process, and an epoch drawn ahead that is never asked for is lost.
"""

from __future__ import annotations

import multiprocessing
import queue
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_POLL_SECONDS = 1.0  # how often a wait for a worker checks that it is still alive


def _serve(draw: Callable[..., Any], args: tuple[Any, ...], tasks: Any, results: Any) -> None:
    """A worker's loop: draw every epoch it is given and send it back (or the error), on one
    thread (it draws beside training and the other workers). It writes nothing: a forked
    worker must not wait on a stream lock that a thread of its parent held when it forked
    (the progress bar's), so its warnings are dropped (the same draw in place shows them)."""
    import warnings

    from threadpoolctl import threadpool_limits

    warnings.simplefilter("ignore")
    with threadpool_limits(1):
        while True:
            epoch = tasks.get()
            if epoch is None:
                return
            try:
                results.put((epoch, True, draw(*args, epoch)))
            except Exception as exc:  # reported to the parent, which draws in place
                results.put((epoch, False, f"{type(exc).__name__}: {exc}"))


def _context() -> Any:
    """Forked workers on Linux, as torch's data loaders are there: they start at once and
    share the parent's arrays, and a user's script is not imported again. Spawned elsewhere
    (macOS cannot fork safely, Windows not at all), where a script that trains must guard
    its top level (``if __name__ == "__main__":``), as for any multiprocessing there."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


@dataclass
class _Worker:
    process: Any
    tasks: Any
    results: Any  # its own queue: a worker that dies cannot block the others' results
    epoch: int | None = None  # the epoch it is drawing, None when idle


class DrawAhead:
    """``draw(*args, epoch)`` for epochs asked for ahead, computed in worker processes.

    :meth:`start` asks for an epoch (each epoch in flight has a worker of its own);
    :meth:`take` returns it once drawn, or None where it was not asked for or could not be
    drawn there (the caller then draws it in place). ``draw`` must be a module-level
    function and ``args`` picklable where workers are spawned (not forked): they are sent
    to each worker once, when it starts."""

    def __init__(self, draw: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._draw, self._args = draw, args
        self._workers: list[_Worker] = []
        self.failure: str | None = None  # why the last take of an epoch asked for was None

    def start(self, epoch: int) -> None:
        """Begin drawing ``epoch`` (nothing if it is being drawn already)."""
        if any(w.epoch == epoch for w in self._workers):
            return
        idle = [w for w in self._workers if w.epoch is None and w.process.is_alive()]
        worker = idle[0] if idle else self._spawn()
        worker.epoch = epoch
        worker.tasks.put(epoch)

    def take(self, epoch: int) -> Any | None:
        """The drawn ``epoch``, waiting for its worker to finish it; None if it was not
        asked for, or its worker failed (``failure`` says why)."""
        self.failure = None
        worker = next((w for w in self._workers if w.epoch == epoch), None)
        if worker is None:
            return None
        while True:
            try:
                _, ok, value = worker.results.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if worker.process.is_alive():
                    continue
                self._workers.remove(worker)
                self.failure = f"the drawing process ended (exit code {worker.process.exitcode})"
                return None
            worker.epoch = None
            self.failure = None if ok else value
            return value if ok else None

    def close(self) -> None:
        """Stop the workers now (they are daemons: they also end with this process)."""
        for worker in self._workers:
            worker.process.terminate()
            worker.process.join(timeout=5)
        self._workers = []

    def _spawn(self) -> _Worker:
        ctx = _context()
        tasks, results = ctx.Queue(), ctx.Queue()
        process = ctx.Process(
            target=_serve,
            args=(self._draw, self._args, tasks, results),
            daemon=True,
            name=f"digitkit-draw-ahead-{len(self._workers)}",
        )
        process.start()
        worker = _Worker(process, tasks, results)
        self._workers.append(worker)
        return worker
