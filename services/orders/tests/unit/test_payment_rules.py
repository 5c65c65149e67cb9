"""The payment step's rules: every provider answer against every payment status."""

from __future__ import annotations

import pytest

from emporium.orders.order.state import Trigger
from emporium.orders.saga.payment_rules import (
    ChargeDecision,
    Outcome,
    claim_charge,
    decide_charge,
)

A, D, U, K = Outcome.APPROVED, Outcome.DECLINED, Outcome.UNAVAILABLE, Outcome.UNKNOWN


def decide(
    outcome: Outcome,
    *,
    status: str = "charging",
    maybe: bool = False,
    attempts: int = 1,
    step: int = 1,
    max_attempts: int = 4,
    pending: bool = True,
) -> ChargeDecision | None:
    return decide_charge(
        status=status,
        maybe_charged=maybe,
        attempts=attempts,
        step_attempt=step,
        max_attempts=max_attempts,
        order_pending=pending,
        outcome=outcome,
    )


def test_claiming_a_due_charge_starts_the_next_attempt_and_knows_nothing_was_lost() -> None:
    claim = claim_charge(status="charge_due", attempts=2, maybe_charged=False)
    assert (claim.attempt, claim.maybe_charged) == (3, False)


def test_taking_over_a_charging_row_means_an_earlier_call_may_have_charged() -> None:
    claim = claim_charge(status="charging", attempts=1, maybe_charged=False)
    assert (claim.attempt, claim.maybe_charged) == (2, True)


def test_maybe_charged_stays_once_set() -> None:
    assert claim_charge(status="charge_due", attempts=3, maybe_charged=True).maybe_charged


@pytest.mark.parametrize("status", ["charge_due", "charging"])
def test_an_approval_for_a_pending_order_captures_and_confirms(status: str) -> None:
    assert decide(A, status=status) == ChargeDecision("captured", True, Trigger.PAYMENT_APPROVED)


@pytest.mark.parametrize("status", ["charge_due", "charging"])
def test_an_approval_for_an_order_no_longer_pending_is_refunded(status: str) -> None:
    assert decide(A, status=status, pending=False) == ChargeDecision("refund_due", True)


def test_an_approval_from_a_worker_that_lost_its_lease_still_counts() -> None:
    # The money is taken whoever asked: a stale owner's approval captures too.
    assert decide(A, attempts=3, step=1) == ChargeDecision(
        "captured", True, Trigger.PAYMENT_APPROVED
    )


def test_a_decline_is_definitive_for_the_key() -> None:
    assert decide(D) == ChargeDecision("declined", False, Trigger.PAYMENT_DECLINED)
    assert decide(D, maybe=True, attempts=3, step=1) == ChargeDecision(
        "declined", False, Trigger.PAYMENT_DECLINED
    )


@pytest.mark.parametrize("outcome", [U, K])
def test_a_failed_attempt_below_the_limit_is_retried(outcome: Outcome) -> None:
    decision = decide(outcome, attempts=2, step=2)
    assert decision is not None
    assert (decision.status, decision.retry, decision.trigger) == ("charge_due", True, None)
    assert decision.maybe_charged is (outcome is K)


def test_only_refusals_before_acceptance_end_failed() -> None:
    assert decide(U, attempts=4, step=4) == ChargeDecision("failed", False, Trigger.PAYMENT_FAILED)


def test_giving_up_after_an_unknown_outcome_refunds_never_fails() -> None:
    assert decide(K, attempts=4, step=4) == ChargeDecision(
        "refund_due", True, Trigger.PAYMENT_FAILED
    )


def test_giving_up_after_a_lost_lease_refunds_even_if_the_last_answer_was_a_refusal() -> None:
    # Attempt 1 outlived its lease; attempts 2..4 were refused: attempt 1 may still charge.
    assert decide(U, maybe=True, attempts=4, step=4) == ChargeDecision(
        "refund_due", True, Trigger.PAYMENT_FAILED
    )


def test_an_earlier_unknown_outcome_is_remembered_through_retries() -> None:
    decision = decide(U, maybe=True, attempts=2, step=2)
    assert decision == ChargeDecision("charge_due", True, retry=True)


@pytest.mark.parametrize("status", ["charge_due", "charging"])
def test_a_refusal_from_a_worker_that_lost_its_lease_changes_nothing(status: str) -> None:
    assert decide(U, status=status, attempts=3, step=1) is None
    assert decide(U, status=status, maybe=True, attempts=3, step=1) is None


def test_an_unknown_outcome_from_a_stale_worker_only_marks_the_row() -> None:
    assert decide(K, attempts=3, step=1) == ChargeDecision("charging", True)
    assert decide(K, status="charge_due", attempts=3, step=1) == ChargeDecision("charge_due", True)
    assert decide(K, maybe=True, attempts=3, step=1) is None


def test_a_charge_due_row_is_not_owned_by_any_attempt() -> None:
    # The row went back to charge_due (another attempt recorded a refusal) while this
    # attempt was out: its refusal does not count twice.
    assert decide(U, status="charge_due", attempts=1, step=1) is None


def test_a_late_approval_after_giving_up_as_failed_schedules_a_refund() -> None:
    assert decide(A, status="failed") == ChargeDecision("refund_due", True)


@pytest.mark.parametrize("outcome", [D, U, K])
def test_other_answers_after_failed_change_nothing(outcome: Outcome) -> None:
    assert decide(outcome, status="failed") is None


@pytest.mark.parametrize("status", ["captured", "declined", "refund_due", "refunded"])
@pytest.mark.parametrize("outcome", [A, D, U, K])
def test_answers_after_a_settled_or_refunding_row_change_nothing(
    status: str, outcome: Outcome
) -> None:
    # captured: recorded already; refund_due: the refund covers it; refunded: the refund
    # voided the key or gave the charge back; declined: the key never charged.
    assert decide(outcome, status=status, pending=False) is None
    assert decide(outcome, status=status, pending=True) is None


@pytest.mark.parametrize("max_attempts", [1, 2, 5])
def test_the_limit_is_reached_on_exactly_max_attempts(max_attempts: int) -> None:
    for attempt in range(1, max_attempts):
        decision = decide(U, attempts=attempt, step=attempt, max_attempts=max_attempts)
        assert decision is not None
        assert decision.retry
    last = decide(U, attempts=max_attempts, step=max_attempts, max_attempts=max_attempts)
    assert last is not None
    assert last.status == "failed"
