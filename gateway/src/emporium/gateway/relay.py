"""Passing an upstream answer's body on as it arrives: ordinary answers and event streams.

An ordinary answer is cut when it pauses longer than the upstream's timeout. An event
stream may stay quiet as long as it likes, but lives at most ``max_seconds`` and no longer
than its access token: every ``check_seconds`` the token is verified again (expired,
revoked by a sign-out) and the stream's lease renewed. When it must end, the gateway ends
it cleanly between two chunks; the client reconnects with ``Last-Event-ID`` and is judged
again (a signed-out one gets 401).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from emporium.gateway.stream_slots import Lease

__all__ = ["StreamPolicy", "relay", "stream_ends_in", "watched_relay"]

log = logging.getLogger("emporium.gateway.relay")


def stream_ends_in(max_seconds: float, token_expires_in: float) -> float:
    """Seconds a stream may live: its maximum lifetime, or less if its token expires first."""
    return max(0.0, min(max_seconds, token_expires_in))


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    """When a stream ends: ``lifetime`` seconds from now, or once ``still_allowed`` (asked
    every ``check_seconds``) says no."""

    lifetime: float
    check_seconds: float
    still_allowed: Callable[[], Awaitable[bool]]


async def relay(answer: aiohttp.ClientResponse, name: str, timeout: float) -> AsyncIterator[bytes]:
    """The answer's body as it arrives; the connection goes back to the pool when done."""
    try:
        while True:
            async with asyncio.timeout(timeout):
                chunk = await answer.content.readany()
            if not chunk:
                break
            yield chunk
        answer.release()
    except (TimeoutError, aiohttp.ClientError) as error:
        # Headers are sent: too late for a problem; the client sees the connection cut.
        log.warning("%s: answer cut midway: %r", name, error)
        raise
    finally:
        answer.close()  # a no-op after release(); drops a half-read connection


async def watched_relay(
    answer: aiohttp.ClientResponse, name: str, policy: StreamPolicy, lease: Lease | None
) -> AsyncIterator[bytes]:
    """An event stream's body as it arrives, until it ends or ``policy`` ends it."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + policy.lifetime
    next_check = loop.time() + policy.check_seconds
    why = "upstream ended"
    try:
        while True:
            now = loop.time()
            if now >= ends:
                why = "lifetime reached"
                break
            if now >= next_check:
                if not await policy.still_allowed():
                    why = "token no longer valid"
                    break
                if lease is not None:
                    await lease.renew()
                next_check = loop.time() + policy.check_seconds
            try:
                async with asyncio.timeout(max(0.0, min(ends, next_check) - loop.time())):
                    chunk = await answer.content.readany()
            except TimeoutError:
                continue  # quiet: time for a check, or the end
            if not chunk:
                answer.release()
                break
            yield chunk
        log.info("%s: event stream ended (%s)", name, why)
    except aiohttp.ClientError as error:
        log.warning("%s: event stream cut midway: %r", name, error)
        raise
    finally:
        answer.close()  # ends the service's stream too when the gateway ends it
        if lease is not None:
            await lease.release()
