"""The image pipeline's rules, on bytes in memory: sizes, modes, orientation, metadata, caps."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from emporium.catalog.errors import ImageTooLarge, NotAnImage
from emporium.catalog.media import processing
from emporium.catalog.media.processing import (
    DISPLAY_SIZE,
    THUMBNAIL_SIZE,
    check_declared_size,
    peak_bytes,
    process_image,
)
from emporium.catalog.media.webp import declared_size as webp_declared_size
from emporium.catalog.settings import Settings

CAP = 16_000_000


def _encoded(image: Image.Image, fmt: str, **options: object) -> io.BytesIO:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    out.seek(0)
    return out


def _sizes(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header declares ``width`` x ``height``."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\0" * 1024)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


@pytest.mark.parametrize(
    ("width", "height", "ok"),
    [
        (1, 1, True),
        (4000, 4000, True),
        (4920, 3252, True),
        (16_000_000, 1, True),
        (4001, 4000, False),
        (6300, 6300, False),
        (65535, 65535, False),
        (2**31 - 1, 2**31 - 1, False),
    ],
)
def test_the_declared_size_is_checked_against_the_cap(width: int, height: int, ok: bool) -> None:
    if ok:
        check_declared_size(width, height, CAP)
    else:
        with pytest.raises(ImageTooLarge, match="at most 16000000 pixels"):
            check_declared_size(width, height, CAP)


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, 0), (0, 0)])
def test_an_image_without_pixels_is_not_an_image(width: int, height: int) -> None:
    with pytest.raises(NotAnImage):
        check_declared_size(width, height, CAP)


def test_the_default_cap_keeps_one_upload_under_150_mb() -> None:
    cap = Settings().max_image_pixels
    assert cap == 16_000_000
    assert peak_bytes(cap, 1) <= 150 * 1000 * 1000
    assert Settings().image_max_concurrent == 2


def test_a_bomb_is_refused_before_a_pixel_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(image: Image.Image) -> Image.Image:  # pragma: no cover - the bug
        raise AssertionError("decoded before the size check")

    monkeypatch.setattr(processing, "_decode_upright", no_decoding)
    with pytest.raises(ImageTooLarge, match="6300x6300"):
        process_image(io.BytesIO(png_declaring(6300, 6300)), max_pixels=CAP)


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (2**31 - 1, 1000)])
def test_an_absurd_declared_size_is_413_not_a_crash(width: int, height: int) -> None:
    with pytest.raises(ImageTooLarge, match="at most 16000000 pixels"):
        process_image(io.BytesIO(png_declaring(width, height)), max_pixels=CAP)


@pytest.mark.parametrize(
    ("size", "display", "thumbnail"),
    [
        ((4000, 3000), (1200, 900), (320, 240)),
        ((3000, 4000), (900, 1200), (240, 320)),
        ((2400, 2400), (1200, 1200), (320, 320)),
        ((1201, 800), (1200, 799), (320, 213)),
        ((800, 600), (800, 600), (320, 240)),
        ((200, 100), (200, 100), (200, 100)),
        ((5000, 40), (1200, 10), (320, 3)),
    ],
)
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_derived_sizes_fit_their_boxes(
    fmt: str, size: tuple[int, int], display: tuple[int, int], thumbnail: tuple[int, int]
) -> None:
    image = Image.new("RGB", size, (200, 30, 30))
    result = process_image(_encoded(image, fmt), max_pixels=CAP)

    assert (result.width, result.height) == size
    assert _sizes(result.original) == size
    got_display, got_thumb = _sizes(result.display), _sizes(result.thumbnail)
    # draft() scaling and rounding may differ by a pixel on the short side
    assert max(got_display) == max(display)
    assert abs(min(got_display) - min(display)) <= 1
    assert max(got_thumb) == max(thumbnail)
    assert abs(min(got_thumb) - min(thumbnail)) <= 1
    assert max(got_display) <= DISPLAY_SIZE
    assert max(got_thumb) <= THUMBNAIL_SIZE


def test_a_jpeg_is_decoded_for_display_with_a_reduced_draft(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[int, int]] = []
    real = processing._webp_sizes

    def spy(image: Image.Image) -> tuple[bytes, bytes]:
        seen.append(image.size)
        return real(image)

    monkeypatch.setattr(processing, "_webp_sizes", spy)
    process_image(_encoded(Image.new("RGB", (4800, 3200)), "JPEG"), max_pixels=CAP)

    # libjpeg scaled by 1/2 while decoding: 2400x1600, still >= the display box
    assert seen == [(2400, 1600)]


def test_a_rotated_photo_is_stored_upright_without_its_exif() -> None:
    image = Image.new("RGB", (1600, 1000), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    exif[0x010F] = "SpyCam"
    result = process_image(_encoded(image, "JPEG", exif=exif.tobytes()), max_pixels=CAP)

    assert (result.width, result.height) == (1000, 1600)
    for data in (result.original, result.display, result.thumbnail):
        with Image.open(io.BytesIO(data)) as stored:
            assert stored.height > stored.width
            assert not stored.getexif()
            assert "icc_profile" not in stored.info


@pytest.mark.parametrize(
    ("mode", "fmt", "options"),
    [
        ("L", "JPEG", {}),
        ("CMYK", "JPEG", {}),
        ("P", "PNG", {"transparency": 0}),
        ("L", "PNG", {"transparency": 0}),
        ("LA", "PNG", {}),
        ("1", "PNG", {}),
        ("I;16", "PNG", {}),
        ("RGBA", "PNG", {}),
        ("RGBA", "WEBP", {}),
    ],
)
def test_every_pixel_format_gives_webp_sizes(
    mode: str, fmt: str, options: dict[str, object]
) -> None:
    image = Image.new(mode, (1500, 900))
    result = process_image(_encoded(image, fmt, **options), max_pixels=CAP)

    assert max(_sizes(result.display)) == DISPLAY_SIZE
    assert max(_sizes(result.thumbnail)) == THUMBNAIL_SIZE
    for data in (result.display, result.thumbnail):
        with Image.open(io.BytesIO(data)) as stored:
            assert stored.format == "WEBP"


def test_png_text_and_icc_chunks_are_dropped() -> None:
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    text.add_text("Author", "secret person")
    image = Image.new("RGB", (300, 200))
    source = _encoded(image, "PNG", pnginfo=text, icc_profile=b"fake-icc-profile" * 10)
    result = process_image(source, max_pixels=CAP)

    assert b"secret person" not in result.original
    assert b"fake-icc-profile" not in result.original
    with Image.open(io.BytesIO(result.original)) as stored:
        assert "icc_profile" not in stored.info
        assert "Author" not in stored.info


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        png_declaring(100, 100)[:40],
        png_declaring(100, 100),  # a header and too little pixel data
        _encoded(Image.new("RGB", (400, 300)), "JPEG").getvalue()[:300],
    ],
)
def test_damaged_or_foreign_files_are_not_images(data: bytes) -> None:
    with pytest.raises(NotAnImage):
        process_image(io.BytesIO(data), max_pixels=CAP)


def _webp_head(chunk: bytes, body: bytes) -> bytes:
    return (b"RIFF" + b"\0\0\0\0" + b"WEBP" + chunk + b"\0\0\0\0" + body).ljust(30, b"\0")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_webp_head(b"VP8X", b"\0" * 4 + (16382).to_bytes(3, "little") * 2), (16383, 16383)),
        (_webp_head(b"VP8X", b"\0" * 4 + (0).to_bytes(3, "little") * 2), (1, 1)),
        (
            _webp_head(b"VP8L", b"\x2f" + (4999 | (2999 << 14)).to_bytes(4, "little")),
            (5000, 3000),
        ),
        (
            _webp_head(
                b"VP8 ",
                b"\0\0\0\x9d\x01\x2a" + (640).to_bytes(2, "little") + (480).to_bytes(2, "little"),
            ),
            (640, 480),
        ),
        (_webp_head(b"VP8L", b"\x00" * 5), None),  # no VP8L signature
        (_webp_head(b"ALPH", b"\0" * 10), None),
        (b"RIFF\0\0\0\0WEBPVP8X", None),  # too short
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 30, None),
        (b"", None),
    ],
)
def test_a_webp_header_declares_its_canvas(head: bytes, expected: tuple[int, int] | None) -> None:
    assert webp_declared_size(head) == expected


@pytest.mark.parametrize("size", [(400, 300), (1, 1), (1500, 20)])
def test_the_webp_header_reader_agrees_with_pillow(size: tuple[int, int]) -> None:
    for options in ({"lossless": True}, {"quality": 80}):
        data = _encoded(Image.new("RGB", size), "WEBP", **options).getvalue()
        assert webp_declared_size(data[:30]) == size


def test_a_webp_declaring_a_huge_canvas_is_refused_before_pillow_opens_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_open(*args: object, **kwargs: object) -> Image.Image:  # pragma: no cover - the bug
        raise AssertionError("opened before the size check")

    monkeypatch.setattr(Image, "open", no_open)
    head = _webp_head(b"VP8X", b"\0" * 4 + (16382).to_bytes(3, "little") * 2)
    with pytest.raises(ImageTooLarge, match="16383x16383"):
        process_image(io.BytesIO(head + b"\0" * 100), max_pixels=CAP)
