"""Redemptions of limited codes: at most ``usage_limit`` orders hold a code, however many
checkouts race for it.

- ``reserve`` (in the placing transaction) takes one use with a single conditional UPDATE,
  ``used_count = used_count + 1 WHERE usage_limit IS NULL OR used_count < usage_limit``:
  the database serialises the racing updates on the row, and each one re-checks the limit
  against the count the previous one committed, so no read-then-write gap exists.
- ``release`` (the order was rejected or cancelled) gives the use back exactly once: only
  the update that moves the redemption out of ``reserved``/``redeemed`` decrements.
- ``redeem`` (the order was confirmed) marks it used for good; a later cancellation still
  releases it.
- ``customer_uses`` counts a customer's orders holding the code (for ``per_customer_limit``;
  the caller holds the cart lock that serialises one customer's checkouts).
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.kit.outbox import utcnow
from emporium.orders.rules.models import Promotion, PromotionRedemption

__all__ = ["RedemptionStatus", "customer_uses", "redeem", "release", "reserve"]

RedemptionStatus = Literal["reserved", "redeemed", "released"]
_RELEASED: RedemptionStatus = "released"


def _changed(result: Any) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0


async def customer_uses(session: AsyncSession, promotion_id: UUID, customer_id: UUID) -> int:
    """How many of the customer's orders hold the promotion (reserved or redeemed)."""
    count = await session.scalar(
        select(func.count())
        .select_from(PromotionRedemption)
        .where(
            PromotionRedemption.promotion_id == promotion_id,
            PromotionRedemption.customer_id == customer_id,
            PromotionRedemption.status != _RELEASED,
        )
    )
    return int(count or 0)


async def reserve(
    session: AsyncSession, promotion_id: UUID, *, order_id: UUID, customer_id: UUID
) -> bool:
    """Take one use of the promotion for the order; False if its usage limit is reached
    (nothing changed). An order that already holds it keeps it (True)."""
    held = (
        await session.execute(
            select(PromotionRedemption.promotion_id, PromotionRedemption.status).where(
                PromotionRedemption.order_id == order_id
            )
        )
    ).first()
    if held is not None:
        return bool(held.promotion_id == promotion_id and held.status != _RELEASED)
    taken = await session.execute(
        update(Promotion)
        .where(
            Promotion.id == promotion_id,
            (Promotion.usage_limit.is_(None)) | (Promotion.used_count < Promotion.usage_limit),
        )
        .values(used_count=Promotion.used_count + 1)
        .execution_options(synchronize_session=False)
    )
    if _changed(taken) != 1:
        return False
    now = utcnow()
    session.add(
        PromotionRedemption(
            order_id=order_id,
            promotion_id=promotion_id,
            customer_id=customer_id,
            status="reserved",
            created_at=now,
            updated_at=now,
        )
    )
    await session.flush()
    return True


async def release(session: AsyncSession, order_id: UUID) -> None:
    """Give the order's use back (count - 1), once however often it is called; nothing if
    the order holds no code."""
    promotion_id = await session.scalar(
        update(PromotionRedemption)
        .where(PromotionRedemption.order_id == order_id, PromotionRedemption.status != _RELEASED)
        .values(status=_RELEASED, updated_at=utcnow())
        .returning(PromotionRedemption.promotion_id)
        .execution_options(synchronize_session=False)
    )
    if promotion_id is None:
        return
    await session.execute(
        update(Promotion)
        .where(Promotion.id == promotion_id, Promotion.used_count > 0)
        .values(used_count=Promotion.used_count - 1)
        .execution_options(synchronize_session=False)
    )


async def redeem(session: AsyncSession, order_id: UUID) -> None:
    """Mark the order's reserved use as redeemed (its order was confirmed); nothing else."""
    await session.execute(
        update(PromotionRedemption)
        .where(PromotionRedemption.order_id == order_id, PromotionRedemption.status == "reserved")
        .values(status="redeemed", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
