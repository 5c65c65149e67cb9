"""WebP containers read and rewritten without decoding: the declared canvas, metadata out.

A WebP file is a RIFF container: ``RIFF <size> WEBP`` then chunks (``fourcc``, little-endian
``uint32`` size, payload, a pad byte to an even length). The picture lives in ``VP8 ``
(lossy), ``VP8L`` (lossless), ``ALPH`` (alpha), ``ANIM``/``ANMF`` (animation), announced by
an optional ``VP8X`` header whose flags say which extras follow; ``ICCP``, ``EXIF`` and
``XMP `` carry the metadata. Stripping those chunks removes the metadata without touching the
picture: no decoding, no re-encoding (Pillow's WebP encoder holds ~20 bytes a pixel).
"""

from __future__ import annotations

import struct

__all__ = ["NotAWebP", "declared_size", "strip_metadata"]

_PICTURE_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF"})
# VP8X flag bits: ICC profile, EXIF, XMP.
_METADATA_FLAGS = 0x20 | 0x08 | 0x04


class NotAWebP(ValueError):
    """The bytes are not a well-formed WebP container."""


def declared_size(head: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP file's first 30 bytes declare; None if not a WebP header.

    Needed before ``Image.open``: Pillow's WebP decoder allocates the canvas when it is
    created, that is while opening, not while loading.
    """
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width = int.from_bytes(head[26:28], "little") & 0x3FFF
        return width, int.from_bytes(head[28:30], "little") & 0x3FFF
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        return width, int.from_bytes(head[27:30], "little") + 1
    if chunk == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise NotAWebP("not a RIFF WEBP container")
    end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    chunks, at = [], 12
    while at + 8 <= end:
        fourcc, size = data[at : at + 4], int.from_bytes(data[at + 4 : at + 8], "little")
        payload = data[at + 8 : at + 8 + size]
        if len(payload) != size:
            raise NotAWebP(f"chunk {fourcc!r} is cut short")
        chunks.append((fourcc, payload))
        at += 8 + size + (size & 1)
    return chunks


def strip_metadata(data: bytes) -> bytes:
    """``data`` with its ICC, EXIF, XMP and unknown chunks dropped (``NotAWebP`` if bad)."""
    kept: list[bytes] = []
    for fourcc, payload in _chunks(data):
        if fourcc == b"VP8X":
            if len(payload) < 10:
                raise NotAWebP("VP8X header is too short")
            flags = payload[0] & ~_METADATA_FLAGS & 0xFF
            payload = bytes([flags]) + payload[1:]
        elif fourcc not in _PICTURE_CHUNKS:
            continue
        pad = b"\0" if len(payload) & 1 else b""
        kept.append(fourcc + struct.pack("<I", len(payload)) + payload + pad)
    if not any(chunk[:4] in (b"VP8 ", b"VP8L", b"ANMF") for chunk in kept):
        raise NotAWebP("no picture in the container")
    body = b"WEBP" + b"".join(kept)
    return b"RIFF" + struct.pack("<I", len(body)) + body
