"""The failure classification: real exception objects, as drivers and libraries raise them."""

from __future__ import annotations

import errno
import json
import socket
import sqlite3
import uuid

import asyncpg
import pytest
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc

from emporium.contracts.catalog import StockChanged
from emporium.contracts.orders import OrderPlaced
from emporium.kit.events import ContractMismatch, Envelope, wrap
from emporium.kit.failures import (
    Failure,
    HandlerTimeout,
    PermanentFailure,
    Step,
    classify_failure,
    next_step,
    retry_delay,
    sqlstate_of,
)


def caught(raise_it: BaseException) -> BaseException:
    """``raise_it`` after it was really raised (traceback and implicit context set)."""
    try:
        raise raise_it
    except BaseException as error:
        return error


def wrapped(
    orig: BaseException, kind: type[sa_exc.DBAPIError] = sa_exc.OperationalError
) -> BaseException:
    """``orig`` as SQLAlchemy raises it: a DBAPIError whose ``orig`` and cause are the driver's."""
    error = kind("SELECT 1", None, orig)
    error.__cause__ = orig
    return error


def chained(outer: BaseException, cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise outer from inner
    except BaseException as error:
        return error


def implicit(outer: BaseException, during: BaseException) -> BaseException:
    try:
        try:
            raise during
        except BaseException:
            raise outer  # noqa: B904 - the implicit context is what is under test
    except BaseException as error:
        return error


def validation_error() -> ValidationError:
    try:
        Envelope.model_validate({"type": 3})
    except ValidationError as error:
        return error
    raise AssertionError("expected a ValidationError")


def decode_error(raw: bytes) -> BaseException:
    try:
        Envelope.from_bytes(raw)
    except Exception as error:
        return error
    raise AssertionError("expected a decode error")


def contract_mismatch() -> BaseException:
    envelope = wrap(
        StockChanged(product_id=uuid.uuid4(), on_hand=1, reserved=0, available=1),
        source="t",
        key="k",
    )
    try:
        envelope.parse(OrderPlaced)
    except ContractMismatch as error:
        return error
    raise AssertionError("expected a ContractMismatch")


def sqlite_error(sql: str) -> sqlite3.Error:
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute(sql)
    except sqlite3.Error as error:
        return error
    finally:
        connection.close()
    raise AssertionError("expected a sqlite3 error")


UNAVAILABLE: list[tuple[str, BaseException]] = [
    ("starting up (57P03)", asyncpg.CannotConnectNowError("the database system is starting up")),
    (
        "admin shutdown (57P01)",
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    ),
    (
        "crash shutdown (57P02)",
        asyncpg.CrashShutdownError("terminating connection because of crash"),
    ),
    (
        "too many clients (53300)",
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    ),
    (
        "connection does not exist (08003)",
        asyncpg.ConnectionDoesNotExistError("connection was closed"),
    ),
    ("connection failure (08006)", asyncpg.ConnectionFailureError("connection failure")),
    ("client cannot connect (08001)", asyncpg.ClientCannotConnectError("cannot connect")),
    ("rejected (08004)", asyncpg.ConnectionRejectionError("rejected")),
    ("refused", caught(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))),
    ("reset", ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")),
    ("no route (OSError 113)", OSError(errno.EHOSTUNREACH, "No route to host")),
    ("network unreachable", OSError(errno.ENETUNREACH, "Network is unreachable")),
    ("DNS", socket.gaierror(socket.EAI_NONAME, "Name or service not known")),
    ("connect timeout", TimeoutError()),
    (
        "SQLAlchemy over 57P03",
        wrapped(asyncpg.CannotConnectNowError("the database system is starting up")),
    ),
    (
        "SQLAlchemy over 53300",
        wrapped(asyncpg.TooManyConnectionsError("sorry, too many clients already")),
    ),
    ("SQLAlchemy over refused", wrapped(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))),
    (
        "SQLAlchemy over DNS",
        wrapped(socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")),
    ),
    ("SQLAlchemy over a timeout", wrapped(TimeoutError())),
    (
        "SQLAlchemy interface error",
        wrapped(asyncpg.InterfaceError("connection is closed"), sa_exc.InterfaceError),
    ),
    (
        "SQLAlchemy pool timeout",
        sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"),
    ),
    ("SQLAlchemy disconnection", sa_exc.DisconnectionError("gone")),
    (
        "a handler wrapping 57P01",
        chained(RuntimeError("could not load"), asyncpg.AdminShutdownError("bye")),
    ),
    (
        "raised while 08006 was handled",
        implicit(RuntimeError("rollback failed"), asyncpg.ConnectionFailureError("x")),
    ),
    ("in an exception group", ExceptionGroup("tasks", [ConnectionResetError("reset")])),
]


def _sqlite_cantopen() -> sqlite3.Error:
    try:
        sqlite3.connect("file:/nonexistent-dir/x.db?mode=rw", uri=True)
    except sqlite3.Error as error:
        return error
    raise AssertionError("expected sqlite3 to fail")


CONFLICT: list[tuple[str, BaseException]] = [
    ("serialization (40001)", asyncpg.SerializationError("could not serialize access")),
    ("deadlock (40P01)", asyncpg.DeadlockDetectedError("deadlock detected")),
    (
        "SQLAlchemy over a deadlock",
        wrapped(asyncpg.DeadlockDetectedError("deadlock detected"), sa_exc.DBAPIError),
    ),
]

PERMANENT: list[tuple[str, BaseException]] = [
    ("pydantic validation", validation_error()),
    ("JSON (orjson)", decode_error(b"\x00not json")),
    ("JSON (stdlib)", caught(json.JSONDecodeError("Expecting value", "x", 0))),
    ("Unicode", caught(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))),
    ("contract mismatch", contract_mismatch()),
    ("raised by the handler", PermanentFailure("order 7 does not exist and never will")),
    (
        "a handler wrapping a validation error",
        chained(RuntimeError("bad payload"), validation_error()),
    ),
    ("numeric value out of range (22003)", asyncpg.NumericValueOutOfRangeError("integer")),
    ("string too long (22001)", asyncpg.StringDataRightTruncationError("varchar(64)")),
    (
        "asyncpg encoding a parameter, under SQLAlchemy",
        wrapped(
            chained(
                asyncpg.DataError("invalid input for query argument $4"),
                OverflowError("value out of int32 range"),
            ),
            sa_exc.DBAPIError,
        ),
    ),
]

RETRY: list[tuple[str, BaseException]] = [
    ("a bug", RuntimeError("boom")),
    ("a domain refusal", ValueError("cannot apply stock level 666")),
    ("a key error", KeyError("sku")),
    ("unique violation (23505)", asyncpg.UniqueViolationError("duplicate key")),
    (
        "SQLAlchemy integrity error",
        wrapped(asyncpg.UniqueViolationError("duplicate key"), sa_exc.IntegrityError),
    ),
    (
        "query cancelled (57014)",
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
    ),
    ("a handler timeout", HandlerTimeout("handler ran longer than 30 s")),
    ("a handler timeout over TimeoutError", chained(HandlerTimeout("30 s"), TimeoutError())),
    ("sqlite syntax", sqlite_error("SELEC 1")),
    ("file not found", FileNotFoundError(errno.ENOENT, "No such file")),
    (
        "an asyncpg interface error alone",
        asyncpg.InterfaceError("another operation is in progress"),
    ),
]


@pytest.mark.parametrize(("case", "error"), UNAVAILABLE, ids=[c for c, _ in UNAVAILABLE])
def test_a_dependency_being_away_is_unavailable(case: str, error: BaseException) -> None:
    assert classify_failure(error) is Failure.UNAVAILABLE, case


def test_sqlite_that_cannot_open_its_file_is_unavailable() -> None:
    assert classify_failure(_sqlite_cantopen()) is Failure.UNAVAILABLE


def test_a_locked_sqlite_database_is_a_conflict(tmp_path: object) -> None:
    path = f"{tmp_path}/locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    try:
        with pytest.raises(sqlite3.OperationalError) as raised:
            other.execute("INSERT INTO t VALUES (1)")
    finally:
        other.close()
        holder.close()
    assert classify_failure(raised.value) is Failure.CONFLICT


@pytest.mark.parametrize(("case", "error"), CONFLICT, ids=[c for c, _ in CONFLICT])
def test_a_transaction_conflict_is_retried_without_attempts(
    case: str, error: BaseException
) -> None:
    assert classify_failure(error) is Failure.CONFLICT, case
    assert not classify_failure(error).uses_attempts


@pytest.mark.parametrize(("case", "error"), PERMANENT, ids=[c for c, _ in PERMANENT])
def test_what_can_never_succeed_is_permanent(case: str, error: BaseException) -> None:
    assert classify_failure(error) is Failure.PERMANENT, case


@pytest.mark.parametrize(("case", "error"), RETRY, ids=[c for c, _ in RETRY])
def test_everything_else_uses_the_bounded_attempts(case: str, error: BaseException) -> None:
    assert classify_failure(error) is Failure.RETRY, case
    assert classify_failure(error).uses_attempts


def test_the_sqlstate_is_read_from_asyncpg_and_psycopg_shapes() -> None:
    class PsycopgLike(Exception):
        pgcode = "57P03"

    assert sqlstate_of(asyncpg.CannotConnectNowError("x")) == "57P03"
    assert sqlstate_of(PsycopgLike()) == "57P03"
    assert sqlstate_of(RuntimeError()) is None
    assert classify_failure(PsycopgLike()) is Failure.UNAVAILABLE


def test_an_exception_wrapping_itself_does_not_loop() -> None:
    error = RuntimeError("self")
    error.__cause__ = error
    assert classify_failure(error) is Failure.RETRY


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (6, 10.0), (60, 10.0), (10_000, 10.0)],
)
def test_the_retry_delay_doubles_up_to_its_cap(failures: int, expected: float) -> None:
    assert retry_delay(failures, base=0.5, cap=10.0) == expected


def test_a_zero_base_never_waits() -> None:
    assert retry_delay(5, base=0.0, cap=10.0) == 0.0


@pytest.mark.parametrize(
    ("failure", "attempts", "step"),
    [
        (Failure.UNAVAILABLE, 0, Step.WAIT_FOR_DATABASE),
        (Failure.UNAVAILABLE, 99, Step.WAIT_FOR_DATABASE),
        (Failure.CONFLICT, 0, Step.RETRY_SOON),
        (Failure.CONFLICT, 99, Step.RETRY_SOON),
        (Failure.PERMANENT, 1, Step.DEAD_LETTER),
        (Failure.RETRY, 1, Step.RETRY),
        (Failure.RETRY, 2, Step.RETRY),
        (Failure.RETRY, 3, Step.DEAD_LETTER),
        (Failure.RETRY, 4, Step.DEAD_LETTER),
    ],
)
def test_the_next_step_after_a_failure(failure: Failure, attempts: int, step: Step) -> None:
    assert next_step(failure, attempts=attempts, max_attempts=3) is step


def test_one_attempt_means_the_first_failure_dead_letters() -> None:
    assert next_step(Failure.RETRY, attempts=1, max_attempts=1) is Step.DEAD_LETTER
