"""Who the client is, from the peer and the trusted proxies (pure)."""

from __future__ import annotations

import pytest

from emporium.gateway.client import parse_networks, resolve_client
from emporium.gateway.settings import Settings

TRUSTED = parse_networks("10.0.0.0/8, 192.0.2.1, 2001:db8::/32")


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # An untrusted peer: whatever it claims, it is the client.
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
        ("203.0.113.5", [], "203.0.113.5"),
        # A trusted peer without X-Forwarded-For is itself the client.
        ("10.0.0.2", [], "10.0.0.2"),
        # The rightmost hop that is not a trusted proxy.
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1, 10.1.1.1"], "198.51.100.1"),
        ("10.0.0.2", ["6.6.6.6", "198.51.100.1, 192.0.2.1"], "198.51.100.1"),
        # Every hop trusted: the leftmost one.
        ("10.0.0.2", ["10.9.9.9, 192.0.2.1"], "10.9.9.9"),
        # Garbage where the client should be: the nearest trusted proxy is what we know.
        ("10.0.0.2", ["not-an-ip"], "10.0.0.2"),
        ("10.0.0.2", ["6.6.6.6, unknown, 10.1.1.1"], "10.1.1.1"),
        # Ports and brackets; IPv6 written canonically; IPv4-mapped IPv6 as IPv4.
        ("10.0.0.2", ["198.51.100.1:5555"], "198.51.100.1"),
        ("10.0.0.2", ["[2001:DB9::0001]:443"], "2001:db9::1"),
        ("2001:db8::1", ["2001:0db9::1"], "2001:db9::1"),
        ("::ffff:10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["  ,  , 198.51.100.1 ,"], "198.51.100.1"),
        (None, ["198.51.100.1"], "unknown"),
    ],
)
def test_the_client_is_the_rightmost_untrusted_hop_behind_a_trusted_peer(
    peer: str | None, forwarded: list[str], client: str
) -> None:
    headers = [("X-Forwarded-For", value) for value in forwarded]
    resolved = resolve_client(peer, headers, scheme="http", host="gw", trusted=TRUSTED)
    assert resolved.ip == client


def test_nobody_is_trusted_by_default() -> None:
    resolved = resolve_client(
        "127.0.0.1",
        [("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https")],
        scheme="http",
        host="gw",
        trusted=parse_networks(""),
    )
    assert (resolved.ip, resolved.scheme, resolved.host) == ("127.0.0.1", "http", "gw")


@pytest.mark.parametrize(
    ("headers", "scheme", "host"),
    [
        ([("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "shop.example")], "https",
         "shop.example"),
        ([("X-Forwarded-Proto", "HTTPS")], "https", "gw"),
        ([("X-Forwarded-Proto", "gopher")], "http", "gw"),
        ([("X-Forwarded-Proto", "http, https")], "https", "gw"),
        ([("X-Forwarded-Host", "shop.example:8443")], "http", "shop.example:8443"),
        ([("X-Forwarded-Host", "[2001:db8::1]:8443")], "http", "[2001:db8::1]:8443"),
        ([("X-Forwarded-Host", "evil.example/path")], "http", "gw"),
        ([("X-Forwarded-Host", "a@b")], "http", "gw"),
    ],
)  # fmt: skip
def test_a_trusted_peer_also_says_the_scheme_and_host(
    headers: list[tuple[str, str]], scheme: str, host: str
) -> None:
    resolved = resolve_client("10.0.0.2", headers, scheme="http", host="gw", trusted=TRUSTED)
    assert (resolved.scheme, resolved.host) == (scheme, host)


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "nope", "10.0.0.1/8/1", "1.2.3"])
def test_a_bad_trusted_network_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not an IP network"):
        parse_networks(bad)


def test_trusted_networks_parse_cidrs_and_bare_addresses() -> None:
    assert [str(n) for n in parse_networks(" 10.0.0.0/8 ,, 127.0.0.1 ,::1")] == [
        "10.0.0.0/8",
        "127.0.0.1/32",
        "::1/128",
    ]


def test_the_gateway_gives_uvicorn_no_proxy_to_trust() -> None:
    assert Settings().forwarded_allow_ips == ""
    with pytest.raises(ValueError, match="GATEWAY_TRUSTED_PROXIES"):
        Settings(forwarded_allow_ips="*")
    with pytest.raises(ValueError, match="not an IP network"):
        Settings(trusted_proxies="10.0.0.0/8, bogus")
    assert [str(n) for n in Settings(trusted_proxies="10.0.0.0/8").trusted_networks()] == [
        "10.0.0.0/8"
    ]


@pytest.mark.parametrize(
    ("host", "kept"),
    [("shop.example", "shop.example"), ("127.0.0.1:8000", "127.0.0.1:8000"),
     ("shop.example/x", None), ("a b", None), ("", None), (None, None)],
)  # fmt: skip
def test_only_a_plain_host_is_passed_on(host: str | None, kept: str | None) -> None:
    resolved = resolve_client("203.0.113.5", [], scheme="http", host=host, trusted=TRUSTED)
    assert resolved.host == kept
