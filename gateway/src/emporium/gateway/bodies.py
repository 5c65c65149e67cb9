"""What a request's body is, from its headers (the body itself is streamed on, unread)."""

from __future__ import annotations

from starlette.requests import Request

__all__ = ["has_body", "is_upload"]


def has_body(request: Request) -> bool:
    """Whether a body follows: a non-zero length, or a chunked one."""
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


def is_upload(request: Request) -> bool:
    """A ``multipart/form-data`` body (a file): its answer may take longer (see settings)."""
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")
