"""Who is calling, and may they call this route (401 / 403 before anything is proxied).

The token is verified here with the kit's ``TokenVerifier`` (the customers JWKS, cached and
refetched on an unknown ``kid``; the shared denylist of revoked tokens) and forwarded as
it came: the services verify it again and read the identity from it.

A token verified once is kept in ``VerifiedTokens`` (in-process, bounded, least recently
used out) until it expires, so the signature is checked once per token, not per request.
Its revocation is still checked on every request against the shared denylist, so a
sign-out is honoured at once: in the request's one Redis round trip when it has one
(``front.py``: a window counted there, a cached answer to look up), else by
``RevocationChecks``, which asks for the markers of every token checked in the same turn
of the event loop in one ``MGET``: a customer's GET paid a round trip of its own (two
system calls and a redis-py call, a sixth of the gateway's CPU) for one ``EXISTS``.

A token refused (expired, bad signature, revoked...) is remembered as refused for
``REFUSED_SECONDS``: a client that keeps sending an expired token to a public route (the
gateway then proxies it as anonymous) cost a full signature check per request, 23 % of
the gateway's CPU in a profile of such a load. One second, so a refusal that might not
last (a key not yet fetched, a ``nbf`` a moment ahead) is asked again soon.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.datastructures import Headers

from emporium.gateway.outage import Outage
from emporium.gateway.routes import Route
from emporium.kit.auth import Principal, TokenVerifier
from emporium.kit.errors import Forbidden, ServiceUnavailable, Unauthorized

__all__ = [
    "REFUSED_SECONDS",
    "Caller",
    "RevocationChecks",
    "VerifiedTokens",
    "authorize",
    "bearer_token",
]

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


class RevocationChecks:
    """Whether token ids are revoked, asked of Redis together: one ``MGET`` per turn of the
    event loop for every check made in it. Fails open like ``front.py`` (``Outage``): while
    Redis does not answer, no token is revoked (tokens are short-lived)."""

    def __init__(self, client: Redis, *, revoked_key: Callable[[str], str], outage: Outage) -> None:
        self._client = client
        self._revoked_key = revoked_key
        self.outage = outage
        self._waiting: list[tuple[str, asyncio.Future[bool]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def revoked(self, token_id: str) -> bool:
        """Whether ``token_id`` is revoked now (False while Redis is away)."""
        if self.outage.down(time.monotonic()):
            return False
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bool] = loop.create_future()
        if not self._waiting:
            # After every callback ready now: the checks of this turn go together.
            loop.call_soon(self._send)
        self._waiting.append((self._revoked_key(token_id), answer))
        return await answer

    def _send(self) -> None:
        batch, self._waiting = self._waiting, []
        task = asyncio.create_task(self._ask(batch))
        self._tasks.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._tasks.discard)

    async def _ask(self, batch: list[tuple[str, asyncio.Future[bool]]]) -> None:
        try:
            found: list[Any] = await self._client.execute_command(  # type: ignore[no-untyped-call]
                "MGET", *(key for key, _ in batch)
            )
        except (TimeoutError, RedisError, OSError) as error:
            self.outage.failed(time.monotonic(), error)
            found = [None] * len(batch)
        except BaseException as error:  # cancelled at shutdown: nobody is left hanging
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(error)
            raise
        for (_, answer), value in zip(batch, found, strict=True):
            if not answer.done():  # its request may have been cancelled (client gone)
                answer.set_result(value is not None)


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
