"""Security headers on every answer of the gateway (pure ASGI middleware).

``X-Content-Type-Options: nosniff`` (a JSON or image answer is never run as a script),
``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY`` and
``Content-Security-Policy: frame-ancestors 'none'`` (no page may frame an answer; only
``frame-ancestors``, so Swagger UI at ``/docs`` still loads its scripts), and with
``GATEWAY_HSTS_SECONDS`` > 0 ``Strict-Transport-Security: max-age=<seconds>``. A service's
own values of these headers are replaced, so each appears once.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeadersMiddleware", "security_headers"]


def security_headers(hsts_seconds: int = 0) -> list[tuple[bytes, bytes]]:
    """The headers every answer carries."""
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", b"frame-ancestors 'none'"),
    ]
    if hsts_seconds > 0:
        headers.append((b"strict-transport-security", f"max-age={hsts_seconds}".encode()))
    return headers


class SecurityHeadersMiddleware:
    """Adds ``security_headers(hsts_seconds)`` to every HTTP answer."""

    def __init__(self, app: ASGIApp, *, hsts_seconds: int = 0) -> None:
        self.app = app
        self.headers = security_headers(hsts_seconds)
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in self.names
                ]
                message = {**message, "headers": [*kept, *self.headers]}
            await send(message)

        await self.app(scope, receive, with_headers)
