"""Why an attempt to apply an event failed, and what the consumer does about it.

``classify_failure(error)`` is a pure function of the exception (and whatever it wraps:
``__cause__``, ``__context__``, SQLAlchemy's ``orig``, the driver's ``sqlstate``/``pgcode``):

``UNAVAILABLE``  a dependency is away, not the event's fault: SQLSTATE class 08
                 (connection), 57P01-57P03 (shutdown, crash, starting up), 53300 (too many
                 connections), refused/reset connections, DNS failures, connect timeouts,
                 an invalidated SQLAlchemy connection, a pool timeout. Wait (capped backoff,
                 partitions paused) and retry without using up the event's attempts.
``CONFLICT``     the database refused this transaction but the next may pass: 40001
                 (serialization), 40P01 (deadlock), SQLite busy/locked. Retried soon, without
                 using up attempts.
``PERMANENT``    can never succeed however often it runs: an envelope or payload that does
                 not parse or validate (pydantic ``ValidationError``, JSON and Unicode decode
                 errors), an event that is not the contract its handler expects
                 (``ContractMismatch``), a value the database can never store (SQLSTATE
                 class 22: out of range, too long), or a handler raising
                 ``PermanentFailure``. Dead-lettered at once.
``RETRY``        anything else (a bug, a constraint, a handler timeout): bounded attempts
                 with backoff, then the dead-letter topic.
"""

from __future__ import annotations

import enum
import errno
import json
import socket
import sqlite3
from collections import deque
from collections.abc import Iterator

from pydantic import ValidationError
from sqlalchemy import exc as sa_exc

from emporium.kit.events import ContractMismatch

__all__ = [
    "Failure",
    "HandlerTimeout",
    "PermanentFailure",
    "Step",
    "classify_failure",
    "next_step",
    "retry_delay",
    "sqlstate_of",
    "wrapped_errors",
]


class Failure(enum.Enum):
    """What a failed attempt means for the event (see the module docstring)."""

    UNAVAILABLE = "unavailable"
    CONFLICT = "conflict"
    PERMANENT = "permanent"
    RETRY = "retry"

    @property
    def uses_attempts(self) -> bool:
        """Whether a failure of this kind counts against the event's attempts."""
        return self in (Failure.RETRY, Failure.PERMANENT)


class PermanentFailure(Exception):
    """Raise from a handler for an event that can never be applied: dead-lettered at once."""


class HandlerTimeout(Exception):
    """A handler ran longer than the consumer's ``handler_timeout``: an ordinary failure."""


#: SQLSTATEs (besides class 08) that mean the server is away or full, not the statement bad.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
_CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})
#: SQLSTATE class 22, data exception (a number out of range, a string too long, bad input
#: for a parameter, also raised by asyncpg while encoding one): the same values fail again.
_DATA_EXCEPTION_CLASS = "22"
#: ``OSError`` numbers of a peer we cannot reach (``ConnectionError`` covers refused/reset).
_UNREACHABLE_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
        errno.ETIMEDOUT,
        errno.EPIPE,
    }
)
#: SQLite primary result codes: busy/locked (another writer), cannot open / I/O (file away).
_SQLITE_CONFLICT = frozenset({5, 6})
_SQLITE_UNAVAILABLE = frozenset({10, 14})
_MAX_DEPTH = 16


def sqlstate_of(error: BaseException) -> str | None:
    """The SQLSTATE an exception carries itself (asyncpg ``sqlstate``, psycopg ``pgcode``)."""
    for attribute in ("sqlstate", "pgcode"):
        value = getattr(error, attribute, None)
        if isinstance(value, str) and len(value) == 5:
            return value.upper()
    return None


def wrapped_errors(error: BaseException) -> Iterator[BaseException]:
    """``error`` and everything it wraps, breadth first, each once: SQLAlchemy's ``orig``,
    ``__cause__``, ``__context__`` (unless suppressed by ``raise ... from None``) and the
    members of an exception group, at most ``_MAX_DEPTH`` levels down (cycles end)."""
    queue: deque[tuple[BaseException, int]] = deque([(error, 0)])
    seen: set[int] = set()
    while queue:
        node, depth = queue.popleft()
        if id(node) in seen or depth > _MAX_DEPTH:
            continue
        seen.add(id(node))
        yield node
        wrapped: list[object] = [getattr(node, "orig", None), node.__cause__]
        if not node.__suppress_context__:
            wrapped.append(node.__context__)
        if isinstance(node, BaseExceptionGroup):
            wrapped.extend(node.exceptions)
        queue.extend((inner, depth + 1) for inner in wrapped if isinstance(inner, BaseException))


def _by_sqlstate(state: str) -> Failure:
    if state.startswith("08") or state in _UNAVAILABLE_SQLSTATES:
        return Failure.UNAVAILABLE
    if state in _CONFLICT_SQLSTATES:
        return Failure.CONFLICT
    if state.startswith(_DATA_EXCEPTION_CLASS):
        return Failure.PERMANENT
    return Failure.RETRY


def _verdict(node: BaseException) -> Failure | None:
    """What ``node`` alone says; None when only what it wraps can tell."""
    if isinstance(node, HandlerTimeout):
        return Failure.RETRY
    if isinstance(node, PermanentFailure | ContractMismatch | ValidationError):
        return Failure.PERMANENT
    if isinstance(node, json.JSONDecodeError | UnicodeDecodeError):
        return Failure.PERMANENT
    state = sqlstate_of(node)
    if state is not None:
        return _by_sqlstate(state)
    if isinstance(node, sa_exc.DBAPIError) and node.connection_invalidated:
        return Failure.UNAVAILABLE
    if isinstance(node, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return Failure.UNAVAILABLE
    if isinstance(node, sqlite3.Error):
        code = getattr(node, "sqlite_errorcode", None)
        if isinstance(code, int):
            primary = code & 0xFF
            if primary in _SQLITE_CONFLICT:
                return Failure.CONFLICT
            if primary in _SQLITE_UNAVAILABLE:
                return Failure.UNAVAILABLE
        return None
    if isinstance(node, socket.gaierror | ConnectionError | TimeoutError):
        return Failure.UNAVAILABLE
    if isinstance(node, OSError) and node.errno in _UNREACHABLE_ERRNOS:
        return Failure.UNAVAILABLE
    return None


def classify_failure(error: BaseException) -> Failure:
    """The ``Failure`` class of ``error``: the first verdict found walking what it wraps."""
    weak: Failure | None = None
    for node in wrapped_errors(error):
        verdict = _verdict(node)
        if verdict is not None:
            return verdict
        # SQLAlchemy's InterfaceError wraps the driver's "connection is closed" and the like;
        # trust it only if nothing inside says more.
        if weak is None and isinstance(node, sa_exc.InterfaceError):
            weak = Failure.UNAVAILABLE
    return weak or Failure.RETRY


def retry_delay(failures: int, *, base: float, cap: float) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure: base·2^(n-1), capped."""
    if failures <= 0 or base <= 0:
        return 0.0
    return float(min(cap, base * (2 ** min(failures - 1, 30))))


class Step(enum.Enum):
    """What the consumer does after a failed attempt."""

    WAIT_FOR_DATABASE = "wait_for_database"  # pause the partitions, poll, retry later
    RETRY_SOON = "retry_soon"  # back off and retry, attempts kept
    RETRY = "retry"  # back off and retry, one attempt used
    DEAD_LETTER = "dead_letter"  # publish to the dead-letter topic and go on


def next_step(failure: Failure, *, attempts: int, max_attempts: int) -> Step:
    """The step after a failure; ``attempts`` counts the failed attempts that use attempts,
    this one included."""
    if failure is Failure.UNAVAILABLE:
        return Step.WAIT_FOR_DATABASE
    if failure is Failure.CONFLICT:
        return Step.RETRY_SOON
    if failure is Failure.PERMANENT or attempts >= max_attempts:
        return Step.DEAD_LETTER
    return Step.RETRY
