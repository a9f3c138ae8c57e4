"""Safe image decoding: any image a user hands us -> a float32 grey array in [0, 1].

Everything that reads user images (CLI, REST API, desktop app, Recognizer) comes through
:func:`load_image`, so the defences live in one place: an explicit list of formats (Pillow
otherwise sniffs dozens of exotic decoders), a cap on decoded pixels checked from the header
before any pixel is decoded (a decompression bomb never allocates), Pillow's
``DecompressionBombWarning`` turned into an error, and every decoder failure mapped to an
:class:`ImageError` with a stable ``code`` the apps can show or switch on.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from digitkit.errors import DigitkitError

# The formats people actually draw, scan or photograph digits in. Passed to Image.open so no
# other decoder (with its own parser bugs) ever sees user bytes.
ALLOWED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "BMP", "WEBP", "GIF", "TIFF", "PPM")
# File suffixes of those formats: what directory walks pick up.
IMAGE_SUFFIXES: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".pgm", ".pbm",
)
# 40 megapixels: a 12 MP phone photo passes with room to spare; a bomb does not.
MAX_PIXELS = 40_000_000
# Encoded files larger than this are refused before reading them whole.
MAX_FILE_BYTES = 64 * 1024 * 1024
ERROR_CODES = ("empty_file", "corrupt", "unsupported_format", "too_large", "not_found")


class ImageError(DigitkitError):
    """An input that cannot be decoded as an image; ``code`` says why.

    Codes: ``empty_file`` (zero bytes), ``corrupt`` (truncated or damaged data, or not an
    image), ``unsupported_format`` (an image type outside :data:`ALLOWED_FORMATS`),
    ``too_large`` (more than :data:`MAX_PIXELS` decoded pixels or :data:`MAX_FILE_BYTES`),
    ``not_found`` (a path that does not exist or is not a file).
    """

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


def _read_source(source: str | Path | bytes) -> tuple[bytes, str]:
    """The encoded bytes of ``source`` and a name for messages."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), "image"
    path = Path(source)
    if not path.is_file():
        raise ImageError(f"{path}: no such file", "not_found")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ImageError(f"{path}: file too large ({size} bytes, limit {MAX_FILE_BYTES})",
                         "too_large")
    return path.read_bytes(), str(path)


def _decode(data: bytes, name: str) -> Image.Image:
    """Open and fully decode ``data`` with the safety checks; the first frame only."""
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)", "empty_file")
    with warnings.catch_warnings():
        # Pillow warns (rather than fails) between MAX_IMAGE_PIXELS and twice that; a warning
        # would let a bomb through, so it is an error here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
        except UnidentifiedImageError:
            # Distinguish "a real image type we refuse" from "not an image at all".
            kind = _sniff_other_format(data)
            if kind:
                raise ImageError(f"{name}: unsupported image format {kind} (supported: "
                                 f"{', '.join(ALLOWED_FORMATS)})", "unsupported_format") from None
            raise ImageError(f"{name}: not an image (or a corrupt one)", "corrupt") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{name}: image too large (decompression bomb?)",
                             "too_large") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise ImageError(f"{name}: corrupt image ({exc})", "corrupt") from None
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise ImageError(f"{name}: image too large ({w}x{h} = {w * h} pixels, limit "
                             f"{MAX_PIXELS})", "too_large")
        if w < 1 or h < 1:
            raise ImageError(f"{name}: image has no pixels ({w}x{h})", "corrupt")
        try:
            img.seek(0)
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{name}: image too large (decompression bomb?)",
                             "too_large") from None
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            # Truncated files land here ("image file is truncated", "broken data stream").
            raise ImageError(f"{name}: corrupt or truncated image ({exc})", "corrupt") from None
    return img


def _sniff_other_format(data: bytes) -> str | None:
    """The name of a known image format outside the allowed list, from its magic bytes."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.format
    except Exception:  # any decoder failure simply means "not recognisable"
        return None


def _pil_to_grey(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """(grey float32 in [0, 1], alpha float32 in [0, 1] or None) of a decoded PIL image."""
    if img.format in ("JPEG", "MPO", "TIFF", "WEBP"):  # formats that carry camera EXIF
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = ImageOps.exif_transpose(img)  # phone photos are stored sideways plus a tag
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float32)
        hi = 65535.0 if mode.startswith("I;16") else max(float(a.max()), 1.0)
        if mode in ("I", "F") and a.max() <= 1.0 and a.min() >= 0.0:
            hi = 1.0
        if mode == "I" and a.max() <= 255:
            hi = 255.0
        return np.clip(a / hi, 0.0, 1.0), None
    alpha = None
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        mode == "P" and "transparency" in img.info
    ) or (mode in ("L", "RGB") and "transparency" in img.info)
    if has_alpha:
        img = img.convert("RGBA")
        arr = np.asarray(img, dtype=np.float32) / 255.0
        alpha = arr[..., 3]
        grey = arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114
        return grey.astype(np.float32), alpha
    if mode != "L":
        img = img.convert("L")
    return np.asarray(img, dtype=np.float32) / np.float32(255.0), None


def _array_to_grey(a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A NumPy image (H, W), (H, W, 1|2|3|4) of any numeric dtype -> (grey, alpha)."""
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.astype(np.float32)
    if not (np.issubdtype(a.dtype, np.number)):
        raise ImageError(f"array of dtype {a.dtype} is not an image", "corrupt")
    if a.ndim == 3 and a.shape[2] in (1, 2, 3, 4):
        pass
    elif a.ndim != 2:
        raise ImageError(f"array of shape {a.shape} is not an image (want (H, W) or (H, W, C))",
                         "corrupt")
    if a.size == 0:
        raise ImageError(f"array of shape {a.shape} has no pixels", "empty_file")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise ImageError(f"array image too large ({a.shape[1]}x{a.shape[0]})", "too_large")
    if np.issubdtype(a.dtype, np.integer):
        scale = 255.0 if a.dtype in (np.uint8, np.int8) or a.max(initial=0) <= 255 else (
            65535.0 if a.max() <= 65535 else float(a.max()))
        f = a.astype(np.float32) / np.float32(scale)
    else:
        f = a.astype(np.float32)
        if not np.all(np.isfinite(f)):
            raise ImageError("array image contains NaN or infinite values", "corrupt")
        if f.max(initial=0.0) > 1.0:  # a float image in 0..255
            f = f / np.float32(255.0)
    f = np.clip(f, 0.0, 1.0)
    if f.ndim == 2:
        return f, None
    c = f.shape[2]
    if c == 1:
        return f[..., 0], None
    if c == 2:
        return f[..., 0], f[..., 1]
    grey = (f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114).astype(np.float32)
    return grey, (f[..., 3] if c == 4 else None)


def composite_alpha(grey: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Flatten a transparent image onto the background that contrasts with its ink.

    Canvas apps draw opaque strokes on a transparent background, whose hidden colour is often
    the same as the ink (black on black). The ink is what is opaque, so its colour (the
    alpha-weighted mean grey) decides the background: dark ink goes on white, light ink on
    black. A fully opaque alpha is ignored.
    """
    if alpha is None or alpha.min() >= 0.999:
        return grey
    weight = float(alpha.sum())
    if weight <= 1e-6:  # fully transparent: nothing drawn at all
        return np.zeros_like(grey)
    ink = float((grey * alpha).sum()) / weight
    bg = np.float32(1.0 if ink < 0.5 else 0.0)
    return (grey * alpha + bg * (1.0 - alpha)).astype(np.float32)


def load_image(source: str | Path | bytes | Image.Image | np.ndarray | Any) -> np.ndarray:
    """Decode any image to a float32 grey array (H, W) in [0, 1], alpha flattened.

    ``source`` may be a path, encoded bytes (PNG, JPEG, ...), a PIL image (any mode: L, LA,
    RGB, RGBA, P, I;16, ...) or a NumPy array ((H, W) or (H, W, C); uint8 0..255, uint16, or
    floats in [0, 1]). Raises :class:`ImageError` with a ``code`` for anything undecodable.
    """
    if isinstance(source, np.ndarray):
        grey, alpha = _array_to_grey(source)
    elif isinstance(source, Image.Image):
        w, h = source.size
        if w * h > MAX_PIXELS:
            raise ImageError(f"image too large ({w}x{h} pixels, limit {MAX_PIXELS})", "too_large")
        if w < 1 or h < 1:
            raise ImageError(f"image has no pixels ({w}x{h})", "empty_file")
        try:
            grey, alpha = _pil_to_grey(source)
        except (OSError, ValueError) as exc:
            raise ImageError(f"corrupt image ({exc})", "corrupt") from None
    elif isinstance(source, str | Path | bytes | bytearray | memoryview):
        data, name = _read_source(source)
        img = _decode(data, name)
        try:
            grey, alpha = _pil_to_grey(img)
        except (OSError, ValueError, SyntaxError) as exc:
            raise ImageError(f"{name}: corrupt image ({exc})", "corrupt") from None
    else:
        raise ImageError(f"cannot read an image from a {type(source).__name__}", "corrupt")
    return np.ascontiguousarray(composite_alpha(grey, alpha), dtype=np.float32)


def is_image_path(path: str | Path) -> bool:
    """True when ``path`` has the suffix of a supported image type (for directory walks)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES
