"""Data-parallel training steps (digitkit.scratch.cpu): the same gradients, loss and dropout
masks as one thread, the same weights on every run, exact resume, and the fallbacks."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scratch_helpers import TINY, assert_close, synthetic_splits

from digitkit import runs
from digitkit.errors import DigitkitError
from digitkit.scratch import (
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
    Tanh,
    cpu,
    trainer,
)
from digitkit.scratch.optim import SGD, Adam
from digitkit.scratch.trainer import fit


def small_net(seed: int = 3) -> Sequential:
    """Both convolution paths, dropout (masks must match), pools and dense layers."""
    return Sequential(
        [
            Conv2D(1, 4, 3, padding=1),
            ReLU(),
            Dropout(0.3),
            MaxPool2D(2),
            Conv2D(4, 6, 3),
            Tanh(),
            Flatten(),
            Dropout(0.2),
            Dense(6 * 5 * 5, 10),
        ],
        input_shape=(1, 14, 14),
        seed=seed,
    )


class Capture(SGD):
    """An optimizer that only records the gradients it is given."""

    def __init__(self) -> None:
        super().__init__(0.0)
        self.grads: dict[str, np.ndarray] = {}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.grads = {k: np.array(v) for k, v in grads.items()}


def batch(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 1, 14, 14)).astype(np.float32), rng.integers(0, 10, n)


@pytest.mark.parametrize("workers,n", [(2, 16), (2, 17), (3, 17), (4, 3)])
def test_sharded_step_has_the_single_thread_gradient(workers, n):
    x, y = batch(n)
    single, split = small_net(), small_net()
    single.set_dropout_rng(np.random.default_rng(5))
    split.set_dropout_rng(np.random.default_rng(5))
    expected, got = Capture(), Capture()
    value, correct = single.train_step(x, y, SoftmaxCrossEntropy(), expected)
    with cpu.DataParallel(split, workers) as dp:
        value2, correct2 = dp.train_step(x, y, SoftmaxCrossEntropy(), got)
    assert value2 == pytest.approx(value, rel=1e-6) and correct2 == correct
    assert set(got.grads) == set(expected.grads) == set(single.params())
    for name, g in expected.grads.items():  # same dropout masks, else these would differ
        assert_close(got.grads[name], g, rtol=1e-5)


def test_replicas_follow_loaded_weights():
    x, y = batch(16)
    model, reference = small_net(seed=1), small_net(seed=2)
    with cpu.DataParallel(model, 2) as dp:
        dp.train_step(x, y, SoftmaxCrossEntropy(), Adam(1e-2))  # replica ran, weights moved
        model.load_state_dict(reference.state_dict())  # new arrays in the model's dicts
        for m in (model, reference):
            m.set_dropout_rng(np.random.default_rng(5))
        got, expected = Capture(), Capture()
        dp.train_step(x, y, SoftmaxCrossEntropy(), got)
    reference.train_step(x, y, SoftmaxCrossEntropy(), expected)
    for name, g in expected.grads.items():
        assert_close(got.grads[name], g, rtol=1e-5)


def test_same_seed_same_weights_bit_for_bit():
    s = synthetic_splits()
    x = s.x_train.astype(np.float32)[:, None] / 255

    def run() -> dict[str, np.ndarray]:
        model = Sequential(
            [Flatten(), Dense(784, 32), ReLU(), Dropout(0.3), Dense(32, 10)],
            input_shape=(1, 28, 28),
            seed=7,
        )
        fit(model, x, s.y_train, epochs=2, batch_size=32, optimizer=Adam(3e-3), seed=11, workers=2)
        return model.state_dict()

    a, b = run(), run()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_threaded_train_run_resumes_exactly(tmp_path, monkeypatch):
    from digitkit.scratch import runio

    splits = synthetic_splits()
    trainer.train_run("scratch-mlp", TINY, splits, tmp_path / "a", progress=False, workers=2)
    real_save = runio.save_checkpoint

    def crash_after_epoch_1(run_dir, epoch, *args, **kwargs):
        real_save(run_dir, epoch, *args, **kwargs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(runio, "save_checkpoint", crash_after_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_run("scratch-mlp", TINY, splits, tmp_path / "b", progress=False, workers=2)
    monkeypatch.setattr(runio, "save_checkpoint", real_save)
    trainer.train_run(
        "scratch-mlp", TINY, splits, tmp_path / "b", resume=True, progress=False, workers=2
    )
    a, b = runs.load_weights(tmp_path / "a"), runs.load_weights(tmp_path / "b")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_non_finite_loss_leaves_weights_untouched():
    x, y = batch(16)
    x[3] = np.nan
    model = small_net()
    before = {k: v.copy() for k, v in model.params().items()}
    with cpu.DataParallel(model, 2) as dp, np.errstate(invalid="ignore", over="ignore"):
        value, correct = dp.train_step(x, y, SoftmaxCrossEntropy(), Adam(1e-2))
    assert not np.isfinite(value) and correct == 0
    assert all(np.array_equal(before[k], v) for k, v in model.params().items())


def test_batchnorm_models_run_on_one_thread():
    model = Sequential(
        [Flatten(), Dense(196, 8), BatchNorm(8), Dense(8, 10)], input_shape=(1, 14, 14)
    )
    assert not cpu.can_split_batches(model)
    with pytest.raises(DigitkitError, match="BatchNorm"):
        cpu.DataParallel(model, 2)
    with trainer.stepper(model, 2) as step:
        assert step is model
    with trainer.stepper(small_net(), 2) as step:
        assert isinstance(step, cpu.DataParallel) and step.workers == 2
    with trainer.stepper(small_net(), 1) as step:
        assert isinstance(step, Sequential)


def test_openblas_thread_count_is_restored():
    before = cpu.openblas_threads()
    with cpu.DataParallel(small_net(), 2):
        if before is not None:
            assert cpu.openblas_threads() == 1
    assert cpu.openblas_threads() == before


def test_default_workers_reads_the_environment(monkeypatch):
    monkeypatch.setenv(cpu.ENV_THREADS, "3")
    assert cpu.default_workers() == 3
    monkeypatch.setenv(cpu.ENV_THREADS, "many")
    with pytest.raises(DigitkitError, match=cpu.ENV_THREADS):
        cpu.default_workers()
    monkeypatch.delenv(cpu.ENV_THREADS)
    assert 1 <= cpu.default_workers() <= cpu.DEFAULT_MAX_WORKERS


def test_prefetch_yields_the_same_batches_and_forwards_errors():
    def batches(fail_at: int | None = None):
        rng = np.random.default_rng(0)  # drawn in the producer thread, in order
        for i in range(10):
            if i == fail_at:
                raise ValueError("bad batch")
            yield rng.normal(size=(4, 3)), np.full(4, i)

    direct = list(batches())
    fetched = list(trainer.prefetch(batches()))
    assert len(fetched) == len(direct)
    assert all(
        np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        for a, b in zip(direct, fetched, strict=True)
    )
    with pytest.raises(ValueError, match="bad batch"):
        list(trainer.prefetch(batches(fail_at=4)))
    early = trainer.prefetch(batches())
    next(early)
    early.close()  # the consumer stops early: the producer thread ends too
    assert not any(t.name == "digitkit-prefetch" for t in threading.enumerate())


def test_threaded_inference_matches_the_model():
    x, y = batch(37)
    model = small_net()
    with cpu.DataParallel(model, 3) as dp:
        assert_close(dp.predict_proba(x, batch_size=16), model.predict_proba(x), rtol=1e-5)
        loss, acc = dp.evaluate(x, y, batch_size=16)
        expected_loss, expected_acc = model.evaluate(x, y)
        assert loss == pytest.approx(expected_loss, rel=1e-5) and acc == expected_acc
        assert dp.predict_logits(x[:0]).shape == (0, 10)
