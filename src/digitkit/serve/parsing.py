"""Request bodies -> image bytes: multipart uploads, JSON data URLs and raw image bodies.

The body is already in memory and capped (``security.BodyLimit``) when a route gets here.
Turning a JSON body into image bytes (JSON parsing, the data URL's header, base64) is CPU work
proportional to the body, so it runs in a thread (:func:`starlette.concurrency.run_in_threadpool`)
and never on the event loop, where 2 MiB of it would stall every other connection; the
data URL header is parsed within a fixed length so that no input makes it superlinear.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from digitkit.serve.errors import ApiError

# Formats the API accepts, recognized by their first bytes rather than by a client-declared
# name or content type (both are trivially wrong or spoofed).
IMAGE_MEDIA_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "bmp": "image/bmp",
    "webp": "image/webp",
}

# "data:<mime>;<params>;base64," is short in every real data URL; looking for the comma only
# within this many characters bounds the work spent on the header whatever the body holds
# (a whole-body regex blocked the event loop on a body of ';': benchmarks/RESULTS.md).
DATA_URL_HEADER_MAX = 256
_DATA_URL_HEADER = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[^;,]*)*;base64")
_WHITESPACE = re.compile(rb"\s+")


@dataclass
class ImageRequest:
    """What a predict request asks for: the image bytes, the uploaded file name, the model."""

    data: bytes
    filename: str | None
    model: str | None


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sniff_format(data: bytes) -> str | None:
    """The image format of ``data`` from its magic bytes, or None if not an accepted one."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"BM"):
        return "bmp"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) a PNG's IHDR declares, or None when ``data`` does not start like a PNG
    (signature, then the IHDR chunk). Reads 24 bytes, decodes nothing."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def png_pixels(data: bytes) -> int | None:
    """The pixel count (width x height) a PNG's header declares, or None when ``data`` is no
    PNG."""
    size = _png_size(data)
    return None if size is None else size[0] * size[1]


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image's header (PNG: 24 bytes; others: Pillow's lazy open,
    which reads the header and decodes nothing), or None when it cannot be read."""
    if (size := _png_size(data)) is not None:
        return size
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:  # not an image Pillow knows: decoding will say why
        return None


def check_image_bytes(data: bytes) -> None:
    """Refuse empty bodies (422) and anything that is not PNG/JPEG/BMP/WebP (415)."""
    if not data:
        raise ApiError(422, "empty_file", "the image is empty (0 bytes)")
    if sniff_format(data) is None:
        raise ApiError(
            415, "unsupported_format", "unsupported image format: send PNG, JPEG, BMP or WebP"
        )


def decode_data_url(url: Any) -> bytes:
    """The bytes of a ``data:image/...;base64,...`` URL; 422 if malformed, 415 if not an
    accepted image type. Linear in the URL's length."""
    if not isinstance(url, str):
        raise ApiError(422, "invalid_data_url", "'image' must be a data URL string")
    url = url.strip()
    comma = url.find(",", 0, DATA_URL_HEADER_MAX)
    header = _DATA_URL_HEADER.fullmatch(url, 0, comma) if comma >= 0 else None
    if header is None:
        raise ApiError(
            422, "invalid_data_url", "'image' must look like data:image/png;base64,<data>"
        )
    mime = (header.group("mime") or "").lower()
    if mime and mime not in IMAGE_MEDIA_TYPES.values():
        raise ApiError(
            415,
            "unsupported_format",
            f"unsupported data URL type {mime[:80]!r}: send PNG, JPEG, BMP or WebP",
        )
    try:
        payload = _WHITESPACE.sub(b"", url[comma + 1 :].encode("ascii"))
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):  # UnicodeEncodeError is a ValueError
        raise ApiError(422, "invalid_data_url", "the data URL is not valid base64") from None


def parse_json_image(body: bytes, model_param: str | None) -> ImageRequest:
    """A JSON body ``{"image": <data URL>, "model": <name>}`` as an ImageRequest (CPU-bound:
    called in a thread)."""
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ApiError(422, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(doc, dict) or "image" not in doc:
        raise ApiError(
            422, "invalid_json", 'expected a JSON object {"image": "data:image/png;base64,..."}'
        )
    model = doc.get("model")
    if model is not None and not isinstance(model, str):
        raise ApiError(422, "invalid_json", "'model' must be a string")
    return ImageRequest(decode_data_url(doc["image"]), None, model_param or model)


async def read_image_request(request: Request, model_param: str | None) -> ImageRequest:
    """Extract image bytes, file name and model choice from a multipart, JSON or raw body."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        return await _read_multipart(request, model_param)
    if ctype == "application/json" or ctype.endswith("+json"):
        body = await request.body()
        return await run_in_threadpool(parse_json_image, body, model_param)
    if ctype in IMAGE_MEDIA_TYPES.values():
        return ImageRequest(await request.body(), None, model_param)
    raise ApiError(
        415,
        "unsupported_media_type",
        "send multipart/form-data (field 'file'), application/json with a data URL, "
        "or a raw image/png|jpeg|bmp|webp body",
    )


async def _read_multipart(request: Request, model_param: str | None) -> ImageRequest:
    try:
        form = await request.form(max_files=1, max_fields=4)
    except Exception:  # any parser failure is the client's malformed body
        raise ApiError(422, "invalid_multipart", "malformed multipart body") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "missing_file", "multipart body needs a 'file' part")
        data = await upload.read()
        model = model_param or _str_or_none(form.get("model"))
        return ImageRequest(data, upload.filename, model)
    finally:
        await form.close()  # parts over 1 MiB were spooled to temporary files


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
