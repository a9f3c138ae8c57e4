"""CTC decoding: greedy collapse, exact string likelihoods, and the choice among reads."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from digitkit.vision.ctc import consensus, ctc_greedy, ctc_log_likelihoods
from digitkit.vision.numbers import labels_to_text


def test_ctc_greedy_collapses_repeats_and_blanks():
    # classes: 0 blank, 1 -> "0", 2 -> "1", ...; frames: 1 1 _ 1 2 2 _ _ 3
    best = [2, 2, 0, 2, 3, 3, 0, 0, 4]
    probs = np.full((len(best), 5), 0.05)
    for t, k in enumerate(best):
        probs[t, k] = 0.8
    probs[1, 2] = 0.9
    chars = ctc_greedy(probs)
    assert [c[0] for c in chars] == [2, 2, 3, 4]
    assert labels_to_text([c[0] for c in chars]) == "1123"
    assert chars[0][1] == pytest.approx(0.9)  # the max over its frames
    assert [(c[2], c[3]) for c in chars] == [(0, 2), (3, 4), (4, 6), (8, 9)]
    assert ctc_greedy(np.zeros((0, 5))) == []
    assert ctc_greedy(np.eye(5)[[0, 0, 0]]) == []  # all blank


def _by_enumeration(probs: np.ndarray, labels: list[int]) -> float:
    """log P(labels) summed over every frame path that collapses to them (tiny T only)."""
    total = 0.0
    for path in itertools.product(range(probs.shape[1]), repeat=probs.shape[0]):
        out, prev = [], 0
        for k in path:
            if k != 0 and k != prev:
                out.append(k)
            prev = k
        if out == labels:
            total += float(np.prod(probs[np.arange(len(path)), path]))
    return float(np.log(total)) if total > 0 else -np.inf


def test_likelihoods_equal_the_sum_over_every_alignment():
    rng = np.random.default_rng(0)
    reads = [rng.dirichlet(np.ones(3), size=t) for t in (5, 4, 6)]  # frame counts differ
    candidates = [[1], [1, 1], [2, 1], [1, 2, 1], [], [1, 1, 1, 1]]
    got = ctc_log_likelihoods(reads, candidates)
    want = np.array([[_by_enumeration(r, c) for r in reads] for c in candidates])
    assert got.shape == (len(candidates), len(reads))
    np.testing.assert_allclose(got, want, rtol=1e-9)
    # "1111" needs 7 frames (a blank between repeats): impossible in 4, 5 or 6
    assert np.isneginf(got[-1]).all()


def test_long_lines_stay_finite():
    rng = np.random.default_rng(1)
    read = rng.dirichlet(np.ones(18) * 0.3, size=300)  # probabilities far below 1e-300 in all
    got = ctc_log_likelihoods([read], [list(rng.integers(1, 18, 40))])
    assert np.isfinite(got).all() and got[0, 0] < -300


def _frames(best: list[int], p: float, classes: int = 4) -> np.ndarray:
    probs = np.full((len(best), classes), (1 - p) / (classes - 1))
    probs[np.arange(len(best)), best] = p
    return probs


def test_consensus_keeps_the_string_the_reads_agree_on():
    one = _frames([1, 0, 2, 0], 0.9)  # reads "1 2"
    assert consensus([one, one.copy(), one.copy()]) == 0  # all agree: the first read
    # the first read barely prefers a blank where the others clearly see a third character
    doubtful = _frames([1, 0, 2, 0, 0], 0.9)
    doubtful[3] = [0.4, 0.05, 0.2, 0.35]
    sure = _frames([1, 0, 2, 0, 3], 0.9)
    assert consensus([doubtful, sure, sure.copy()]) == 1
    # and a read that only just sees a third character is outvoted by two that see none
    weak = _frames([1, 0, 2, 0, 3], 0.9)
    weak[4] = [0.3, 0.1, 0.1, 0.5]
    firm = _frames([1, 0, 2, 0, 0], 0.9)
    assert consensus([weak, firm, firm.copy()]) == 1
