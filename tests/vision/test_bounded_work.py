"""Issue 14, defects 1 and 2: the number path's work and every image's memory are bounded,
whatever the image's size, aspect ratio or number of pieces."""

from __future__ import annotations

import io
import time
import tracemalloc

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitkit.vision import segment
from digitkit.vision.imageio import ImageError, load_image, load_image_reduced
from digitkit.vision.preprocess import to_mnist, to_mnist_grey
from digitkit.vision.segment import segment_grey

from .conftest import encode

# CPU seconds, not wall time: the limit is about this process's work, and a busy machine
# (tests run beside training jobs) must not make it flaky.
NUMBER_CPU_LIMIT_S = 1.0
MEMORY_LIMIT = 64 * 1024 * 1024  # peak NumPy memory of one image


def _cpu_seconds(fn, *args, **kw):
    start = time.process_time()
    out = fn(*args, **kw)
    return out, time.process_time() - start


@pytest.mark.parametrize("reader", [None, "segmenter"])
@pytest.mark.parametrize("probe", ["long_bar", "dot_grid", "comb"])
def test_number_route_answers_pathological_lines_within_a_second(
    recognizer, probe, reader, request
):
    data = request.getfixturevalue(probe)
    out, cpu = _cpu_seconds(recognizer.predict_number, data, reader=reader)
    assert cpu < NUMBER_CPU_LIMIT_S, f"{probe}: {cpu:.2f} s of CPU"
    assert out.error is None
    d = out.to_dict()  # an answer of the usual shape, whatever it reads
    assert isinstance(d["text"], str) and d["uncertain"] in (True, False)


def test_segmenter_alone_is_bounded_for_any_aspect_ratio():
    # Without the scorer and the model, the segmentation's own work: a 40-row bar 16000
    # wide, and a strip 4 pixels high and 100000 wide.
    bar = np.ones((40, 16000), np.float32)
    bar[8:32, 10:15990] = 0.0
    thin = np.ones((4, 100_000), np.float32)
    thin[1:3, ::3] = 0.0
    for grey in (bar, thin):
        seg, cpu = _cpu_seconds(segment_grey, grey, lambda segs: [0.0] * len(segs))
        assert cpu < NUMBER_CPU_LIMIT_S
        assert all(s.ink.ndim == 2 for s in seg.segments)


def test_a_bar_wider_than_any_run_of_digits_is_kept_whole():
    bar = np.ones((40, 4000), np.float32)
    bar[8:32, 10:3990] = 0.0
    seg = segment_grey(bar)
    (bar_segment,) = seg.segments  # (boxes are in 7-pixel blocks: the ink was reduced)
    x0, y0, x1, y1 = bar_segment.box
    assert abs(x0 - 10) <= 7 and abs(x1 - 3990) <= 7 and y0 <= 8 and y1 >= 32


def test_pieces_are_capped_to_the_heaviest():
    # Far more separate marks than a number has: only the heaviest are considered, and the
    # answer comes in time (a grid of dots is no number; nothing crashes).
    grey = np.ones((120, 2400), np.float32)
    grey[10:110:6, 5::12] = 0.0  # light specks
    for k in range(5):
        grey[20:100, 100 + 400 * k : 130 + 400 * k] = 0.0  # five heavy strokes
    seg = segment_grey(grey)
    assert len(seg.segments) <= segment.MAX_PIECES
    assert sum(s.box[3] - s.box[1] >= 80 for s in seg.segments) == 5


def test_touching_digits_still_split(recognizer):
    # The caps leave ordinary touching digits alone: two bars joined by a thin bridge.
    ink = np.zeros((60, 80), np.float32)
    ink[10:50, 10:30] = 1.0
    ink[10:50, 46:66] = 1.0
    ink[28:31, 30:46] = 1.0
    seg = segment_grey(1.0 - ink)
    assert len(seg.segments) == 2


def test_big_rgba_png_is_refused_before_it_is_decoded(recognizer, big_rgba):
    # 40 MP of RGBA would be a 160 MiB buffer inside Pillow (which tracemalloc does not see):
    # refused from the header, in milliseconds, with what to do instead.
    started = time.process_time()
    with pytest.raises(ImageError, match="JPEG") as refused:
        recognizer.predict(big_rgba)
    assert time.process_time() - started < 0.5
    assert refused.value.code == "too_large"


def test_big_photo_as_jpeg_decodes_reduced_under_the_memory_budget(recognizer):
    img = Image.new("RGB", (6000, 6000), (250, 250, 245))
    ImageDraw.Draw(img).line([(2900, 1000), (3100, 5000)], fill=(20, 20, 30), width=300)
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=85)
    tracemalloc.start()
    try:
        pred = recognizer.predict(buffer.getvalue())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= MEMORY_LIMIT, f"peak {peak / 2**20:.0f} MiB"
    assert pred.error is None and pred.digit == 1  # one thick upright stroke


def test_rgba_png_under_the_decoded_limit_is_read(recognizer):
    img = Image.new("RGBA", (4000, 4000), (0, 0, 0, 0))  # 61 MiB in Pillow: just under
    ImageDraw.Draw(img).line([(1950, 600), (2050, 3400)], fill=(0, 0, 0, 255), width=200)
    pred = recognizer.predict(encode(img))
    assert pred.error is None and pred.digit == 1


def test_batch_of_big_images_holds_one_at_a_time(recognizer):
    img = Image.new("L", (5000, 5000), 255)
    ImageDraw.Draw(img).line([(2400, 800), (2600, 4200)], fill=0, width=250)
    data = encode(img)
    tracemalloc.start()
    try:
        preds = recognizer.predict_batch([data] * 4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= MEMORY_LIMIT, f"peak {peak / 2**20:.0f} MiB"
    assert len({p.digit for p in preds}) == 1 and preds[0].error is None


def _photo(size: tuple[int, int]) -> np.ndarray:
    """A grey 'photo' of a digit-like stroke with uneven light and noise."""
    h, w = size
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    grey = 0.75 + 0.1 * xx / w + 0.02 * rng.standard_normal((h, w))
    grey[
        (np.abs(xx - w * 0.5 - 0.1 * (yy - h / 2)) < w * 0.04) & (np.abs(yy - h / 2) < h * 0.35)
    ] = 0.2
    return np.clip(grey, 0, 1).astype(np.float32)


@pytest.mark.parametrize("size", [(1000, 1300), (3000, 4000), (641, 1925)])
def test_reduced_decoding_gives_the_full_size_result(size):
    grey = _photo(size)
    full = to_mnist_grey(load_image(grey))
    reduced = load_image_reduced(grey)
    assert max(reduced.grey.shape) <= 640 and reduced.scale > 1
    fast = to_mnist_grey(reduced.grey, reduced.scale)
    assert fast.box == full.box
    assert np.abs(fast.image - full.image).max() < 1e-4


def test_reduced_jpeg_and_png_match_the_full_size_image():
    rgb = (np.stack([_photo((1500, 2000))] * 3, axis=-1) * 255).astype(np.uint8)
    for fmt in ("PNG", "JPEG"):
        data = encode(Image.fromarray(rgb), fmt, quality=95)
        full, fast = to_mnist_grey(load_image(data)), to_mnist(data)
        assert fast.box is not None and full.box is not None
        assert np.abs(np.subtract(fast.box, full.box)).max() <= 4
        assert np.abs(fast.image - full.image).max() < 0.1


def test_long_strip_is_reduced_to_the_work_bound():
    from digitkit.vision.imageio import MAX_WORK_PIXELS

    strip = np.ones((60, 400_000), np.uint8) * 255
    reduced = load_image_reduced(strip)
    assert reduced.grey.size <= MAX_WORK_PIXELS and reduced.scale > 1
