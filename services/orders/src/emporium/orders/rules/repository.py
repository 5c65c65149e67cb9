"""Rules SQL: what pricing reads (as ``emporium.orders.pricing`` values) and what the admin
API lists and changes.

Pricing reads only live rules: a deleted promotion is never returned. ``promotion_by_code``
returns a code's promotion whatever its window or use (the caller says why it is refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from emporium.orders import pricing
from emporium.orders.rules.models import Promotion, ShippingRate, ShippingZone, TaxRate

__all__ = [
    "all_tax_rates",
    "all_zones",
    "automatic_promotions",
    "live_code_holder",
    "live_promotion",
    "promotion_by_code",
    "promotion_page",
    "rate",
    "tax_rate_by_key",
    "to_promotion",
    "zones",
]

#: The longest code there can be (``promotion.code``); a longer one cannot match.
_MAX_CODE = 64


def _to_rate(row: ShippingRate) -> pricing.Rate:
    return pricing.Rate(
        id=row.id,
        zone_id=row.zone_id,
        name=row.name,
        amount=row.amount,
        currency=row.currency,
        min_subtotal=row.min_subtotal,
        max_weight_grams=row.max_weight_grams,
        estimated_days=row.estimated_days,
    )


def to_promotion(row: Promotion) -> pricing.Promotion:
    """The promotion as pricing sees it."""
    return pricing.Promotion(
        id=row.id,
        name=row.name,
        kind="fixed" if row.kind == "fixed" else "percentage",
        value=row.value,
        currency=row.currency,
        code=row.code,
        categories=frozenset(UUID(c) for c in row.categories),
        products=frozenset(UUID(p) for p in row.products),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        usage_limit=row.usage_limit,
        per_customer_limit=row.per_customer_limit,
        min_subtotal=row.min_subtotal,
        used_count=row.used_count,
        created_at=row.created_at,
    )


async def all_zones(session: AsyncSession) -> Sequence[ShippingZone]:
    """Every zone with its rates, by name."""
    return (
        await session.scalars(
            select(ShippingZone)
            .options(selectinload(ShippingZone.rates))
            .order_by(ShippingZone.name, ShippingZone.id)
        )
    ).all()


async def zones(session: AsyncSession) -> list[pricing.Zone]:
    """Every shipping zone with its rates (pricing picks those of the address's country)."""
    return [
        pricing.Zone(
            id=zone.id,
            name=zone.name,
            countries=frozenset(zone.countries),
            rates=tuple(_to_rate(r) for r in zone.rates),
        )
        for zone in await all_zones(session)
    ]


async def rate(session: AsyncSession, rate_id: UUID) -> pricing.Rate | None:
    """The shipping rate ``rate_id``; None if there is none (or its zone was deleted)."""
    row = await session.get(ShippingRate, rate_id)
    return None if row is None else _to_rate(row)


async def all_tax_rates(session: AsyncSession, country: str | None) -> Sequence[TaxRate]:
    query = select(TaxRate).order_by(
        TaxRate.country, TaxRate.region.nulls_first(), TaxRate.tax_class, TaxRate.name
    )
    if country is not None:
        query = query.where(TaxRate.country == country)
    return (await session.scalars(query)).all()


async def tax_rate_by_key(
    session: AsyncSession, *, country: str, region: str | None, tax_class: str, name: str
) -> TaxRate | None:
    """The rate with this key (``region`` None is the whole country), if any."""
    return await session.scalar(
        select(TaxRate).where(
            TaxRate.country == country,
            func.coalesce(TaxRate.region, "") == (region or ""),
            TaxRate.tax_class == tax_class,
            TaxRate.name == name,
        )
    )


_LIVE = Promotion.deleted_at.is_(None)


async def automatic_promotions(session: AsyncSession, now: datetime) -> list[pricing.Promotion]:
    """The promotions without a code valid at ``now`` (``starts_at <= now < ends_at``), in
    creation order; pricing judges the rest (currency, eligibility, minimum subtotal)."""
    rows = await session.scalars(
        select(Promotion)
        .where(
            _LIVE,
            Promotion.code.is_(None),
            or_(Promotion.starts_at.is_(None), Promotion.starts_at <= now),
            or_(Promotion.ends_at.is_(None), Promotion.ends_at > now),
        )
        .order_by(Promotion.created_at, Promotion.id)
    )
    return [to_promotion(row) for row in rows]


async def promotion_by_code(session: AsyncSession, code: str) -> pricing.Promotion | None:
    """The promotion of ``code`` (any case, surrounding spaces ignored), however its window
    or uses stand; None if no live promotion has it."""
    wanted = code.strip().upper()
    if not wanted or len(wanted) > _MAX_CODE:
        return None
    row = await session.scalar(select(Promotion).where(_LIVE, Promotion.code == wanted))
    return None if row is None else to_promotion(row)


async def live_promotion(
    session: AsyncSession, promotion_id: UUID, *, for_update: bool = False
) -> Promotion | None:
    """The promotion ``promotion_id`` unless it was deleted."""
    query = select(Promotion).where(Promotion.id == promotion_id, _LIVE)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def live_code_holder(session: AsyncSession, code: str) -> Promotion | None:
    """The live promotion that has ``code`` (stored form), if any."""
    return await session.scalar(select(Promotion).where(_LIVE, Promotion.code == code))


async def promotion_page(
    session: AsyncSession, *, after: UUID | None, limit: int
) -> Sequence[Promotion]:
    """Live promotions, newest first, after the cursor's ``after``."""
    query = select(Promotion).where(_LIVE).order_by(Promotion.id.desc()).limit(limit)
    if after is not None:
        query = query.where(Promotion.id < after)
    return (await session.scalars(query)).all()
