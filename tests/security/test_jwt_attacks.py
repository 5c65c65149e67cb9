"""Forged, stale and revoked access tokens: each one is a 401 problem+json, on every level.

The claim checks (expired, not yet valid, audience, issuer) are only worth testing with a
signature that is otherwise good, so the suite signs those with the platform's own key: it
unseals the active signing key from the customers database (the dev ``secret_key``), as an
attacker who stole it could not do without the database *and* the secret. A token it mints
with the right claims is accepted (``test_the_minted_token_is_accepted``): every refusal
below is the one thing each token changes.

The header tricks (``jku``, ``x5u``, an embedded ``jwk``) point at a canary server that
serves the attacker's own key set: it must never be fetched.

Every token is tried on a customer route of each service behind the gateway (``/me`` of
customers, ``/cart`` of orders) and on an admin route (``/admin/customers``, with
``role: admin`` claims).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from emporium_security import Account, Canary, Secure, is_problem, sync_client, sync_register
from jwt.algorithms import OKPAlgorithm

pytestmark = pytest.mark.e2e

TARGETS = {"/me": "customer", "/cart": "customer", "/admin/customers": "admin"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def _hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    # Built by hand: PyJWT refuses to HMAC with something that looks like a public key.
    signing_input = _unsigned({**header, "alg": "HS256"}, claims)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


@dataclass
class Keys:
    """The platform's signing key, an attacker's, and a canary for remote key sets."""

    kid: str
    private: Ed25519PrivateKey
    attacker: Ed25519PrivateKey
    canary: Canary

    def sign(
        self, claims: dict[str, Any], *, key: Ed25519PrivateKey | None = None, **header: Any
    ) -> str:
        headers = {"kid": self.kid, "typ": "JWT", **header}
        if headers.get("kid") is None:
            headers.pop("kid")
        return jwt.encode(claims, key or self.private, algorithm="EdDSA", headers=headers)

    def attacker_jwk(self, kid: str) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(self.attacker.public_key()))
        jwk.update(kid=kid, use="sig", alg="EdDSA")
        return jwk

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )


async def _active_key(database_url: str) -> tuple[str, Ed25519PrivateKey]:
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from emporium.customers.auth.keys import KeyStore

    engine = create_async_engine(database_url)
    try:
        store = KeyStore(
            secret_key="dev-only-secret-change-me",
            access_token_ttl=timedelta(minutes=15),
            max_age=timedelta(days=90),
        )
        async with AsyncSession(engine) as session:
            key = await store.active(session)
            await session.rollback()
        return key.kid, key.private_key
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def keys(secure: Secure) -> Iterator[Keys]:
    kid, private = asyncio.run(_active_key(secure.customers_database_url))
    with Canary() as canary:
        yield Keys(kid, private, Ed25519PrivateKey.generate(), canary)


@pytest.fixture(scope="module")
def victim(secure: Secure) -> Account:
    with sync_client(secure) as http:
        return sync_register(http, "Victim")


@pytest.fixture(scope="module")
def boss_id(secure: Secure) -> str:
    with sync_client(secure) as http:
        tokens = http.post(
            "/auth/token",
            json={"email": secure.platform.admin_email, "password": secure.platform.admin_password},
        )
        assert tokens.status_code == 200, tokens.text
        me = http.get("/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})
        identity: str = me.json()["id"]
        return identity


def _claims(victim: Account, boss_id: str, level: str) -> dict[str, Any]:
    """Claims like the platform's own: the victim's (or, for admin routes, the admin's)."""
    real = jwt.decode(victim.access_token, options={"verify_signature": False})
    now = int(time.time())
    claims = {**real, "iat": now, "nbf": now, "exp": now + 300, "jti": uuid.uuid4().hex}
    if level == "admin":
        claims |= {"sub": boss_id, "role": "admin"}
    return claims


Forge = Callable[[Keys, dict[str, Any]], str]
HOUR = 3600


def _with(**changes: Any) -> Forge:
    """The platform's key, with claims changed (``None`` removes one)."""

    def forge(keys: Keys, claims: dict[str, Any]) -> str:
        changed = {**claims, **{k: v for k, v in changes.items() if v is not None}}
        for name in [k for k, v in changes.items() if v is None]:
            changed.pop(name, None)
        return keys.sign(changed)

    return forge


def _relative(**offsets: int) -> Forge:
    """The platform's key; time claims moved by ``offsets`` seconds from now."""

    def forge(keys: Keys, claims: dict[str, Any]) -> str:
        now = int(time.time())
        return keys.sign({**claims, **{name: now + delta for name, delta in offsets.items()}})

    return forge


def _remote_keys(header: str, *, real_kid: bool) -> Forge:
    def forge(keys: Keys, claims: dict[str, Any]) -> str:
        kid = keys.kid if real_kid else f"attacker-{uuid.uuid4().hex[:6]}"
        keys.canary.json_body = {"keys": [keys.attacker_jwk(kid)]}
        url = f"{keys.canary.url}/.well-known/jwks.json"
        return keys.sign(claims, key=keys.attacker, kid=kid, **{header: url})

    return forge


def _embedded_jwk(*, real_kid: bool) -> Forge:
    def forge(keys: Keys, claims: dict[str, Any]) -> str:
        kid = keys.kid if real_kid else f"attacker-{uuid.uuid4().hex[:6]}"
        return keys.sign(claims, key=keys.attacker, kid=kid, jwk=keys.attacker_jwk(kid))

    return forge


def _tampered(keys: Keys, claims: dict[str, Any]) -> str:
    # A good signature over other claims: the payload swapped for one naming someone else.
    header, _, signature = keys.sign(claims).split(".")
    other = _b64(json.dumps({**claims, "sub": str(uuid.uuid4())}).encode())
    return f"{header}.{other}.{signature}"


ATTACKS: dict[str, Forge] = {
    "alg none": lambda k, c: _unsigned({"alg": "none", "typ": "JWT", "kid": k.kid}, c) + ".",
    "alg None": lambda k, c: _unsigned({"alg": "None", "typ": "JWT", "kid": k.kid}, c) + ".",
    "alg NONE, signature kept": lambda k, c: (
        _unsigned({"alg": "NONE", "kid": k.kid}, c) + "." + k.sign(c).rsplit(".", 1)[1]
    ),
    "HS256 keyed with the public key (PEM)": lambda k, c: _hs256({"kid": k.kid}, c, k.public_pem()),
    "HS256 keyed with the public key (raw)": lambda k, c: _hs256({"kid": k.kid}, c, k.public_raw()),
    "HS256 keyed with the public JWK x": lambda k, c: _hs256(
        {"kid": k.kid}, c, _b64(k.public_raw()).encode()
    ),
    "HS256 with an empty key and a traversing kid": lambda k, c: _hs256(
        {"kid": "../../../../../../dev/null"}, c, b""
    ),
    "unknown kid": lambda k, c: k.sign(c, key=k.attacker, kid=f"attacker-{uuid.uuid4().hex[:6]}"),
    "no kid": lambda k, c: k.sign(c, kid=None),
    "kid with SQL": lambda k, c: k.sign(c, key=k.attacker, kid="' OR '1'='1"),
    "kid naming a URL": lambda k, c: k.sign(c, key=k.attacker, kid=f"{k.canary.url}/key.pem"),
    "the platform's kid, another key": lambda k, c: k.sign(c, key=k.attacker),
    "payload swapped under a good signature": _tampered,
    "jku to the attacker's key set": _remote_keys("jku", real_kid=False),
    "jku with the platform's kid": _remote_keys("jku", real_kid=True),
    "x5u to the attacker's certificate": _remote_keys("x5u", real_kid=False),
    "embedded jwk": _embedded_jwk(real_kid=False),
    "embedded jwk with the platform's kid": _embedded_jwk(real_kid=True),
    "expired": _relative(iat=-2 * HOUR, nbf=-2 * HOUR, exp=-HOUR),
    "not valid before an hour from now (nbf)": _relative(nbf=HOUR, exp=2 * HOUR),
    "issued an hour from now (iat)": _relative(iat=HOUR, nbf=HOUR, exp=2 * HOUR),
    "another audience": _with(aud="another-shop"),
    "an audience list without ours": _with(aud=["another-shop", "payments"]),
    "another issuer": _with(iss="https://attacker.example"),
    "no exp": _with(exp=None),
    "no sub": _with(sub=None),
    "an unknown role": _with(role="superuser"),
}


def _assert_refused(answer: httpx.Response, what: str) -> None:
    assert answer.status_code == 401, f"{what}: {answer.status_code} {answer.text[:300]}"
    assert is_problem(answer), f"{what}: {answer.headers.get('content-type')}"


def test_the_minted_token_is_accepted(
    secure: Secure, keys: Keys, victim: Account, boss_id: str
) -> None:
    with sync_client(secure) as http:
        for path, level in TARGETS.items():
            token = keys.sign(_claims(victim, boss_id, level))
            answer = http.get(path, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:300]}"


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_forged_or_stale_token_is_refused(
    secure: Secure, keys: Keys, victim: Account, boss_id: str, attack: str
) -> None:
    with sync_client(secure) as http:
        for path, level in TARGETS.items():
            token = ATTACKS[attack](keys, _claims(victim, boss_id, level))
            answer = http.get(path, headers={"Authorization": f"Bearer {token}"})
            _assert_refused(answer, f"{attack} on {path}")
    assert keys.canary.hits == [], f"the platform fetched attacker keys: {keys.canary.hits}"


def test_a_signed_out_session_is_refused(secure: Secure) -> None:
    with sync_client(secure) as http:
        account = sync_register(http)
        assert http.get("/me", headers=account.headers).status_code == 200
        assert http.post("/auth/logout", headers=account.headers).status_code == 204
        for path in ("/me", "/cart", "/orders"):
            _assert_refused(http.get(path, headers=account.headers), f"signed out, {path}")
        refresh = http.post("/auth/refresh", json={"refresh_token": account.refresh_token})
        _assert_refused(refresh, "the signed-out session's refresh token")


def test_a_reused_refresh_token_revokes_its_whole_family(secure: Secure) -> None:
    with sync_client(secure) as http:
        account = sync_register(http)
        first = http.post("/auth/refresh", json={"refresh_token": account.refresh_token})
        assert first.status_code == 200, first.text
        rotated = first.json()
        # The old refresh token again: stolen and replayed, or replayed by the thief's victim.
        replay = http.post("/auth/refresh", json={"refresh_token": account.refresh_token})
        _assert_refused(replay, "the replayed refresh token")
        # From then on the whole family is dead: the newest refresh token too ...
        newest = http.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
        _assert_refused(newest, "the family's newest refresh token after a replay")
        # ... and the access token issued with it.
        headers = {"Authorization": f"Bearer {rotated['access_token']}"}
        _assert_refused(http.get("/me", headers=headers), "the family's access token")


def test_a_token_outside_the_authorization_header_is_ignored(
    secure: Secure, victim: Account
) -> None:
    """A good token in the query string or a cookie, or under another scheme, is no token."""
    token = victim.access_token
    with sync_client(secure) as http:
        attempts = {
            "query access_token": http.get("/me", params={"access_token": token}),
            "query token": http.get("/cart", params={"token": token}),
            "cookie": http.get("/me", headers={"Cookie": f"access_token={token}"}),
            "Basic scheme": http.get("/me", headers={"Authorization": f"Basic {token}"}),
            "no scheme": http.get("/me", headers={"Authorization": token}),
        }
        for what, answer in attempts.items():
            _assert_refused(answer, what)
        assert http.get("/me", headers=victim.headers).status_code == 200
