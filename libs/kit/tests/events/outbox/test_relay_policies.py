"""The relay's policies, as pure functions: which rows are due, per-key hold-back, backoff,
what kind of failure an error is, and when a row is parked instead of retried."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.errors import (
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

from emporium.kit.bus.base import BusUnavailable
from emporium.kit.relay import (
    FailureKind,
    attempts_after_failure,
    backoff_delay,
    classify_failure,
    hold_back,
    is_due,
    should_park,
    unpublishable_reason,
)

NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    seq: int
    key: str
    held: bool = False


def free(*rows: Row) -> list[int]:
    return [row.seq for row in hold_back(rows, key=lambda r: r.key, held=lambda r: r.held)]


# -- due -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "due"),
    [
        (timedelta(seconds=-5), True),
        (timedelta(0), True),
        (timedelta(microseconds=1), False),
        (timedelta(seconds=30), False),
    ],
)
def test_a_row_is_due_once_its_next_attempt_time_is_reached(offset: timedelta, due: bool) -> None:
    assert is_due(NOW + offset, NOW) is due


# -- hold-back -----------------------------------------------------------------------------


def test_nothing_held_publishes_everything_in_seq_order() -> None:
    assert free(Row(1, "a"), Row(2, "b"), Row(3, "a")) == [1, 2, 3]


def test_a_held_row_holds_back_the_later_rows_of_its_key_only() -> None:
    assert free(Row(1, "a", held=True), Row(2, "b"), Row(3, "a"), Row(4, "b")) == [2, 4]


def test_earlier_rows_of_a_key_go_before_its_held_row() -> None:
    assert free(Row(1, "a"), Row(2, "a", held=True), Row(3, "a")) == [1]


def test_several_keys_each_held_at_their_own_row() -> None:
    rows = [
        Row(1, "a"),
        Row(2, "b", held=True),
        Row(3, "c"),
        Row(4, "a", held=True),
        Row(5, "b"),
        Row(6, "c"),
        Row(7, "a"),
    ]
    assert free(*rows) == [1, 3, 6]


def test_a_held_row_after_a_held_row_of_the_same_key_changes_nothing() -> None:
    assert free(Row(1, "a", held=True), Row(2, "a", held=True), Row(3, "b")) == [3]


def test_hold_back_of_nothing_is_nothing() -> None:
    assert free() == []


def test_every_row_held_publishes_nothing() -> None:
    assert free(Row(1, "a", held=True), Row(2, "b", held=True)) == []


# -- backoff -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [(-1, 0.0), (0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (5, 5.0), (1000, 5.0)],
)
def test_the_backoff_doubles_from_the_base_up_to_the_cap(attempts: int, delay: float) -> None:
    assert backoff_delay(attempts, base=0.5, cap=5) == delay


# -- failure kinds -------------------------------------------------------------------------


def chained(cause: BaseException) -> BusUnavailable:
    """How the Kafka bus reports a failure: BusUnavailable raised from the client's error."""
    try:
        raise BusUnavailable("publishing 1 record(s) failed") from cause
    except BusUnavailable as error:
        return error


class UnpublishableRow(Exception):
    pass


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (chained(MessageSizeTooLargeError()), "permanent"),
        (MessageSizeTooLargeError(), "permanent"),
        (chained(UnknownTopicOrPartitionError()), "missing_topic"),
        (chained(TopicAuthorizationFailedError()), "missing_topic"),
        (chained(KafkaTimeoutError()), "transient"),
        (chained(NotLeaderForPartitionError()), "transient"),
        (BusUnavailable("the in-memory bus is not started"), "transient"),
        (TimeoutError(), "transient"),
        (chained(chained(MessageSizeTooLargeError())), "permanent"),
        (UnpublishableRow("envelope"), "permanent"),
    ],
)
def test_errors_are_classified_from_their_cause_chain(
    error: BaseException, kind: FailureKind
) -> None:
    assert classify_failure(error) == kind


def test_a_cause_cycle_does_not_loop_forever() -> None:
    first, second = BusUnavailable("a"), BusUnavailable("b")
    first.__cause__, second.__cause__ = second, first
    assert classify_failure(first) == "transient"


# -- attempts and parking ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "bus_answers", "after"),
    [
        (0, True, 1),
        (9, True, 10),
        (0, False, 1),
        (4, False, 5),
        (5, False, 5),  # an outage stops at half of max_attempts (10) ...
        (7, False, 7),  # ... and never takes back what the row had
        (7, True, 8),
    ],
)
def test_an_outage_charges_at_most_half_of_the_attempts(
    attempts: int, bus_answers: bool, after: int
) -> None:
    assert attempts_after_failure(attempts, bus_answers=bus_answers, max_attempts=10) == after


@pytest.mark.parametrize(
    ("kind", "attempts", "bus_answers", "park"),
    [
        ("permanent", 1, True, True),
        ("permanent", 1, False, True),  # too large is too large, bus or not
        ("missing_topic", 1, True, True),
        ("missing_topic", 1, False, False),  # aiokafka says so during an outage too
        ("transient", 1, True, False),
        ("transient", 9, True, False),
        ("transient", 10, True, True),
        ("transient", 12, True, True),
        ("transient", 10, False, False),  # an outage never parks
        ("transient", 100, False, False),
    ],
)
def test_a_row_is_parked_when_retrying_it_cannot_help(
    kind: FailureKind, attempts: int, bus_answers: bool, park: bool
) -> None:
    assert should_park(kind, attempts=attempts, max_attempts=10, bus_answers=bus_answers) is park


def test_an_outage_alone_never_parks_a_row_however_long_it_lasts() -> None:
    attempts = 0
    for _ in range(1000):
        attempts = attempts_after_failure(attempts, bus_answers=False, max_attempts=10)
        assert not should_park("transient", attempts=attempts, max_attempts=10, bus_answers=False)
    # Once the bus is back, the row still has half its attempts for failures of its own.
    for _ in range(4):
        attempts = attempts_after_failure(attempts, bus_answers=True, max_attempts=10)
        assert not should_park("transient", attempts=attempts, max_attempts=10, bus_answers=True)
    attempts = attempts_after_failure(attempts, bus_answers=True, max_attempts=10)
    assert should_park("transient", attempts=attempts, max_attempts=10, bus_answers=True)


# -- rows that can never be published ------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "size", "parses", "reason"),
    [
        ("orders.events", 1000, True, None),
        ("orders.events", 1024, True, None),
        ("orders.events", 1025, True, "over the limit of 1024"),
        ("orders.events", 10, False, "no longer parses"),
        ("orders events", 10, True, "not a valid topic name"),
        ("", 10, True, "not a valid topic name"),
        ("a" * 250, 10, True, "not a valid topic name"),
        ("a" * 249, 10, True, None),
        ("t-x_y.Z", 10, True, None),
    ],
)
def test_a_row_that_can_never_be_published_says_why(
    topic: str, size: int, parses: bool, reason: str | None
) -> None:
    found = unpublishable_reason(topic=topic, size=size, parses=parses, max_record_bytes=1024)
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert reason in found
