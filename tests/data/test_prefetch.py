"""Drawing the next epoch of a mixed run in another process gives the very epoch drawn in
place (digitkit.data.prefetch), and a worker that fails leaves the epoch to be drawn in place."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from digitkit.data import prefetch, sources
from digitkit.data.prefetch import DrawAhead
from tests.data.parts import tiny_train_parts


def _args(mnist_splits) -> tuple:
    mix = sources.Mix(
        mnist_per_epoch=60,
        pen_copies=1,
        letters_copies=1,
        symbols=10,
        empty_boxes=10,
        several_digits=10,
        styled_digits=10,
        mnist_photographed=0.5,
    )
    return (mnist_splits.x_train[:200], mnist_splits.y_train[:200], tiny_train_parts(20), mix, 5)


@pytest.mark.parametrize("method", ["fork", "spawn"])  # Linux's workers, and other systems'
def test_an_epoch_drawn_ahead_is_the_epoch_drawn_in_place(mnist_splits, method, monkeypatch):
    monkeypatch.setattr(prefetch, "_context", lambda: multiprocessing.get_context(method))
    args = _args(mnist_splits)
    ahead = DrawAhead(sources.draw_epoch, args)
    try:
        assert ahead.take(2) is None  # not asked for: the caller draws it
        ahead.start(2)
        ahead.start(2)  # asked twice, drawn once
        ahead.start(3)  # in flight together: a worker each
        assert len(ahead._workers) == 2
        x3, y3 = ahead.take(3)  # taken in any order
        x, y = ahead.take(2)
        assert ahead.take(2) is None and ahead.failure is None
        ahead.start(4)  # an idle worker goes on with the next epoch
        x4, _ = ahead.take(4)
        assert len(ahead._workers) == 2
    finally:
        ahead.close()
    for epoch, (got_x, got_y) in ((2, (x, y)), (3, (x3, y3))):
        here_x, here_y = sources.draw_epoch(*args, epoch)
        assert len(got_x) > 60 and np.array_equal(got_x, here_x) and np.array_equal(got_y, here_y)
    assert not np.array_equal(x4[: len(x)], x[: len(x4)])  # another epoch, other drawings


def test_a_worker_that_fails_leaves_the_epoch_to_the_caller(mnist_splits):
    x_train, y_train, parts, mix, seed = _args(mnist_splits)
    ahead = DrawAhead(sources.draw_epoch, (x_train, y_train, {}, mix, seed))  # no pen parts
    try:
        ahead.start(1)
        assert ahead.take(1) is None
        assert ahead.failure is not None and "KeyError" in ahead.failure
    finally:
        ahead.close()


def test_a_worker_that_dies_leaves_the_epoch_to_the_caller(mnist_splits):
    ahead = DrawAhead(sources.draw_epoch, _args(mnist_splits))
    try:
        ahead.start(1)
        ahead._workers[0].process.kill()  # before it can have drawn anything: still starting
        assert ahead.take(1) is None and "ended" in ahead.failure
        ahead.start(1)  # a new worker for the next request
        assert ahead.take(1) is not None
    finally:
        ahead.close()
