"""Inventory SQL: stock per (variant, location), the orders' reservations and allocations,
the stock locations, and the availability the product answers read.

Every transaction that locks ``stock_level`` rows locks them in ascending ``(variant_id,
location_code)`` order (``variants.allocation.lock_order`` says why that rules out
deadlocks); ``location_code COLLATE "C"`` on PostgreSQL makes SQL's order the one Python's
``sorted`` gives (SQLite compares bytes already). On SQLite ``FOR UPDATE`` is a no-op: its
single writer serialises the transactions instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import ColumnElement, ScalarSelect, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.catalog.models import (
    OrderReservation,
    Product,
    ReservationAllocation,
    StockLevel,
    StockLocation,
    Variant,
)

__all__ = [
    "LockedLevel",
    "Totals",
    "allocations_of",
    "availability",
    "available_of_product",
    "levels_of",
    "live_variant",
    "location",
    "locations",
    "lock_level",
    "lock_order",
    "lock_stock",
    "product_availability",
    "product_of",
]


@dataclass(frozen=True)
class LockedLevel:
    """A locked stock row and its location's priority (what the allocation orders by)."""

    level: StockLevel
    priority: int


@dataclass(frozen=True)
class Totals:
    """Units summed over locations (and variants, for a product)."""

    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _lock_order(session: AsyncSession) -> tuple[ColumnElement[UUID], ColumnElement[str]]:
    variant: ColumnElement[UUID] = StockLevel.variant_id.expression
    code: ColumnElement[str] = StockLevel.location_code.expression
    if _postgres(session):
        code = code.collate("C")
    return variant, code


async def lock_stock(
    session: AsyncSession, variant_ids: Iterable[UUID], *, live_only: bool
) -> dict[UUID, list[LockedLevel]]:
    """Every stock row of ``variant_ids`` with its location's priority, locked ``FOR
    UPDATE`` in the lock order. ``live_only``: only variants (and products) not deleted,
    for a new reservation; a release or a shipment takes them all (a reservation may
    outlive its variant)."""
    ids = sorted(set(variant_ids))
    if not ids:
        return {}
    stmt = (
        select(StockLevel, StockLocation.priority)
        .join(StockLocation, StockLocation.code == StockLevel.location_code)
        .where(StockLevel.variant_id.in_(ids))
    )
    if live_only:
        stmt = (
            stmt.join(Variant, Variant.id == StockLevel.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.deleted_at.is_(None), Product.deleted_at.is_(None))
        )
    stmt = stmt.order_by(*_lock_order(session)).with_for_update(of=StockLevel)
    found: dict[UUID, list[LockedLevel]] = {}
    for level, priority in (await session.execute(stmt)).all():
        found.setdefault(level.variant_id, []).append(LockedLevel(level, priority))
    return found


async def lock_level(session: AsyncSession, variant_id: UUID, location_code: str) -> StockLevel:
    """The stock row of a variant at a location, created empty if missing, locked ``FOR
    UPDATE`` (the insert does nothing when a concurrent one got there first)."""
    dialect = postgresql if _postgres(session) else sqlite
    await session.execute(
        dialect.insert(StockLevel)
        .values(variant_id=variant_id, location_code=location_code, on_hand=0, reserved=0)
        .on_conflict_do_nothing(index_elements=["variant_id", "location_code"])
    )
    stmt = (
        select(StockLevel)
        .where(StockLevel.variant_id == variant_id, StockLevel.location_code == location_code)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).one()


async def lock_order(session: AsyncSession, order_id: UUID) -> OrderReservation | None:
    stmt = select(OrderReservation).where(OrderReservation.order_id == order_id)
    return await session.scalar(stmt.with_for_update())


async def allocations_of(session: AsyncSession, order_id: UUID) -> Sequence[ReservationAllocation]:
    stmt = select(ReservationAllocation).where(ReservationAllocation.order_id == order_id)
    order = (ReservationAllocation.variant_id, ReservationAllocation.location_code)
    return (await session.scalars(stmt.order_by(*order))).all()


async def live_variant(session: AsyncSession, variant_id: UUID) -> Variant | None:
    """The variant, if neither it nor its product is deleted."""
    stmt = (
        select(Variant)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.id == variant_id, Variant.deleted_at.is_(None))
        .where(Product.deleted_at.is_(None))
    )
    return await session.scalar(stmt)


async def product_of(session: AsyncSession, variant_ids: Iterable[UUID]) -> dict[UUID, UUID]:
    """Variant id → its product's id (deleted ones too)."""
    ids = sorted(set(variant_ids))
    if not ids:
        return {}
    stmt = select(Variant.id, Variant.product_id).where(Variant.id.in_(ids))
    return dict((await session.execute(stmt)).all())


async def location(session: AsyncSession, code: str) -> StockLocation | None:
    return await session.get(StockLocation, code)


async def locations(session: AsyncSession) -> Sequence[StockLocation]:
    """Every location in the order orders take from them (priority, then code)."""
    stmt = select(StockLocation).order_by(StockLocation.priority, StockLocation.code)
    return (await session.scalars(stmt)).all()


async def levels_of(session: AsyncSession, variant_id: UUID) -> dict[str, Totals]:
    """A variant's units per location code (locations without a row: absent)."""
    stmt = select(StockLevel).where(StockLevel.variant_id == variant_id)
    return {
        level.location_code: Totals(level.on_hand, level.reserved)
        for level in await session.scalars(stmt)
    }


async def availability(session: AsyncSession, variant_ids: Iterable[UUID]) -> dict[UUID, Totals]:
    """Per variant, its units summed over locations (a variant without rows: absent)."""
    ids = sorted(set(variant_ids))
    if not ids:
        return {}
    stmt = (
        select(StockLevel.variant_id, func.sum(StockLevel.on_hand), func.sum(StockLevel.reserved))
        .where(StockLevel.variant_id.in_(ids))
        .group_by(StockLevel.variant_id)
    )
    rows = (await session.execute(stmt)).all()
    return {vid: Totals(int(on_hand), int(reserved)) for vid, on_hand, reserved in rows}


async def product_availability(
    session: AsyncSession, product_ids: Iterable[UUID]
) -> dict[UUID, Totals]:
    """Per product, the units of its live variants summed over locations (what a product
    answer's ``availability`` shows; a product without stock rows: absent)."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    stmt = (
        select(Variant.product_id, func.sum(StockLevel.on_hand), func.sum(StockLevel.reserved))
        .join(StockLevel, StockLevel.variant_id == Variant.id)
        .where(Variant.product_id.in_(ids), Variant.deleted_at.is_(None))
        .group_by(Variant.product_id)
    )
    rows = (await session.execute(stmt)).all()
    return {pid: Totals(int(on_hand), int(reserved)) for pid, on_hand, reserved in rows}


def available_of_product() -> ScalarSelect[int]:
    """The units available of ``product`` (the listing's row) over its live variants and
    every location, as a correlated subquery: a column for the listing's ``SELECT`` (label
    it) and its ``in_stock`` filter (``available_of_product() > 0``). Per product it
    probes ``ix_variant_product_live`` and ``pk_stock_level``, never the whole table."""
    total = (
        select(func.coalesce(func.sum(StockLevel.on_hand - StockLevel.reserved), 0))
        .select_from(Variant)
        .join(StockLevel, StockLevel.variant_id == Variant.id)
        .where(Variant.product_id == Product.id, Variant.deleted_at.is_(None))
        .correlate(Product)
        .scalar_subquery()
    )
    return total
