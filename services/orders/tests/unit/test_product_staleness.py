"""Staleness of catalog product events: by product_version (v2), by time only for v1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emporium.orders.products.staleness import Held, is_stale, newest_time

T0 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
EARLIER, LATER = T0 - timedelta(minutes=5), T0 + timedelta(minutes=5)


def test_anything_is_applied_to_a_product_not_held_yet() -> None:
    assert not is_stale(None, version=1, time=T0)
    assert not is_stale(None, version=None, time=T0)


@pytest.mark.parametrize(
    ("held", "incoming", "stale"),
    [(3, 2, True), (3, 3, True), (3, 4, False), (1, 100, False), (5, 1, True)],
)
@pytest.mark.parametrize("when", [EARLIER, T0, LATER])
def test_a_versioned_event_is_judged_by_its_version_whatever_its_time(
    held: int, incoming: int, stale: bool, when: datetime
) -> None:
    assert is_stale(Held(version=held, time=T0), version=incoming, time=when) is stale


def test_a_higher_version_from_a_slow_clock_is_applied() -> None:
    assert not is_stale(Held(version=4, time=T0), version=5, time=T0 - timedelta(hours=1))


def test_a_lower_version_from_a_fast_clock_is_dropped() -> None:
    assert is_stale(Held(version=4, time=T0), version=3, time=T0 + timedelta(hours=1))


@pytest.mark.parametrize("when", [EARLIER, T0, LATER])
def test_the_first_versioned_event_replaces_a_copy_made_from_v1_events(when: datetime) -> None:
    assert not is_stale(Held(version=None, time=T0), version=1, time=when)


@pytest.mark.parametrize(("held_version"), [None, 7])
@pytest.mark.parametrize(("when", "stale"), [(EARLIER, True), (T0, False), (LATER, False)])
def test_a_v1_event_falls_back_to_the_old_rule_by_time(
    held_version: int | None, when: datetime, stale: bool
) -> None:
    assert is_stale(Held(version=held_version, time=T0), version=None, time=when) is stale


def test_the_copys_time_never_moves_backwards() -> None:
    held = Held(version=2, time=T0)
    assert newest_time(held, EARLIER) == T0
    assert newest_time(held, LATER) == LATER
    assert newest_time(None, EARLIER) == EARLIER
