"""What a cart costs now: its lines at current prices, the rules, its choices, priced.

``build_quote`` is pure: from the cart's lines, its address, chosen rate and code, and the
rules as they stand (zones, the destination's tax rates, automatic promotions: kept in
memory by ``rules.cache`` until the admin changes them), it works out
the options offered, which choices still hold (``reconcile``) and the breakdown
(``pricing.price``) of what holds. ``quote`` reads those inputs in the caller's session and
changes nothing: persisting what was dropped is the caller's (``cart.service``).

Tax follows the shipping address: before the cart has one there are no tax lines (in
tax-inclusive currencies the total is the same either way; in exclusive ones the tax is
added once the address is known). The cart's currency is the one its first item fixed
(``Choices.currency``; carts from before: their first available line's); lines not sold
in it are shown but not priced, and checkout refuses such a cart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.orders import pricing
from emporium.orders.cart.lines import PricedLine, cart_currency, priced_lines, pricing_lines
from emporium.orders.cart.reconcile import Notice, code_notice, rate_notice
from emporium.orders.order.schemas import Address
from emporium.orders.rules import cache, redemptions
from emporium.orders.rules import repository as rules

__all__ = ["Choices", "Quote", "Rules", "build_quote", "code_promotion", "quote", "read_rules"]


@dataclass(frozen=True, slots=True)
class Choices:
    """What the shopper chose for the cart (as stored on it)."""

    address: Address | None = None
    rate_id: UUID | None = None
    code: str | None = None
    #: The cart's currency, fixed by its first item (None: a cart from before variants).
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class Rules:
    """The rules that bear on one cart, as read for it."""

    zones: Sequence[pricing.Zone] = ()
    #: The chosen rate as stored now (None: none chosen, or deleted).
    chosen_rate: pricing.Rate | None = None
    #: The promotion of the cart's code (None: no code, or no promotion has it).
    code_promotion: pricing.Promotion | None = None
    #: How many of this customer's orders hold that promotion now.
    customer_uses: int = 0
    tax_rates: Sequence[pricing.TaxRate] = ()
    automatic: Sequence[pricing.Promotion] = ()


@dataclass(frozen=True)
class Quote:
    lines: list[PricedLine]
    currency: str
    #: The lines pricing priced (available, sold in the cart's currency), in cart order.
    priced: list[pricing.Line]
    choices: Choices
    options: list[pricing.Rate]
    #: A zone covers the address's country: a shipping method must be chosen to order.
    ships: bool
    #: The chosen rate while it is offered, and the code's promotion while it applies.
    rate: pricing.Rate | None
    promotion: pricing.Promotion | None
    breakdown: pricing.Breakdown
    rate_dropped: Notice | None
    code_dropped: Notice | None
    #: The rules it was priced under.
    rules: Rules

    @property
    def dropped(self) -> list[Notice]:
        return [n for n in (self.rate_dropped, self.code_dropped) if n is not None]


def build_quote(
    lines: list[PricedLine],
    choices: Choices,
    rules_now: Rules,
    *,
    tax_inclusive: frozenset[str],
    now: datetime,
) -> Quote:
    """Price the cart ``lines`` with its ``choices`` under ``rules_now`` (pure)."""
    currency = cart_currency(lines, choices.currency)
    priced = pricing_lines(lines, currency)
    subtotal, weight = pricing.entered_subtotal(priced), pricing.cart_weight(priced)
    address = choices.address
    options: list[pricing.Rate] = []
    ships = False
    if address is not None and priced:
        options = pricing.shipping_options(
            rules_now.zones,
            country=address.country,
            currency=currency,
            subtotal=subtotal,
            weight_grams=weight,
        )
        ships = pricing.covers(rules_now.zones, address.country)
    rate: pricing.Rate | None = None
    rate_dropped: Notice | None = None
    if choices.rate_id is not None and priced:
        rate = next((option for option in options if option.id == choices.rate_id), None)
        if rate is None:
            rate_dropped = rate_notice(
                choices.rate_id,
                rules_now.chosen_rate,
                offered=options,
                zones=rules_now.zones,
                country=None if address is None else address.country,
                currency=currency,
                subtotal=subtotal,
                weight_grams=weight,
            )
    promotion: pricing.Promotion | None = None
    code_dropped: Notice | None = None
    if choices.code is not None and priced:
        refusal = pricing.code_refusal(
            rules_now.code_promotion,
            priced,
            currency=currency,
            now=now,
            customer_uses=rules_now.customer_uses,
        )
        if refusal is None:
            promotion = rules_now.code_promotion
        else:
            code_dropped = code_notice(choices.code, refusal)
    breakdown = pricing.price(
        priced,
        currency=currency,
        tax_inclusive=currency in tax_inclusive,
        shipping=rate,
        tax_rates=rules_now.tax_rates if address is not None else (),
        automatic=rules_now.automatic if priced else (),
        code=promotion,
        now=now,
    )
    return Quote(
        lines=lines,
        currency=currency,
        priced=priced,
        choices=choices,
        options=options,
        ships=ships,
        rate=rate,
        promotion=promotion,
        breakdown=breakdown,
        rate_dropped=rate_dropped,
        code_dropped=code_dropped,
        rules=rules_now,
    )


async def code_promotion(
    session: AsyncSession, customer_id: UUID, code: str
) -> tuple[pricing.Promotion | None, int]:
    """The promotion of ``code`` (None: none has it) and how many of the customer's orders
    hold it now (for its per-customer limit)."""
    promotion = await rules.promotion_by_code(session, code)
    if promotion is None:
        return None, 0
    return promotion, await redemptions.customer_uses(session, promotion.id, customer_id)


async def read_rules(
    session: AsyncSession,
    customer_id: UUID,
    choices: Choices,
    *,
    taxes: pricing.TaxProvider | None = None,
    now: datetime,
    priced: bool,
) -> Rules:
    """The rules a cart with ``choices`` needs (``priced``: it has lines to price).

    Zones, rates, automatic promotions and (without another ``taxes`` provider) the tax
    rates come from ``rules.cache``: one statement while the admin changed nothing.
    """
    if not priced:
        return Rules()
    address = choices.address
    held = await cache.current(session)
    promotion, uses = None, 0
    if choices.code is not None:
        promotion, uses = await code_promotion(session, customer_id, choices.code)
    tax_rates: Sequence[pricing.TaxRate] = ()
    if address is not None:
        tax_rates = await (taxes or held).rates_for(address.country, address.region)
    return Rules(
        zones=held.zones if address is not None else (),
        chosen_rate=None if choices.rate_id is None else held.rate(choices.rate_id),
        code_promotion=promotion,
        customer_uses=uses,
        tax_rates=tax_rates,
        automatic=held.automatic_at(now),
    )


async def quote(
    session: AsyncSession,
    customer_id: UUID,
    choices: Choices,
    *,
    taxes: pricing.TaxProvider | None = None,
    tax_inclusive: frozenset[str],
    now: datetime,
    lines: list[PricedLine] | None = None,
) -> Quote:
    """The cart of ``customer_id`` with ``choices``, priced under the rules as stored now
    (``lines``: the cart's lines as the caller has just read them, else read here)."""
    if lines is None:
        lines = await priced_lines(session, customer_id)
    has_lines = bool(pricing_lines(lines, cart_currency(lines, choices.currency)))
    rules_now = await read_rules(
        session, customer_id, choices, taxes=taxes, now=now, priced=has_lines
    )
    return build_quote(lines, choices, rules_now, tax_inclusive=tax_inclusive, now=now)
