"""Multi-digit numbers: segmentation alone, and whole strips of MNIST test digits."""

from __future__ import annotations

import numpy as np
from recognize_helpers import make_strip

from digitkit.vision.segment import segment_digits, split_touching


def _strip(mnist, idx, gaps, jitter=0):
    rng = np.random.default_rng(0)
    digits = mnist.x_test[idx]
    return make_strip(digits, rng, gap=gaps, jitter=jitter)


def test_separate_digits_are_found_left_to_right(mnist):
    idx = [0, 1, 2, 3, 4]
    strip = _strip(mnist, idx, (6, 6))
    seg = segment_digits(1.0 - strip)  # dark on light works too
    assert len(seg.segments) == 5 and seg.inverted
    xs = [s.box[0] for s in seg.segments]
    assert xs == sorted(xs)


def test_broken_stroke_is_merged():
    img = np.zeros((60, 120), np.float32)
    img[10:50, 20:26] = 1.0  # the 5's body, a vertical bar
    img[44:50, 20:40] = 1.0
    img[10:15, 30:44] = 1.0  # its detached flag, overlapping the body's span
    img[10:50, 80:86] = 1.0  # a 1 further right
    seg = segment_digits(img)
    assert len(seg.segments) == 2
    assert seg.segments[0].box == (20, 10, 44, 50)


def test_touching_digits_are_split_by_width():
    img = np.zeros((60, 140), np.float32)
    for x0 in (20, 50, 80):  # three touching boxes drawn as rings, joined by a bar
        img[10:50, x0 : x0 + 28] = 1.0
        img[16:44, x0 + 6 : x0 + 22] = 0.0
    seg = segment_digits(img)
    assert len(seg.segments) == 3


def test_split_touching_cuts_at_the_thinnest_place():
    ink = np.zeros((20, 40), np.float32)
    ink[:, 2:18] = 1.0
    ink[:, 22:38] = 1.0
    ink[9:11, 18:22] = 1.0  # a thin bridge
    left, right = split_touching(ink, ink > 0, 2)
    assert not (left & right).any() and (left | right).sum() == (ink > 0).sum()
    assert np.nonzero(left)[1].max() <= 21 and np.nonzero(right)[1].min() >= 18


def test_blank_line_has_a_reason(tiny):
    out = tiny.predict_number(np.zeros((40, 200)))
    assert out.text == "" and out.digits == [] and out.reason
    d = out.to_dict()
    assert d["text"] == "" and d["uncertain"] is True


def test_number_json(tiny, mnist):
    out = tiny.predict_number(_strip(mnist, [0, 1, 2], (4, 4)))
    d = out.to_dict()
    assert len(d["text"]) == 3 and len(d["digits"]) == 3
    for digit in d["digits"]:
        assert {"digit", "confidence", "probabilities", "uncertain", "box"} <= set(digit)
        assert len(digit["box"]) == 4


def test_four_digit_strips_read_exactly(shipped, mnist):
    """Strips of 4 MNIST test digits with random gaps and overlaps of their 28 px frames
    (-8..+8 px: ink may touch) and vertical jitter (+-4 px): >= 97% exactly right."""
    rng = np.random.default_rng(2024)
    n, right = 400, 0
    wrong = []
    for _ in range(n):
        idx = rng.integers(0, 10000, 4)
        truth = "".join(map(str, mnist.y_test[idx]))
        text = shipped.predict_number(make_strip(mnist.x_test[idx], rng)).text
        right += text == truth
        if text != truth:
            wrong.append((truth, text))
    assert right / n >= 0.97, f"{right}/{n} exact; wrong: {wrong[:20]}"
