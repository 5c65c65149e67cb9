"""Inventory rules: admins set ``on_hand`` per variant and location; orders reserve every
line or none, across each variant's locations in priority order
(``variants.allocation.allocate``), give the units back where they were taken when
cancelled, and take them off those shelves when shipped.

Every order operation is idempotent through the per-order ``OrderReservation`` row: a
second ``OrderPlaced`` for an order already decided does nothing, a release or a commit
only acts on an order that is still ``reserved``, and a cancellation that arrives before
any reservation leaves a ``cancelled`` tombstone so that a late ``OrderPlaced`` is refused.

Locks: the order row first, then the stock rows of the order's variants in ``(variant_id,
location_code)`` order, in every transaction (so none can deadlock with another); then, on
PostgreSQL, a transaction-scoped advisory lock per product whose units change, in product
order (``_before``). It makes the products' units read before a change and after
it those of no concurrent change: whether a product went in or out of stock (which stales
every listing, ``invalidation.stock_families``) is never missed by two changes of two of
its variants or locations at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.errors import (
    DuplicateLocation,
    LocationNotFound,
    ProductNotFound,
    StockBelowReserved,
    VariantNotFound,
)
from emporium.catalog.invalidation import mark_stale, stock_families
from emporium.catalog.inventory import repository
from emporium.catalog.inventory.repository import Totals
from emporium.catalog.models import (
    DEFAULT_LOCATION,
    OrderReservation,
    ReservationAllocation,
    StockLevel,
    StockLocation,
)
from emporium.catalog.outbox import OUTBOX
from emporium.catalog.product import repository as products
from emporium.catalog.variants import allocation
from emporium.contracts.catalog import (
    ShortVariantLine,
    StockChangedV2,
    StockReservationRejectedV2,
    StockReserved,
)
from emporium.contracts.orders import OrderLine
from emporium.kit.outbox import utcnow

__all__ = [
    "commit_order",
    "create_location",
    "release_order",
    "reserve_order",
    "set_on_hand",
    "set_variant_on_hand",
    "stock_of_variant",
    "variant_of",
]


def variant_of(line: OrderLine) -> UUID:
    """The variant an order line is for: its ``variant_id``, or for lines without one (old
    events, products without options) its ``product_id``, the product's default variant."""
    variant_id: UUID | None = getattr(line, "variant_id", None)
    return variant_id or line.product_id


def _lock_key(product_id: UUID) -> int:
    # A signed 64-bit key of the product (a clash only makes two products wait in turn).
    return int.from_bytes(product_id.bytes[:8], "big", signed=True)


@dataclass(frozen=True)
class _Before:
    """What a stock change starts from: the owners of its variants, each product's units
    available and each stock row's, before the change."""

    owners: dict[UUID, UUID]
    products: dict[UUID, int]
    levels: dict[tuple[UUID, str], int]

    def after(self, product_id: UUID, touched: dict[tuple[UUID, str], StockLevel]) -> int:
        """The product's units available once ``touched`` changed. A row of a deleted
        variant counts here though not in ``products``: then at worst a listing is staled
        for nothing, never left stale (its units only go up when given back)."""
        moved = sum(
            level.available - self.levels[key]
            for key, level in touched.items()
            if self.owners.get(key[0], key[0]) == product_id and key in self.levels
        )
        return self.products.get(product_id, 0) + moved


async def _before(session: AsyncSession, levels: Iterable[StockLevel]) -> _Before:
    """``_Before`` of a change of ``levels`` (call with them locked, before changing them);
    on PostgreSQL it first takes each product's advisory lock, held until the transaction
    ends (see the module)."""
    rows = {(level.variant_id, level.location_code): level.available for level in levels}
    variants = sorted({variant_id for variant_id, _ in rows})
    owners = await repository.product_of(session, variants)
    product_ids = sorted({owners.get(vid, vid) for vid in variants})
    if session.get_bind().dialect.name == "postgresql":
        for product_id in product_ids:
            await session.execute(select(func.pg_advisory_xact_lock(_lock_key(product_id))))
    totals = await repository.product_availability(session, product_ids)
    products = {pid: totals.get(pid, Totals(0, 0)).available for pid in product_ids}
    return _Before(owners, products, rows)


async def _changed(session: AsyncSession, levels: Iterable[StockLevel], before: _Before) -> None:
    """Stamp the rows, publish ``StockChanged`` v2 for each (one per variant and location,
    with the variant's units summed over its locations) and mark the cached answers stale:
    each product's own, and every listing when one went in or out of stock (``before``:
    where the change started from)."""
    now = utcnow()
    touched: dict[tuple[UUID, str], StockLevel] = {}
    for level in levels:
        level.updated_at = now
        touched[(level.variant_id, level.location_code)] = level
    await session.flush()
    variant_ids = {variant_id for variant_id, _ in touched}
    owners = before.owners
    summed = await repository.availability(session, variant_ids)
    for (variant_id, location_code), level in sorted(touched.items()):
        product_id = owners.get(variant_id, variant_id)  # a product's first variant: its id
        await OUTBOX.add(
            session,
            StockChangedV2(
                variant_id=variant_id,
                product_id=product_id,
                location=location_code,
                on_hand=level.on_hand,
                reserved=level.reserved,
                available=level.available,
                variant_available=summed.get(variant_id, Totals(0, 0)).available,
            ),
            key=product_id,  # with the product's other events: one partition, in order
        )
    for product_id in sorted({owners.get(vid, vid) for vid in variant_ids}):
        after = before.after(product_id, touched)
        mark_stale(session, *stock_families(product_id, before.products.get(product_id, 0), after))


async def set_variant_on_hand(
    session: AsyncSession, variant_id: UUID, location_code: str, on_hand: int
) -> StockLevel:
    """Set a variant's units on the shelf at a location; 404 for an unknown (or deleted)
    variant or location, 409 if fewer than are reserved there for orders."""
    if await repository.location(session, location_code) is None:
        raise LocationNotFound(f"no stock location {location_code!r}", location=location_code)
    if await repository.live_variant(session, variant_id) is None:
        raise VariantNotFound(f"no variant {variant_id}")
    return await _set(session, variant_id, location_code, on_hand)


async def set_on_hand(session: AsyncSession, product_id: UUID, on_hand: int) -> Totals:
    """``PUT /admin/products/{id}/stock``: the units of the product's default variant at
    the ``default`` location; answers the product's units summed over every location."""
    if await products.live_product(session, product_id) is None:
        raise ProductNotFound(f"no product {product_id}")
    await _set(session, product_id, DEFAULT_LOCATION, on_hand)
    totals = await repository.product_availability(session, [product_id])
    return totals.get(product_id, Totals(0, 0))


async def _set(
    session: AsyncSession, variant_id: UUID, location_code: str, on_hand: int
) -> StockLevel:
    level = await repository.lock_level(session, variant_id, location_code)
    if on_hand < level.reserved:
        raise StockBelowReserved(
            f"{level.reserved} units are reserved for orders at {location_code!r}; "
            "on_hand cannot go below that",
            reserved=level.reserved,
        )
    before = await _before(session, [level])
    level.on_hand = on_hand
    await _changed(session, [level], before)
    return level


async def create_location(
    session: AsyncSession, code: str, name: str, priority: int
) -> StockLocation:
    """A new stock location (no stock yet); 409 if the code is taken."""
    taken = DuplicateLocation(f"a stock location has the code {code!r}", code=code)
    if await repository.location(session, code) is not None:
        raise taken
    created = StockLocation(code=code, name=name, priority=priority)
    session.add(created)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # a concurrent request created it first
        raise taken from None
    return created


async def stock_of_variant(
    session: AsyncSession, variant_id: UUID
) -> list[tuple[StockLocation, Totals]]:
    """A live variant's units at every location (zero where it has no row), in the order
    orders take from the locations; 404 for an unknown or deleted variant."""
    if await repository.live_variant(session, variant_id) is None:
        raise VariantNotFound(f"no variant {variant_id}")
    levels = await repository.levels_of(session, variant_id)
    return [
        (place, levels.get(place.code, Totals(0, 0)))
        for place in await repository.locations(session)
    ]


def _stock(
    locked: dict[UUID, list[repository.LockedLevel]],
) -> dict[UUID, list[allocation.LocationStock]]:
    return {
        variant_id: [
            allocation.LocationStock(
                location=row.level.location_code,
                priority=row.priority,
                on_hand=row.level.on_hand,
                reserved=row.level.reserved,
            )
            for row in rows
        ]
        for variant_id, rows in locked.items()
    }


async def reserve_order(session: AsyncSession, order_id: UUID, lines: Sequence[OrderLine]) -> bool:
    """Reserve every line of the order or none; publishes the outcome. True if reserved."""
    if await repository.lock_order(session, order_id) is not None:
        return False  # decided before (or cancelled first): nothing more to do
    record = OrderReservation(order_id=order_id, status="pending")
    session.add(record)
    await session.flush()  # the primary key serialises two deliveries of one order

    wanted = allocation.wanted((variant_of(line), line.quantity) for line in lines)
    locked = await repository.lock_stock(session, wanted, live_only=True)
    decision = allocation.allocate(wanted.items(), _stock(locked))
    if isinstance(decision, allocation.Rejection):
        record.status = "rejected"
        owners = await repository.product_of(session, [s.variant_id for s in decision.shortfalls])
        short = [
            ShortVariantLine(
                variant_id=s.variant_id,
                product_id=owners.get(s.variant_id, s.variant_id),
                requested=s.requested,
                available=s.available,
            )
            for s in decision.shortfalls
        ]
        await OUTBOX.add(
            session,
            StockReservationRejectedV2(order_id=order_id, short_lines=short),
            key=order_id,
        )
        return False
    rows = {
        (row.level.variant_id, row.level.location_code): row.level
        for variant_rows in locked.values()
        for row in variant_rows
    }
    before = await _before(session, [rows[key] for key in decision.quantities])
    for (variant_id, location_code), quantity in decision.quantities.items():
        rows[(variant_id, location_code)].reserved += quantity
        session.add(
            ReservationAllocation(
                order_id=order_id,
                variant_id=variant_id,
                location_code=location_code,
                quantity=quantity,
            )
        )
    record.status = "reserved"
    await session.flush()
    await OUTBOX.add(session, StockReserved(order_id=order_id), key=order_id)
    await _changed(session, [rows[key] for key in decision.quantities], before)
    return True


async def _settle(session: AsyncSession, order_id: UUID, *, ship: bool) -> bool:
    record = await repository.lock_order(session, order_id)
    if record is None:
        if not ship:  # cancelled before the reservation: refuse a late OrderPlaced
            session.add(OrderReservation(order_id=order_id, status="cancelled"))
            await session.flush()
        return False
    if record.status != "reserved":
        return False
    held = await repository.allocations_of(session, order_id)
    locked = await repository.lock_stock(session, [a.variant_id for a in held], live_only=False)
    rows = {
        (row.level.variant_id, row.level.location_code): row.level
        for variant_rows in locked.values()
        for row in variant_rows
    }
    touched: list[StockLevel] = []
    before = await _before(
        session, [rows[k] for k in ((a.variant_id, a.location_code) for a in held) if k in rows]
    )
    for part in held:  # each location's part goes back to (or leaves) that location
        level = rows.get((part.variant_id, part.location_code))
        if level is None:
            continue  # no row to give back to (never removed: kept for safety)
        level.reserved -= part.quantity
        if ship:
            level.on_hand -= part.quantity
        touched.append(level)
    record.status = "committed" if ship else "released"
    record.updated_at = utcnow()
    await session.flush()
    await _changed(session, touched, before)
    return True


async def release_order(session: AsyncSession, order_id: UUID) -> bool:
    """Give an order's reserved units back (cancelled); True if anything was released."""
    return await _settle(session, order_id, ship=False)


async def commit_order(session: AsyncSession, order_id: UUID) -> bool:
    """Take an order's reserved units off the shelf (shipped); True if anything moved."""
    return await _settle(session, order_id, ship=True)
