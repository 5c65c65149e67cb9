"""The service's signing keys: stored in its database, private halves encrypted at rest.

Each key is Ed25519 (``EdDSA``); its private half is sealed with AES-256-GCM under a key
derived by HKDF-SHA256 from ``secret_key``, with the ``kid`` as associated data (a sealed
key copied to another row does not open). Rotation (``rotate``) adds a new key that signs
from ``active_from`` on and retires the current one at that moment; a retired key stays
published in the JWKS, and accepted, for the access-token lifetime (plus a margin), so
tokens it signed keep working until they expire. See the service README.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt import PyJWK
from jwt.algorithms import OKPAlgorithm
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.customers.models import SigningKey
from emporium.kit.db import Database
from emporium.kit.outbox import utcnow

__all__ = ["ActiveKey", "DatabaseKeySource", "KeyStore"]

log = logging.getLogger(__name__)

#: Kept published past the last token a retired key could have signed (clock skew, leeway).
_PUBLISH_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True)
class ActiveKey:
    """The key that signs right now."""

    kid: str
    private_key: Ed25519PrivateKey


class KeyStore:
    """Creates, rotates, unseals and lists the signing keys (all SQL on a given session)."""

    def __init__(
        self,
        *,
        secret_key: str,
        access_token_ttl: timedelta,
        max_age: timedelta,
        publish_ahead: timedelta = timedelta(0),
    ) -> None:
        self._aead = AESGCM(
            HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=b"emporium-customers signing keys v1",
            ).derive(secret_key.encode())
        )
        self.access_token_ttl = access_token_ttl
        self.max_age = max_age
        self.publish_ahead = publish_ahead

    # -- sealing ---------------------------------------------------------------------------

    def _seal(self, kid: str, key: Ed25519PrivateKey) -> bytes:
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, raw, kid.encode())

    def _unseal(self, row: SigningKey) -> Ed25519PrivateKey | None:
        try:
            raw = self._aead.decrypt(row.private_key[:12], row.private_key[12:], row.kid.encode())
        except InvalidTag:
            return None
        return Ed25519PrivateKey.from_private_bytes(raw)

    # -- the key set -----------------------------------------------------------------------

    def _published_since(self, now: datetime) -> datetime:
        """Keys retired before this moment can no longer have valid tokens out there."""
        return now - self.access_token_ttl - _PUBLISH_MARGIN

    async def published(self, session: AsyncSession) -> list[SigningKey]:
        """Current, upcoming and recently retired keys (what the JWKS lists), newest first."""
        now = utcnow()
        rows = await session.scalars(
            select(SigningKey)
            .where(
                or_(
                    SigningKey.retired_at.is_(None),
                    SigningKey.retired_at > self._published_since(now),
                )
            )
            .order_by(SigningKey.active_from.desc(), SigningKey.kid)
        )
        return list(rows)

    async def jwks(self, session: AsyncSession) -> dict[str, Any]:
        return {"keys": [dict(row.public_jwk) for row in await self.published(session)]}

    async def active(self, session: AsyncSession) -> ActiveKey:
        """The key to sign with now; creates the first one, or a new one if none opens."""
        now = utcnow()
        for row in await self.published(session):
            if row.active_from > now or (row.retired_at is not None and row.retired_at <= now):
                continue
            private = self._unseal(row)
            if private is not None:
                return ActiveKey(row.kid, private)
            # secret_key changed: the key cannot sign any more, but its public half still
            # verifies what it signed; rotate to a key we can open.
            log.error("signing key %s cannot be unsealed with the current secret_key", row.kid)
            break
        row = await self.rotate(session, publish_ahead=timedelta(0))
        private = self._unseal(row)
        assert private is not None
        return ActiveKey(row.kid, private)

    async def ensure_current(self, session: AsyncSession) -> None:
        """At start: make sure a key exists, and rotate one older than ``max_age``."""
        now = utcnow()
        rows = await self.published(session)
        signing = [r for r in rows if r.retired_at is None and r.active_from <= now]
        upcoming = [r for r in rows if r.active_from > now]
        if upcoming:
            return
        if not signing or now - signing[0].active_from > self.max_age:
            await self.rotate(session)

    async def rotate(
        self, session: AsyncSession, *, publish_ahead: timedelta | None = None
    ) -> SigningKey:
        """Add a new key signing from ``now + publish_ahead``; retire the others then."""
        now = utcnow()
        starts = now + (self.publish_ahead if publish_ahead is None else publish_ahead)
        private = Ed25519PrivateKey.generate()
        # Readable and unique: the day it was made plus 48 random bits.
        kid = now.strftime("%Y%m%d-") + base64.urlsafe_b64encode(os.urandom(6)).decode()
        jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
        jwk.update(kid=kid, use="sig", alg="EdDSA")
        for row in await session.scalars(
            select(SigningKey).where(
                or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > starts)
            )
        ):
            row.retired_at = starts
        row = SigningKey(
            kid=kid,
            algorithm="EdDSA",
            public_jwk=jwk,
            private_key=self._seal(kid, private),
            created_at=now,
            active_from=starts,
        )
        session.add(row)
        await session.flush()
        log.info("signing key %s added; it signs from %s", kid, starts.isoformat())
        return row


class DatabaseKeySource:
    """A ``KeySource`` for the kit's ``TokenVerifier`` reading the service's own key table.

    Cached for ``cache_seconds``; an unknown ``kid`` reloads at once (another process of the
    service may just have rotated), at most once per ``min_reload_seconds``.
    """

    def __init__(
        self,
        store: KeyStore,
        database: Database | None = None,
        *,
        cache_seconds: float = 30.0,
        min_reload_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.database = database
        self.cache_seconds = cache_seconds
        self.min_reload_seconds = min_reload_seconds
        self._keys: dict[str, PyJWK] = {}
        self._loaded_at = float("-inf")

    def forget(self) -> None:
        """Reload on the next lookup (after this process rotated)."""
        self._loaded_at = float("-inf")

    async def get_key(self, kid: str) -> PyJWK | None:
        age = time.monotonic() - self._loaded_at
        if age > self.cache_seconds or (kid not in self._keys and age > self.min_reload_seconds):
            await self._load()
        return self._keys.get(kid)

    async def _load(self) -> None:
        if self.database is None:
            raise RuntimeError("DatabaseKeySource used before the app started")
        async with self.database.session() as session:
            rows = await self.store.published(session)
        self._keys = {row.kid: PyJWK.from_dict(dict(row.public_jwk)) for row in rows}
        self._loaded_at = time.monotonic()
