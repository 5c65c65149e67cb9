"""Who the client is: its address, scheme and host, from the peer and trusted proxies (pure).

Only a peer inside ``GATEWAY_TRUSTED_PROXIES`` may speak for the client. From such a peer
the client is the rightmost ``X-Forwarded-For`` address that is not itself a trusted
proxy (each proxy appends the address it saw, so everything left of the first untrusted
hop may be forged by the client); ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` are taken
from it too. From any other peer those headers are ignored: the client is the peer. With
the default (empty list) no proxy is trusted.

The gateway then sends the services exactly one ``X-Forwarded-For`` address, this one.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Client", "Networks", "parse_networks", "peer_of", "resolve_client"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Networks = tuple[Network, ...]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCHEMES = frozenset({"http", "https"})
# A host[:port] a proxy may name: a DNS name, an IPv4 address or a bracketed IPv6 one.
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")


@dataclass(frozen=True, slots=True)
class Client:
    """The resolved client: ``ip`` (canonical text), the ``scheme`` and ``host`` it used."""

    ip: str
    scheme: str
    host: str | None


def parse_networks(value: str) -> Networks:
    """``"10.0.0.0/8, 127.0.0.1"`` -> networks (a bare address is a /32 or /128)."""
    networks: list[Network] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an IP network (CIDR): {item!r}") from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    """An address from an ``X-Forwarded-For`` hop: bare, ``[v6]:port`` or ``v4:port``."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address | None, networks: Networks) -> bool:
    return address is not None and any(address in network for network in networks)


def _last(values: Iterable[str]) -> str | None:
    found = None
    for value in values:
        for item in value.split(","):
            if item.strip():
                found = item.strip()
    return found


def resolve_client(
    peer: str | None,
    headers: Iterable[tuple[str, str]],
    *,
    scheme: str,
    host: str | None,
    trusted: Networks,
) -> Client:
    """The client behind ``peer`` (the socket's address) given the request ``headers``
    (read only when ``peer`` is a trusted proxy)."""
    peer_text, peer_trusted = peer_of(peer, trusted)
    host = _valid_host(host)
    if not peer_trusted:
        return Client(peer_text, scheme, host)
    forwarded: list[str] = []
    protos: list[str] = []
    hosts: list[str] = []
    for name, value in headers:
        lower = name.lower()
        if lower == "x-forwarded-for":
            forwarded.append(value)
        elif lower == "x-forwarded-proto":
            protos.append(value)
        elif lower == "x-forwarded-host":
            hosts.append(value)
    hops = [hop.strip() for value in forwarded for hop in value.split(",") if hop.strip()]
    client = peer_text
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbage: the nearest trusted proxy is the best we know
        client = str(address)
        if not _trusted(address, trusted):
            break
    proto = (_last(protos) or "").lower()
    return Client(
        client,
        proto if proto in _SCHEMES else scheme,
        _valid_host(_last(hosts)) or host,
    )


@functools.lru_cache(maxsize=4096)
def peer_of(peer: str | None, trusted: Networks) -> tuple[str, bool]:
    """(canonical text, trusted proxy?) of a socket's address ``peer``."""
    # Memoised: parsing it was a tenth of a cache hit's time, and the same peers come
    # again and again (keep-alive, a proxy in front).
    address = _address(peer) if peer else None
    text = str(address) if address is not None else (peer or "unknown")
    return text, _trusted(address, trusted)


def _valid_host(host: str | None) -> str | None:
    """``host`` when it is a plain ``host[:port]``, else None (not passed on)."""
    return host if host is not None and _HOST.fullmatch(host) else None
