"""The storefront's Content-Security-Policy, on every answer (pure ASGI middleware).

The pages load only their own stylesheet and scripts (``static/``: htmx, ``shop.js``,
``admin/admin.js``), with no inline script, style or event handler (htmx's indicator
style is off in ``base.html``), so ``'self'`` is enough everywhere. Product images are the
API's ``/api/v1/media/...`` on the same origin; the admin previews a chosen file from a
``blob:`` URL. Forms post to the storefront only, nothing may frame a page, and no
``<base>`` may redirect the relative URLs. The gateway passes this policy through for the
paths it forwards (it adds ``frame-ancestors`` only where a policy lacks it).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["POLICY", "ContentSecurityPolicyMiddleware"]

POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

_NAME = b"content-security-policy"


class ContentSecurityPolicyMiddleware:
    """Sets ``Content-Security-Policy: POLICY`` on every HTTP answer (replacing any other)."""

    def __init__(self, app: ASGIApp, *, policy: str = POLICY) -> None:
        self.app = app
        self.header = (_NAME, policy.encode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [h for h in message.get("headers", []) if h[0].lower() != _NAME]
                message = {**message, "headers": [*kept, self.header]}
            await send(message)

        await self.app(scope, receive, with_policy)
