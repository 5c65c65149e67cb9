"""CSRF: every unsafe request must carry the session's token.

The session cookie is ``SameSite=Lax`` (a cross-site POST does not carry it), and on top of
that every POST, PUT, PATCH and DELETE must present the session's CSRF token: in the form
field ``csrf_token`` (every form renders it, ``csrf_field()`` in the templates) or in the
``X-CSRF-Token`` header (htmx sends it, set once in the base layout). Checked here for the
whole app (pure ASGI, before any route runs), so a page cannot forget to: a request without
the token, or with another session's, is refused with the 403 page ``refuse`` renders.

The form body is read once here and replayed to the app unchanged.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emporium.storefront.session import SCOPE_KEY, Session

__all__ = ["FIELD", "HEADER", "UNSAFE", "CsrfMiddleware", "token_matches"]

FIELD = "csrf_token"
HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

Refusal = Callable[[Request], Awaitable[Response]]


def token_matches(expected: str, given: object) -> bool:
    """Whether ``given`` is the session's token (constant time; anything else is False)."""
    if not isinstance(given, str) or not given or not expected:
        return False
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape"))


class CsrfMiddleware:
    """Refuses an unsafe request whose CSRF token is missing or wrong (see the module)."""

    def __init__(self, app: ASGIApp, *, refuse: Refusal) -> None:
        self.app = app
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        session = scope.get(SCOPE_KEY)
        expected = session.csrf_token if isinstance(session, Session) else ""
        headers = dict(scope.get("headers", []))
        if token_matches(expected, headers.get(HEADER.encode(), b"").decode("latin-1")):
            await self.app(scope, receive, send)
            return
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if not content_type.startswith(_FORMS):
            refusal = await self.refuse(Request(scope, receive))
            await refusal(scope, receive, send)
            return
        # Read the whole body (the size limit outside bounds it), look, then replay it.
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        given = await _form_token(scope, body)
        if not token_matches(expected, given):
            replay = _replay(body, receive)
            refusal = await self.refuse(Request(scope, replay))
            await refusal(scope, replay, send)
            return
        await self.app(scope, _replay(body, receive), send)


async def _form_token(scope: Scope, body: bytes) -> str | None:
    request = Request(scope, _replay(body, None))
    try:
        form: FormData = await request.form()
    except Exception:  # a body that is not a form carries no token
        return None
    try:
        value = form.get(FIELD)
        return value if isinstance(value, str) else None
    finally:
        await form.close()


def _replay(body: bytes, then: Receive | None) -> Receive:
    """The body once, then the real ``receive`` (which tells of the client leaving)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive
