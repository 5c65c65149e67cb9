"""Who is calling, and may they call this route (401 / 403 before anything is proxied).

The token is verified here with the kit's ``TokenVerifier`` (the customers JWKS, cached and
refetched on an unknown ``kid``; the shared denylist of revoked tokens) and forwarded as
it came: the services verify it again and read the identity from it.

A token verified once is kept in ``VerifiedTokens`` (in-process, bounded, least recently
used out) until it expires, so the signature is checked once per token, not per request.
Its revocation is still checked on every request: the caller asks the shared denylist
(``front.py`` folds that into the request's one Redis round trip), so a sign-out is
honoured at once.

A token refused (expired, bad signature, revoked...) is remembered as refused for
``REFUSED_SECONDS``: a client that keeps sending an expired token to a public route (the
gateway then proxies it as anonymous) cost a full signature check per request, 23 % of
the gateway's CPU in a profile of such a load. One second, so a refusal that might not
last (a key not yet fetched, a ``nbf`` a moment ahead) is asked again soon.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers

from emporium.gateway.routes import Route
from emporium.kit.auth import Principal, TokenVerifier
from emporium.kit.errors import Forbidden, ServiceUnavailable, Unauthorized

__all__ = ["REFUSED_SECONDS", "Caller", "VerifiedTokens", "authorize", "bearer_token"]

#: How long a refused token is answered from memory before it is verified again.
REFUSED_SECONDS = 1.0


def bearer_token(headers: Headers) -> str | None:
    """The token of ``Authorization: Bearer <token>``, or None."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified caller; ``recheck``: from the token cache, its revocation is still to ask."""

    principal: Principal
    recheck: bool


class VerifiedTokens:
    """Tokens verified before, until they expire; at most ``max_entries`` (LRU)."""

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verifier = verifier
        self._max_entries = max_entries
        self._clock = clock
        self._known: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._refused: OrderedDict[str, tuple[str, float]] = OrderedDict()

    async def verify(self, token: str) -> Caller:
        """The caller of ``token``: from the cache (``recheck``) or verified now."""
        known = self._known.get(token)
        if known is not None:
            principal, expires = known
            if self._clock() < expires:
                self._known.move_to_end(token)
                return Caller(principal, recheck=True)
            del self._known[token]
        refused = self._refused.get(token)
        if refused is not None:
            detail, until = refused
            if self._clock() < until:
                raise Unauthorized(detail)
            del self._refused[token]
        try:
            principal = await self.verifier.verify(token)  # signature, claims and denylist
        except Unauthorized as error:
            self._refused[token] = (str(error.detail or error), self._clock() + REFUSED_SECONDS)
            if len(self._refused) > self._max_entries:
                self._refused.popitem(last=False)
            raise
        self._known[token] = (principal, principal.expires_at.timestamp())
        if len(self._known) > self._max_entries:
            self._known.popitem(last=False)
        return Caller(principal, recheck=False)

    def forget(self, token: str) -> None:
        """Drop ``token`` (found revoked)."""
        self._known.pop(token, None)


async def authorize(route: Route, headers: Headers, tokens: VerifiedTokens) -> Caller | None:
    """The verified caller (None: anonymous); raises 401/403 when ``route`` refuses them."""
    token = bearer_token(headers)
    if route.auth == "anonymous":
        if token is None:
            return None
        try:
            return await tokens.verify(token)
        except (Unauthorized, ServiceUnavailable):
            # Not ours to refuse (the service judges a public call's token), nor a reason
            # to fail a public call while the signing keys cannot be fetched.
            return None
    if token is None:
        raise Unauthorized("sign in: this call needs an access token (Authorization: Bearer)")
    caller = await tokens.verify(token)
    if route.auth == "admin" and not caller.principal.is_admin:
        raise Forbidden("this call is for admins only")
    return caller
