"""The session: a sealed cookie, nothing stored server-side.

What a visitor's session holds (the API's tokens, who they are, the CSRF token, one-shot
messages) is JSON, encrypted and authenticated with Fernet (AES-128-CBC + HMAC-SHA256)
under a key derived from ``STOREFRONT_SECRET_KEY``, and set as an ``HttpOnly``,
``SameSite=Lax`` cookie (``Secure`` outside dev). The browser's JavaScript cannot read the
tokens, another site's page cannot send them with a cross-site POST, and any replica can
open any cookie: there is no session store to run or share. A cookie that was tampered
with, sealed under another key or older than ``session_max_age_seconds`` is ignored (a
fresh, signed-out session).

``SessionMiddleware`` (pure ASGI) opens the cookie once per request into a ``Session`` in
the scope and writes it back on the answer only when the request changed it.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SCOPE_KEY", "Sealer", "Session", "SessionMiddleware", "Tokens", "get_session"]

SCOPE_KEY = "emporium.session"
#: Browsers keep cookies up to 4096 bytes; a session that would not fit loses its flashes.
MAX_COOKIE_BYTES = 4000


class Sealer:
    """Seals and opens session payloads under one secret key."""

    def __init__(self, secret_key: str, *, max_age_seconds: int) -> None:
        # A key of its own for sessions (HKDF), not the raw secret: the same secret may
        # serve another purpose without one use helping to attack the other.
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"emporium.storefront.session"
        ).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self.max_age_seconds = max_age_seconds

    def seal(self, data: dict[str, Any], *, now: float | None = None) -> str:
        payload = json.dumps(data, separators=(",", ":")).encode()
        at = int(time.time() if now is None else now)
        return self._fernet.encrypt_at_time(payload, at).decode("ascii")

    def open(self, sealed: str, *, now: float | None = None) -> dict[str, Any] | None:
        """The payload, or None when ``sealed`` is forged, foreign, expired or garbage."""
        try:
            at = int(time.time() if now is None else now)
            payload = self._fernet.decrypt_at_time(sealed.encode("ascii"), self.max_age_seconds, at)
            data = json.loads(payload)
        except (InvalidToken, ValueError, UnicodeEncodeError):
            return None
        return data if isinstance(data, dict) else None


@dataclass(frozen=True, slots=True)
class Tokens:
    """The API's token pair and when the access token expires (epoch seconds)."""

    access: str
    refresh: str
    expires_at: float

    def expires_within(self, seconds: float, *, now: float | None = None) -> bool:
        return self.expires_at - (time.time() if now is None else now) <= seconds


class Session:
    """One visitor's session; every change marks it to be written back."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(data or {})
        self.modified = False
        if not isinstance(self.data.get("csrf"), str):
            self.data["csrf"] = secrets.token_urlsafe(32)
            self.modified = True

    @property
    def csrf_token(self) -> str:
        token: str = self.data["csrf"]
        return token

    @property
    def tokens(self) -> Tokens | None:
        raw = self.data.get("tokens")
        if not isinstance(raw, dict):
            return None
        try:
            return Tokens(str(raw["access"]), str(raw["refresh"]), float(raw["expires_at"]))
        except (KeyError, TypeError, ValueError):
            return None

    def set_tokens(self, tokens: Tokens) -> None:
        self.data["tokens"] = {
            "access": tokens.access,
            "refresh": tokens.refresh,
            "expires_at": tokens.expires_at,
        }
        self.modified = True

    @property
    def customer(self) -> dict[str, Any] | None:
        raw = self.data.get("customer")
        return raw if isinstance(raw, dict) else None

    def set_customer(self, customer: dict[str, Any]) -> None:
        self.data["customer"] = customer
        self.modified = True

    def sign_in(self, tokens: Tokens, customer: dict[str, Any]) -> None:
        """Tokens and customer in, and a new CSRF token: a token seen before signing in
        (a planted session) is worth nothing after."""
        self.set_tokens(tokens)
        self.set_customer(customer)
        self.data["csrf"] = secrets.token_urlsafe(32)

    def sign_out(self) -> None:
        """Everything of the signed-in customer out; a new CSRF token."""
        flashes = self.data.get("flash", [])
        self.data = {"csrf": secrets.token_urlsafe(32), "flash": flashes}
        self.modified = True

    def flash(self, message: str, kind: str = "info") -> None:
        """A message shown once, on the next page rendered (after a redirect)."""
        self.data.setdefault("flash", []).append({"kind": kind, "message": message})
        self.modified = True

    def pop_flashes(self) -> list[dict[str, str]]:
        flashes = self.data.pop("flash", None)
        if flashes:
            self.modified = True
            return [f for f in flashes if isinstance(f, dict)]
        return []

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, key: str, value: Any) -> None:
        """A small value of a page's own (keep it small: the cookie holds it all)."""
        self.data[key] = value
        self.modified = True


def get_session(connection: HTTPConnection) -> Session:
    """The request's ``Session`` (a FastAPI dependency; ``SessionMiddleware`` made it)."""
    session = connection.scope.get(SCOPE_KEY)
    if not isinstance(session, Session):
        raise RuntimeError("SessionMiddleware is not installed")
    return session


class SessionMiddleware:
    """Opens the session cookie into ``scope[SCOPE_KEY]``; writes it back when changed."""

    def __init__(self, app: ASGIApp, *, sealer: Sealer, cookie_name: str, secure: bool) -> None:
        self.app = app
        self.sealer = sealer
        self.cookie_name = cookie_name
        self.secure = secure

    def _load(self, scope: Scope) -> Session:
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                cookie: SimpleCookie = SimpleCookie()
                try:
                    cookie.load(value.decode("latin-1"))
                except Exception:  # a malformed Cookie header is no session
                    continue
                morsel = cookie.get(self.cookie_name)
                if morsel is not None:
                    data = self.sealer.open(morsel.value)
                    if data is not None:
                        return Session(data)
        return Session()

    def set_cookie_header(self, session: Session) -> bytes:
        sealed = self.sealer.seal(session.data)
        if len(sealed) > MAX_COOKIE_BYTES:
            session.data.pop("flash", None)
            sealed = self.sealer.seal(session.data)
        parts = [
            f"{self.cookie_name}={sealed}",
            "Path=/",
            f"Max-Age={self.sealer.max_age_seconds}",
            "HttpOnly",
            "SameSite=Lax",
        ]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts).encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session = self._load(scope)
        scope[SCOPE_KEY] = session

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and session.modified:
                headers = [*message.get("headers", [])]
                headers.append((b"set-cookie", self.set_cookie_header(session)))
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    # An answer that sets a visitor's cookie is never kept by a shared cache.
                    headers.append((b"cache-control", b"private, no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
