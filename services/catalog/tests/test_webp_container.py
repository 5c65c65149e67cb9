"""WebP containers: metadata chunks out, the picture untouched, malformed files refused."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from emporium.catalog.errors import ImageTooLarge
from emporium.catalog.media.processing import process_image
from emporium.catalog.media.webp import NotAWebP, strip_metadata


def _webp(mode: str = "RGB", **options: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (120, 80), (10, 120, 200) if mode == "RGB" else (10, 120, 200, 90)).save(
        out, format="WEBP", **options
    )
    return out.getvalue()


def _chunk_names(data: bytes) -> list[bytes]:
    names, at = [], 12
    while at + 8 <= len(data):
        size = int.from_bytes(data[at + 4 : at + 8], "little")
        names.append(data[at : at + 4])
        at += 8 + size + (size & 1)
    return names


def _with_metadata() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    exif[0x8825] = {2: (48.0, 51.0, 24.0)}  # GPS latitude
    return _webp(exif=exif.tobytes(), icc_profile=b"an-icc-profile" * 20, xmp=b"<x:xmpmeta/>")


def test_metadata_chunks_are_dropped_and_flags_cleared() -> None:
    source = _with_metadata()
    assert {b"EXIF", b"ICCP", b"XMP "} <= set(_chunk_names(source))

    stripped = strip_metadata(source)

    assert not {b"EXIF", b"ICCP", b"XMP "} & set(_chunk_names(stripped))
    assert b"SpyCam" not in stripped
    assert b"an-icc-profile" not in stripped
    assert stripped[20] & (0x20 | 0x08 | 0x04) == 0  # VP8X flags: no ICC, EXIF, XMP
    assert int.from_bytes(stripped[4:8], "little") == len(stripped) - 8
    with Image.open(io.BytesIO(stripped)) as image:
        assert image.size == (120, 80)
        assert "exif" not in image.info
        assert "icc_profile" not in image.info
        image.load()


@pytest.mark.parametrize(
    "options",
    [{"lossless": True}, {"quality": 70}, {"lossless": True, "exact": True}],
)
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_the_picture_is_kept_bit_for_bit(mode: str, options: dict[str, object]) -> None:
    source = _webp(mode, **options)

    stripped = strip_metadata(source)

    with Image.open(io.BytesIO(source)) as a, Image.open(io.BytesIO(stripped)) as b:
        assert a.tobytes() == b.tobytes()


def test_an_animated_webp_keeps_its_frames() -> None:
    frames = [Image.new("RGB", (40, 40), colour) for colour in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, format="WEBP", save_all=True, append_images=frames[1:], duration=100)

    stripped = strip_metadata(out.getvalue())

    with Image.open(io.BytesIO(stripped)) as image:
        assert image.n_frames == 3


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"RIFF",
        b"RIFF\x10\x00\x00\x00WEBX" + b"\0" * 8,
        b"RIFF\x04\x00\x00\x00WEBP",  # no chunks
        b"RIFF\x20\x00\x00\x00WEBPVP8L" + struct.pack("<I", 1000) + b"\0" * 12,  # cut short
        b"RIFF\x12\x00\x00\x00WEBPEXIF" + struct.pack("<I", 2) + b"ab",  # metadata only
        b"RIFF\x12\x00\x00\x00WEBPVP8X" + struct.pack("<I", 2) + b"ab",  # short VP8X
    ],
)
def test_a_malformed_container_is_not_a_webp(data: bytes) -> None:
    with pytest.raises(NotAWebP):
        strip_metadata(data)


def test_the_stored_original_of_a_webp_has_no_metadata() -> None:
    result = process_image(io.BytesIO(_with_metadata()), max_pixels=16_000_000)

    assert result.original_format == "webp"
    assert b"SpyCam" not in result.original
    assert b"an-icc-profile" not in result.original
    assert (result.width, result.height) == (120, 80)


def test_webp_has_its_own_lower_pixel_cap() -> None:
    out = io.BytesIO()
    Image.new("RGB", (100, 100)).save(out, format="WEBP", lossless=True)

    with pytest.raises(ImageTooLarge, match="at most 9999 pixels"):
        process_image(io.BytesIO(out.getvalue()), max_pixels=20_000, max_webp_pixels=9_999)
    # The same picture as a PNG is under the general cap.
    png = io.BytesIO()
    Image.new("RGB", (100, 100)).save(png, format="PNG")
    assert process_image(png, max_pixels=20_000, max_webp_pixels=9_999).width == 100


def test_a_jpeg_bomb_names_the_general_cap_not_the_webp_one() -> None:
    from PIL import JpegImagePlugin  # noqa: F401  (registers the format)

    out = io.BytesIO()
    Image.new("RGB", (64, 64)).save(out, format="JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65500, 65500)

    with pytest.raises(ImageTooLarge, match="at most 16000000 pixels"):
        process_image(io.BytesIO(bytes(data)), max_pixels=16_000_000, max_webp_pixels=8_000_000)
