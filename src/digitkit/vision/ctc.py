"""CTC decoding in NumPy: the greedy reading of one set of frame probabilities, and the
choice among several readings of the same line.

A CTC model emits one distribution per frame (class 0 = blank). :func:`ctc_greedy` takes the
best class of every frame and collapses repeats. When the same line is read several times
(:mod:`digitkit.vision.numbers` reads it at every alignment of the model's frames), the greedy
strings may disagree; :func:`consensus` then scores each distinct string under *every* reading
with the CTC forward algorithm (:func:`ctc_log_likelihoods`: the probability of the string
summed over all its alignments) and keeps the string the readings find most probable
together. Averaging the frame probabilities instead would smear peaks that fall on different
frames; scoring whole strings does not depend on where each reading puts them.

Cost: one pass over the frames for all (string, reading) pairs at once, vectorized over
them, and only when the readings disagree.
"""

from __future__ import annotations

import numpy as np

_TINY = 1e-300  # floor of a frame's total mass before rescaling: log stays finite


def ctc_greedy(probs: np.ndarray) -> list[tuple[int, float, int, int]]:
    """Greedy CTC decoding of per-frame probabilities (T, C) (class 0 = blank).

    Returns one (class, confidence, first frame, last frame + 1) per emitted character: runs
    of the same best class collapse to one character unless a blank separates them; a
    character's confidence is its highest probability over its frames.
    """
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[0] == 0:
        return []
    best = probs.argmax(axis=1)
    out: list[tuple[int, float, int, int]] = []
    prev = 0
    for t, k in enumerate(best.tolist()):
        if k != 0 and k == prev:
            c, conf, t0, _ = out[-1]
            out[-1] = (c, max(conf, float(probs[t, k])), t0, t + 1)
        elif k != 0:
            out.append((k, float(probs[t, k]), t, t + 1))
        prev = k
    return out


def ctc_log_likelihoods(reads: list[np.ndarray], candidates: list[list[int]]) -> np.ndarray:
    """log P(candidate | read) for every candidate label sequence (1-based classes, no
    blanks) under every read (frame probabilities (T_r, C), T_r may differ): an array
    (len(candidates), len(reads)).

    The CTC forward algorithm over the blank-extended labels, in probability space rescaled
    at every frame (exact, and cheaper than log-sum-exp), vectorized over all pairs. A
    candidate that cannot be aligned in a read's frames gets -inf.
    """
    n_reads, n_cands = len(reads), len(candidates)
    frames = np.array([r.shape[0] for r in reads])
    n_frames, classes = int(frames.max()), reads[0].shape[1]
    probs = np.zeros((n_reads, n_frames, classes), np.float64)
    for r, read in enumerate(reads):
        probs[r, : read.shape[0]] = read
    states = 2 * max(len(c) for c in candidates) + 1
    ext = np.zeros((n_cands, states), np.int64)  # blank, c1, blank, c2, ..., blank (padded)
    for k, cand in enumerate(candidates):
        ext[k, 1 : 2 * len(cand) : 2] = cand
    # s-2 -> s skips the blank between two different labels
    skip = np.zeros((n_cands, states), bool)
    skip[:, 2:] = (ext[:, 2:] != 0) & (ext[:, 2:] != ext[:, :-2])
    last = np.array([2 * len(c) for c in candidates])  # the final blank's state

    alpha = np.zeros((n_reads, n_cands, states))
    alpha[:, :, 0] = probs[:, 0][:, ext[:, 0]]
    alpha[:, :, 1] = np.where(last > 0, probs[:, 0][:, ext[:, 1]], 0.0)
    log_scale = np.zeros((n_reads, n_cands))
    # Every state beyond a candidate's own end only ever receives from earlier states, so
    # the padding never leaks back into the states that are read at the end.
    final = np.zeros((n_reads, n_cands))

    def rescale(a: np.ndarray, active: np.ndarray) -> None:
        total = np.maximum(a.sum(axis=2), _TINY)
        a /= total[:, :, None]
        log_scale[active] += np.log(total[active])

    def finish(t: int) -> None:
        done = frames == t + 1
        if done.any():
            end = alpha[done][:, np.arange(n_cands), last]
            before = alpha[done][:, np.arange(n_cands), np.maximum(last - 1, 0)]
            total = end + np.where(last > 0, before, 0.0)
            final[done] = np.log(np.maximum(total, _TINY)) + log_scale[done]
            final[done] = np.where(total > 0, final[done], -np.inf)

    rescale(alpha, np.ones((n_reads, n_cands), bool))
    finish(0)
    for t in range(1, n_frames):
        active = frames > t
        nxt = alpha.copy()
        nxt[:, :, 1:] += alpha[:, :, :-1]
        nxt[:, :, 2:] += np.where(skip[:, 2:], alpha[:, :, :-2], 0.0)
        nxt *= probs[:, t][:, ext]
        nxt[~active] = alpha[~active]
        alpha = nxt
        rescale(alpha, np.repeat(active[:, None], n_cands, axis=1))
        finish(t)
    return final.T


def consensus(reads: list[np.ndarray]) -> int:
    """Which of several readings of one line to keep: the index of the read whose greedy
    string has the highest CTC likelihood summed over all ``reads`` (the first read when they
    all agree, and on ties)."""
    greedy = [tuple(k for k, *_ in ctc_greedy(r)) for r in reads]
    distinct = list(dict.fromkeys(greedy))
    if len(distinct) == 1:
        return 0
    scores = ctc_log_likelihoods(reads, [list(c) for c in distinct]).sum(axis=1)
    return greedy.index(distinct[int(np.argmax(scores))])
