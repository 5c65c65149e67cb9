"""Defaults of one service that another's defaults must leave room for."""

from __future__ import annotations

from emporium.customers.settings import Settings as CustomersSettings
from emporium.gateway.settings import Settings as GatewaySettings


def test_a_slowed_sign_in_answers_well_within_the_gateways_upstream_timeout() -> None:
    """The throttle's longest slow-down plus the work of a sign-in on a busy machine must
    arrive before the gateway gives up on customers, or a guesser (and an owner typing a
    wrong password) gets a 504 instead of the 401 the contract promises."""
    gateway = GatewaySettings()
    longest_delay = CustomersSettings().login_max_delay_seconds
    assert longest_delay <= gateway.timeout_of("customers") / 2
