"""Using the CPU well in the NumPy engine: data-parallel training steps in Python threads,
OpenBLAS thread control, and memory kept for reuse between steps.

Why threads, and not OpenBLAS's own threads: LeNet-5's matrix products are small (a few
tens of MFLOP each), and OpenBLAS splitting each of them over two cores mostly spins and
waits: with 2 OpenBLAS threads one epoch of LeNet-5 took about as long as with one, for
nearly twice the CPU time (benchmarks/RESULTS.md). Splitting
the *batch* instead gives each core a whole forward and backward pass of half the batch:
large, independent work. Python threads can do that because NumPy releases the GIL inside
matrix products, copies and ufunc loops over large arrays, which is where a step spends its
time; the GIL is held only for the Python glue between them.

Nothing here imports more than NumPy and the standard library; everything degrades to a
no-op where it does not apply (another BLAS, another C library).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from digitkit.errors import DigitkitError

ENV_THREADS = "DIGITKIT_NUMPY_THREADS"
# Measured on 2 cores only; more shards mean more GIL contention between the threads, so
# the default does not go further without a measurement (set DIGITKIT_NUMPY_THREADS).
DEFAULT_MAX_WORKERS = 2


def available_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_workers() -> int:
    """Threads for a data-parallel step: ``DIGITKIT_NUMPY_THREADS`` if set, else the
    available cores up to 2."""
    value = os.environ.get(ENV_THREADS, "").strip()
    if value:
        try:
            n = int(value)
        except ValueError:
            raise DigitkitError(f"{ENV_THREADS} must be a whole number, not {value!r}") from None
        return max(1, n)
    return min(available_cores(), DEFAULT_MAX_WORKERS)


# -- OpenBLAS ---------------------------------------------------------------------------------
def _openblas() -> tuple[Any, Any] | None:
    """(get, set) thread-count functions of the OpenBLAS that NumPy loaded, or None.

    NumPy's wheels bundle OpenBLAS with prefixed symbol names (scipy_openblas...64_); a
    system OpenBLAS has the plain ones. The library is found among those already mapped
    into this process (Linux), so nothing new is loaded.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower()}
    except OSError:
        return None
    names = [
        ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
        ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
        ("openblas_get_num_threads", "openblas_set_num_threads"),
    ]
    for path in sorted(p for p in paths if p.startswith("/")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in names:
            get, set_ = getattr(lib, get_name, None), getattr(lib, set_name, None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                return get, set_
    return None


_OPENBLAS: tuple[Any, Any] | None | bool = False  # False: not looked up yet


def openblas_threads() -> int | None:
    """OpenBLAS's current thread count, or None when NumPy does not use OpenBLAS."""
    global _OPENBLAS
    if _OPENBLAS is False:
        _OPENBLAS = _openblas()
    return None if not _OPENBLAS else int(_OPENBLAS[0]())  # type: ignore[index]


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the block with OpenBLAS limited to ``n`` threads, then restore the old count.

    Data-parallel steps call BLAS from several threads at once; each call must then run on
    its caller's core instead of waking OpenBLAS's own threads for the same cores.
    """
    before = openblas_threads()
    if before is None or before == n:
        yield
        return
    _OPENBLAS[1](n)  # type: ignore[index]
    try:
        yield
    finally:
        _OPENBLAS[1](before)  # type: ignore[index]


# -- the allocator ----------------------------------------------------------------------------
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_malloc_tuned = False


def keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed memory for reuse (once per process; no-op elsewhere).

    A training step allocates and frees the same few megabytes of arrays every time. By
    default glibc serves such sizes with fresh mmap pages or trims them off the heap when
    freed, so every step pays page faults to get its memory back; keeping it makes LeNet-5's
    steps measurably faster (benchmarks/RESULTS.md). The cost is that the process holds on
    to its peak working set (tens of MB here).
    """
    global _malloc_tuned
    if _malloc_tuned or not sys.platform.startswith("linux"):
        return
    _malloc_tuned = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): leave the allocator alone
        return
    mallopt.restype, mallopt.argtypes = ctypes.c_int, [ctypes.c_int, ctypes.c_int]
    # Arrays up to 32 MB (glibc's largest allowed threshold) come from the heap, and the
    # heap is trimmed only when 256 MB lie free at its top.
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 256 << 20)


# -- data-parallel steps ----------------------------------------------------------------------
def can_split_batches(model: Any) -> bool:
    """Whether a step on shards of the batch computes the whole batch's gradient: not with
    BatchNorm, whose training statistics are those of the batch it sees."""
    from digitkit.scratch.layers import BatchNorm

    return not any(isinstance(layer, BatchNorm) for layer in model.layers)


class DataParallel:
    """Training steps of ``model`` split over ``workers`` threads, one shard of the batch
    each; ``train_step`` has the signature and the result of ``Sequential.train_step``.

    Replica k computes the forward and backward pass of shard k in its own thread; replica
    0 is the model itself, running in the calling thread. The replicas are copies of the
    model's layers that share its parameter dicts, so an optimizer's in-place update reaches
    all of them, while every layer keeps its own cached activations. Between the two passes
    the calling thread computes the loss once, on the whole batch's output, exactly as a
    one-thread step does; each replica back-propagates its rows of that loss gradient, and
    the replicas' parameter gradients are summed in replica order. That is the gradient of
    the mean loss over the whole batch (as one thread computes it, up to float rounding),
    and the same bits on every run however the threads are scheduled.

    Dropout noise is drawn from the model's generator for the whole batch, layer by layer,
    before the shards start: exactly the numbers a one-thread step draws, so masks stay
    seeded and equal to the single-thread ones; each shard uses its rows.

    Use as a context manager (or call ``close``): it limits OpenBLAS to one thread per
    caller while it is open and restores it afterwards.
    """

    def __init__(self, model: Any, workers: int = 2) -> None:
        from digitkit.scratch.layers import Dropout
        from digitkit.scratch.model import Sequential

        if workers < 1:
            raise DigitkitError(f"workers must be at least 1, got {workers}")
        if not can_split_batches(model):
            raise DigitkitError(
                "a model with BatchNorm cannot be trained on shards of its "
                "batch (the statistics would be the shard's); use one worker"
            )
        self.model, self.workers = model, workers
        self.replicas = [model] + [
            Sequential.from_config(model.config()) for _ in range(workers - 1)
        ]
        self._dropouts = [
            [i for i, layer in enumerate(r.layers) if isinstance(layer, Dropout)]
            for r in self.replicas
        ]
        self._pool = (
            ThreadPoolExecutor(workers - 1, thread_name_prefix="digitkit-shard")
            if workers > 1
            else None
        )
        self._blas = contextlib.ExitStack()
        self._blas.enter_context(blas_threads(1))
        keep_freed_memory()

    def __enter__(self) -> DataParallel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker threads and restore OpenBLAS's thread count."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._blas.close()

    def _share_parameters(self) -> None:
        # Re-linked every step: load_state_dict and astype replace the arrays in the dicts
        # (shared), but a caller may also assign a new dict to a layer.
        for replica in self.replicas[1:]:
            for ours, theirs in zip(self.model.layers, replica.layers, strict=True):
                theirs.params, theirs.buffers = ours.params, ours.buffers

    def _shards(self, n: int) -> list[tuple[int, int, int]]:
        """(replica, lo, hi) of the non-empty shards [lo, hi) of a batch of ``n``: sizes
        differ by at most one, larger first, so replica 0 (the model) always has one."""
        sizes = [n // self.workers + (k < n % self.workers) for k in range(self.workers)]
        bounds = np.cumsum([0, *sizes]).tolist()
        return [(k, bounds[k], bounds[k + 1]) for k in range(self.workers) if sizes[k]]

    def _run_shards(self, fn: Any, n: int) -> list[Any]:
        """``fn(k, lo, hi)`` for every shard of a batch of ``n``, shard 0 in this thread and
        the others in the pool; results in shard order."""
        shards = self._shards(n)
        errstate = np.geterr()

        def call(k: int, lo: int, hi: int) -> Any:
            # NumPy's error state is per thread: use the caller's (the trainer silences
            # overflow warnings on the way to a NaN loss, which it reports itself).
            with np.errstate(**errstate):  # type: ignore[arg-type]
                return fn(k, lo, hi)

        assert self._pool is not None
        futures = [self._pool.submit(call, *s) for s in shards[1:]]
        try:
            first = call(*shards[0])
        finally:  # never leave a replica running into the next step, even after an error
            wait(futures)
        return [first] + [f.result() for f in futures]

    # -- inference, split the same way (validation after every epoch) -----------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Inference outputs of one batch, its shards computed in parallel."""
        if self._pool is None or len(x) < 2:
            return self.model.forward(x)
        self._share_parameters()
        return np.concatenate(
            self._run_shards(lambda k, lo, hi: self.replicas[k].forward(x[lo:hi]), len(x))
        )

    def predict_logits(self, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """``Sequential.predict_logits``, each batch split over the threads (by default
        every thread gets the model's memory-bounded inference batch)."""
        batch_size = batch_size or self.workers * self.model.inference_batch_size()
        outs = [self.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs) if outs else self.model.predict_logits(x[:0])

    def predict_proba(self, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """``Sequential.predict_proba``, each batch split over the threads."""
        return self.model.probabilities(self.predict_logits(x, batch_size))

    def evaluate(
        self, x: np.ndarray, y: np.ndarray, batch_size: int | None = None, loss: Any = None
    ) -> tuple[float, float]:
        """``Sequential.evaluate``, each batch split over the threads."""
        return self.model.score(self.predict_logits(x, batch_size), y, loss)

    # -- training ----------------------------------------------------------------------------
    def train_step(
        self, x: np.ndarray, y: np.ndarray, loss: Any, optimizer: Any
    ) -> tuple[float, int]:
        """One mini-batch, as ``Sequential.train_step``: the shards' forward passes in
        parallel, the loss of the whole batch's output (in this thread, once), the shards'
        backward passes in parallel, summed gradients, one optimizer update. Returns (mean
        loss, correct); a non-finite loss leaves the weights untouched."""
        n = len(x)
        if self._pool is None or n < 2:
            return self.model.train_step(x, y, loss, optimizer)
        self._share_parameters()
        noise = [self.model.layers[i].draw_noise(n) for i in self._dropouts[0]]

        def forward(k: int, lo: int, hi: int) -> np.ndarray:
            replica = self.replicas[k]
            for i, u in zip(self._dropouts[k], noise, strict=True):
                replica.layers[i].preset_noise = None if u is None else u[lo:hi]
            return replica.forward(x[lo:hi], training=True)

        out = np.concatenate(self._run_shards(forward, n))
        value = loss.forward(out, y)
        if not np.isfinite(value):
            return value, 0
        # The loss gradient of the whole batch (already divided by n), cut into shards: each
        # replica's parameter gradients are its shard's part of the batch's gradient.
        dout = loss.backward()
        self._run_shards(lambda k, lo, hi: self.replicas[k].backward(dout[lo:hi]), n)
        grads = self.model.grads()
        for k, _, _ in self._shards(n)[1:]:  # fixed order: the same sum whatever ran first
            for name, g in self.replicas[k].grads().items():
                grads[name] = grads[name] + g
        optimizer.step(self.model.params(), grads)
        return value, int((out.argmax(axis=1) == y).sum())
