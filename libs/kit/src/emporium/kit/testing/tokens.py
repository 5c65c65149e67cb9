"""Mint access tokens like the customers service does, for tests of anything that verifies.

A ``TokenMint`` holds an Ed25519 key pair; ``keys()`` is the matching key source and
``token(...)`` signs claims (override any of them to make expired, foreign or odd tokens).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from emporium.kit.auth.keys import StaticJWKS

__all__ = ["TokenMint"]


class TokenMint:
    """An issuer for tests: ``kid``, Ed25519 key, issuer and audience like production."""

    def __init__(
        self,
        *,
        kid: str | None = None,
        issuer: str = "emporium-customers",
        audience: str = "emporium",
    ) -> None:
        self.kid = kid or f"test-{uuid.uuid4().hex[:8]}"
        self.issuer = issuer
        self.audience = audience
        self.private_key = Ed25519PrivateKey.generate()

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="EdDSA")
        return jwk

    def jwks(self, *others: TokenMint) -> dict[str, Any]:
        return {"keys": [self.public_jwk(), *(o.public_jwk() for o in others)]}

    def keys(self, *others: TokenMint) -> StaticJWKS:
        return StaticJWKS(self.jwks(*others))

    def claims(
        self, subject: uuid.UUID | None = None, role: str = "customer", ttl: int = 300
    ) -> dict[str, Any]:
        now = int(time.time())
        return {
            "sub": str(subject or uuid.uuid4()),
            "role": role,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }

    def token(
        self,
        subject: uuid.UUID | None = None,
        *,
        role: str = "customer",
        ttl: int = 300,
        headers: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        """A signed access token; ``overrides`` replace claims (``None`` removes one)."""
        claims = self.claims(subject, role, ttl)
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return jwt.encode(
            claims,
            self.private_key,
            algorithm="EdDSA",
            headers={"kid": self.kid, **(headers or {})},
        )
