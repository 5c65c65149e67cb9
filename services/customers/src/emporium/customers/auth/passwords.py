"""Password hashing with Argon2id (argon2-cffi), parameters from the settings."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["PasswordHasher"]


class PasswordHasher:
    """Hash and verify passwords off the event loop (Argon2 is deliberately slow)."""

    def __init__(
        self, *, time_cost: int, memory_kib: int, parallelism: int, max_concurrent: int = 4
    ) -> None:
        self._argon2 = _Argon2(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        # Verified against when the email is unknown, so that answer costs the same time.
        self._dummy = self._argon2.hash("not-a-real-password: timing equaliser")
        # Each hash takes memory_kib of RAM: a flood of sign-ins queues here instead of
        # running dozens at once in the thread pool.
        self._slots = asyncio.Semaphore(max_concurrent)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._argon2.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; with no hash, burns the same time and says False."""
        target = password_hash or self._dummy
        try:
            async with self._slots:
                ok = await asyncio.to_thread(self._argon2.verify, target, password)
        except (VerificationError, InvalidHashError):
            return False
        return ok and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        return self._argon2.check_needs_rehash(password_hash)
