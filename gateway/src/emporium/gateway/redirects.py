"""Redirects from a service that must not reach a client (pure).

A service's ``Location`` names its own, internal address (``http://10.0.3.7:8001/media/``)
or a path of its own (``/media/``, without ``/api/v1``): neither means anything to a client,
and the first leaks the network's layout. No service redirects on purpose; Starlette does,
from a path to the same path with a trailing slash, when only that one has a route. The
canonical target never has a trailing slash, so that redirect means "no such API path": a
404. Any other redirect into the service is a 502. A redirect to another host (a CDN, a
presigned object URL) passes.
"""

from __future__ import annotations

from typing import Literal

from yarl import URL

__all__ = ["InternalRedirect", "internal_redirect"]

InternalRedirect = Literal["slash", "internal"]


def internal_redirect(
    status: int, location: str | None, *, upstream: URL, path: str
) -> InternalRedirect | None:
    """Whether an upstream answer is a redirect into the service itself: ``"slash"`` (to
    ``path`` with a slash added or removed), ``"internal"`` (elsewhere in it) or None."""
    if not 300 <= status < 400 or location is None:
        return None
    try:
        target = URL(location.strip())
    except ValueError:
        return "internal"  # not even a URL: nothing a client could follow
    if target.is_absolute() and target.origin() != upstream.origin():
        return None
    if target.is_absolute() or target.raw_path.startswith("/") or not target.raw_path:
        base = upstream.raw_path.rstrip("/")
        named = target.raw_path.removeprefix(base) if base else target.raw_path
        if named.rstrip("/") == path.rstrip("/"):
            return "slash"
    return "internal"
