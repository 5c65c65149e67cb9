"""SQL for customers-by-email and refresh tokens."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.customers.models import Customer, RefreshToken

__all__ = [
    "active_access_tokens",
    "customer_by_email",
    "refresh_token_by_hash",
    "revoke_refresh_tokens",
    "use_refresh_token",
]


async def customer_by_email(session: AsyncSession, email: str) -> Customer | None:
    customer: Customer | None = await session.scalar(
        select(Customer).where(Customer.email == email)
    )
    return customer


async def refresh_token_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    row: RefreshToken | None = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash)
    )
    return row


async def use_refresh_token(session: AsyncSession, token_id: UUID, now: datetime) -> bool:
    """Mark the token used if nobody did yet (atomic: of two racing refreshes, one wins)."""
    result = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == token_id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def active_access_tokens(
    session: AsyncSession,
    now: datetime,
    *,
    customer_id: UUID | None = None,
    family_id: UUID | None = None,
) -> list[tuple[str, datetime]]:
    """(id, expiry) of access tokens not yet expired, of a customer or a family."""
    query = select(RefreshToken.access_token_id, RefreshToken.access_expires_at).where(
        RefreshToken.access_expires_at > now
    )
    if customer_id is not None:
        query = query.where(RefreshToken.customer_id == customer_id)
    if family_id is not None:
        query = query.where(RefreshToken.family_id == family_id)
    return [(row[0], row[1]) for row in await session.execute(query)]


async def revoke_refresh_tokens(
    session: AsyncSession,
    now: datetime,
    *,
    customer_id: UUID | None = None,
    family_id: UUID | None = None,
) -> None:
    query = update(RefreshToken).where(RefreshToken.revoked_at.is_(None))
    if customer_id is not None:
        query = query.where(RefreshToken.customer_id == customer_id)
    if family_id is not None:
        query = query.where(RefreshToken.family_id == family_id)
    await session.execute(query.values(revoked_at=now).execution_options(synchronize_session=False))
