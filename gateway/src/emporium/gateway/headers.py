"""Which headers cross the gateway, in each direction.

Hop-by-hop headers (RFC 9110 section 7.6.1: ``Connection`` and every header it names,
``Keep-Alive``, ``Proxy-*``, ``TE``, ``Trailer``, ``Transfer-Encoding``, ``Upgrade``)
describe one connection and are dropped. Requests get ``X-Request-Id`` (the gateway's
request id), ``traceparent``/``tracestate`` (the gateway's span, a child of the caller's) and
``X-Forwarded-For``/``-Proto``/``-Host``, replaced (never passed on) with the client the
gateway resolved (``client.py``): one address, so a service trusting the gateway cannot be
told another client by the client itself. ``Forwarded`` and ``X-Real-IP`` are dropped for
the same reason. ``Host`` is the upstream's. Answers lose the upstream's ``Date`` and
``Server``: the gateway's server sets its own (one of each).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["HOP_BY_HOP", "raw_response_headers", "request_headers", "response_headers"]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by the gateway itself on the way in.
_REPLACED = frozenset(
    {
        "host",
        "x-request-id",
        "traceparent",
        "tracestate",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
        "x-real-ip",
    }
)
# Set by the gateway's own server on the way out.
_SERVER_SET = frozenset({"date", "server"})


def _dropped(pairs: Iterable[tuple[str, str]]) -> frozenset[str]:
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return HOP_BY_HOP | named


def request_headers(
    incoming: list[tuple[str, str]],
    *,
    client_ip: str | None,
    scheme: str,
    host: str | None,
    request_id: str | None,
    trace: Mapping[str, str],
    drop: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """The headers to send upstream for a request that came in with ``incoming``."""
    dropped = _dropped(incoming) | _REPLACED | {name.lower() for name in drop}
    out = [(name, value) for name, value in incoming if name.lower() not in dropped]
    if client_ip:
        out.append(("X-Forwarded-For", client_ip))
    out.append(("X-Forwarded-Proto", scheme))
    if host:
        out.append(("X-Forwarded-Host", host))
    if request_id:
        out.append(("X-Request-Id", request_id))
    out.extend(trace.items())
    return out


def response_headers(upstream: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The upstream answer's headers minus the hop-by-hop ones, ``Date`` and ``Server``."""
    dropped = _dropped(upstream) | _SERVER_SET
    return [(name, value) for name, value in upstream if name.lower() not in dropped]


_DROPPED_RAW = frozenset(name.encode() for name in HOP_BY_HOP | _SERVER_SET)


def raw_response_headers(upstream: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``response_headers`` on raw pairs (names lower-cased, as ASGI sends them), without
    decoding and encoding every header of every answer."""
    pairs = [(name.lower(), value) for name, value in upstream]
    named = [
        token.strip().lower()
        for name, value in pairs
        if name == b"connection"
        for token in value.split(b",")
    ]
    dropped = _DROPPED_RAW.union(named) if named else _DROPPED_RAW
    return [(name, value) for name, value in pairs if name not in dropped]
