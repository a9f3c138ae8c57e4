"""The exact shortcuts of the faster canvas path (issue 14, "Faster canvas path") give what
the computations they skip give, bit for bit: the decoded grey and the whole preprocessed
result (28x28 image, blank, reason, polarity, box) with the shortcuts on and off
(``imageio.SHORTCUTS``, ``preprocess.shortcuts.ON``), on the 200 canvases of
benchmarks/bench_serve.py, on 2,000 MNIST test digits drawn as canvases the same way (and
some as transparent, coloured and grey-alpha canvases), on MNIST stacks, and each shortcut
on its own against the computation it replaces on random inputs (the decoder's canvas
reader for every transparent mode, the noise floor, block maxima, the line search on the
ink's window, the labelling's fewer links).

Behaviour, not timing (the timing: benchmarks/bench_canvas.py)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitkit.vision import imageio
from digitkit.vision.preprocess import (
    blocks,
    ink,
    label_components,
    line_search,
    remove_lines,
    shortcuts,
    to_mnist_batch,
    to_mnist_grey,
)

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SEED = 14
TEST_DIGITS = 2000
CHUNK = 250  # digits per test case
VARIANT_DIGITS = 150  # of them also drawn as each other kind of canvas


@contextmanager
def shortcuts_off() -> Iterator[None]:
    before = imageio.SHORTCUTS, shortcuts.ON
    imageio.SHORTCUTS = shortcuts.ON = False
    try:
        yield
    finally:
        imageio.SHORTCUTS, shortcuts.ON = before


def _bench_serve():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_serve
    finally:
        sys.path.pop(0)
    return bench_serve


def _result(png: bytes) -> tuple:
    """Everything the page's path makes of one canvas, as comparable bytes and values."""
    reduced = imageio.load_image_reduced(png)
    pre = to_mnist_grey(reduced.grey, reduced.scale)
    image = None if pre.image is None else (pre.image.dtype.str, pre.image.tobytes())
    grey = (reduced.grey.shape, reduced.grey.dtype.str, reduced.grey.tobytes())
    return grey, reduced.scale, image, pre.blank, pre.reason, pre.inverted, pre.box


def assert_same_with_and_without_shortcuts(pngs: list[bytes]) -> None:
    assert imageio.SHORTCUTS and shortcuts.ON  # the default
    fast = [_result(p) for p in pngs]
    with shortcuts_off():
        slow = [_result(p) for p in pngs]
    for i, (f, s) in enumerate(zip(fast, slow, strict=True)):
        assert f[0] == s[0], f"canvas {i}: the decoded grey differs"
        assert f[1:] == s[1:], f"canvas {i}: the preprocessed result differs"


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def variants(png: bytes) -> list[bytes]:
    """One opaque black-on-white canvas as the other kinds a page or app may send: dark
    strokes on transparency (black and hidden white), light strokes on transparency, blue
    ink (R, G, B differ), grey + alpha (LA), and a half-transparent paper."""
    v = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))[..., 0]
    ink_ = 255 - v  # coverage
    zero, full = np.zeros_like(v), np.full_like(v, 255)
    return [
        _png(Image.fromarray(np.dstack([zero, zero, zero, ink_]), "RGBA")),
        _png(Image.fromarray(np.dstack([full, full, full, ink_]), "RGBA")),
        _png(Image.fromarray(np.dstack([zero, zero, full - ink_ // 2, full]), "RGBA")),
        _png(Image.fromarray(np.dstack([v, full]), "LA")),
        _png(Image.fromarray(np.dstack([v, v, v, np.maximum(ink_, 128)]), "RGBA")),
    ]


@pytest.fixture(scope="module")
def bench_canvases(mnist) -> list[bytes]:
    """The 200 canvases benchmarks/bench_serve.py sends (MNIST validation digits)."""
    return _bench_serve().canvas_pngs()


@pytest.fixture(scope="module")
def test_canvases(mnist) -> list[bytes]:
    """MNIST test digits drawn as canvases the way the benchmark draws them (encoded with
    quick compression: the same pixels, a tenth of the encoding time)."""
    bench = _bench_serve()
    rng = np.random.default_rng(SEED)
    slow_png, bench._png = bench._png, _png
    try:
        return [bench.canvas_png(d, rng) for d in mnist.x_test[:TEST_DIGITS]]
    finally:
        bench._png = slow_png


def test_the_benchmark_canvases_come_out_the_same(bench_canvases):
    assert len(bench_canvases) == 200
    assert_same_with_and_without_shortcuts(bench_canvases)


@pytest.mark.parametrize("start", range(0, TEST_DIGITS, CHUNK))
def test_mnist_test_digits_as_canvases_come_out_the_same(test_canvases, start):
    assert_same_with_and_without_shortcuts(test_canvases[start : start + CHUNK])


@pytest.mark.parametrize("kind", range(5))
def test_transparent_coloured_and_grey_alpha_canvases_come_out_the_same(test_canvases, kind):
    pngs = [variants(p)[kind] for p in test_canvases[:VARIANT_DIGITS]]
    assert_same_with_and_without_shortcuts(pngs)


def test_the_shortcuts_do_take_their_paths(bench_canvases):
    """A canvas is read without a float copy of its RGBA (opaque: no alpha at all), so the
    equality above compares two different computations, not one with itself."""
    img = Image.open(io.BytesIO(bench_canvases[0]))
    img.load()
    grey, alpha = imageio._pil_rows(img, 1)(0, img.size[1])
    assert alpha is None and grey.dtype == np.float32
    with shortcuts_off():
        grey_off, alpha_off = imageio._pil_rows(img, 1)(0, img.size[1])
    assert alpha_off is not None and alpha_off.min() >= imageio.OPAQUE
    assert grey.tobytes() == grey_off.tobytes()


def test_mnist_stacks_come_out_the_same(mnist):
    """Small images go through the vectorized batch path (its line search works on the
    union of the stack's ink boxes)."""
    x = mnist.x_test[:TEST_DIGITS]
    fast = to_mnist_batch(x)
    with shortcuts_off():
        slow = to_mnist_batch(x)
    for f, s in zip(fast, slow, strict=True):
        assert (f.blank, f.reason, f.inverted, f.box) == (s.blank, s.reason, s.inverted, s.box)
        assert (f.image is None) == (s.image is None)
        assert f.image is None or f.image.tobytes() == s.image.tobytes()


# --------------------------------------------------------------------------- one by one


@pytest.mark.parametrize("case", range(60))
def test_the_noise_floor_shortcut_agrees_with_the_medians(case):
    rng = np.random.default_rng([SEED, case])
    n = int(rng.integers(16, 5000))
    a = rng.random(n).astype(np.float32) * rng.choice([0.05, 0.3, 1.0])
    a[rng.random(n) < rng.uniform(0.3, 0.7)] = 0.0  # around half the pixels exactly paper
    if case % 5 == 0:
        a[rng.random(n) < 0.1] = -0.0
    fast = ink.noise_floor(a)
    with shortcuts_off():
        assert fast == ink.noise_floor(a)


def test_a_stacks_noise_floors_are_each_images_own():
    rng = np.random.default_rng(SEED)
    stack = rng.random((12, 64, 64)).astype(np.float32) * 0.4
    stack[::3] = 0.0  # clean canvases: the lowest floor
    stack[1::3, 20:40, 20:40] = 1.0
    stack[2, :, :] = 0.9  # hardly any background
    floors = ink.noise_floors(stack)
    assert floors.shape == (12,)
    assert floors.tolist() == [ink.noise_floor(a) for a in stack]
    assert floors[0] == ink.NOISE_FLOOR and floors[1] > 2 * ink.NOISE_FLOOR
    assert ink.noise_floors(stack[:0]).shape == (0,)


@pytest.mark.parametrize("f", [2, 3, 4, 7, 9, 13])
def test_block_maxima_alone_match_the_block_reduction(f):
    rng = np.random.default_rng([SEED, f])
    for h, w in ((280, 280), (157, 61), (f, 5 * f + 1), (1, 1)):
        a = (rng.random((h, w)) * (rng.random((h, w)) < 0.3)).astype(np.float32)
        got = blocks._block_max(a, f)
        want = blocks._block_reduce(a, f)[0]
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
        view = a[1:, 2:]  # a crop of a bigger image (not contiguous)
        assert blocks._block_max(view, f).tobytes() == blocks._block_reduce(view, f)[0].tobytes()


@pytest.mark.parametrize("case", range(40))
def test_labelling_with_fewer_links_gives_the_same_labels(case):
    """The components from the links of a run's ends (shortcut) and from every pixel's."""
    rng = np.random.default_rng([SEED, 300 + case])
    shape = tuple(int(v) for v in rng.integers(1, 70, 3 if case % 4 == 0 else 2))
    mask = rng.random(shape) < rng.uniform(0.02, 0.9)
    if case % 3 == 0:  # strokes: long runs, diagonal touches
        mask = np.zeros(shape, bool)
        for _ in range(int(rng.integers(1, 12))):
            y, x = int(rng.integers(0, shape[-2])), int(rng.integers(0, shape[-1]))
            mask[..., y, x : x + int(rng.integers(1, 25))] = True
    fast = label_components(mask)
    with shortcuts_off():
        slow = label_components(mask)
    assert fast[1] == slow[1] and fast[0].dtype == slow[0].dtype
    assert fast[0].tobytes() == slow[0].tobytes()


def _lines_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Ink with strokes and printed lines (some cut by the image edge, some boxed), placed
    anywhere: what the windowed line search must find exactly as the whole-image one."""
    a = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(0, 4))):  # lines
        t = int(rng.integers(1, 4))
        if rng.random() < 0.5:
            y = int(rng.integers(0, h - t))
            a[y : y + t, int(rng.integers(0, w // 3)) : int(rng.integers(w // 2, w + 1))] = 0.6
        else:
            x = int(rng.integers(0, w - t))
            a[int(rng.integers(0, h // 3)) : int(rng.integers(h // 2, h + 1)), x : x + t] = 0.6
    y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
    y1, x1 = int(rng.integers(y0 + 2, h + 1)), int(rng.integers(x0 + 2, w + 1))
    s = int(rng.integers(2, 9))
    a[y0:y1, x0 : x0 + s] = 1.0  # a digit's strokes
    a[y0 : y0 + s, x0:x1] = 1.0
    a[(y0 + y1) // 2 : (y0 + y1) // 2 + s, x0:x1] = 1.0
    return np.clip(a + (rng.random((h, w)) < 0.002) * 0.5, 0, 1).astype(np.float32)


@pytest.mark.parametrize("case", range(30))
def test_the_windowed_line_search_and_removal_match_the_whole_image(case):
    rng = np.random.default_rng([SEED, 100 + case])
    n = int(rng.integers(1, 4))
    h, w = int(rng.integers(20, 200)), int(rng.integers(20, 200))
    stack = np.stack([_lines_image(rng, h, w) for _ in range(n)])
    mask = stack > line_search.LINE_LOW
    x0, x1 = line_search._extent(line_search._cumulative(mask, 1), w)
    y0, y1 = line_search._extent(line_search._cumulative(mask, 2), h)
    scale = np.maximum(x1 - x0, y1 - y0)
    fast = line_search._line_candidates(mask, scale)
    cleaned = remove_lines(stack)
    may = [line_search.may_hold_lines(a) for a in stack]
    with shortcuts_off():
        slow = line_search._line_candidates(mask, scale)
        cleaned_slow = remove_lines(stack)
        may_slow = [line_search.may_hold_lines(a) for a in stack]
    for got, want in zip(fast, slow, strict=True):
        assert got.shape == want.shape and np.array_equal(got, want)
    assert cleaned.tobytes() == cleaned_slow.tobytes()
    assert may == may_slow


def _alpha_images(rng: np.random.Generator) -> dict[str, Image.Image]:
    """Small images of every mode that carries transparency, opaque and not."""
    h, w = int(rng.integers(1, 90)), int(rng.integers(1, 90))
    rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    grey = rgba[..., 0]
    rgba_grey = np.dstack([grey, grey, grey, rgba[..., 3]])
    opaque = rgba.copy()
    opaque[..., 3] = 255
    out = {
        "RGBA": Image.fromarray(rgba, "RGBA"),
        "RGBA grey": Image.fromarray(rgba_grey, "RGBA"),
        "RGBA opaque": Image.fromarray(opaque, "RGBA"),
        "RGBA grey opaque": Image.fromarray(np.dstack([grey, grey, grey, opaque[..., 3]])),
        "LA": Image.fromarray(np.dstack([grey, rgba[..., 3]]), "LA"),
        "RGBa": Image.fromarray(rgba, "RGBA").convert("RGBa"),
        "La": Image.fromarray(np.dstack([grey, rgba[..., 3]]), "LA").convert("La"),
        "PA": Image.fromarray(rgba, "RGBA").convert("PA"),
    }
    p = Image.fromarray(grey, "L").convert("P")
    p.info["transparency"] = int(grey[0, 0])
    out["P transparency"] = p
    for mode in ("L", "RGB"):
        img = Image.fromarray(grey, "L").convert(mode)
        img.info["transparency"] = int(grey[0, 0]) if mode == "L" else (int(grey[0, 0]),) * 3
        out[f"{mode} transparency"] = img
    return out


@pytest.mark.parametrize("case", range(12))
def test_every_transparent_mode_decodes_the_same(case):
    """The canvas reader against the general one, for PIL images and encoded PNGs."""
    rng = np.random.default_rng([SEED, 200 + case])
    for name, img in _alpha_images(rng).items():
        sources = [img] if img.mode in ("RGBa", "La", "PA") else [img, _png(img)]
        for source in sources:
            fast = _decoded(source)
            with shortcuts_off():
                slow = _decoded(source)
            assert fast == slow, name


def _decoded(source: Image.Image | bytes) -> tuple:
    """The decoded grey as bytes, or the error (Pillow cannot convert "La" to RGBA: an
    ImageError either way)."""
    try:
        r = imageio.load_image_reduced(source)
    except imageio.ImageError as exc:
        return exc.code, str(exc)
    return r.scale, r.grey.shape, r.grey.dtype.str, r.grey.tobytes()
