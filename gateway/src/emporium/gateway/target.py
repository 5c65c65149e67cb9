"""The request target, parsed once into its canonical form (pure; no I/O).

The gateway routes on, rate-limits by, caches under and builds the upstream URL from this
form only, never from the raw target: a path the route table matched is the path the
service receives. Parsed from the raw bytes the client sent (the ASGI ``raw_path``), not
from the server's decoded path, so ``%2F`` cannot hide a slash from the router.

Refused (``BadTarget``, 400, ``reason`` says which): an encoded slash or backslash
(``%2F``, ``%5C``, any case) and a raw backslash, a dot segment (``.``, ``..``, raw or
percent-encoded: ``%2e``, ``.%2E`` ...), an empty segment (``//``), ``@`` (raw or ``%40``),
control characters (raw, or encoded ``%00``-``%1F``, ``%7F``), invalid percent-encoding
(``%zz``, a lone ``%``), bytes outside ASCII, and percent-encoded bytes that are not UTF-8.
One trailing slash is dropped (``/products/`` is ``/products``).

The query string is parsed into (name, value) pairs and encoded again from them.

``CanonicalTargetMiddleware`` does this for every request the gateway receives, before any
routing: the framework's router matches on the decoded path, where ``%0A`` or ``%2F``
already mean something else.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send

from emporium.kit.errors import ProblemError, problem_type

__all__ = [
    "MAX_QUERY_FIELDS",
    "SCOPE_KEY",
    "BadTarget",
    "CanonicalTargetMiddleware",
    "Target",
    "parse_target",
    "target_of",
]

log = logging.getLogger("emporium.gateway.target")

#: Where ``CanonicalTargetMiddleware`` leaves the parsed ``Target`` in the ASGI scope.
SCOPE_KEY = "emporium.target"

#: More query fields than this is refused (no public call takes nearly as many).
MAX_QUERY_FIELDS = 200
# RFC 3986 pchar without "@": these stay as they are in an encoded segment.
_SEGMENT_SAFE = "-._~!$&'()*+,;=:"
_QUERY_SAFE = "-._~!$'()*,;:/?"
_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_NOT_ASCII = re.compile(rb"[\x80-\xff]")
# A segment of unreserved characters and sub-delims (no "%", "@", "\\"), not "." or "..".
_PLAIN = re.compile(rb"(?!\.\.?\Z)[A-Za-z0-9\-._~!$&'()*+,;=:]+")
# What ``quote(segment, safe=_SEGMENT_SAFE)`` leaves as it is.
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:]*")


class BadTarget(ProblemError):
    """400: the request target is not one the gateway will route (``reason`` says why)."""

    status = 400
    type = problem_type("bad-request-target")
    title = "Bad request target"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Target:
    """A canonical target: decoded path segments and decoded query pairs."""

    segments: tuple[str, ...]
    query: tuple[tuple[str, str], ...] = ()

    @property
    def path(self) -> str:
        """The decoded path (``/api/v1/products``); unambiguous: no segment holds a ``/``."""
        return "/" + "/".join(self.segments)

    def encoded_path(self, skip: int = 0) -> str:
        """The path percent-encoded again, without its first ``skip`` segments."""
        return "/" + "/".join(_encoded(s) for s in self.segments[skip:])

    def encoded_query(self) -> str:
        """The query encoded again from its pairs (``""`` when there is none)."""
        return urlencode(self.query, quote_via=quote, safe=_QUERY_SAFE)

    def starts_with(self, *segments: str) -> bool:
        return self.segments[: len(segments)] == segments


def _encoded(segment: str) -> str:
    # A segment of safe characters only (an id, a word) is its own encoding: ``quote``
    # would build the same string at a few times the cost.
    return segment if _PLAIN_TEXT.fullmatch(segment) else quote(segment, safe=_SEGMENT_SAFE)


def _segment(raw: bytes) -> str:
    if _PLAIN.fullmatch(raw):  # the common case: nothing to decode, nothing to refuse
        return raw.decode("ascii")
    if b"\\" in raw:
        raise BadTarget("backslash", "the path contains a backslash")
    if _CONTROL.search(raw):
        raise BadTarget("control-character", "the path contains a control character")
    if _NOT_ASCII.search(raw):
        raise BadTarget("not-ascii", "the path contains bytes outside ASCII; percent-encode them")
    if _BAD_PERCENT.search(raw):
        raise BadTarget(
            "invalid-percent-encoding", "the path has a '%' not followed by two hex digits"
        )
    if b"@" in raw:
        raise BadTarget("at-sign", "the path contains '@'")
    decoded = unquote_to_bytes(raw)
    if b"/" in decoded:
        raise BadTarget("encoded-slash", "the path contains an encoded slash (%2F)")
    if b"\\" in decoded:
        raise BadTarget("encoded-backslash", "the path contains an encoded backslash (%5C)")
    if _CONTROL.search(decoded):
        raise BadTarget("control-character", "the path contains an encoded control character")
    if b"@" in decoded:
        raise BadTarget("at-sign", "the path contains an encoded '@' (%40)")
    if decoded in (b".", b".."):
        raise BadTarget("dot-segment", "the path contains a '.' or '..' segment")
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise BadTarget(
            "invalid-percent-encoding", "the path's percent-encoded bytes are not UTF-8"
        ) from None


def _query(raw: bytes) -> tuple[tuple[str, str], ...]:
    if not raw:
        return ()
    if _CONTROL.search(raw) or _NOT_ASCII.search(raw):
        raise BadTarget("control-character", "the query string contains raw bytes outside ASCII")
    if _BAD_PERCENT.search(raw):
        raise BadTarget(
            "invalid-percent-encoding", "the query has a '%' not followed by two hex digits"
        )
    try:
        pairs = parse_qsl(
            raw.decode("ascii"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_QUERY_FIELDS,
        )
    except UnicodeDecodeError:
        raise BadTarget(
            "invalid-percent-encoding", "the query's percent-encoded bytes are not UTF-8"
        ) from None
    except ValueError:
        raise BadTarget(
            "too-many-query-fields", f"the query has more than {MAX_QUERY_FIELDS} fields"
        ) from None
    return tuple(pairs)


def parse_target(raw_path: bytes, query_string: bytes = b"") -> Target:
    """The canonical form of a request target; raises ``BadTarget`` (400) for anything else."""
    if not raw_path.startswith(b"/"):
        raise BadTarget("not-absolute", "the path must start with '/'")
    if raw_path == b"/":
        return Target((), _query(query_string))
    parts = raw_path[1:].split(b"/")
    if len(parts) > 1 and parts[-1] == b"":
        parts.pop()  # one trailing slash
    if b"" in parts:
        raise BadTarget("empty-segment", "the path contains an empty segment ('//')")
    return Target(tuple(_segment(part) for part in parts), _query(query_string))


class CanonicalTargetMiddleware:
    """Parses every request's target once (pure ASGI); a bad one is answered 400 here,
    before any routing (the router's own matching never sees it). The ``Target`` is left
    in the scope under ``SCOPE_KEY`` for the proxy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            scope[SCOPE_KEY] = parse_target(
                scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape"),
                scope.get("query_string", b""),
            )
        except BadTarget as refused:
            log.info("refused request target: %s", refused.reason)
            await refused.to_response(instance=_printable(scope.get("path", "")))(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)


def _printable(path: str) -> str:
    # Echoed in the problem: control characters replaced, length bounded.
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in path[:200])


def target_of(scope: Scope) -> Target:
    """The canonical target the middleware parsed (parsed here if it did not run)."""
    target = scope.get(SCOPE_KEY)
    if isinstance(target, Target):
        return target
    return parse_target(
        scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape"),
        scope.get("query_string", b""),
    )
