"""Image checks and derived sizes, with Pillow (CPU-bound: call it in a worker thread).

The content decides, not the file name or the declared type: the upload must decode as a
JPEG, PNG or WebP. Metadata (EXIF, with its GPS position and camera serial) is dropped by
re-encoding the pixels; the EXIF orientation is applied first so the picture stays upright.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from emporium.catalog.errors import ImageTooLarge, NotAnImage

__all__ = ["DISPLAY_SIZE", "THUMBNAIL_SIZE", "Processed", "process_image"]

DISPLAY_SIZE = 1200
THUMBNAIL_SIZE = 320
_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


@dataclass(frozen=True)
class Processed:
    original: bytes
    original_format: str  # file extension: jpg, png or webp
    original_type: str
    display: bytes
    thumbnail: bytes
    width: int
    height: int


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _webp(image: Image.Image, size: int) -> bytes:
    copy = image.copy()
    copy.thumbnail((size, size), Image.Resampling.LANCZOS)
    return _encode(copy, "WEBP", quality=82, method=2)


def process_image(file: BinaryIO, *, max_pixels: int) -> Processed:
    """Decode ``file`` and derive the stored files; ``NotAnImage`` / ``ImageTooLarge``."""
    try:
        image = Image.open(file, formats=list(_FORMATS))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise NotAnImage("the file is not a JPEG, PNG or WebP image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge("the image has too many pixels") from None
    with image:
        width, height = image.size
        if width * height > max_pixels:  # checked on the header, before decoding
            raise ImageTooLarge(
                f"the image has {width * height} pixels; at most {max_pixels} are accepted"
            )
        fmt = image.format or ""
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            raise NotAnImage("the image data is damaged") from None
    # A fresh image from the pixels alone carries no EXIF, XMP, ICC or text chunks.
    clean = Image.frombytes(upright.mode, upright.size, upright.tobytes())
    if fmt == "JPEG":
        if clean.mode not in ("RGB", "L"):
            clean = clean.convert("RGB")
        original = _encode(clean, "JPEG", quality=90, optimize=True)
    elif fmt == "PNG":
        if upright.mode == "P":
            clean = upright.convert("RGBA")
        original = _encode(clean, "PNG", optimize=True)
    else:
        original = _encode(clean, "WEBP", quality=90)
    derived = clean if clean.mode in ("RGB", "RGBA") else clean.convert("RGBA")
    return Processed(
        original=original,
        original_format=_FORMATS[fmt],
        original_type=Image.MIME[fmt],
        display=_webp(derived, DISPLAY_SIZE),
        thumbnail=_webp(derived, THUMBNAIL_SIZE),
        width=clean.width,
        height=clean.height,
    )
