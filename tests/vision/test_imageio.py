"""Safe decoding: every image mode and source type, and every kind of bad input."""

from __future__ import annotations

import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image
from recognize_helpers import png_bytes

from digitkit.vision import imageio
from digitkit.vision.imageio import ImageError, load_image
from digitkit.vision.preprocess import to_mnist


def _digit_rgba(ink=(0, 0, 0), hidden=(0, 0, 0)) -> Image.Image:
    """A '1'-like bar of opaque ``ink`` on a transparent background whose hidden colour is
    ``hidden`` (canvas apps often store transparent black)."""
    a = np.zeros((40, 40, 4), np.uint8)
    a[..., :3] = hidden
    a[8:32, 18:23, :3] = ink
    a[8:32, 18:23, 3] = 255
    return Image.fromarray(a, "RGBA")


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "I;16", "1", "I", "F", "CMYK"])
def test_every_mode_decodes_to_grey_in_unit_range(mode):
    base = Image.new("L", (30, 20), 255)
    base.paste(0, (10, 5, 14, 15))
    img = (
        base.convert(mode)
        if mode != "I;16"
        else Image.fromarray(np.asarray(base, np.uint16) * 257).convert("I;16")
    )
    out = load_image(img)
    assert out.shape == (20, 30) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out[10, 12] < 0.2 and out[0, 0] > 0.8  # ink dark, paper light, whatever the mode


# GIF and TIFF are refused since issue 14 (one list for CLI, API and desktop):
# tests/vision/test_errors.py checks the refusal.
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "WEBP"])
def test_allowed_formats_from_bytes_and_path(tmp_path, fmt):
    img = Image.new("RGB", (32, 32), "white")
    img.paste((0, 0, 0), (12, 4, 18, 28))
    data = png_bytes(img, fmt)
    assert load_image(data)[16, 15] < 0.3
    path = tmp_path / f"digit.{fmt.lower()}"
    path.write_bytes(data)
    assert load_image(path).shape == (32, 32)
    assert load_image(str(path)).shape == (32, 32)


def test_arrays_of_any_dtype_and_channels():
    a = np.zeros((20, 20), np.uint8)
    a[5:15, 9:11] = 255
    assert load_image(a).max() == 1.0
    assert load_image(a.astype(np.float32) / 255).max() == 1.0
    assert load_image(a.astype(np.float64)).max() == 1.0  # floats in 0..255
    assert load_image(a.astype(np.uint16) * 257).max() == pytest.approx(1.0)
    assert load_image(a > 0).max() == 1.0
    assert load_image(np.stack([a] * 3, axis=-1)).shape == (20, 20)
    with pytest.raises(ImageError):
        load_image(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ImageError):
        load_image(np.full((4, 4), np.nan))


def test_alpha_composited_onto_the_contrasting_background():
    # Black ink on transparent black: naive RGB conversion would be all black.
    black = load_image(_digit_rgba(ink=(0, 0, 0), hidden=(0, 0, 0)))
    assert black[20, 20] < 0.1 and black[2, 2] > 0.9
    # White ink on transparent white (dark-mode canvas): composited onto black.
    white = load_image(_digit_rgba(ink=(255, 255, 255), hidden=(255, 255, 255)))
    assert white[20, 20] > 0.9 and white[2, 2] < 0.1
    # Both preprocess to the same digit.
    a, b = to_mnist(_digit_rgba()), to_mnist(_digit_rgba((255,) * 3, (255,) * 3))
    assert np.abs(a.image - b.image).max() < 1e-5
    # Palette image with a transparent index.
    idx = np.zeros((40, 40), np.uint8)
    idx[8:32, 18:23] = 1
    p = Image.fromarray(idx, "P")
    p.putpalette([0, 0, 0, 0, 0, 0])  # both entries black; entry 0 transparent
    p.info["transparency"] = 0
    via_png = to_mnist(png_bytes(p, transparency=0))
    assert via_png.image is not None and np.abs(via_png.image - a.image).max() < 1e-5


def test_fully_transparent_image_is_blank():
    img = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    out = to_mnist(png_bytes(img))
    assert out.blank and out.reason


def test_zero_bytes(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError) as e:
        load_image(tmp_path / "empty.png")
    assert e.value.code == "empty_file"
    with pytest.raises(ImageError) as e:
        load_image(b"")
    assert e.value.code == "empty_file"


def test_not_an_image():
    with pytest.raises(ImageError) as e:
        load_image(b"hello, I am a text file\n" * 10)
    assert e.value.code == "corrupt"
    assert "not an image" in str(e.value)


def test_truncated_files():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8))
    for fmt in ("PNG", "JPEG"):
        data = png_bytes(img, fmt)
        with pytest.raises(ImageError) as e:
            load_image(data[: len(data) // 2])
        assert e.value.code == "corrupt"


def test_missing_file(tmp_path):
    with pytest.raises(ImageError) as e:
        load_image(tmp_path / "nope.png")
    assert e.value.code == "not_found"


def test_unsupported_format_is_named():
    img = Image.new("RGB", (16, 16), "white")
    data = png_bytes(img, "TGA")
    with pytest.raises(ImageError) as e:
        load_image(data)
    assert e.value.code == "unsupported_format"
    assert "TGA" in str(e.value)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels, with a few bytes of pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_refused_before_decoding():
    # 50000 x 50000 = 2.5 gigapixels declared in a few hundred bytes.
    with pytest.raises(ImageError) as e:
        load_image(_png_header_only(50000, 50000))
    assert e.value.code == "too_large"
    # Just over digitkit's own cap (below Pillow's): still refused, from the header alone.
    side = int(np.sqrt(imageio.MAX_PIXELS)) + 10
    with pytest.raises(ImageError) as e:
        load_image(_png_header_only(side, side))
    assert e.value.code == "too_large"


def test_pillow_bomb_warning_is_an_error(monkeypatch):
    # Pillow only warns between MAX_IMAGE_PIXELS and twice that; digitkit refuses.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = png_bytes(Image.new("L", (40, 40), 255))  # 1600 pixels: a "warning" image
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError) as e:
            load_image(data)
    assert e.value.code == "too_large"


def test_tiny_and_extreme_shapes_are_valid_but_blank():
    one = to_mnist(png_bytes(Image.new("L", (1, 1), 0)))
    assert one.blank and one.image is None and one.reason
    long = to_mnist(png_bytes(Image.new("L", (10000, 10), 255)))
    assert long.blank and long.reason
    # A dash across a 10000 x 10 strip is not a digit either (no "4 with 100%").
    a = np.full((10, 10000), 255, np.uint8)
    a[4:7, 100:9000] = 0
    dash = to_mnist(a)
    assert dash.blank and "not a single digit" in dash.reason
    assert dash.box == (100, 4, 9000, 7)


def test_phone_photo_orientation_is_applied():
    img = Image.new("L", (40, 20), 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = png_bytes(img, "JPEG", exif=exif)
    assert load_image(data).shape == (40, 20)
