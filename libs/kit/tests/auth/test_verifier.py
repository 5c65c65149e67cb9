"""Token verification: every way a token can be wrong is a 401 with the reason."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from emporium.kit.auth import RemoteJWKS, TokenVerifier
from emporium.kit.auth.denylist import CacheDenylist
from emporium.kit.cache.memory import MemoryCache
from emporium.kit.errors import ServiceUnavailable, Unauthorized
from emporium.kit.testing.tokens import TokenMint


@pytest.fixture
def mint() -> TokenMint:
    return TokenMint()


@pytest.fixture
def verifier(mint: TokenMint) -> TokenVerifier:
    return TokenVerifier(mint.keys(), issuer=mint.issuer, audience=mint.audience)


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_a_good_token_gives_its_principal(mint: TokenMint, verifier: TokenVerifier) -> None:
    subject = uuid.uuid4()
    principal = await verifier.verify(mint.token(subject, role="admin"))
    assert principal.subject == subject
    assert principal.is_admin
    assert principal.expires_at > datetime.now(UTC)


async def _refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthorized) as error:
        await verifier.verify(token)
    return str(error.value.detail)


async def test_expired_token_is_refused(mint: TokenMint, verifier: TokenVerifier) -> None:
    now = int(time.time())
    token = mint.token(iat=now - 600, nbf=now - 600, exp=now - 60)
    assert "expired" in await _refused(verifier, token)


async def test_token_not_valid_yet_is_refused(mint: TokenMint, verifier: TokenVerifier) -> None:
    assert "not valid yet" in await _refused(verifier, mint.token(nbf=int(time.time()) + 600))


async def test_tampered_payload_is_refused(mint: TokenMint, verifier: TokenVerifier) -> None:
    header, payload, signature = mint.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    assert "invalid" in await _refused(verifier, f"{header}.{_b64(claims)}.{signature}")


async def test_alg_none_is_refused(mint: TokenMint, verifier: TokenVerifier) -> None:
    claims = mint.claims(role="admin")
    token = f"{_b64({'alg': 'none', 'kid': mint.kid, 'typ': 'JWT'})}.{_b64(claims)}."
    assert "not accepted" in await _refused(verifier, token)


async def test_hmac_signed_with_the_public_key_is_refused(
    mint: TokenMint, verifier: TokenVerifier
) -> None:
    # Algorithm confusion: "sign" with HS256 using the public key bytes the JWKS publishes.
    public_x = mint.public_jwk()["x"].encode()
    header = {"alg": "HS256", "kid": mint.kid, "typ": "JWT"}
    forged = jwt.api_jws.PyJWS().encode(
        json.dumps(mint.claims(role="admin")).encode(), public_x, algorithm="HS256",
        headers=header,
    )  # fmt: skip
    assert "not accepted" in await _refused(verifier, forged)


async def test_algorithm_that_does_not_match_the_key_is_refused(
    mint: TokenMint, verifier: TokenVerifier
) -> None:
    _, payload, signature = mint.token().split(".")
    swapped = _b64({"alg": "RS256", "kid": mint.kid, "typ": "JWT"})
    assert "does not match" in await _refused(verifier, f"{swapped}.{payload}.{signature}")


async def test_wrong_audience_or_issuer_is_refused(
    mint: TokenMint, verifier: TokenVerifier
) -> None:
    assert "audience" in await _refused(verifier, mint.token(aud="someone-else"))
    assert "issuer" in await _refused(verifier, mint.token(iss="https://evil.example"))


async def test_token_signed_by_another_key_with_a_known_kid_is_refused(
    mint: TokenMint, verifier: TokenVerifier
) -> None:
    impostor = TokenMint(kid=mint.kid)
    assert "invalid" in await _refused(verifier, impostor.token())


async def test_unknown_kid_missing_kid_and_garbage_are_refused(
    mint: TokenMint, verifier: TokenVerifier
) -> None:
    assert "unknown key" in await _refused(verifier, TokenMint().token())
    no_kid = jwt.encode(mint.claims(), mint.private_key, algorithm="EdDSA")
    assert "key id" in await _refused(verifier, no_kid)
    assert "not a valid JWT" in await _refused(verifier, "not-a-token")


async def test_missing_claims_and_unknown_roles_are_refused(
    mint: TokenMint, verifier: TokenVerifier
) -> None:
    assert "jti" in await _refused(verifier, mint.token(jti=None))
    assert "exp" in await _refused(verifier, mint.token(exp=None))
    assert "role" in await _refused(verifier, mint.token(role="superuser"))
    assert "subject" in await _refused(verifier, mint.token(sub="alice"))


async def test_revoked_token_is_refused_until_it_expires(mint: TokenMint) -> None:
    # Verified once before the sign-out: a remembered token is refused at once too.
    denylist = CacheDenylist(MemoryCache("auth"))
    verifier = TokenVerifier(
        mint.keys(), issuer=mint.issuer, audience=mint.audience, denylist=denylist
    )
    token = mint.token()
    principal = await verifier.verify(token)
    await denylist.revoke(principal.token_id, expires_at=principal.expires_at)
    assert "revoked" in await _refused(verifier, token)
    other = await verifier.verify(mint.token())
    assert other.token_id != principal.token_id


async def test_a_rotated_key_keeps_old_tokens_valid_while_both_are_published() -> None:
    old, new = TokenMint(), TokenMint()
    verifier = TokenVerifier(new.keys(old), issuer=new.issuer, audience=new.audience)
    assert (await verifier.verify(old.token())).role == "customer"
    assert (await verifier.verify(new.token())).role == "customer"


class _JWKSServer:
    """The issuer's JWKS endpoint at the HTTP edge (httpx MockTransport), counting fetches."""

    def __init__(self, *mints: TokenMint) -> None:
        self.mints = list(mints)
        self.requests = 0
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.down:
            return httpx.Response(503)
        first, *rest = self.mints
        return httpx.Response(200, json=first.jwks(*rest))


async def test_remote_jwks_is_cached_and_refetched_on_a_new_kid_only() -> None:
    first = TokenMint()
    server = _JWKSServer(first)
    client = httpx.AsyncClient(transport=httpx.MockTransport(server.handler))
    keys = RemoteJWKS("http://customers/auth/jwks", client=client, min_refetch_seconds=0)
    verifier = TokenVerifier(keys, issuer=first.issuer, audience=first.audience)
    for _ in range(20):
        await verifier.verify(first.token())
    assert server.requests == 1

    rotated = TokenMint()
    server.mints.insert(0, rotated)
    await verifier.verify(rotated.token())
    assert server.requests == 2
    await verifier.verify(first.token())  # still published: no refetch needed
    assert server.requests == 2
    await client.aclose()


async def test_made_up_kids_cannot_flood_the_issuer() -> None:
    first = TokenMint()
    server = _JWKSServer(first)
    client = httpx.AsyncClient(transport=httpx.MockTransport(server.handler))
    keys = RemoteJWKS("http://customers/auth/jwks", client=client, min_refetch_seconds=60)
    verifier = TokenVerifier(keys, issuer=first.issuer, audience=first.audience)
    await verifier.verify(first.token())
    for _ in range(50):
        with pytest.raises(Unauthorized):
            await verifier.verify(TokenMint().token())
    assert server.requests == 1
    await client.aclose()


async def test_jwks_down_keeps_known_keys_and_says_503_when_it_has_none() -> None:
    first = TokenMint()
    server = _JWKSServer(first)
    server.down = True
    client = httpx.AsyncClient(transport=httpx.MockTransport(server.handler))
    keys = RemoteJWKS("http://customers/auth/jwks", client=client, min_refetch_seconds=0)
    verifier = TokenVerifier(keys, issuer=first.issuer, audience=first.audience)
    with pytest.raises(ServiceUnavailable):
        await verifier.verify(first.token())
    server.down = False
    await verifier.verify(first.token())
    server.down = True
    keys.cache_seconds = 0  # force a refresh: it fails, the known keys stay
    await verifier.verify(first.token())
    await client.aclose()


def test_principal_expiry_matches_the_token(mint: TokenMint) -> None:
    claims = mint.claims(ttl=120)
    assert timedelta(seconds=110) < timedelta(seconds=claims["exp"] - time.time())


class _ChangingKeys:
    """A key source whose key can be withdrawn or replaced under the same kid."""

    def __init__(self, mint: TokenMint) -> None:
        self.kid = mint.kid
        self.source = mint.keys()

    async def get_key(self, kid: str) -> jwt.PyJWK | None:
        return await self.source.get_key(kid)


async def test_a_verified_token_is_decoded_once_while_its_key_stays(
    mint: TokenMint, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str] = []
    decode = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    keys = _ChangingKeys(mint)
    verifier = TokenVerifier(keys, issuer=mint.issuer, audience=mint.audience)
    token = mint.token()
    first = await verifier.verify(token)
    for _ in range(5):
        assert await verifier.verify(token) == first
    assert decoded == [token]


@pytest.mark.parametrize(
    ("published", "refusal"),
    [
        (lambda mint: TokenMint(), "unknown key"),  # the token's kid is no longer published
        (lambda mint: TokenMint(kid=mint.kid), "invalid"),  # the same kid, other key material
    ],
    ids=["withdrawn", "replaced"],
)
async def test_a_verified_token_is_checked_again_once_its_kid_names_no_longer_its_key(
    mint: TokenMint, published: Callable[[TokenMint], TokenMint], refusal: str
) -> None:
    keys = _ChangingKeys(mint)
    verifier = TokenVerifier(keys, issuer=mint.issuer, audience=mint.audience)
    token = mint.token()
    await verifier.verify(token)
    keys.source = published(mint).keys()
    assert refusal in await _refused(verifier, token)


async def test_a_verified_token_is_refused_once_it_expires(mint: TokenMint) -> None:
    verifier = TokenVerifier(
        mint.keys(), issuer=mint.issuer, audience=mint.audience, leeway_seconds=0
    )
    token = mint.token(ttl=1)
    await verifier.verify(token)
    await asyncio.sleep(1.1)  # remembered only until exp (plus a leeway of 0 here)
    assert "expired" in await _refused(verifier, token)
