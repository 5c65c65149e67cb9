"""Verify an access token: signature, ``exp``, ``nbf``, issuer, audience, revocation.

Refused, each with 401: no token, a token that is not a JWT, ``alg: none`` or any
algorithm outside ``ALLOWED_ALGORITHMS``, a missing or unknown ``kid``, a header ``alg``
that is not the algorithm of the key it names (algorithm confusion: an HMAC token "signed"
with the public key, an RS256 token for an EdDSA key), a bad signature, an expired or
not-yet-valid token, another issuer or audience, missing claims, an unknown role, and a
token whose id is on the denylist (signed out).

A token verified once is not decoded again while the key that signed it is still the one
its ``kid`` names and until its ``exp`` (plus the leeway): pyjwt's decode of an EdDSA token
costs about 0.7 ms of CPU (its base64 checks go character by character), which was paid on
every request of a signed-in customer. Only the signature and claims are remembered: the key
source and the denylist are asked on every call, so a withdrawn key and a sign-out are seen
exactly as without the cache.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
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


#: A verified token: its principal, kid, the key that verified it, and until when (epoch s).
_Verified = tuple[Principal, str, PyJWK, float]


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
        max_verified: int = 10_000,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.denylist = denylist
        self.leeway_seconds = leeway_seconds
        self.max_verified = max_verified
        # token -> (its principal, its kid, the key that verified it, until); oldest first.
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        principal = await self._known(token)
        if principal is None:
            principal = await self._checked(token)
        if self.denylist is not None and await self.denylist.is_revoked(principal.token_id):
            raise Unauthorized("the access token was revoked")
        return principal

    async def _known(self, token: str) -> Principal | None:
        """``token``'s principal if it was verified before, by the key its kid still names."""
        known = self._verified.get(token)
        if known is None:
            return None
        principal, kid, key, until = known
        if time.time() >= until or await self._key(kid) is not key:
            del self._verified[token]  # decoded again: expired, or its key changed
            return None
        self._verified.move_to_end(token)
        return principal

    async def _key(self, kid: str) -> PyJWK | None:
        try:
            return await self.keys.get_key(kid)
        except JWKSFetchError as error:
            log.warning("cannot verify tokens: %s", error)
            raise ServiceUnavailable("cannot check tokens right now", retry_after=5) from None

    def _remember(self, token: str, principal: Principal, kid: str, key: PyJWK) -> None:
        if self.max_verified <= 0:
            return
        # Never past what decode itself accepts: exp plus the leeway.
        until = principal.expires_at.timestamp() + self.leeway_seconds
        self._verified[token] = (principal, kid, key, until)
        if len(self._verified) > self.max_verified:
            self._verified.popitem(last=False)

    async def _checked(self, token: str) -> Principal:
        """``token``'s principal once its signature and claims are checked (no denylist),
        remembered for the next call."""
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
        key = await self._key(kid)
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
        self._remember(token, principal, kid, key)
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
