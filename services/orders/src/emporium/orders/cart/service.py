"""Cart rules: quantities, the shipping address and method, the code, and every view priced.

A cart line is a variant (``PUT /cart/items/{id}``: a variant's id, or the id of a product
without options, which is its one variant's). Catalog gives a product's first variant the
product's id, so that id is the variant while it lives; a product with options named by an
id no live variant has is a 422 (choose a variant). The first item fixes the cart's
currency (its ``currency``, else the variant's base price currency, the product's); a
variant with no price in the cart's currency is a 422 ``not-sold-in-currency``, and so is a
later item asking another currency than the cart's (``cart-currency-fixed``). An emptied
cart takes its currency from its next first item.

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
from emporium.orders.cart.lines import (
    PricedLine,
    cart_currency,
    in_cart_order,
    lines_of,
    priced_lines,
    pricing_lines,
)
from emporium.orders.cart.quote import Choices, Quote, code_promotion, quote
from emporium.orders.cart.reconcile import Notice, rate_notice
from emporium.orders.cart.schemas import (
    CartItemOut,
    CartOut,
    NoticeOut,
    ShippingOptionOut,
)
from emporium.orders.common import Money
from emporium.orders.models import Cart, CartItem, ProductCopy
from emporium.orders.order.breakdown import breakdown_fields
from emporium.orders.order.schemas import Address
from emporium.orders.products.repository import (
    get_variant_and_product,
    prices_of,
    product_has_options,
)
from emporium.orders.rules import repository as rules

__all__ = [
    "CartCurrencyFixed",
    "CodeRefused",
    "NotSoldInCurrency",
    "PricedLine",
    "ProductNotFound",
    "ShippingMethodNotOffered",
    "VariantRequired",
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


class VariantRequired(Unprocessable):
    type = problem_type("variant-required")
    title = "Choose a variant"


class NotSoldInCurrency(Unprocessable):
    type = problem_type("not-sold-in-currency")
    title = "Not sold in the cart's currency"


class CartCurrencyFixed(Unprocessable):
    type = problem_type("cart-currency-fixed")
    title = "The cart's currency is fixed by its first item"


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
        currency=cart.currency,
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
    cur = priced.currency
    for line in priced.lines:
        product, item = line.product, line.item
        current = line.unit_amount(cur)
        unit = current if current is not None else item.seen_unit_amount
        changed = unit != item.seen_unit_amount
        out.append(
            CartItemOut(
                product_id=product.id if product is not None else item.product_id,
                variant_id=item.product_id,
                name=product.name if product is not None else "",
                sku=line.sku,
                options=line.options,
                unit_price=_money(unit, cur),
                quantity=item.quantity,
                line_total=_money(unit * item.quantity, cur),
                available=line.sellable(cur),
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
    lines: list[PricedLine] | None = None,
) -> Quote:
    return await quote(
        session,
        customer_id,
        choices,
        tax_inclusive=tax_inclusive,
        now=now,
        lines=lines,
    )


async def present(
    session: AsyncSession,
    customer_id: UUID,
    tax_inclusive: frozenset[str],
    *,
    locked: Cart | None = None,
    lines: list[PricedLine] | None = None,
) -> tuple[Quote, list[Notice]]:
    """The cart priced now, with what no longer applies dropped (persisted) and noticed.

    A view that finds something to drop takes the cart lock (``locked``: the caller holds
    it, and this is the row as the caller changed it) and prices again under it, so a drop
    never races a change or a checkout. ``lines``: the cart's lines as the caller holding
    the lock has just made them (else they are read).
    """
    now = utcnow()
    cart = locked if locked is not None else await repository.get_cart(session, customer_id)
    priced = await _quote(session, customer_id, choices_of(cart), tax_inclusive, now, lines)
    if cart is None or not priced.dropped:
        return priced, _notices(cart)
    if locked is None:
        cart = await repository.lock_cart(session, customer_id)
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
    session: AsyncSession,
    customer_id: UUID,
    tax_inclusive: frozenset[str],
    *,
    locked: Cart | None,
    lines: list[PricedLine] | None = None,
) -> CartOut:
    priced, notices = await present(session, customer_id, tax_inclusive, locked=locked, lines=lines)
    return render(priced, notices)


async def view(session: AsyncSession, customer_id: UUID, tax_inclusive: frozenset[str]) -> CartOut:
    return await _shown(session, customer_id, tax_inclusive, locked=None)


async def shipping_options(
    session: AsyncSession, customer_id: UUID, tax_inclusive: frozenset[str]
) -> list[ShippingOptionOut]:
    priced, _ = await present(session, customer_id, tax_inclusive)
    return options_out(priced.options)


async def _changing(session: AsyncSession, customer_id: UUID) -> Cart:
    """The cart row, locked, its notices cleared: the shopper is changing it now."""
    cart = await repository.lock_cart(session, customer_id)
    cart.notices = None
    cart.updated_at = utcnow()
    return cart


async def set_quantity(
    session: AsyncSession,
    customer_id: UUID,
    variant_id: UUID,
    quantity: int,
    tax_inclusive: frozenset[str],
    currency: str | None = None,
) -> CartOut:
    """Set how many of the variant ``variant_id`` (or of the product of that id, if it has
    no options) the cart holds; ``currency`` fixes the cart's currency on its first item."""
    variant, product = await get_variant_and_product(session, variant_id)
    if product is None or product.deleted:
        raise ProductNotFound(f"product {variant_id} does not exist")
    # A product's first variant has the product's id: while it lives, that id is it. Once
    # it is gone, the id names only the product, which says no variant if it has options.
    if (variant is None or variant.deleted) and await product_has_options(session, product.id):
        raise VariantRequired(
            f"product {variant_id} has options: put one of its variants in the cart "
            "(GET /products/{id} lists them)"
        )
    if variant is not None and variant.deleted:
        raise ProductNotFound(f"variant {variant_id} does not exist")
    cart = await _changing(session, customer_id)
    held_items = await repository.items(session, customer_id)
    others = [i for i in held_items if i.product_id != variant_id]
    held = cart.currency
    if others and held is None:  # a cart from before variants: its lines' currency
        held = cart_currency(await priced_lines(session, customer_id))
    first = not others
    fixed = _fixed_currency(None if first else held, currency, product)
    prices = (await prices_of(session, [variant_id])).get(variant_id, {})
    if variant is None:  # a product copy from before its variant was kept
        prices = {product.currency: product.price_amount}
    amount = prices.get(fixed)
    if amount is None:
        sold = ", ".join(sorted(prices)) or "no currency"
        raise NotSoldInCurrency(
            f"{variant_id} has no price in {fixed}, the cart's currency (it is sold in {sold})",
            field="body.currency" if first else "path.product_id",
        )
    cart.currency = fixed
    item = next((i for i in held_items if i.product_id == variant_id), None)
    if item is None:
        item = CartItem(customer_id=customer_id, product_id=variant_id, added_at=utcnow())
        session.add(item)
    item.quantity = quantity
    # Setting the quantity is the customer seeing the current price: the flag clears.
    item.seen_unit_amount = amount
    await session.flush()
    # The view's lines from what this request read under the cart lock (only the other
    # items' variants, products and prices are read): not the cart read a second time.
    changed = PricedLine(item, product, variant, prices if variant is not None else {})
    lines = in_cart_order([*await lines_of(session, others), changed])
    return await _shown(session, customer_id, tax_inclusive, locked=cart, lines=lines)


def _fixed_currency(held: str | None, asked: str | None, product: ProductCopy) -> str:
    """The cart's currency once this item is in: the first item's ``asked`` (else the
    product's base currency); with other items in, the ``held`` one, the only one asked."""
    if held is None:
        return asked or product.currency
    if asked is not None and asked != held:
        raise CartCurrencyFixed(
            f"the cart is in {held}: its currency is fixed by its first item "
            "(empty the cart to shop in another)",
            field="body.currency",
        )
    return held


async def remove(
    session: AsyncSession, customer_id: UUID, product_id: UUID, tax_inclusive: frozenset[str]
) -> CartOut:
    cart = await _changing(session, customer_id)
    await repository.remove_item(session, customer_id, product_id)
    return await _shown(session, customer_id, tax_inclusive, locked=cart)


async def set_shipping_address(
    session: AsyncSession, customer_id: UUID, address: Address, tax_inclusive: frozenset[str]
) -> CartOut:
    cart = await _changing(session, customer_id)
    cart.shipping_address = address.model_dump(mode="json")
    await session.flush()
    return await _shown(session, customer_id, tax_inclusive, locked=cart)


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
    return await _shown(session, customer_id, tax_inclusive, locked=cart)


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
    session: AsyncSession,
    customer_id: UUID,
    code: str,
    lines: list[PricedLine],
    now: datetime,
    fixed_currency: str | None = None,
) -> tuple[pricing.Promotion | None, pricing.Refusal | None]:
    """The promotion of ``code`` and why it does not apply to the cart ``lines`` (in the
    cart's ``fixed_currency``; None: it does), counting the customer's uses of it now."""
    promotion, uses = await code_promotion(session, customer_id, code)
    currency = cart_currency(lines, fixed_currency)
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
        session, customer_id, normalise_code(code), lines, utcnow(), cart.currency
    )
    if refusal is not None:
        raise CodeRefused(refusal.detail, reason=refusal.reason, field="body.code")
    assert promotion is not None  # no promotion is refused as ``unknown``
    cart.promotion_code = promotion.code
    await session.flush()
    return await _shown(session, customer_id, tax_inclusive, locked=cart)


async def remove_code(
    session: AsyncSession, customer_id: UUID, code: str, tax_inclusive: frozenset[str]
) -> CartOut:
    """Take ``code`` off the cart (nothing happens if the cart does not hold it)."""
    cart = await _changing(session, customer_id)
    if cart.promotion_code is not None and cart.promotion_code == normalise_code(code):
        cart.promotion_code = None
    await session.flush()
    return await _shown(session, customer_id, tax_inclusive, locked=cart)


async def clear(session: AsyncSession, customer_id: UUID) -> None:
    """Forget the cart: its lines, address, shipping method and code."""
    await repository.lock_cart(session, customer_id)
    await repository.clear(session, customer_id)
