"""How many event streams each customer has open: leases counted in Redis (or in-process).

A stream takes a lease before it goes upstream and gives it back when it ends; a customer
holding ``limit`` leases gets 429 for the next one. Leases expire after ``lease_seconds``
unless renewed (the stream renews its lease at every token check), so a gateway replica
that dies holding some does not lock its customers out for longer than that.

In Redis (one sorted set per customer: member = lease id, score = expiry in Redis's own
clock, one Lua script per operation) the count is shared by every gateway replica. Each
process also counts its own leases first, so that the cap always holds per process: without
a Redis URL (the embedded default, one process), or while Redis does not answer (slow or
down; logged), that local count decides alone.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["Lease", "MemoryStreamSlots", "RedisStreamSlots", "StreamSlots"]

log = logging.getLogger("emporium.gateway.stream_slots")

# KEYS[1]: the customer's set; ARGV: lease id, lease ms, limit. Returns 1 when taken.
_ACQUIRE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    return 0
end
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
_RENEW = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], 'XX', ms + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


class Lease(Protocol):
    async def renew(self) -> None:
        """Keep the lease for another ``lease_seconds``."""
        ...

    async def release(self) -> None:
        """Give the lease back (the stream ended)."""
        ...


class StreamSlots(Protocol):
    async def acquire(self, owner: str, *, limit: int) -> Lease | None:
        """A lease for one more stream of ``owner``, or None when they hold ``limit``."""
        ...


class _MemoryLease:
    def __init__(self, slots: MemoryStreamSlots, owner: str, lease_id: str) -> None:
        self._slots, self._owner, self._id = slots, owner, lease_id

    async def renew(self) -> None:
        held = self._slots.held.get(self._owner)
        if held is not None and self._id in held:
            held[self._id] = time.monotonic() + self._slots.lease_seconds

    async def release(self) -> None:
        held = self._slots.held.get(self._owner, {})
        held.pop(self._id, None)
        if not held:
            self._slots.held.pop(self._owner, None)


class MemoryStreamSlots:
    """Leases in this process's memory."""

    def __init__(self, *, lease_seconds: float) -> None:
        self.lease_seconds = lease_seconds
        self.held: dict[str, dict[str, float]] = {}

    async def acquire(self, owner: str, *, limit: int) -> Lease | None:
        now = time.monotonic()
        held = {k: ends for k, ends in self.held.get(owner, {}).items() if ends > now}
        if len(held) >= limit:
            self.held[owner] = held
            return None
        lease_id = uuid.uuid4().hex
        held[lease_id] = now + self.lease_seconds
        self.held[owner] = held
        return _MemoryLease(self, owner, lease_id)


class _RedisLease:
    def __init__(self, slots: RedisStreamSlots, key: str, lease_id: str) -> None:
        self._slots, self._key, self._id = slots, key, lease_id

    async def renew(self) -> None:
        try:
            await self._slots.renew_script(keys=[self._key], args=[self._id, self._slots.lease_ms])
        except (TimeoutError, RedisError, OSError) as error:
            log.warning("cannot renew a stream lease: %s: %s", type(error).__name__, error)

    async def release(self) -> None:
        try:
            await self._slots.client.zrem(self._key, self._id)
        except (TimeoutError, RedisError, OSError) as error:
            # It expires by itself after lease_seconds.
            log.warning("cannot release a stream lease: %s: %s", type(error).__name__, error)


class _BothLeases:
    def __init__(self, local: Lease, shared: Lease) -> None:
        self._local, self._shared = local, shared

    async def renew(self) -> None:
        await self._local.renew()
        await self._shared.renew()

    async def release(self) -> None:
        await self._local.release()
        await self._shared.release()


class RedisStreamSlots:
    """Leases in Redis, shared by every gateway replica; in memory while Redis is down."""

    def __init__(
        self,
        client: Redis,
        *,
        lease_seconds: float,
        prefix: str = "gateway:streams:",
        cooldown: float = 1.0,
    ) -> None:
        self.client = client
        self.lease_ms = max(1, int(lease_seconds * 1000))
        self._prefix = prefix
        self._acquire: Any = client.register_script(_ACQUIRE)
        self.renew_script: Any = client.register_script(_RENEW)
        self._local = MemoryStreamSlots(lease_seconds=lease_seconds)
        self._cooldown = cooldown
        self._down_until = 0.0

    async def acquire(self, owner: str, *, limit: int) -> Lease | None:
        local = await self._local.acquire(owner, limit=limit)
        if local is None:
            return None  # this process alone already holds the customer's cap
        now = time.monotonic()
        if now < self._down_until:  # a dead Redis must not cost every stream a timeout
            return local
        key = self._prefix + owner
        lease_id = uuid.uuid4().hex
        try:
            taken = await self._acquire(keys=[key], args=[lease_id, self.lease_ms, limit])
        except (TimeoutError, RedisError, OSError) as error:
            self._down_until = now + self._cooldown
            log.warning(
                "stream cap counted in this process only: Redis unavailable: %s: %s",
                type(error).__name__,
                error,
            )
            return local
        if int(taken) != 1:
            await local.release()
            return None
        return _BothLeases(local, _RedisLease(self, key, lease_id))
