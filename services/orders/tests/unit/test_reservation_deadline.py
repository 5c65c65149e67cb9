"""The reservation deadline: from publication of OrderPlaced, and after any bus outage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emporium.orders.saga.deadline import PlacedRow, is_overdue, reservation_deadline

PLACED = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=120)
MINUTE = timedelta(minutes=1)


def deadline(row: PlacedRow | None, bus_down_at: datetime | None = None) -> datetime | None:
    return reservation_deadline(placed_at=PLACED, row=row, timeout=TIMEOUT, bus_down_at=bus_down_at)


def test_an_order_whose_event_is_not_published_has_no_deadline() -> None:
    assert deadline(PlacedRow("pending", None)) is None


@pytest.mark.parametrize("late", [timedelta(0), MINUTE, 5 * MINUTE, timedelta(hours=3)])
def test_the_deadline_counts_from_publication(late: timedelta) -> None:
    assert deadline(PlacedRow("sent", PLACED + late)) == PLACED + late + TIMEOUT


def test_a_publication_stamped_before_checkout_counts_from_checkout() -> None:
    # Clocks differ (sent_at is the database's): never earlier than the order itself.
    assert deadline(PlacedRow("sent", PLACED - MINUTE)) == PLACED + TIMEOUT


def test_an_unknown_or_purged_event_counts_from_checkout() -> None:
    assert deadline(None) == PLACED + TIMEOUT


def test_a_parked_event_counts_from_checkout() -> None:
    assert deadline(PlacedRow("parked", None)) == PLACED + TIMEOUT


def test_a_status_the_rule_does_not_know_never_cancels() -> None:
    assert deadline(PlacedRow("archived", None)) is None


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (PlacedRow("sent", PLACED + MINUTE), PLACED + 10 * MINUTE + TIMEOUT),
        (PlacedRow("sent", PLACED + 20 * MINUTE), PLACED + 20 * MINUTE + TIMEOUT),
        (None, PLACED + 10 * MINUTE + TIMEOUT),
        (PlacedRow("parked", None), PLACED + 10 * MINUTE + TIMEOUT),
    ],
)
def test_a_bus_outage_gives_every_pending_order_the_whole_timeout_again(
    row: PlacedRow | None, expected: datetime
) -> None:
    assert deadline(row, bus_down_at=PLACED + 10 * MINUTE) == expected


def test_an_outage_before_the_order_changes_nothing() -> None:
    assert deadline(PlacedRow("sent", PLACED), bus_down_at=PLACED - MINUTE) == PLACED + TIMEOUT


def test_an_outage_does_not_start_a_deadline_for_an_unpublished_event() -> None:
    assert deadline(PlacedRow("pending", None), bus_down_at=PLACED + MINUTE) is None


@pytest.mark.parametrize(
    ("now", "overdue"),
    [
        (PLACED + 5 * MINUTE + TIMEOUT - timedelta(seconds=1), False),
        (PLACED + 5 * MINUTE + TIMEOUT, False),
        (PLACED + 5 * MINUTE + TIMEOUT + timedelta(seconds=1), True),
    ],
)
def test_a_five_minute_outage_delays_the_cancel_by_five_minutes(
    now: datetime, overdue: bool
) -> None:
    row = PlacedRow("sent", PLACED + 5 * MINUTE)
    assert is_overdue(now=now, placed_at=PLACED, row=row, timeout=TIMEOUT) is overdue


def test_an_unpublished_event_is_never_overdue() -> None:
    row = PlacedRow("pending", None)
    later = PLACED + timedelta(days=1)
    assert not is_overdue(now=later, placed_at=PLACED, row=row, timeout=TIMEOUT)
