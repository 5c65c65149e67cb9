"""Verify an access token: signature, ``exp``, ``nbf``, issuer, audience, revocation.

Refused, each with 401: no token, a token that is not a JWT, ``alg: none`` or any
algorithm outside ``ALLOWED_ALGORITHMS``, a missing or unknown ``kid``, a header ``alg``
that is not the algorithm of the key it names (algorithm confusion: an HMAC token "signed"
with the public key, an RS256 token for an EdDSA key), a bad signature, an expired or
not-yet-valid token, another issuer or audience, missing claims, an unknown role, and a
token whose id is on the denylist (signed out).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Protocol, get_args
from uuid import UUID

import jwt
from jwt import PyJWK

from emporium.kit.auth.keys import JWKSFetchError, KeySource
from emporium.kit.auth.principal import Principal, Role
from emporium.kit.errors import ServiceUnavailable, Unauthorized

__all__ = ["ALLOWED_ALGORITHMS", "Denylist", "TokenVerifier"]

log = logging.getLogger(__name__)

#: Asymmetric algorithms only: a verifier never holds a secret that could also sign.
ALLOWED_ALGORITHMS = ("EdDSA", "ES256", "RS256")
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti", "iss", "aud"]
_ALGORITHM_OF_KEY: dict[tuple[object, object], str] = {
    ("OKP", "Ed25519"): "EdDSA",
    ("EC", "P-256"): "ES256",
    ("RSA", None): "RS256",
}


class Denylist(Protocol):
    async def is_revoked(self, token_id: str) -> bool:
        """True when the token with this ``jti`` was revoked (signed out) before expiring."""
        ...


def _key_algorithm(key: PyJWK) -> str | None:
    """The one algorithm this key may verify: its ``alg``, or the only one its type allows."""
    if key.algorithm_name:
        return key.algorithm_name
    data: dict[str, object] = key._jwk_data
    return _ALGORITHM_OF_KEY.get((data.get("kty"), data.get("crv")))


class TokenVerifier:
    """Turns a bearer token into a ``Principal`` or refuses it with ``Unauthorized``."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        denylist: Denylist | None = None,
        leeway_seconds: float = 5.0,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.denylist = denylist
        self.leeway_seconds = leeway_seconds

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthorized("the access token is not a valid JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise Unauthorized(f"token algorithm {algorithm!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("the access token has no key id (kid)")
        try:
            key = await self.keys.get_key(kid)
        except JWKSFetchError as error:
            log.warning("cannot verify tokens: %s", error)
            raise ServiceUnavailable("cannot check tokens right now", retry_after=5) from None
        if key is None:
            raise Unauthorized("the access token was signed with an unknown key")
        if _key_algorithm(key) != algorithm:
            raise Unauthorized("the token's algorithm does not match its key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the access token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("the access token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("the access token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("the access token comes from another issuer") from None
        except jwt.InvalidTokenError as error:
            raise Unauthorized(f"the access token is invalid: {error}") from None
        principal = self._principal(claims, token)
        if self.denylist is not None and await self.denylist.is_revoked(principal.token_id):
            raise Unauthorized("the access token was revoked")
        return principal

    @staticmethod
    def _principal(claims: dict[str, Any], token: str) -> Principal:
        role = claims.get("role", "customer")
        if role not in get_args(Role):
            raise Unauthorized("the access token carries an unknown role")
        try:
            subject = UUID(str(claims["sub"]))
        except ValueError:
            raise Unauthorized("the access token's subject is not a customer id") from None
        return Principal(
            subject=subject,
            role=role,
            token_id=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            token=token,
            session_id=str(claims["sid"]) if claims.get("sid") else None,
        )
