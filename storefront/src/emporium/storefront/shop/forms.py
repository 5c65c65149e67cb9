"""Reading the shop's forms (pure helpers shared by its pages)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import FormData

__all__ = ["safe_next", "text"]


def text(form: FormData, name: str, limit: int = 500) -> str:
    """A text field, trimmed and bounded (a missing or file field is ``""``)."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def safe_next(value: str | None, default: str = "/") -> str:
    """Where to go after signing in: a path of this site only (no open redirect)."""
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(ch) < 32 for ch in value):
        return default
    return value
