"""The sealed session cookie: what it keeps, and what it refuses to open."""

from __future__ import annotations

import base64

from emporium.storefront.session import Sealer, Session, SessionMiddleware, Tokens

KEY = "a-test-secret-key-that-is-long-enough-0123"


def test_a_sealed_session_opens_to_what_was_sealed() -> None:
    sealer = Sealer(KEY, max_age_seconds=3600)
    data = {"csrf": "abc", "tokens": {"access": "a", "refresh": "r", "expires_at": 1.5}}
    assert sealer.open(sealer.seal(data)) == data


def test_the_cookie_hides_the_tokens() -> None:
    sealed = Sealer(KEY, max_age_seconds=3600).seal({"tokens": {"access": "eyJ-secret-token"}})
    assert "eyJ-secret-token" not in sealed
    assert b"eyJ-secret-token" not in base64.urlsafe_b64decode(sealed + "==")


def test_a_tampered_cookie_is_no_session() -> None:
    sealer = Sealer(KEY, max_age_seconds=3600)
    sealed = sealer.seal({"customer": {"role": "customer"}})
    raw = bytearray(base64.urlsafe_b64decode(sealed))
    raw[40] ^= 0x01  # one bit of the ciphertext
    assert sealer.open(base64.urlsafe_b64encode(bytes(raw)).decode()) is None
    assert sealer.open("not a cookie at all") is None
    assert sealer.open("") is None


def test_a_cookie_sealed_under_another_key_is_no_session() -> None:
    theirs = Sealer("another-secret-key-that-is-long-enough-99", max_age_seconds=3600)
    assert Sealer(KEY, max_age_seconds=3600).open(theirs.seal({"csrf": "x"})) is None


def test_an_old_cookie_is_no_session() -> None:
    sealer = Sealer(KEY, max_age_seconds=60)
    sealed = sealer.seal({"csrf": "x"}, now=1_000_000)
    assert sealer.open(sealed, now=1_000_059) == {"csrf": "x"}
    assert sealer.open(sealed, now=1_000_061) is None


def test_signing_in_and_out_changes_the_csrf_token() -> None:
    session = Session()
    before = session.csrf_token
    session.sign_in(Tokens("a", "r", 10.0), {"id": "1", "role": "customer"})
    assert session.csrf_token != before
    assert session.tokens == Tokens("a", "r", 10.0)
    signed_in = session.csrf_token
    session.flash("bye")
    session.sign_out()
    assert session.tokens is None
    assert session.customer is None
    assert session.csrf_token != signed_in
    assert session.pop_flashes() == [{"kind": "info", "message": "bye"}]


def test_a_session_with_a_malformed_token_pair_has_none() -> None:
    assert Session({"csrf": "x", "tokens": {"access": "a"}}).tokens is None
    assert Session({"csrf": "x", "tokens": "nonsense"}).tokens is None


def test_the_cookie_is_httponly_samesite_and_secure_outside_dev() -> None:
    sealer = Sealer(KEY, max_age_seconds=600)

    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("not called")

    header = SessionMiddleware(app, sealer=sealer, cookie_name="s", secure=True)
    value = header.set_cookie_header(Session()).decode()
    assert "; HttpOnly" in value
    assert "; SameSite=Lax" in value
    assert "; Secure" in value
    assert "; Max-Age=600" in value
    dev = SessionMiddleware(app, sealer=sealer, cookie_name="s", secure=False)
    assert "Secure" not in dev.set_cookie_header(Session()).decode()


def test_tokens_know_when_they_expire() -> None:
    tokens = Tokens("a", "r", expires_at=1000.0)
    assert not tokens.expires_within(60, now=900.0)
    assert tokens.expires_within(60, now=941.0)
