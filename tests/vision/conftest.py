"""Fixtures of the vision tests: the shipped recognizer and the probe inputs of issue 14
that stalled, crashed or bloated it. (MNIST, the tiny trained model and the shipped model
are shared fixtures: tests/conftest.py.)"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent))  # recognize_helpers, whatever the import mode


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="session")
def recognizer():
    """The shipped recognizer (digit model and CTC number reader), warmed up: what the CLI
    and the REST API's routes call."""
    from digitkit.vision.recognize import Recognizer

    r = Recognizer.load()
    r.predict_number(np.zeros((40, 120), np.float32))
    r.predict(np.zeros((28, 28), np.float32))
    return r


@pytest.fixture(scope="session")
def long_bar() -> bytes:
    """A 16000 x 40 PNG (under 1 KB) of one dark bar: the segmenter once tried hundreds of
    cuts of it (work growing with the square of its aspect ratio)."""
    img = Image.new("L", (16000, 40), 255)
    ImageDraw.Draw(img).rectangle((10, 8, 15990, 31), fill=0)
    return encode(img, optimize=True)


@pytest.fixture(scope="session")
def comb() -> bytes:
    """A 16000 x 40 PNG of 2,286 strokes hanging from one ruled line: one component whose
    labelling once hooked one stroke to the line a round (2 s of CPU for the number route)."""
    a = np.full((40, 16000), 255, np.uint8)
    a[10:30, ::7] = 0
    a[18:22, :] = 0
    return encode(Image.fromarray(a), optimize=True)


@pytest.fixture(scope="session")
def dot_grid() -> bytes:
    """A 600 x 600 PNG of 10,000 2x2 dots: 10,000 pieces for the segmenter (31 s before)."""
    a = np.full((600, 600), 255, np.uint8)
    for dy in (2, 3):
        for dx in (2, 3):
            a[dy::6, dx::6] = 0
    return encode(Image.fromarray(a), optimize=True)


@pytest.fixture(scope="session")
def big_rgba() -> bytes:
    """A 6324 x 6324 RGBA PNG (under 200 KB, under the 40 MP cap) of one dark stroke on
    transparency: once 1.5 GB of float copies."""
    img = Image.new("RGBA", (6324, 6324), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(3000, 1000), (3200, 5000)], fill=(0, 0, 0, 255), width=300)
    return encode(img)
