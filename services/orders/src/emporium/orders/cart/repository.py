"""SQL of carts."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit.outbox import utcnow
from emporium.orders.models import Cart, CartItem, ProductCopy, VariantCopy, VariantPriceCopy

__all__ = [
    "clear",
    "empty",
    "get_cart",
    "get_item",
    "items",
    "items_with_products",
    "lock_cart",
    "remove_item",
]

_CART: Table = Cart.__table__  # type: ignore[assignment]


async def lock_cart(session: AsyncSession, customer_id: UUID) -> Cart:
    """The customer's cart row (made if missing), held until the transaction ends.

    Every change to a cart and every checkout takes this first, so two requests of one
    customer (a double-clicked checkout) run one after the other. On PostgreSQL the row is
    locked and read in one statement, and made only when it is missing (a shopper's first
    change); on SQLite the insert itself takes the database's write lock, so it comes first.
    """
    dialect = session.get_bind().dialect.name
    locked = (
        select(Cart)
        .where(Cart.customer_id == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if dialect == "postgresql":
        found = await session.scalar(locked)
        if found is not None:
            return found
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(_CART).values(customer_id=customer_id, updated_at=utcnow()).on_conflict_do_nothing()
    )
    made = await session.scalar(locked)
    assert made is not None  # inserted above, or by a concurrent request whose commit we saw
    return made


async def get_cart(session: AsyncSession, customer_id: UUID) -> Cart | None:
    """The cart row as stored now (None: the customer never had a cart)."""
    return await session.scalar(
        select(Cart)
        .where(Cart.customer_id == customer_id)
        .execution_options(populate_existing=True)
    )


async def items(session: AsyncSession, customer_id: UUID) -> list[CartItem]:
    rows = await session.scalars(
        select(CartItem)
        .where(CartItem.customer_id == customer_id)
        .order_by(CartItem.added_at, CartItem.product_id)
    )
    return list(rows)


async def items_with_products(
    session: AsyncSession, customer_id: UUID
) -> list[tuple[CartItem, VariantCopy | None, ProductCopy | None, dict[str, int]]]:
    """``items`` with each one's variant, that variant's product (an item naming no variant:
    the product of its id; None: orders never heard of it) and the variant's prices by
    currency: one statement (a row per price), where the prices were a second one."""
    product_id = func.coalesce(VariantCopy.product_id, CartItem.product_id)
    rows = await session.execute(
        select(
            CartItem, VariantCopy, ProductCopy, VariantPriceCopy.currency, VariantPriceCopy.amount
        )
        .outerjoin(VariantCopy, VariantCopy.id == CartItem.product_id)
        .outerjoin(ProductCopy, ProductCopy.id == product_id)
        .outerjoin(VariantPriceCopy, VariantPriceCopy.variant_id == VariantCopy.id)
        .where(CartItem.customer_id == customer_id)
        .order_by(CartItem.added_at, CartItem.product_id)
    )
    out: dict[UUID, tuple[CartItem, VariantCopy | None, ProductCopy | None, dict[str, int]]] = {}
    for item, variant, product, currency, amount in rows:
        line = out.setdefault(item.product_id, (item, variant, product, {}))
        if currency is not None:
            line[3][currency] = amount
    return list(out.values())


async def get_item(session: AsyncSession, customer_id: UUID, product_id: UUID) -> CartItem | None:
    return await session.get(CartItem, (customer_id, product_id))


async def remove_item(session: AsyncSession, customer_id: UUID, product_id: UUID) -> None:
    await session.execute(
        delete(CartItem).where(
            CartItem.customer_id == customer_id, CartItem.product_id == product_id
        )
    )


async def empty(session: AsyncSession, customer_id: UUID) -> None:
    """Take every line out of the cart (its address and choices stay)."""
    await session.execute(delete(CartItem).where(CartItem.customer_id == customer_id))


async def clear(session: AsyncSession, customer_id: UUID) -> None:
    """Forget the cart: its lines and its row (address, shipping method, code, notices), so
    a deleted customer's address goes with it. The next change makes a new, empty one."""
    await empty(session, customer_id)
    await session.execute(delete(Cart).where(Cart.customer_id == customer_id))
