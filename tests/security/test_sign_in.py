"""Sign-in throttling and disabled accounts, as an attacker sees them.

- Fifty wrong passwords for one email from one address: the attacker never gets a token,
  and the owner, signing in from another address, is not locked out (a throttle per email
  alone would let anyone lock anyone out).
- A disabled account answers the right password exactly as a wrong one (status and body,
  but for the request id), so the answer does not tell that the password was right; an
  unknown email answers the same way (no account enumeration). A disabled account's
  tokens stop working.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from emporium_security import PASSWORD, Secure, admin, client, is_problem, register

pytestmark = pytest.mark.e2e

ATTEMPTS = 50


def _comparable(answer: httpx.Response) -> tuple[int, Any]:
    body = answer.json()
    if isinstance(body, dict):
        body.pop("request_id", None)
    return answer.status_code, body


async def _sign_in(secure: Secure, email: str, password: str) -> httpx.Response:
    """One sign-in from an address of its own (no throttle bucket shared with the others)."""
    async with client(secure) as http:
        return await http.post("/auth/token", json={"email": email, "password": password})


async def test_failures_from_one_address_never_lock_the_owner_out(secure: Secure) -> None:
    async with client(secure) as owners:
        owner = await register(owners, "Owner")
        async with client(secure) as attacker:
            # Ten at a time, as a script would (a throttle that slows answers down costs the
            # attacker time, not this test).
            answers: list[httpx.Response] = []
            for batch in range(0, ATTEMPTS, 10):
                answers += await asyncio.gather(
                    *(
                        attacker.post(
                            "/auth/token", json={"email": owner.email, "password": f"guess {n}"}
                        )
                        for n in range(batch, batch + 10)
                    )
                )
            statuses = [answer.status_code for answer in answers]
            for answer in answers:
                assert answer.status_code in (401, 429), answer.text
                assert is_problem(answer), answer.headers
        # From the owner's own address, and from anywhere else, the right password works.
        at_home = await owners.post(
            "/auth/token", json={"email": owner.email, "password": PASSWORD}
        )
        assert at_home.status_code == 200, at_home.text
    elsewhere = await _sign_in(secure, owner.email, PASSWORD)
    assert elsewhere.status_code == 200, elsewhere.text
    assert 200 not in statuses


async def test_a_disabled_account_answers_like_a_wrong_password(secure: Secure) -> None:
    async with client(secure) as http:
        boss = await admin(http, secure)
        victim = await register(http, "Disabled")
        disabled = await http.patch(
            f"/admin/customers/{victim.id}", json={"disabled": True}, headers=boss.headers
        )
        assert disabled.status_code == 200, disabled.text
        # Tokens issued before stop working.
        assert (await http.get("/me", headers=victim.headers)).status_code == 401
        refresh = await http.post("/auth/refresh", json={"refresh_token": victim.refresh_token})
        assert refresh.status_code == 401, refresh.text
    right = await _sign_in(secure, victim.email, PASSWORD)
    wrong = await _sign_in(secure, victim.email, "not the password")
    assert right.status_code == 401, right.text
    assert _comparable(right) == _comparable(wrong)
    assert right.headers.get("content-type") == wrong.headers.get("content-type")


async def test_an_unknown_email_answers_like_a_wrong_password(secure: Secure) -> None:
    async with client(secure) as http:
        known = await register(http, "Known")
    wrong = await _sign_in(secure, known.email, "not the password")
    unknown = await _sign_in(secure, f"nobody-{uuid.uuid4().hex[:10]}@e2e.emporium.test", PASSWORD)
    assert wrong.status_code == 401, wrong.text
    assert _comparable(unknown) == _comparable(wrong)
