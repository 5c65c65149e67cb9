"""Minting access tokens (EdDSA JWTs) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import jwt

from emporium.customers.auth.keys import ActiveKey
from emporium.kit.ids import uuid7
from emporium.kit.outbox import utcnow

__all__ = ["AccessToken", "TokenIssuer", "hash_refresh_token", "new_refresh_token"]


@dataclass(frozen=True)
class AccessToken:
    token: str
    token_id: str
    expires_at: datetime


class TokenIssuer:
    """Signs access tokens with the claims the kit's ``TokenVerifier`` checks.

    ``sid`` carries the refresh-token family, so signing out with an access token can
    revoke the refresh tokens of the same sign-in.
    """

    def __init__(self, *, issuer: str, audience: str, ttl: timedelta) -> None:
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl

    def issue(self, key: ActiveKey, *, subject: UUID, role: str, family_id: UUID) -> AccessToken:
        now = utcnow()
        expires_at = now + self.ttl
        token_id = uuid7().hex
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(subject),
            "role": role,
            "sid": str(family_id),
            "jti": token_id,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        token = jwt.encode(
            claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid, "typ": "JWT"}
        )
        return AccessToken(token, token_id, expires_at.replace(microsecond=0))


def new_refresh_token() -> str:
    """An opaque refresh token: 256 random bits (only its hash is stored)."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    # A fast hash is right here: the token is random and long, nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()
