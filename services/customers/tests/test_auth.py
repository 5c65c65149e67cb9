"""Registration, sign-in, refresh rotation with reuse detection, sign-out, token checks."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from emporium.customers.models import Customer, SigningKey
from emporium.customers.testing import PASSWORD, Service, bearer


async def test_register_then_sign_in_and_read_the_profile(any_db_service: Service) -> None:
    svc = any_db_service
    registered = await svc.register("  Ada.Lovelace@Example.COM ", name="Ada")
    assert registered["email"] == "ada.lovelace@example.com"
    assert registered["name"] == "Ada"

    tokens = await svc.tokens("ADA.lovelace@example.com")
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    me = await svc.client.get("/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == registered["id"]
    assert me.json()["order_count"] == 0
    assert me.json()["lifetime_spend"] == {"amount": 0, "currency": "EUR"}


async def test_the_same_email_in_other_case_is_taken(service: Service) -> None:
    await service.register("grace@example.com")
    again = await service.client.post(
        "/auth/register",
        json={"email": "GRACE@example.com", "password": PASSWORD, "name": "Grace"},
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


async def test_registration_validates_every_field(service: Service) -> None:
    response = await service.client.post(
        "/auth/register", json={"email": "not-an-email", "password": "short", "name": ""}
    )
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"body.email", "body.password", "body.name"}


async def test_passwords_are_stored_as_argon2id_hashes(service: Service) -> None:
    await service.register("hash@example.com")
    async with service.resources.require_database().session() as session:
        stored = await session.scalar(
            select(Customer.password_hash).where(Customer.email == "hash@example.com")
        )
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_unknown_email_and_wrong_password_look_the_same(service: Service) -> None:
    await service.register("known@example.com")
    wrong = await service.sign_in("known@example.com", "not the password")
    unknown = await service.sign_in("nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    for body in (wrong.json(), unknown.json()):
        body.pop("request_id", None)
    assert wrong.json()["type"] == unknown.json()["type"]
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_an_email_no_address_can_be_is_refused_like_a_wrong_password(
    any_db_service: Service,
) -> None:
    """A NUL or a control character: not an unstorable-value 422, the usual 401."""
    await any_db_service.register("known@example.com")
    wrong = await any_db_service.sign_in("known@example.com", "not the password")
    for email in ("known\x00@example.com", "\x00", "a\x01b@example.com", "x\x7f@example.com"):
        refused = await any_db_service.sign_in(email, "not the password")
        assert refused.status_code == 401, (email, refused.text)
        assert refused.json()["type"] == wrong.json()["type"]
        assert refused.json()["detail"] == wrong.json()["detail"]


async def test_the_schema_declares_what_is_accepted(service: Service) -> None:
    """Registration's email is ``format: email``; an address's country is the ISO enum."""
    schemas = service.app.openapi()["components"]["schemas"]
    assert schemas["RegisterRequest"]["properties"]["email"]["format"] == "email"
    accepted = set(schemas["AddressCreate"]["properties"]["country"]["enum"])
    assert {"DE", "de"} <= accepted
    assert not {"XX", "UK", "De"} & accepted


async def test_refresh_rotates_and_the_old_refresh_token_stops_working(service: Service) -> None:
    await service.register("rotate@example.com")
    first = await service.tokens("rotate@example.com")
    second = await service.client.post(
        "/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200, second.text
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert (
        await service.client.get("/me", headers=bearer(pair["access_token"]))
    ).status_code == 200
    third = await service.client.post(
        "/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert third.status_code == 200


async def test_a_reused_refresh_token_kills_its_whole_family(service: Service) -> None:
    await service.register("reuse@example.com")
    stolen = await service.tokens("reuse@example.com")
    rotated = (
        await service.client.post("/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
    ).json()
    # Someone replays the old refresh token: refused, and the family dies.
    replay = await service.client.post(
        "/auth/refresh", json={"refresh_token": stolen["refresh_token"]}
    )
    assert replay.status_code == 401
    # The legitimate holder's newer tokens stopped working too.
    newer = await service.client.post(
        "/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert newer.status_code == 401
    me = await service.client.get("/me", headers=bearer(rotated["access_token"]))
    assert me.status_code == 401
    # Another sign-in (another family) is unaffected.
    other = await service.tokens("reuse@example.com")
    assert (
        await service.client.get("/me", headers=bearer(other["access_token"]))
    ).status_code == 200


async def test_logout_revokes_the_access_token_and_its_refresh_token(service: Service) -> None:
    await service.register("bye@example.com")
    tokens = await service.tokens("bye@example.com")
    other_session = await service.tokens("bye@example.com")
    headers = bearer(tokens["access_token"])
    assert (await service.client.post("/auth/logout", headers=headers)).status_code == 204
    assert (await service.client.get("/me", headers=headers)).status_code == 401
    refresh = await service.client.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401
    # Signing out of one device leaves the other signed in.
    still = await service.client.get("/me", headers=bearer(other_session["access_token"]))
    assert still.status_code == 200


async def test_logout_needs_a_token(service: Service) -> None:
    assert (await service.client.post("/auth/logout")).status_code == 401


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def _signed(service: Service, **overrides: object) -> str:
    """A token signed with the service's real current key, with some claims changed."""
    async with service.resources.require_database().session() as session:
        key = await service.accounts.keys.active(session)
    customer_id, _ = await service.customer(f"{uuid.uuid4().hex[:8]}@example.com")
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "emporium-customers",
        "aud": "emporium",
        "sub": customer_id,
        "role": "customer",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        **overrides,
    }
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


async def test_bad_tokens_are_refused_with_401(service: Service) -> None:
    _, headers = await service.customer("victim@example.com")
    good = headers["Authorization"].removeprefix("Bearer ")
    assert (await service.client.get("/me", headers=headers)).status_code == 200

    now = int(time.time())
    expired = await _signed(service, iat=now - 3600, nbf=now - 3600, exp=now - 1800)
    wrong_audience = await _signed(service, aud="someone-else")
    sanity = await _signed(service)

    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    tampered = f"{header}.{_b64(claims)}.{signature}"
    kid = jwt.get_unverified_header(good)["kid"]
    alg_none = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{payload}."

    revoked_pair = await service.tokens("victim@example.com")
    revoked = revoked_pair["access_token"]
    assert (await service.client.post("/auth/logout", headers=bearer(revoked))).status_code == 204

    assert (await service.client.get("/me", headers=bearer(sanity))).status_code == 200
    for name, token in {
        "expired": expired,
        "tampered": tampered,
        "alg none": alg_none,
        "wrong audience": wrong_audience,
        "revoked": revoked,
        "garbage": "not.a.jwt",
    }.items():
        response = await service.client.get("/me", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"] == "Bearer", name


async def test_jwks_publishes_the_public_key_only_and_private_keys_are_sealed(
    service: Service,
) -> None:
    jwks = (await service.client.get("/auth/jwks")).json()
    assert len(jwks["keys"]) == 1
    key = jwks["keys"][0]
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert "d" not in key
    async with service.resources.require_database().session() as session:
        row = await session.get(SigningKey, key["kid"])
        assert row is not None
        active = await service.accounts.keys.active(session)
    raw = active.private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert raw not in row.private_key
