"""The admin's changes to the pricing rules (never commits: the request's session does).

A shipping zone is created with its rates and deleted with them; orders keep the breakdown
they were placed with, so deleting a zone or a rate changes no order. A promotion is
deleted softly (its redemptions keep pointing at it) and its code is freed for reuse. A change
to a promotion is merged into it and the result checked as a new one would be: one that
would leave it invalid conflicts with its current state (409, naming the fields at fault).

Every change also counts itself in ``pricing_rules_version`` (``cache.bump``), in its own
transaction, so every process's next quote reads the rules again (``rules.cache``).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import delete
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit.errors import Conflict, problem_type
from emporium.kit.outbox import utcnow
from emporium.orders.rules import cache, repository
from emporium.orders.rules.errors import (
    DuplicateCode,
    DuplicateTaxRate,
    PromotionNotFound,
    TaxRateNotFound,
    ZoneNotFound,
)
from emporium.orders.rules.models import Promotion, ShippingRate, ShippingZone, TaxRate
from emporium.orders.rules.schemas import (
    PROMOTION_IN,
    AppliesTo,
    FixedPromotionIn,
    PercentagePromotionIn,
    PromotionOut,
    PromotionUpdate,
    ShippingZoneIn,
    TaxRateIn,
)

__all__ = [
    "PromotionConflict",
    "create_promotion",
    "create_tax_rate",
    "create_zone",
    "delete_promotion",
    "delete_tax_rate",
    "delete_zone",
    "get_promotion",
    "merged",
    "promotion_out",
    "update_promotion",
]


NewPromotion = PercentagePromotionIn | FixedPromotionIn


class PromotionConflict(Conflict):
    """A change that would leave the promotion invalid; ``errors`` names the fields, as a
    422 does (RFC 5789: a patch that cannot be applied to the resource's state is a 409)."""

    type = problem_type("promotion-conflict")
    title = "The change conflicts with the promotion"


async def _flush(session: AsyncSession, conflict: Exception) -> None:
    # The unique keys are checked before; this catches a concurrent insert of the same one.
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise conflict from None


async def create_zone(session: AsyncSession, data: ShippingZoneIn) -> ShippingZone:
    zone = ShippingZone(
        name=data.name,
        countries=data.countries,
        created_at=utcnow(),
        rates=[ShippingRate(**rate.model_dump()) for rate in data.rates],
    )
    session.add(zone)
    await session.flush()
    await cache.bump(session)
    return zone


async def delete_zone(session: AsyncSession, zone_id: UUID) -> None:
    """Delete the zone and its rates; ``ZoneNotFound`` if there is none."""
    result = await session.execute(delete(ShippingZone).where(ShippingZone.id == zone_id))
    if not isinstance(result, CursorResult) or result.rowcount != 1:
        raise ZoneNotFound(f"shipping zone {zone_id} does not exist")
    await cache.bump(session)


async def create_tax_rate(session: AsyncSession, data: TaxRateIn) -> TaxRate:
    where = f"{data.country}-{data.region}" if data.region else data.country
    duplicate = DuplicateTaxRate(
        f"{where} already has a {data.tax_class!r} rate named {data.name!r}",
        country=data.country,
        region=data.region,
        tax_class=data.tax_class,
        name=data.name,
    )
    found = await repository.tax_rate_by_key(
        session, country=data.country, region=data.region, tax_class=data.tax_class, name=data.name
    )
    if found is not None:
        raise duplicate
    row = TaxRate(**data.model_dump(), created_at=utcnow())
    session.add(row)
    await _flush(session, duplicate)
    await cache.bump(session)
    return row


async def delete_tax_rate(session: AsyncSession, tax_rate_id: UUID) -> None:
    result = await session.execute(delete(TaxRate).where(TaxRate.id == tax_rate_id))
    if not isinstance(result, CursorResult) or result.rowcount != 1:
        raise TaxRateNotFound(f"tax rate {tax_rate_id} does not exist")
    await cache.bump(session)


def _duplicate_code(code: str) -> DuplicateCode:
    return DuplicateCode(f"another promotion has the code {code!r}", code=code)


def _fields(data: NewPromotion) -> dict[str, Any]:
    applies_to = data.applies_to or AppliesTo()
    return {
        **data.model_dump(exclude={"applies_to"}),
        "categories": [str(c) for c in dict.fromkeys(applies_to.categories)],
        "products": [str(p) for p in dict.fromkeys(applies_to.products)],
    }


async def create_promotion(session: AsyncSession, data: NewPromotion) -> Promotion:
    if data.code is not None and await repository.live_code_holder(session, data.code):
        raise _duplicate_code(data.code)
    now = utcnow()
    row = Promotion(**_fields(data), used_count=0, created_at=now, updated_at=now)
    session.add(row)
    await _flush(session, _duplicate_code(data.code or ""))
    await cache.bump(session)
    return row


async def get_promotion(
    session: AsyncSession, promotion_id: UUID, *, for_update: bool = False
) -> Promotion:
    """The live promotion ``promotion_id``; ``PromotionNotFound`` if none (or deleted)."""
    row = await repository.live_promotion(session, promotion_id, for_update=for_update)
    if row is None:
        raise PromotionNotFound(f"promotion {promotion_id} does not exist")
    return row


def _as_input(row: Promotion) -> dict[str, Any]:
    return {
        "name": row.name,
        "kind": row.kind,
        "value": row.value,
        "currency": row.currency,
        "code": row.code,
        "applies_to": {"categories": row.categories, "products": row.products},
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "usage_limit": row.usage_limit,
        "per_customer_limit": row.per_customer_limit,
        "min_subtotal": row.min_subtotal,
    }


def _untagged(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # An error in one shape of promotion is located under its kind: the field is what counts.
    return loc[1:] if loc and loc[0] in ("percentage", "fixed") else loc


def merged(current: dict[str, Any], change: PromotionUpdate) -> NewPromotion:
    """``current`` (a valid promotion's fields) with ``change`` applied, checked as a whole;
    ``PromotionConflict`` naming every field at fault if the result is not valid."""
    try:
        return PROMOTION_IN.validate_python({**current, **change.model_dump(exclude_unset=True)})
    except ValidationError as error:
        errors = [
            {
                "field": ".".join(("body", *(str(part) for part in _untagged(e["loc"])))),
                "message": e["msg"],
                "type": e["type"],
            }
            for e in error.errors()
        ]
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        raise PromotionConflict(
            f"the promotion would not be valid so changed: {fields}", errors=errors
        ) from None


async def update_promotion(
    session: AsyncSession, promotion_id: UUID, change: PromotionUpdate
) -> Promotion:
    row = await get_promotion(session, promotion_id, for_update=True)
    data = merged(_as_input(row), change)
    if data.code is not None and data.code != row.code:
        holder = await repository.live_code_holder(session, data.code)
        if holder is not None:
            raise _duplicate_code(data.code)
    for name, value in _fields(data).items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    await _flush(session, _duplicate_code(data.code or ""))
    await cache.bump(session)
    return row


async def delete_promotion(session: AsyncSession, promotion_id: UUID) -> None:
    """Retire the promotion: pricing no longer sees it and its code is free again; orders
    that hold it keep their redemption (and give it back if they are cancelled)."""
    row = await get_promotion(session, promotion_id, for_update=True)
    row.deleted_at = row.updated_at = utcnow()
    row.code = None
    await cache.bump(session)


def promotion_out(row: Promotion) -> PromotionOut:
    return PromotionOut.model_validate(row)
