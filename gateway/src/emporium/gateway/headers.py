"""Which headers cross the gateway, in each direction.

Hop-by-hop headers (RFC 9110 section 7.6.1: ``Connection`` and every header it names,
``Keep-Alive``, ``Proxy-*``, ``TE``, ``Trailer``, ``Transfer-Encoding``, ``Upgrade``)
describe one connection and are dropped. Requests get ``X-Request-Id`` (the gateway's
request id), ``traceparent``/``tracestate`` (the gateway's span, a child of the caller's) and
``X-Forwarded-For``/``-Proto``/``-Host``; ``Host`` is the upstream's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["HOP_BY_HOP", "request_headers", "response_headers"]

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
    {"host", "x-request-id", "traceparent", "tracestate", "x-forwarded-proto", "x-forwarded-host"}
)


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
    out: list[tuple[str, str]] = []
    forwarded_for: list[str] = []
    for name, value in incoming:
        lower = name.lower()
        if lower == "x-forwarded-for":
            forwarded_for.append(value)
        elif lower not in dropped:
            out.append((name, value))
    chain = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    # The server may already have taken the client from a trusted proxy's X-Forwarded-For
    # (uvicorn's proxy_headers): then it is the chain's last hop, not a new one.
    if client_ip and (not chain or chain[-1] != client_ip):
        chain.append(client_ip)
    if chain:
        out.append(("X-Forwarded-For", ", ".join(chain)))
    out.append(("X-Forwarded-Proto", scheme))
    if host:
        out.append(("X-Forwarded-Host", host))
    if request_id:
        out.append(("X-Request-Id", request_id))
    out.extend(trace.items())
    return out


def response_headers(upstream: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The upstream answer's headers minus the hop-by-hop ones."""
    dropped = _dropped(upstream)
    return [(name, value) for name, value in upstream if name.lower() not in dropped]
