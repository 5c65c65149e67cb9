"""Passing an upstream answer's body on: small ones whole, others as they arrive, and event
streams.

A small answer (a ``Content-Length`` of at most ``WHOLE_BYTES``: a product, a listing page)
is read whole before anything is sent, within the upstream's timeout, and sent as one
body: streaming it cost a task group, a disconnect listener and one more pass through
every middleware's ``send`` per request (a fifth of the gateway's CPU on a token GET).
Cut or late before its last byte, it is a 502 / 504 problem (nothing was sent yet). A
larger or unsized answer streams: it is cut when it pauses longer than the upstream's
timeout. An event
stream may stay quiet as long as it likes, but lives at most ``max_seconds`` and no longer
than its access token: every ``check_seconds`` the token is verified again (expired,
revoked by a sign-out) and the stream's lease renewed. When it must end, the gateway ends
it cleanly between two chunks; the client reconnects with ``Last-Event-ID`` and is judged
again (a signed-out one gets 401).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from emporium.gateway.errors import BadGateway, UpstreamTimeout
from emporium.gateway.stream_slots import Lease

__all__ = ["WHOLE_BYTES", "StreamPolicy", "read_whole", "relay", "stream_ends_in", "watched_relay"]

#: The largest announced body read whole before it is passed on (else streamed).
WHOLE_BYTES = 256 * 1024

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


async def read_whole(answer: aiohttp.ClientResponse, name: str, timeout: float) -> bytes:
    """A small answer's whole body (its headers are in); the connection goes back to the
    pool. Raises ``UpstreamTimeout`` (504) or ``BadGateway`` (502) when it does not come."""
    # Mostly the whole body came with the headers: then no timer to arm and cancel.
    waiting = contextlib.nullcontext() if answer.content.is_eof() else asyncio.timeout(timeout)
    try:
        async with waiting:
            return await answer.read()  # releases the connection at its last byte
    except TimeoutError:
        log.warning("%s: answer cut midway: no whole body within %g s", name, timeout)
        raise UpstreamTimeout(
            f"the {name} service did not answer within {timeout:g} s", upstream=name
        ) from None
    except aiohttp.ClientError as error:
        log.warning("%s: answer cut midway: %r", name, error)
        raise BadGateway(f"the {name} service gave no valid answer", upstream=name) from None
    finally:
        answer.close()  # a no-op once read; drops a half-read connection


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
