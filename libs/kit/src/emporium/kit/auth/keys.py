"""Where verifiers find public keys: a static JWKS, or the customers service's JWKS URL.

``RemoteJWKS`` caches the key set for ``cache_seconds`` and refetches early only when a
token names a ``kid`` it does not know (a key rotation), at most once per
``min_refetch_seconds``, so a flood of tokens with made-up key ids cannot turn into a
flood of fetches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKError, PyJWKSetError

__all__ = ["JWKSFetchError", "KeySource", "RemoteJWKS", "StaticJWKS"]

log = logging.getLogger(__name__)


class JWKSFetchError(Exception):
    """The key set could not be fetched (the issuer is down or answered nonsense)."""


class KeySource(Protocol):
    async def get_key(self, kid: str) -> PyJWK | None:
        """The public key with id ``kid``, or None if the issuer has no such key."""
        ...


def _parse(jwks: Mapping[str, Any]) -> dict[str, PyJWK]:
    keys: dict[str, PyJWK] = {}
    try:
        key_set = PyJWKSet.from_dict(dict(jwks))
    except (PyJWKSetError, PyJWKError) as error:
        raise JWKSFetchError(f"unusable JWKS: {error}") from error
    for key in key_set.keys:
        if key.key_id and key.public_key_use in (None, "sig"):
            keys[key.key_id] = key
    return keys


class StaticJWKS:
    """A fixed key set (tests, or a service given the keys directly)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = _parse(jwks)

    async def get_key(self, kid: str) -> PyJWK | None:
        return self._keys.get(kid)


class RemoteJWKS:
    """The issuer's JWKS over HTTP, cached; refetched on an unknown ``kid`` (rate-limited)."""

    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float = 300.0,
        min_refetch_seconds: float = 10.0,
        client: httpx.AsyncClient | None = None,
        timeout: float = 3.0,
    ) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = client is None
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get_key(self, kid: str) -> PyJWK | None:
        now = time.monotonic()
        if now - self._fetched_at > self.cache_seconds:
            await self._refresh(stale_ok=True)
        elif kid not in self._keys and now - self._fetched_at >= self.min_refetch_seconds:
            await self._refresh(stale_ok=True)
        return self._keys.get(kid)

    async def _refresh(self, *, stale_ok: bool) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < self.min_refetch_seconds:
                return  # another caller just fetched
            try:
                response = await self._client.get(self.url)
                response.raise_for_status()
                keys = _parse(response.json())
            except (httpx.HTTPError, ValueError, JWKSFetchError) as error:
                if stale_ok and self._keys:
                    log.warning(
                        "JWKS refresh from %s failed, keeping old keys: %s", self.url, error
                    )
                    return
                raise JWKSFetchError(f"cannot fetch the signing keys from {self.url}") from error
            self._keys = keys
            self._fetched_at = time.monotonic()
            self.fetches += 1

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()
