"""Cart rules: quantities, the shipping address and method, the code, and every view priced.

Every view prices the cart afresh (``quote``) from current prices and rules. A chosen rate or
a code that no longer applies is dropped from the cart, persisted, with a notice saying why;
notices stay on the cart until the shopper next changes it. Every change takes the cart lock
first (``repository.lock_cart``), as checkout does.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit.errors import NotFound, Unprocessable, problem_type
from emporium.kit.outbox import utcnow
from emporium.orders import pricing
from emporium.orders.cart import repository
from emporium.orders.cart.lines import PricedLine, cart_currency, priced_lines, pricing_lines
from emporium.orders.cart.quote import Choices, Quote, code_promotion, quote
from emporium.orders.cart.reconcile import Notice, rate_notice
from emporium.orders.cart.schemas import (
    CartItemOut,
    CartOut,
    NoticeOut,
    ShippingOptionOut,
)
from emporium.orders.common import Money
from emporium.orders.models import Cart, CartItem
from emporium.orders.order.breakdown import breakdown_fields
from emporium.orders.order.schemas import Address
from emporium.orders.products.repository import get_product
from emporium.orders.rules import repository as rules
from emporium.orders.rules.tax import TableTaxProvider

__all__ = [
    "CodeRefused",
    "PricedLine",
    "ProductNotFound",
    "ShippingMethodNotOffered",
    "apply_code",
    "choices_of",
    "choose_shipping_method",
    "clear",
    "code_refusal",
    "present",
    "priced_lines",
    "remove",
    "remove_code",
    "render",
    "set_quantity",
    "set_shipping_address",
    "shipping_options",
    "view",
]


class ProductNotFound(NotFound):
    type = problem_type("product-not-found")
    title = "Product not found"


class ShippingMethodNotOffered(Unprocessable):
    type = problem_type("shipping-method-not-offered")
    title = "This shipping method is not offered for the cart"


class CodeRefused(Unprocessable):
    """422 with ``reason``: ``unknown``, ``expired``, ``not_started``, ``used_up``,
    ``not_eligible`` or ``min_subtotal``."""

    type = problem_type("code-refused")
    title = "The code does not apply to the cart"


def normalise_code(code: str) -> str:
    """Codes are matched case-insensitively and stored upper case."""
    return code.strip().upper()


def choices_of(cart: Cart | None) -> Choices:
    if cart is None:
        return Choices()
    address = cart.shipping_address
    return Choices(
        address=Address.model_validate(address) if address else None,
        rate_id=cart.shipping_rate_id,
        code=cart.promotion_code,
    )


def _money(amount: int, currency: str) -> Money:
    return Money(amount=amount, currency=currency)


def options_out(rates: list[pricing.Rate]) -> list[ShippingOptionOut]:
    return [
        ShippingOptionOut(
            id=rate.id,
            name=rate.name,
            amount=_money(rate.amount, rate.currency),
            estimated_days=rate.estimated_days,
        )
        for rate in rates
    ]


def render(priced: Quote, notices: list[Notice] | None = None) -> CartOut:
    """The cart as the API shows it: every line as entered, the breakdown of ``priced``."""
    out: list[CartItemOut] = []
    for line in priced.lines:
        product, item = line.product, line.item
        unit = product.price_amount if product is not None else item.seen_unit_amount
        cur = product.currency if product is not None else priced.currency
        changed = unit != item.seen_unit_amount
        out.append(
            CartItemOut(
                product_id=item.product_id,
                name=product.name if product is not None else "",
                sku=product.sku if product is not None else "",
                unit_price=_money(unit, cur),
                quantity=item.quantity,
                line_total=_money(unit * item.quantity, cur),
                available=line.available,
                price_changed=changed,
                previous_unit_price=_money(item.seen_unit_amount, cur) if changed else None,
            )
        )
    choices = priced.choices
    kept_code = choices.code if priced.code_dropped is None else None
    return CartOut(
        items=out,
        **breakdown_fields(priced.breakdown),
        shipping_address=choices.address,
        shipping_options=options_out(priced.options),
        codes=[kept_code] if kept_code else [],
        notices=[NoticeOut(reason=n.reason, detail=n.detail) for n in notices or ()],
    )


async def _quote(
    session: AsyncSession,
    customer_id: UUID,
    choices: Choices,
    tax_inclusive: frozenset[str],
    now: datetime,
) -> Quote:
    return await quote(
        session,
        customer_id,
        choices,
        taxes=TableTaxProvider(session),
        tax_inclusive=tax_inclusive,
        now=now,
    )


async def present(
    session: AsyncSession,
    customer_id: UUID,
    tax_inclusive: frozenset[str],
    *,
    locked: bool = False,
) -> tuple[Quote, list[Notice]]:
    """The cart priced now, with what no longer applies dropped (persisted) and noticed.

    A view that finds something to drop takes the cart lock (``locked``: the caller holds
    it) and prices again under it, so a drop never races a change or a checkout.
    """
    now = utcnow()
    cart = await repository.get_cart(session, customer_id)
    priced = await _quote(session, customer_id, choices_of(cart), tax_inclusive, now)
    if cart is None or not priced.dropped:
        return priced, _notices(cart)
    if not locked:
        await repository.lock_cart(session, customer_id)
        cart = await repository.get_cart(session, customer_id)
        assert cart is not None  # the lock made sure the row exists
        priced = await _quote(session, customer_id, choices_of(cart), tax_inclusive, now)
        if not priced.dropped:
            return priced, _notices(cart)
    if priced.rate_dropped is not None:
        cart.shipping_rate_id = None
    if priced.code_dropped is not None:
        cart.promotion_code = None
    notices = [*_notices(cart), *priced.dropped]
    cart.notices = [n.to_json() for n in notices]
    cart.updated_at = now
    await session.flush()
    return priced, notices


def _notices(cart: Cart | None) -> list[Notice]:
    if cart is None or not cart.notices:
        return []
    return [Notice.from_json(n) for n in cart.notices]


async def _shown(
    session: AsyncSession, customer_id: UUID, tax_inclusive: frozenset[str], *, locked: bool
) -> CartOut:
    priced, notices = await present(session, customer_id, tax_inclusive, locked=locked)
    return render(priced, notices)


async def view(session: AsyncSession, customer_id: UUID, tax_inclusive: frozenset[str]) -> CartOut:
    return await _shown(session, customer_id, tax_inclusive, locked=False)


async def shipping_options(
    session: AsyncSession, customer_id: UUID, tax_inclusive: frozenset[str]
) -> list[ShippingOptionOut]:
    priced, _ = await present(session, customer_id, tax_inclusive)
    return options_out(priced.options)


async def _changing(session: AsyncSession, customer_id: UUID) -> Cart:
    """The cart row, locked, its notices cleared: the shopper is changing it now."""
    await repository.lock_cart(session, customer_id)
    cart = await repository.get_cart(session, customer_id)
    assert cart is not None  # the lock made sure the row exists
    cart.notices = None
    cart.updated_at = utcnow()
    return cart


async def set_quantity(
    session: AsyncSession,
    customer_id: UUID,
    product_id: UUID,
    quantity: int,
    tax_inclusive: frozenset[str],
) -> CartOut:
    product = await get_product(session, product_id)
    if product is None or product.deleted:
        raise ProductNotFound(f"product {product_id} does not exist")
    await _changing(session, customer_id)
    item = await repository.get_item(session, customer_id, product_id)
    if item is None:
        item = CartItem(customer_id=customer_id, product_id=product_id, added_at=utcnow())
        session.add(item)
    item.quantity = quantity
    # Setting the quantity is the customer seeing the current price: the flag clears.
    item.seen_unit_amount = product.price_amount
    await session.flush()
    return await _shown(session, customer_id, tax_inclusive, locked=True)


async def remove(
    session: AsyncSession, customer_id: UUID, product_id: UUID, tax_inclusive: frozenset[str]
) -> CartOut:
    await _changing(session, customer_id)
    await repository.remove_item(session, customer_id, product_id)
    return await _shown(session, customer_id, tax_inclusive, locked=True)


async def set_shipping_address(
    session: AsyncSession, customer_id: UUID, address: Address, tax_inclusive: frozenset[str]
) -> CartOut:
    cart = await _changing(session, customer_id)
    cart.shipping_address = address.model_dump(mode="json")
    await session.flush()
    return await _shown(session, customer_id, tax_inclusive, locked=True)


async def choose_shipping_method(
    session: AsyncSession, customer_id: UUID, rate_id: UUID, tax_inclusive: frozenset[str]
) -> CartOut:
    cart = await _changing(session, customer_id)
    priced = await _quote(session, customer_id, choices_of(cart), tax_inclusive, utcnow())
    if not any(option.id == rate_id for option in priced.options):
        raise ShippingMethodNotOffered(
            await _why_not_offered(session, rate_id, priced), field="body.id"
        )
    cart.shipping_rate_id = rate_id
    await session.flush()
    return await _shown(session, customer_id, tax_inclusive, locked=True)


async def _why_not_offered(session: AsyncSession, rate_id: UUID, priced: Quote) -> str:
    if not priced.priced:
        return "the cart has nothing to ship yet"
    if priced.choices.address is None:
        return "set the cart's shipping address first (PUT /cart/shipping-address)"
    notice = rate_notice(
        rate_id,
        await rules.rate(session, rate_id),
        offered=priced.options,
        zones=priced.rules.zones,
        country=priced.choices.address.country,
        currency=priced.currency,
        subtotal=pricing.entered_subtotal(priced.priced),
        weight_grams=pricing.cart_weight(priced.priced),
    )
    return notice.detail if notice is not None else f"shipping rate {rate_id} is not offered"


async def code_refusal(
    session: AsyncSession, customer_id: UUID, code: str, lines: list[PricedLine], now: datetime
) -> tuple[pricing.Promotion | None, pricing.Refusal | None]:
    """The promotion of ``code`` and why it does not apply to the cart ``lines`` (None: it
    does), counting the customer's uses of it now."""
    promotion, uses = await code_promotion(session, customer_id, code)
    currency = cart_currency(lines)
    refusal = pricing.code_refusal(
        promotion,
        pricing_lines(lines, currency),
        currency=currency,
        now=now,
        customer_uses=uses,
    )
    return promotion, refusal


async def apply_code(
    session: AsyncSession, customer_id: UUID, code: str, tax_inclusive: frozenset[str]
) -> CartOut:
    """Apply ``code`` (replacing the cart's code); ``CodeRefused`` says why it cannot."""
    cart = await _changing(session, customer_id)
    lines = await priced_lines(session, customer_id)
    promotion, refusal = await code_refusal(
        session, customer_id, normalise_code(code), lines, utcnow()
    )
    if refusal is not None:
        raise CodeRefused(refusal.detail, reason=refusal.reason, field="body.code")
    assert promotion is not None  # no promotion is refused as ``unknown``
    cart.promotion_code = promotion.code
    await session.flush()
    return await _shown(session, customer_id, tax_inclusive, locked=True)


async def remove_code(
    session: AsyncSession, customer_id: UUID, code: str, tax_inclusive: frozenset[str]
) -> CartOut:
    """Take ``code`` off the cart (nothing happens if the cart does not hold it)."""
    cart = await _changing(session, customer_id)
    if cart.promotion_code is not None and cart.promotion_code == normalise_code(code):
        cart.promotion_code = None
    await session.flush()
    return await _shown(session, customer_id, tax_inclusive, locked=True)


async def clear(session: AsyncSession, customer_id: UUID) -> None:
    """Forget the cart: its lines, address, shipping method and code."""
    await repository.lock_cart(session, customer_id)
    await repository.clear(session, customer_id)
