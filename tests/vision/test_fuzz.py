"""Issue 14: property-based fuzzing of decoding, preprocessing and segmentation. Any input
either works or raises the project's own error (``DigitkitError``), within a second.

Bounded to about a minute in all: few examples each, small images (the large-image cases
are in test_bounded_work.py)."""

from __future__ import annotations

import contextlib
import io
import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from digitkit.errors import DigitkitError
from digitkit.vision.imageio import load_image, load_image_reduced
from digitkit.vision.preprocess import to_mnist
from digitkit.vision.segment import segment_grey

PER_INPUT_LIMIT_S = 1.0
FUZZ = settings(
    max_examples=300,
    deadline=None,  # the limit is checked in CPU time below
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK"]
FORMATS = ["PNG", "JPEG", "BMP", "WEBP", "GIF", "TIFF"]


def _within_limit(fn, *args) -> None:
    """Run ``fn``: only DigitkitError may escape, and it must finish within the limit
    (CPU seconds: a busy machine must not fail the test)."""
    start = time.process_time()
    with contextlib.suppress(DigitkitError):
        fn(*args)
    spent = time.process_time() - start
    assert spent < PER_INPUT_LIMIT_S, f"{spent:.2f} s of CPU"


def _shapes():
    side = st.integers(1, 300)
    thin = st.integers(1, 3)
    return st.one_of(
        st.tuples(side, side),
        st.tuples(thin, side),
        st.tuples(side, thin),
        st.tuples(thin, st.integers(1, 5000)),
    )


@st.composite
def grey_images(draw) -> np.ndarray:
    """Grey images of any shape: noise, bars, combs, dots, blank, at any contrast."""
    h, w = draw(_shapes())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["noise", "bar", "comb", "dots", "blank", "blocks"]))
    g = np.full((h, w), draw(st.floats(0, 1)), np.float32)
    ink = np.float32(draw(st.floats(0, 1)))
    if kind == "noise":
        g = rng.random((h, w)).astype(np.float32)
    elif kind == "bar":
        g[h // 4 : max(h // 4 + 1, 3 * h // 4), rng.integers(0, w) :] = ink
    elif kind == "comb":
        g[:, :: int(rng.integers(1, 6))] = ink
    elif kind == "dots":
        step = int(rng.integers(2, 8))
        g[::step, ::step] = ink
    elif kind == "blocks":
        g[rng.random((h, w)) < rng.random()] = ink
    return g


@st.composite
def encoded_images(draw) -> bytes:
    """Encoded images of every mode and format (refused formats included), some damaged."""
    grey = draw(grey_images())
    h, w = grey.shape
    img = Image.fromarray((grey * 255).astype(np.uint8)).convert(draw(st.sampled_from(MODES)))
    fmt = draw(st.sampled_from(FORMATS))
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt)
    except (OSError, ValueError, KeyError):  # a mode the format cannot store
        img.convert("RGB").save(buf, format=fmt)
    data = buf.getvalue()
    damage = draw(st.sampled_from(["none", "truncate", "flip"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
    return data


@FUZZ
@given(encoded_images())
def test_decoding_fuzz(data):
    _within_limit(load_image, data)
    _within_limit(load_image_reduced, data)


@FUZZ
@given(st.binary(max_size=512))
def test_decoding_arbitrary_bytes(data):
    _within_limit(load_image, data)


@FUZZ
@given(grey_images())
def test_preprocessing_fuzz(grey):
    _within_limit(to_mnist, grey)


@FUZZ
@given(grey_images(), st.booleans())
def test_segmentation_fuzz(grey, scored):
    scorer = (lambda segs: [-float(s.ink.sum() % 3) for s in segs]) if scored else None
    _within_limit(segment_grey, grey, scorer)
