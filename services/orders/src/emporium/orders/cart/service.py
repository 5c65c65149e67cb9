"""Cart rules: quantities, current prices, flags for deleted and repriced products."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit.errors import NotFound, problem_type
from emporium.kit.outbox import utcnow
from emporium.orders.cart import repository
from emporium.orders.cart.schemas import CartItemOut, CartOut
from emporium.orders.common import Money
from emporium.orders.models import CartItem, ProductCopy
from emporium.orders.products.repository import get_product, products_by_id

__all__ = [
    "PricedLine",
    "ProductNotFound",
    "clear",
    "priced_lines",
    "remove",
    "set_quantity",
    "view",
]

DEFAULT_CURRENCY = "EUR"


class ProductNotFound(NotFound):
    type = problem_type("product-not-found")
    title = "Product not found"


@dataclass(frozen=True)
class PricedLine:
    """A cart item with the product as orders knows it now (None: never heard of it)."""

    item: CartItem
    product: ProductCopy | None

    @property
    def available(self) -> bool:
        return self.product is not None and not self.product.deleted


async def priced_lines(session: AsyncSession, customer_id: UUID) -> list[PricedLine]:
    cart_items = await repository.items(session, customer_id)
    products = await products_by_id(session, (i.product_id for i in cart_items))
    return [PricedLine(item, products.get(item.product_id)) for item in cart_items]


def render(lines: list[PricedLine]) -> CartOut:
    out: list[CartItemOut] = []
    total = 0
    currency: str | None = None
    for line in lines:
        product, item = line.product, line.item
        unit = product.price_amount if product is not None else item.seen_unit_amount
        cur = product.currency if product is not None else DEFAULT_CURRENCY
        changed = unit != item.seen_unit_amount
        out.append(
            CartItemOut(
                product_id=item.product_id,
                name=product.name if product is not None else "",
                sku=product.sku if product is not None else "",
                unit_price=Money(amount=unit, currency=cur),
                quantity=item.quantity,
                line_total=Money(amount=unit * item.quantity, currency=cur),
                available=line.available,
                price_changed=changed,
                previous_unit_price=(
                    Money(amount=item.seen_unit_amount, currency=cur) if changed else None
                ),
            )
        )
        if line.available:
            total += unit * item.quantity
            currency = currency or cur
    return CartOut(items=out, total=Money(amount=total, currency=currency or DEFAULT_CURRENCY))


async def view(session: AsyncSession, customer_id: UUID) -> CartOut:
    return render(await priced_lines(session, customer_id))


async def set_quantity(
    session: AsyncSession, customer_id: UUID, product_id: UUID, quantity: int
) -> CartOut:
    product = await get_product(session, product_id)
    if product is None or product.deleted:
        raise ProductNotFound(f"product {product_id} does not exist")
    await repository.lock_cart(session, customer_id)
    item = await repository.get_item(session, customer_id, product_id)
    if item is None:
        item = CartItem(customer_id=customer_id, product_id=product_id, added_at=utcnow())
        session.add(item)
    item.quantity = quantity
    # Setting the quantity is the customer seeing the current price: the flag clears.
    item.seen_unit_amount = product.price_amount
    await session.flush()
    return await view(session, customer_id)


async def remove(session: AsyncSession, customer_id: UUID, product_id: UUID) -> CartOut:
    await repository.lock_cart(session, customer_id)
    await repository.remove_item(session, customer_id, product_id)
    return await view(session, customer_id)


async def clear(session: AsyncSession, customer_id: UUID) -> None:
    await repository.lock_cart(session, customer_id)
    await repository.clear(session, customer_id)
