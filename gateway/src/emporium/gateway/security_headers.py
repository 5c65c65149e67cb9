"""Security headers on every answer of the gateway (pure ASGI middleware).

``X-Content-Type-Options: nosniff`` (a JSON or image answer is never run as a script),
``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY`` and
``Content-Security-Policy: frame-ancestors 'none'`` (no page may frame an answer; only
``frame-ancestors``, so Swagger UI at ``/docs`` still loads its scripts), and with
``GATEWAY_HSTS_SECONDS`` > 0 ``Strict-Transport-Security: max-age=<seconds>``. A service's
own values of these headers are replaced, so each appears once.

One exception: outside ``/api`` (the storefront's pages, which the gateway forwards) an
answer's own Content-Security-Policy is kept, so the storefront owns the policy of its
pages (scripts, styles, images, forms); ``frame-ancestors 'none'`` is added to it when it
says nothing about framing. API answers always get the gateway's policy, whatever a
service sends.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeadersMiddleware", "page_policy", "security_headers"]

_CSP = b"content-security-policy"
_FRAME_ANCESTORS = b"frame-ancestors 'none'"


def security_headers(hsts_seconds: int = 0) -> list[tuple[bytes, bytes]]:
    """The headers every answer carries."""
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (_CSP, _FRAME_ANCESTORS),
    ]
    if hsts_seconds > 0:
        headers.append((b"strict-transport-security", f"max-age={hsts_seconds}".encode()))
    return headers


def page_policy(policy: bytes) -> bytes:
    """A forwarded page's own policy, with ``frame-ancestors 'none'`` unless it has one."""
    directives = [d.strip() for d in policy.split(b";") if d.strip()]
    if any(d.split()[0].lower() == b"frame-ancestors" for d in directives):
        return b"; ".join(directives)
    return b"; ".join([*directives, _FRAME_ANCESTORS])


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


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

        own_policy_allowed = not _is_api(str(scope.get("path", "")))

        names, added = self.names, self.headers

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                kept = [(name, value) for name, value in headers if name.lower() not in names]
                ours = added
                if own_policy_allowed:
                    own = [v for n, v in headers if n.lower() == _CSP]
                    if len(own) == 1 and own[0].strip():
                        ours = [(n, page_policy(own[0]) if n == _CSP else v) for n, v in added]
                # In place, as the kit's request context sets its id: a message is sent once.
                message["headers"] = kept + ours
            await send(message)

        await self.app(scope, receive, with_headers)
