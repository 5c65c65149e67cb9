"""``X-Forwarded-For`` counts only when a trusted proxy sent it.

The platform trusts 127.0.0.2 (``GATEWAY_TRUSTED_PROXIES=127.0.0.2/32``); any other
loopback address is a client on its own. The client address is observed the way an
attacker would: through the per-address rate limit of ``/auth/*``
(``GATEWAY_RATE_LIMIT_AUTH`` per window).

- From an untrusted peer, a new forged ``X-Forwarded-For`` on every request changes
  nothing: the requests all count against the peer's own address, so they run into 429.
- Through the trusted proxy, the client is the rightmost address of the header that is
  not itself trusted: another client behind the same proxy has a budget of its own, and a
  client cannot escape its budget by prepending made-up hops.

The window is fixed (``GATEWAY_RATE_LIMIT_WINDOW_SECONDS``): a bucket is exhausted again
when it was exhausted too close to the window's end (``Retry-After``).
"""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from emporium_security import RATE_LIMIT_AUTH, TRUSTED_PROXY, Secure, client, is_problem, loopback

pytestmark = pytest.mark.e2e


def _documentation_address() -> str:
    return f"203.0.113.{random.randint(1, 254)}"


async def _exhaust(http: httpx.AsyncClient, forwarded_for: list[str] | None) -> httpx.Response:
    """Call ``/auth/jwks`` until it answers 429 (a new forged header each time if given).

    Fails when no 429 comes within two windows' worth of calls.
    """
    for attempt in range(2 * RATE_LIMIT_AUTH + 5):
        headers = (
            {"X-Forwarded-For": forwarded_for[attempt % len(forwarded_for)]}
            if forwarded_for
            else {}
        )
        answer = await http.get("/auth/jwks", headers=headers)
        if answer.status_code == 429:
            assert is_problem(answer), answer.headers
            if int(answer.headers.get("retry-after", "60")) < 5:
                await asyncio.sleep(int(answer.headers["retry-after"]) + 1)
                continue  # the window is about to roll over: exhaust the next one
            return answer
        assert answer.status_code == 200, answer.text
    raise AssertionError(
        f"no 429 after {2 * RATE_LIMIT_AUTH + 5} calls: each call counted for another client"
    )


async def test_a_forged_header_from_an_untrusted_peer_changes_nothing(secure: Secure) -> None:
    forged = [f"198.51.100.{n}" for n in range(1, 255)]
    random.shuffle(forged)
    async with client(secure, loopback()) as http:
        await _exhaust(http, forged)
        # The header's values are nobody's buckets: another forged one is refused too, ...
        again = await http.get("/auth/jwks", headers={"X-Forwarded-For": _documentation_address()})
        assert again.status_code == 429, again.text
        # ... and so is the peer without a header.
        assert (await http.get("/auth/jwks")).status_code == 429


async def test_the_trusted_proxy_s_header_names_the_client(secure: Secure) -> None:
    client_x, client_y, made_up = _documentation_address(), "192.0.2.10", "192.0.2.99"
    while client_x in (client_y, made_up):
        client_x = _documentation_address()
    async with client(secure, TRUSTED_PROXY) as proxy:
        await _exhaust(proxy, [client_x])
        cases = {
            # another client behind the same proxy: a budget of its own
            client_y: 200,
            # X prepends a made-up hop: the proxy appended X's real address last
            f"{made_up}, {client_x}": 429,
            # a trusted hop on the right is skipped: X is still the client
            f"{client_x}, {TRUSTED_PROXY}": 429,
            # another address that claims to be X: the proxy saw that address, its own budget
            f"{client_x}, {made_up}": 200,
        }
        answers = {}
        for header in cases:
            answer = await proxy.get("/auth/jwks", headers={"X-Forwarded-For": header})
            answers[header] = answer.status_code
        assert answers == cases
        # Without a header the proxy itself is the client (nobody else's budget).
        assert (await proxy.get("/auth/jwks")).status_code == 200
