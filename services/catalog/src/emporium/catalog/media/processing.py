"""Image checks and derived sizes, with Pillow (CPU-bound: call it in a worker thread).

The content decides, not the file name or the declared type: the upload must decode as a
JPEG, PNG or WebP. Metadata (EXIF, with its GPS position and camera serial; XMP, ICC, text
chunks) is dropped by re-encoding the pixels without it; the EXIF orientation is applied
first so the picture stays upright.

Memory is what an image upload costs, not bytes: a 5 KB PNG may declare 6300 x 6300 pixels
(160 MB once decoded). So:

- the declared width x height is checked on the header, before any pixel is decoded
  (``Image.open`` is lazy; a WebP header is read first, since Pillow's WebP decoder
  allocates its canvas while opening), and refused over ``max_pixels`` (``ImageTooLarge``,
  413);
- the full-size picture is decoded once, rotated in place, re-encoded as the original and
  then shrunk, so at most one full-size buffer (two, for a moment, while a rotated photo is
  turned upright) is alive;
- a WebP original is not re-encoded (Pillow's WebP encoder holds ~20 bytes a pixel): its
  metadata chunks are dropped from the container (``webp.strip_metadata``), and WebP uploads
  have a lower pixel cap of their own, since decoding one holds ~14 bytes a pixel;
- for a JPEG the derived sizes are decoded again with ``draft()``: libjpeg scales by 1/2,
  1/4 or 1/8 while decoding, so the full-size buffer is freed before they are made;
- each smaller size is made from the next larger one (thumbnail from display), and a large
  picture is first reduced by a whole factor, so Lanczos (and its premultiplied copy of an
  RGBA picture) only sees a picture near the target size.

``peak_bytes(width, height)`` is the resulting bound, used to pick the default pixel cap.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from emporium.catalog.errors import ImageTooLarge, NotAnImage
from emporium.catalog.media import webp

__all__ = [
    "DISPLAY_SIZE",
    "THUMBNAIL_SIZE",
    "Processed",
    "check_declared_size",
    "peak_bytes",
    "process_image",
]

DISPLAY_SIZE = 1200
THUMBNAIL_SIZE = 320
_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
#: Pillow keeps every pixel of RGB, RGBA, CMYK and YCbCr images in 4 bytes.
_BYTES_PER_PIXEL = 4
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


@dataclass(frozen=True)
class Processed:
    original: bytes
    original_format: str  # file extension: jpg, png or webp
    original_type: str
    display: bytes
    thumbnail: bytes
    width: int
    height: int


def check_declared_size(width: int, height: int, max_pixels: int) -> None:
    """``ImageTooLarge`` (naming the limit) unless ``width`` x ``height`` is acceptable."""
    if width < 1 or height < 1:
        raise NotAnImage("the image declares no pixels")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image declares {width}x{height} = {width * height} pixels; at most "
            f"{max_pixels} pixels are accepted"
        )


def peak_bytes(width: int, height: int) -> int:
    """The most pixel memory processing a ``width`` x ``height`` image holds at once.

    Two full-size 4-byte buffers: the decoded picture and its upright copy while a rotated
    photo is turned (or, for WebP, libwebp's frame and Pillow's copy of it).
    """
    return 2 * width * height * _BYTES_PER_PIXEL


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _open(file: BinaryIO, max_pixels: int, max_webp_pixels: int) -> Image.Image:
    """``file`` opened lazily (headers only); a WebP's canvas checked against its cap first."""
    file.seek(0)
    declared = webp.declared_size(file.read(30))
    if declared is not None:
        check_declared_size(*declared, max_webp_pixels)
    file.seek(0)
    try:
        return Image.open(file, formats=list(_FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard, far above ours: the header declares an absurd size.
        raise ImageTooLarge(
            f"the image declares far more than {max_pixels} pixels; at most {max_pixels} "
            "pixels are accepted"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise NotAnImage("the file is not a JPEG, PNG or WebP image") from None


def _decode_upright(image: Image.Image, *, turn: bool = True) -> Image.Image:
    """Decode ``image`` and turn it upright in place (unless not ``turn``); metadata is
    dropped from it."""
    try:
        image.load()
        if turn:
            ImageOps.exif_transpose(image, in_place=True)
    except _DECODE_ERRORS:
        raise NotAnImage("the image data is damaged") from None
    transparent = "transparency" in image.info
    # No metadata is written from an empty info (PNG falls back to it for ICC and text).
    image.info = {}
    if image.mode == "P" or (transparent and image.mode in ("L", "RGB")):
        converted = image.convert("RGBA")
        image.close()
        return converted
    return image


def _original(image: Image.Image, fmt: str) -> tuple[Image.Image, bytes]:
    """The re-encoded JPEG or PNG original (and ``image``, converted if JPEG needed it)."""
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L"):
            converted = image.convert("RGB")
            image.close()
            image = converted
        return image, _encode(image, "JPEG", quality=90, optimize=True)
    # zlib's default level, not optimize=True (level 9): on a 16 MP picture that is ~10x the
    # time (70 s against 6 s measured on 2 busy cores) for a file ~10% smaller, and an upload
    # must answer within the gateway's upstream timeout.
    return image, _encode(image, "PNG", compress_level=6)


def _webp_original(file: BinaryIO) -> bytes:
    """The uploaded WebP without its metadata chunks: the picture's bitstream untouched."""
    file.seek(0)
    try:
        return webp.strip_metadata(file.read())
    except webp.NotAWebP:
        raise NotAnImage("the image data is damaged") from None


def _jpeg_for_display(file: BinaryIO, max_pixels: int) -> Image.Image:
    """The JPEG decoded again at the smallest libjpeg scale still >= the display size."""
    image = _open(file, max_pixels, max_pixels)
    # A square box: whichever way the photo is turned, its long side stays >= DISPLAY_SIZE.
    image.draft("RGB", (DISPLAY_SIZE, DISPLAY_SIZE))
    return _decode_upright(image)


def _shrink(image: Image.Image, size: int) -> Image.Image:
    """``image`` fitted into ``size`` x ``size`` (the old one closed if a new one is made).

    Reduced first by a whole factor (box average), so that the Lanczos pass, and its
    premultiplied-alpha copy of an RGBA picture, only ever see a picture near ``size``.
    """
    factor = max(image.size) // size
    if factor > 1:
        reduced = image.reduce(factor)
        image.close()
        image = reduced
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    return image


def _webp_sizes(image: Image.Image) -> tuple[bytes, bytes]:
    """Display and thumbnail WebP, shrinking ``image`` in place: thumbnail from display."""
    if image.mode not in ("RGB", "RGBA"):
        if image.mode in ("1", "L", "LA", "CMYK", "YCbCr"):
            image = _shrink(image, DISPLAY_SIZE)  # convert the smaller picture
        converted = image.convert("RGBA" if "A" in image.mode else "RGB")
        image.close()
        image = converted
    image = _shrink(image, DISPLAY_SIZE)
    display = _encode(image, "WEBP", quality=82, method=2)
    image = _shrink(image, THUMBNAIL_SIZE)
    thumbnail = _encode(image, "WEBP", quality=82, method=2)
    image.close()
    return display, thumbnail


def process_image(
    file: BinaryIO, *, max_pixels: int, max_webp_pixels: int | None = None
) -> Processed:
    """Decode ``file`` and derive the stored files; ``NotAnImage`` / ``ImageTooLarge``.

    ``max_webp_pixels`` (default ``max_pixels``) caps WebP uploads apart: Pillow decodes a
    WebP through libwebp's animation decoder, which holds ~14 bytes a pixel while it runs.
    """
    webp_cap = min(max_pixels, max_webp_pixels or max_pixels)
    image = _open(file, max_pixels, webp_cap)
    fmt = image.format or ""
    try:
        # Before decoding: the header's declared size.
        check_declared_size(image.width, image.height, webp_cap if fmt == "WEBP" else max_pixels)
        if fmt == "WEBP":
            # Kept as encoded (metadata chunks out), so shown as encoded: not turned.
            original = _webp_original(file)
            image = _decode_upright(image, turn=False)
        else:
            image = _decode_upright(image)
            image, original = _original(image, fmt)
        width, height = image.size
        if fmt == "JPEG":
            image.close()  # free the full-size pixels before decoding again, smaller
            image = _jpeg_for_display(file, max_pixels)
        display, thumbnail = _webp_sizes(image)
    except ValueError:  # a pixel format Pillow cannot convert or resize
        raise NotAnImage("the image's pixel format is not supported") from None
    finally:
        image.close()
    return Processed(
        original=original,
        original_format=_FORMATS[fmt],
        original_type=Image.MIME[fmt],
        display=display,
        thumbnail=thumbnail,
        width=width,
        height=height,
    )
