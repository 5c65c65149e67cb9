"""The order state machine: every allowed change, every refused one, and what each obliges."""

from __future__ import annotations

import itertools

import pytest

from emporium.orders.order.state import (
    FINAL,
    IllegalTransition,
    Status,
    Trigger,
    allowed,
    transition,
)

ALLOWED = {
    (Status.PENDING, Trigger.STOCK_REJECTED): Status.REJECTED,
    (Status.PENDING, Trigger.PAYMENT_APPROVED): Status.CONFIRMED,
    (Status.PENDING, Trigger.PAYMENT_DECLINED): Status.CANCELLED,
    (Status.PENDING, Trigger.PAYMENT_FAILED): Status.CANCELLED,
    (Status.PENDING, Trigger.TIMED_OUT): Status.CANCELLED,
    (Status.PENDING, Trigger.CUSTOMER_CANCELLED): Status.CANCELLED,
    (Status.CONFIRMED, Trigger.CUSTOMER_CANCELLED): Status.CANCELLED,
    (Status.CONFIRMED, Trigger.SHIPPED): Status.SHIPPED,
}


@pytest.mark.parametrize(("source", "trigger"), list(ALLOWED))
def test_each_allowed_change_leads_where_the_saga_says(source: Status, trigger: Trigger) -> None:
    step = transition(source, trigger)
    assert step.source is source
    assert step.target is ALLOWED[(source, trigger)]
    assert allowed(source, trigger)


REFUSED = [pair for pair in itertools.product(Status, Trigger) if pair not in ALLOWED]


@pytest.mark.parametrize(("source", "trigger"), REFUSED)
def test_every_other_change_is_refused(source: Status, trigger: Trigger) -> None:
    assert not allowed(source, trigger)
    with pytest.raises(IllegalTransition) as caught:
        transition(source, trigger)
    assert caught.value.status is source
    assert caught.value.trigger is trigger


@pytest.mark.parametrize("final", sorted(FINAL))
def test_a_final_status_takes_no_trigger_at_all(final: Status) -> None:
    assert not any(allowed(final, trigger) for trigger in Trigger)


def test_the_final_statuses_are_rejected_cancelled_and_shipped() -> None:
    assert {Status.REJECTED, Status.CANCELLED, Status.SHIPPED} == FINAL


def test_statuses_are_the_ones_a_storefront_sees() -> None:
    assert [s.value for s in Status] == ["pending", "confirmed", "rejected", "cancelled", "shipped"]


def test_once_shipped_an_order_cannot_be_cancelled() -> None:
    with pytest.raises(IllegalTransition, match="shipped cannot take customer_cancelled"):
        transition("shipped", Trigger.CUSTOMER_CANCELLED)


def test_a_late_payment_answer_for_a_cancelled_order_is_refused() -> None:
    assert not allowed("cancelled", Trigger.PAYMENT_APPROVED)
    assert not allowed("cancelled", Trigger.PAYMENT_DECLINED)


def test_a_late_stock_answer_for_a_confirmed_order_is_refused() -> None:
    assert not allowed("confirmed", Trigger.STOCK_REJECTED)


def test_placing_is_the_start_and_never_a_transition() -> None:
    assert not any(allowed(status, Trigger.PLACED) for status in Status)


@pytest.mark.parametrize(
    ("source", "trigger"),
    [(s, t) for (s, t), target in ALLOWED.items() if target is Status.CANCELLED],
)
def test_every_cancellation_releases_stock_and_refunds_what_was_charged(
    source: Status, trigger: Trigger
) -> None:
    step = transition(source, trigger)
    assert step.releases_stock
    assert step.refund_if_charged
    assert step.final


@pytest.mark.parametrize(
    ("source", "trigger"),
    [(s, t) for (s, t), target in ALLOWED.items() if target is not Status.CANCELLED],
)
def test_other_changes_neither_release_nor_refund(source: Status, trigger: Trigger) -> None:
    step = transition(source, trigger)
    assert not step.releases_stock
    assert not step.refund_if_charged


def test_statuses_may_be_given_as_their_stored_strings() -> None:
    assert transition("pending", Trigger.PAYMENT_APPROVED).target is Status.CONFIRMED


def test_an_unknown_stored_status_is_an_error_not_a_silent_change() -> None:
    with pytest.raises(ValueError, match="'lost'"):
        transition("lost", Trigger.SHIPPED)
