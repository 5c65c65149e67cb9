"""What the customers service builds once at start: hasher, keys, issuer, throttle, denylist.

``accounts_hook`` makes an ``Accounts`` and puts it among the app's resources; it runs
before the kit's ``verifier_hook``, which then reads keys through ``Accounts.key_source``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

from emporium.customers.auth.keys import DatabaseKeySource, KeyStore
from emporium.customers.auth.passwords import PasswordHasher
from emporium.customers.auth.throttle import (
    Counters,
    LoginThrottle,
    MemoryCounters,
    RedisCounters,
)
from emporium.customers.auth.throttle_policy import ThrottlePolicy
from emporium.customers.auth.tokens import TokenIssuer
from emporium.customers.settings import Settings
from emporium.kit.app import Resources
from emporium.kit.auth.denylist import CacheDenylist

__all__ = ["Accounts", "accounts_hook", "make_accounts"]


@dataclass(eq=False)
class Accounts:
    """The service's long-lived helpers (one per app)."""

    settings: Settings
    hasher: PasswordHasher
    keys: KeyStore
    key_source: DatabaseKeySource
    issuer: TokenIssuer
    throttle: LoginThrottle

    @property
    def denylist(self) -> CacheDenylist:
        if self._denylist is None:
            raise RuntimeError("the token verifier has not started")
        return self._denylist

    _denylist: CacheDenylist | None = None


def make_accounts(settings: Settings) -> Accounts:
    """The ``Accounts`` for ``settings`` (the database is attached at start)."""
    ttl = timedelta(seconds=settings.access_token_ttl_seconds)
    keys = KeyStore(
        secret_key=settings.secret_key.get_secret_value(),
        access_token_ttl=ttl,
        max_age=timedelta(days=settings.signing_key_max_age_days),
        publish_ahead=timedelta(seconds=settings.signing_key_publish_ahead_seconds),
    )
    counters: Counters = (
        RedisCounters(settings.redis_url, settings.login_throttle_namespace)
        if settings.redis_url
        else MemoryCounters()
    )
    return Accounts(
        settings=settings,
        hasher=PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            max_concurrent=settings.argon2_max_concurrent,
        ),
        keys=keys,
        key_source=DatabaseKeySource(keys),
        issuer=TokenIssuer(issuer=settings.jwt_issuer, audience=settings.jwt_audience, ttl=ttl),
        throttle=LoginThrottle(
            counters,
            ThrottlePolicy(
                slow_after=settings.login_slow_after,
                lock_after=settings.login_lock_after,
                address_slow_after=settings.login_ip_slow_after,
                address_lock_after=settings.login_ip_lock_after,
                email_slow_after=settings.login_email_slow_after,
                delay=settings.login_delay_seconds,
                max_delay=settings.login_max_delay_seconds,
                lock_seconds=settings.login_lock_seconds,
            ),
            window=settings.login_window_seconds,
        ),
    )


def accounts_hook(
    accounts: Accounts,
) -> Callable[[Resources], contextlib.AbstractAsyncContextManager[Accounts]]:
    """Lifespan hook: attach the database, make sure a signing key exists, publish ``accounts``."""

    @contextlib.asynccontextmanager
    async def hook(resources: Resources) -> AsyncIterator[Accounts]:
        database = resources.require_database()
        accounts.key_source.database = database
        async with database.session() as session:
            await accounts.keys.ensure_current(session)
        resources.put(accounts)
        try:
            yield accounts
        finally:
            await accounts.throttle.close()

    return hook


def denylist_hook() -> Callable[[Resources], contextlib.AbstractAsyncContextManager[None]]:
    """Lifespan hook (after ``verifier_hook``): hand the shared denylist to ``Accounts``."""

    @contextlib.asynccontextmanager
    async def hook(resources: Resources) -> AsyncIterator[None]:
        resources.get(Accounts)._denylist = resources.get(CacheDenylist)
        yield

    return hook
