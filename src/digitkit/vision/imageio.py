"""Safe image decoding: any image a user hands us -> a float32 grey array in [0, 1].

Everything that reads user images (CLI, REST API, desktop app, Recognizer) comes through
:func:`load_image` or :func:`load_image_reduced`, so the defences live in one place: one list
of accepted formats (:data:`ACCEPTED_FORMATS`; Pillow otherwise sniffs dozens of exotic
decoders), a cap on decoded pixels checked from the header before any pixel is decoded (a
decompression bomb never allocates), Pillow's ``DecompressionBombWarning`` turned into an
error, and every decoder or file-system failure mapped to an :class:`ImageError` with a stable
``code`` the apps can show or switch on.

Memory is bounded too: :func:`load_image_reduced` (what the recognizer reads with) shrinks a
big image by whole pixel blocks while converting it, a strip of rows at a time, so no
full-size float copy ever exists; JPEGs are decoded straight to grey at a reduced scale.

Why one module over 400 lines: one job, safe decoding; the limits, the accepted formats and
every decoding path (Pillow, arrays, strips, JPEG draft) stay together so the defences are
reviewed in one place, which is the point of this module.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from digitkit.errors import DigitkitError

# The formats people actually draw, scan or photograph digits in, and the only ones accepted
# by every app (the REST API sniffs the same four, the desktop app's file dialog offers
# them). Passed to Image.open so no other decoder (with its own parser bugs) sees user bytes.
ACCEPTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "BMP", "WEBP")
ALLOWED_FORMATS = ACCEPTED_FORMATS  # the former name
ACCEPTED_NAMES = "PNG, JPEG, BMP or WebP"  # for messages
# File suffixes of those formats: what directory walks pick up.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
# 40 megapixels: a 12 MP phone photo passes with room to spare; a bomb does not.
MAX_PIXELS = 40_000_000
# Encoded files larger than this are refused before reading them whole.
MAX_FILE_BYTES = 64 * 1024 * 1024
# The most memory one decoded image may take (Pillow's own buffer, after a JPEG's reduced
# decoding): what bounds a request's memory, since PNG, BMP and WebP decode at full size. An
# RGB or RGBA image (4 bytes a pixel in Pillow) passes up to 16 MP, a grey one up to 64 MP; a
# JPEG of any size up to MAX_PIXELS decodes reduced and passes.
MAX_DECODED_BYTES = 64 * 1024 * 1024
ERROR_CODES = (
    "empty_file",
    "corrupt",
    "unsupported_format",
    "too_large",
    "not_found",
    "unreadable",
)

# Preprocessing works on at most WORK_SIDE pixels on the longer side: bigger images are block
# averaged by a whole factor first (digitkit.vision.preprocess.extract_ink), unless that would leave
# fewer than two pixels across their short side. The decoder applies the same blocks.
WORK_SIDE = 640
# Images that reduction leaves bigger (long thin strips) are reduced further, by a factor
# that keeps their aspect, to at most this many pixels: every later step is bounded by it.
MAX_WORK_PIXELS = 1 << 20
# Pixels converted to float at once: the working memory of a conversion, whatever the image.
STRIP_PIXELS = 1 << 19
# JPEG decoders can scale by these factors for free while decoding (DCT scaling).
JPEG_DRAFT_FACTORS = (8, 4, 2)
# Alpha at or above this everywhere: an opaque image, composited as is.
OPAQUE = 0.999
# Formats that carry a camera's EXIF orientation tag.
EXIF_FORMATS = ("JPEG", "MPO", "TIFF", "WEBP")
EXIF_ORIENTATION = 0x0112
# Modes holding more than 8 bits per pixel: scaled by their range, not by 255.
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")

# Exact shortcuts on (canvases read without a float copy of their RGBA). Each gives what the
# general path gives, bit for bit; the tests (tests/vision/test_canvas_paths.py) and
# benchmarks/bench_canvas.py turn them off to compare.
SHORTCUTS = True
_RGBA_WORD = np.dtype("<u4")  # an RGBA pixel's 4 bytes as one little-endian word

GreyAlpha = tuple[np.ndarray, "np.ndarray | None"]
RowReader = Callable[[int, int], GreyAlpha]


class ImageError(DigitkitError):
    """An input that cannot be decoded as an image; ``code`` says why.

    Codes: ``empty_file`` (zero bytes), ``corrupt`` (truncated or damaged data, or not an
    image), ``unsupported_format`` (an image type outside :data:`ACCEPTED_FORMATS`),
    ``too_large`` (more than :data:`MAX_PIXELS` decoded pixels or :data:`MAX_FILE_BYTES`),
    ``not_found`` (a path that does not exist or is not a file), ``unreadable`` (a file the
    operating system refuses to read: permissions, I/O errors).
    """

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@dataclass
class Reduced:
    """A decoded image reduced for recognition: ``grey`` float32 (H, W) in [0, 1], alpha
    flattened, each pixel the mean of a ``scale`` x ``scale`` block of the input."""

    grey: np.ndarray
    scale: int = 1


def block_factor(h: int, w: int) -> int:
    """The whole-block reduction preprocessing applies to an (h, w) image (1: none)."""
    longest = max(h, w)
    if longest <= WORK_SIDE:
        return 1
    f = math.ceil(longest / WORK_SIDE)
    # A thin strip would lose its short side: it is kept (and bounded by pixels instead).
    return f if min(h, w) >= 2 * f else 1


def decode_factor(h: int, w: int) -> int:
    """The block factor :func:`load_image_reduced` reduces an (h, w) image by: the one
    preprocessing would apply (so results are the same as at full size), else one that
    brings the image under MAX_WORK_PIXELS with at least one pixel across."""
    f = block_factor(h, w)
    if f > 1 or h * w <= MAX_WORK_PIXELS:
        return f
    return min(math.ceil(math.sqrt(h * w / MAX_WORK_PIXELS)), min(h, w))


def _read_source(source: str | Path | bytes | bytearray | memoryview) -> tuple[bytes, str]:
    """The encoded bytes of ``source`` and a name for messages."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "image"
    path = Path(source)
    try:
        if not path.is_file():
            raise ImageError(f"{path}: no such file", "not_found")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageError(
                f"{path}: file too large ({size} bytes, limit {MAX_FILE_BYTES})", "too_large"
            )
        return path.read_bytes(), str(path)
    except PermissionError:
        raise ImageError(
            f"{path}: permission denied (cannot read the file)", "unreadable"
        ) from None
    except OSError as exc:  # an I/O error, a name too long, a directory that vanished ...
        reason = exc.strerror or type(exc).__name__
        raise ImageError(f"{path}: cannot read the file ({reason})", "unreadable") from None


def _unsupported(name: str, kind: str) -> ImageError:
    return ImageError(
        f"{name}: unsupported image format {kind} (accepted formats: {ACCEPTED_NAMES})",
        "unsupported_format",
    )


def _open(data: bytes, name: str) -> Image.Image:
    """Open ``data`` (header only) as one of the accepted formats, with the size checks."""
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)", "empty_file")
    try:
        img = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except UnidentifiedImageError:
        # Distinguish "a real image type we refuse" from "not an image at all".
        kind = _sniff_other_format(data)
        if kind:
            raise _unsupported(name, kind) from None
        raise ImageError(f"{name}: not an image (or a corrupt one)", "corrupt") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: image too large (decompression bomb?)", "too_large") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"{name}: corrupt image ({exc})", "corrupt") from None
    w, h = img.size
    if w * h > MAX_PIXELS:
        raise ImageError(
            f"{name}: image too large ({w}x{h} = {w * h} pixels, limit {MAX_PIXELS})", "too_large"
        )
    if w < 1 or h < 1:
        raise ImageError(f"{name}: image has no pixels ({w}x{h})", "corrupt")
    return img


def _draft_jpeg(img: Image.Image, factor: int) -> int:
    """Let a JPEG decode straight to grey, scaled down by the largest DCT factor dividing
    ``factor``; returns the scale it will decode at (1 when no JPEG or not reduced)."""
    if img.format not in ("JPEG", "MPO") or factor <= 1:
        return 1
    draft = next((d for d in JPEG_DRAFT_FACTORS if factor % d == 0), 1)
    w, h = img.size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img.draft("L", (w // draft, h // draft) if draft > 1 else None)
    return max(1, round(w / img.size[0]))


def _decode(data: bytes, name: str, reduce: bool = False) -> tuple[Image.Image, int, int]:
    """Open and fully decode ``data`` with the safety checks (the first frame only).

    Returns (image, factor, drafted): ``factor`` is the block reduction to apply relative to
    the input's size (1 unless ``reduce``), ``drafted`` the part of it the JPEG decoder
    already applied (the image is that many times smaller than the input)."""
    with warnings.catch_warnings():
        # Pillow warns (rather than fails) between MAX_IMAGE_PIXELS and twice that; a warning
        # would let a bomb through, so it is an error here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = _open(data, name)
        w, h = img.size
        factor = decode_factor(h, w) if reduce else 1
        drafted = _draft_jpeg(img, factor)
        _check_decoded_size(img, name)
        try:
            img.seek(0)
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(
                f"{name}: image too large (decompression bomb?)", "too_large"
            ) from None
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            # Truncated files land here ("image file is truncated", "broken data stream").
            raise ImageError(f"{name}: corrupt or truncated image ({exc})", "corrupt") from None
    return img, factor, drafted


def _bytes_per_pixel(mode: str) -> int:
    """Bytes a pixel of ``mode`` takes in Pillow's memory (multi-band modes use 4)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def _check_decoded_size(img: Image.Image, name: str) -> None:
    w, h = img.size
    decoded = w * h * _bytes_per_pixel(img.mode)
    if decoded > MAX_DECODED_BYTES:
        raise ImageError(
            f"{name}: image too large to decode ({w}x{h} {img.mode} = "
            f"{decoded / 2**20:.0f} MiB, limit {MAX_DECODED_BYTES // 2**20} MiB); "
            "send it as a JPEG or smaller",
            "too_large",
        )


def _sniff_other_format(data: bytes) -> str | None:
    """The name of a known image format outside the accepted list, from its magic bytes."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a refused file's damage is not worth a warning
            with Image.open(io.BytesIO(data)) as img:
                return img.format
    except Exception:  # any decoder failure simply means "not recognisable"
        return None


# --------------------------------------------------------------------------- conversion


def _pil_rows(img: Image.Image, factor: int) -> RowReader:
    """A reader of rows y0:y1 of a decoded PIL image, block-averaged by ``factor``.

    It returns (grey x alpha, alpha) float32 in [0, 1] (alpha None when opaque by mode).
    Whatever depends on the whole image (the range of a 16-bit or float image) is fixed here,
    so converting strip by strip gives the same values as converting at once. Reductions of
    8-bit images run in Pillow (uint8 block means, premultiplied by alpha), in C."""
    mode = img.mode
    if mode in WIDE_MODES:
        top = _wide_range(img)
        return lambda y0, y1: (
            block_mean(np.clip(_crop(img, y0, y1, np.float32) / np.float32(top), 0.0, 1.0), factor),
            None,
        )
    has_alpha = mode in ALPHA_MODES or (mode in ("P", "L", "RGB") and "transparency" in img.info)
    used_w = (img.size[0] // factor) * factor

    def strip(y0: int, y1: int) -> Image.Image:
        return img.crop((0, y0, used_w, y1))

    if has_alpha and factor == 1 and SHORTCUTS and img.size[0] * img.size[1] <= STRIP_PIXELS:
        return _small_alpha_rows(img)
    if has_alpha and factor > 1:

        def covered_rows(y0: int, y1: int) -> GreyAlpha:
            arr = np.asarray(
                strip(y0, y1).convert("RGBA").convert("RGBa").reduce(factor), dtype=np.float32
            ) / np.float32(255.0)
            return _luma(arr), arr[..., 3]

        return covered_rows
    if has_alpha:

        def rgba_rows(y0: int, y1: int) -> GreyAlpha:
            arr = np.asarray(strip(y0, y1).convert("RGBA"), dtype=np.float32) / 255.0
            alpha = arr[..., 3]
            return (_luma(arr) * alpha).astype(np.float32), alpha

        return rgba_rows
    if factor > 1:
        return lambda y0, y1: (
            np.asarray(strip(y0, y1).convert("L").reduce(factor), dtype=np.float32)
            / np.float32(255.0),
            None,
        )
    if mode == "L":
        return lambda y0, y1: (_crop(img, y0, y1, np.float32) / np.float32(255.0), None)
    return lambda y0, y1: (
        np.asarray(strip(y0, y1).convert("L"), dtype=np.float32) / np.float32(255.0),
        None,
    )


def _small_alpha_rows(img: Image.Image) -> RowReader:
    """The ``rgba_rows`` reader of :func:`_pil_rows` for an image read in one strip (a
    280x280 canvas): the same float32 values, from its 8-bit RGBA without a float copy of it.

    Opaque is decided on the bytes (alpha 255 everywhere: the only 8-bit alpha at or above
    OPAQUE), and then alpha is left out (None), which :func:`_reduce_rows` treats like an
    alpha it would have found opaque: grey x 1.0 is the grey. When R = G = B (every canvas
    drawn in grey) the luma of the three equal channels is computed from one channel, with
    the same float32 operations in the same order as :func:`_luma`, so bit for bit equal."""
    rgba = np.asarray(img if img.mode == "RGBA" else img.convert("RGBA"))
    # One uint32 per pixel, R in the low byte and A in the high byte (little-endian view).
    px = rgba.view(_RGBA_WORD)[..., 0]
    red = px & np.uint32(0xFF)
    # The page's canvas (opaque, R = G = B) is recognized by one comparison of whole
    # pixels; anything else is told apart by the two checks.
    opaque = grey_only = np.array_equal(red * np.uint32(0x010101) | np.uint32(0xFF000000), px)
    if not opaque:
        opaque = bool((px >= np.uint32(0xFF000000)).all())
        grey_only = not ((px ^ (px >> np.uint32(8))) & np.uint32(0xFFFF)).any()

    def rows(y0: int, y1: int) -> GreyAlpha:
        part = rgba[y0:y1]
        if grey_only:
            # R from the contiguous words: cheaper to convert than the strided channel.
            v = red[y0:y1].astype(np.float32) / np.float32(255.0)
            luma = (v * 0.299 + v * 0.587 + v * 0.114).astype(np.float32, copy=False)
        else:
            luma = _luma(part[..., :3].astype(np.float32) / np.float32(255.0))
        if opaque:
            return luma, None
        alpha = part[..., 3].astype(np.float32) / np.float32(255.0)
        return (luma * alpha).astype(np.float32), alpha

    return rows


def _luma(arr: np.ndarray) -> np.ndarray:
    """The grey of RGB(A) pixels (..., 3|4) in [0, 1] (ITU-R 601 luma, as Pillow's "L")."""
    return (arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114).astype(np.float32)


def _wide_range(img: Image.Image) -> float:
    """What full intensity is in a 16-bit, 32-bit or float image."""
    # Single-band modes only here: the extrema are two numbers, not one pair per band.
    lo, hi = (float(v) for v in img.getextrema())  # type: ignore[arg-type]
    if img.mode.startswith("I;16"):
        return 65535.0
    if img.mode in ("I", "F") and hi <= 1.0 and lo >= 0.0:
        return 1.0
    if img.mode == "I" and hi <= 255:
        return 255.0
    return max(hi, 1.0)


def _crop(img: Image.Image, y0: int, y1: int, dtype: type) -> np.ndarray:
    return np.asarray(img.crop((0, y0, img.size[0], y1)), dtype=dtype)


def _array_rows(a: np.ndarray, factor: int) -> RowReader:
    """A reader of rows y0:y1 of a NumPy image (H, W), (H, W, 1|2|3|4) of any numeric dtype,
    block-averaged by ``factor``, like :func:`_pil_rows`."""
    boolean = a.dtype == bool
    if boolean:
        a = a.view(np.uint8)  # True -> 1: full intensity
    top = 1.0 if boolean else _array_range(a)

    def rows(y0: int, y1: int) -> GreyAlpha:
        f = np.clip(a[y0:y1].astype(np.float32) / np.float32(top), 0.0, 1.0)
        if f.ndim == 2:
            return block_mean(f, factor), None
        c = f.shape[2]
        grey = f[..., 0] if c <= 2 else _luma(f)
        alpha = f[..., 1] if c == 2 else (f[..., 3] if c == 4 else None)
        if alpha is None:
            return block_mean(grey, factor), None
        covered = (grey * alpha).astype(np.float32)
        return block_mean(covered, factor), block_mean(alpha, factor)

    return rows


def _check_array(a: np.ndarray) -> np.ndarray:
    """``a`` as an image array, or the ImageError saying why it is none."""
    a = np.asarray(a)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ImageError(f"array of dtype {a.dtype} is not an image", "corrupt")
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 2, 3, 4))):
        raise ImageError(
            f"array of shape {a.shape} is not an image (want (H, W) or (H, W, C))", "corrupt"
        )
    if a.size == 0:
        raise ImageError(f"array of shape {a.shape} has no pixels", "empty_file")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise ImageError(f"array image too large ({a.shape[1]}x{a.shape[0]})", "too_large")
    return a


def _array_range(a: np.ndarray) -> float:
    """What full intensity is in array ``a``: 1 (floats in [0, 1]), 255, 65535, or the
    maximum of wider integers and of floats in 0..255."""
    if np.issubdtype(a.dtype, np.integer):
        if a.dtype in (np.uint8, np.int8) or a.max(initial=0) <= 255:
            return 255.0
        return 65535.0 if a.max() <= 65535 else float(a.max())
    if not np.isfinite(a).all():
        raise ImageError("array image contains NaN or infinite values", "corrupt")
    return 255.0 if a.max(initial=0.0) > 1.0 else 1.0  # a float image in 0..255


def block_mean(a: np.ndarray, f: int) -> np.ndarray:
    """Means of f x f blocks (rows and columns beyond whole blocks dropped), float32: the one
    block averaging of decoding and preprocessing, so a reduced decode and a full-size image
    reduced later give the same values.

    Each block's pixels are added in raster order from f*f strided views, 10-15x faster
    than reducing a 4-D view for the small factors of canvases and photos."""
    if f == 1:
        return a
    h, w = (a.shape[0] // f) * f, (a.shape[1] // f) * f
    total = a[0:h:f, 0:w:f].astype(np.float32)
    for i in range(f):
        for j in range(f):
            if i or j:
                total += a[i:h:f, j:w:f]
    total /= np.float32(f * f)
    return total


def _reduce_rows(rows: RowReader, h: int, w: int, factor: int) -> np.ndarray:
    """Read an image strip by strip (each already block-averaged by ``factor``) and flatten
    its alpha (see :func:`composite_alpha`): the full-size float image never exists."""
    used_h = (h // factor) * factor
    strip = max(factor, (STRIP_PIXELS // max(w, 1)) // factor * factor)
    parts = [rows(y, min(y + strip, used_h)) for y in range(0, used_h, strip)]
    covered = _joined([c for c, _ in parts])
    if parts[0][1] is None:
        return covered
    alpha = _joined([a for _, a in parts if a is not None])
    if alpha.min() >= OPAQUE:
        return covered
    # Block means of grey x alpha and of alpha flatten exactly like full-size pixels would.
    return _flatten(covered, alpha, float(covered.sum()), float(alpha.sum()))


def _joined(strips: list[np.ndarray]) -> np.ndarray:
    """The strips of an image as one array (one strip, the usual case, as it is)."""
    return strips[0] if len(strips) == 1 else np.concatenate(strips)


def _flatten(
    covered_grey: np.ndarray, alpha: np.ndarray, ink_sum: float, weight: float
) -> np.ndarray:
    """grey x alpha composited onto the background that contrasts with the ink, whose
    colour is ``ink_sum / weight`` (the alpha-weighted mean grey)."""
    if weight <= 1e-6:  # fully transparent: nothing drawn at all
        return np.zeros_like(covered_grey)
    bg = np.float32(1.0 if ink_sum / weight < 0.5 else 0.0)
    return (covered_grey + bg * (1.0 - alpha)).astype(np.float32)


def composite_alpha(grey: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Flatten a transparent image onto the background that contrasts with its ink.

    Canvas apps draw opaque strokes on a transparent background, whose hidden colour is often
    the same as the ink (black on black). The ink is what is opaque, so its colour (the
    alpha-weighted mean grey) decides the background: dark ink goes on white, light ink on
    black. A fully opaque alpha is ignored.
    """
    if alpha is None or alpha.min() >= OPAQUE:
        return grey
    covered = grey * alpha
    return _flatten(covered, alpha, float(covered.sum()), float(alpha.sum()))


def _orient(grey: np.ndarray, orientation: int) -> np.ndarray:
    """Apply a camera's EXIF orientation (phone photos are stored sideways plus a tag)."""
    ops: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.T,
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].T,
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return grey if op is None else op(grey)


def _orientation(img: Image.Image) -> int:
    if img.format not in EXIF_FORMATS:
        return 1
    try:
        return int(img.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # a damaged EXIF block only loses the rotation, not the image
        return 1


def _check_pil(img: Image.Image, name: str = "image") -> None:
    w, h = img.size
    if w * h > MAX_PIXELS:
        raise ImageError(
            f"{name}: image too large ({w}x{h} pixels, limit {MAX_PIXELS})", "too_large"
        )
    if w < 1 or h < 1:
        raise ImageError(f"{name}: image has no pixels ({w}x{h})", "empty_file")


def _from_pil(img: Image.Image, name: str, factor: int = 1, drafted: int = 1) -> Reduced:
    """A decoded PIL image -> :class:`Reduced`, reduced by ``factor`` relative to the input
    (of which the JPEG decoder applied ``drafted`` already)."""
    rest = max(1, factor // drafted)
    try:
        grey = _reduce_rows(_pil_rows(img, rest), img.size[1], img.size[0], rest)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{name}: corrupt image ({exc})", "corrupt") from None
    return Reduced(_orient(grey, _orientation(img)), rest * drafted)


def _load(source: Any, reduce: bool) -> Reduced:
    if isinstance(source, np.ndarray):
        a = _check_array(source)
        h, w = a.shape[:2]
        factor = decode_factor(h, w) if reduce else 1
        return Reduced(_reduce_rows(_array_rows(a, factor), h, w, factor), factor)
    if isinstance(source, Image.Image):
        _check_pil(source)
        w, h = source.size
        return _from_pil(source, "image", decode_factor(h, w) if reduce else 1)
    if isinstance(source, str | Path | bytes | bytearray | memoryview):
        data, name = _read_source(source)
        img, factor, drafted = _decode(data, name, reduce)
        del data  # the encoded bytes are not needed once decoded
        return _from_pil(img, name, factor, drafted)
    raise ImageError(f"cannot read an image from a {type(source).__name__}", "corrupt")


def load_image(source: str | Path | bytes | Image.Image | np.ndarray | Any) -> np.ndarray:
    """Decode any image to a float32 grey array (H, W) in [0, 1], alpha flattened.

    ``source`` may be a path, encoded bytes (PNG, JPEG, BMP, WebP), a PIL image (any mode:
    L, LA, RGB, RGBA, P, I;16, ...) or a NumPy array ((H, W) or (H, W, C); uint8 0..255,
    uint16, or floats in [0, 1]). Raises :class:`ImageError` with a ``code`` for anything
    undecodable. Full size: recognizers read with :func:`load_image_reduced`.
    """
    return _as_grey(_load(source, reduce=False).grey)


def load_image_reduced(source: str | Path | bytes | Image.Image | np.ndarray | Any) -> Reduced:
    """:func:`load_image`, reduced by whole blocks to what preprocessing works on (a big
    photo to WORK_SIDE pixels a side, a long strip to MAX_WORK_PIXELS): memory and time are
    bounded whatever the image, and results match the full-size image's."""
    out = _load(source, reduce=True)
    out.grey = _as_grey(out.grey)
    if out.grey.size == 0:
        raise ImageError("image has no pixels left after reduction", "too_large")
    return out


def _as_grey(grey: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(grey, dtype=np.float32)


def is_image_path(path: str | Path) -> bool:
    """True when ``path`` has the suffix of an accepted image type (for directory walks)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES
