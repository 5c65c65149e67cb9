"""The customers service's tables (its own metadata; the kit's outbox and inbox sit beside it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from emporium.kit import inbox, outbox  # noqa: F401  (their tables join KitBase.metadata)
from emporium.kit.db import Base as KitBase
from emporium.kit.db import make_metadata
from emporium.kit.ids import uuid7
from emporium.kit.outbox import UTCDateTime, utcnow

__all__ = [
    "ALL_METADATA",
    "Address",
    "AuditEntry",
    "Base",
    "CountedOrder",
    "Customer",
    "RefreshToken",
    "SigningKey",
]


class Base(DeclarativeBase):
    metadata = make_metadata()


class Customer(Base):
    """An account. A deleted one keeps its row (id, role, statistics) with no personal data."""

    __tablename__ = "customer"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    # Lower-cased, so uniqueness is case-insensitive; NULL once the account is erased.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="customer")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    order_count: Mapped[int] = mapped_column(Integer, default=0)
    lifetime_spend: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


class Address(Base):
    """One of a customer's postal addresses."""

    __tablename__ = "address"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    customer_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RefreshToken(Base):
    """One refresh token (only its SHA-256 is stored) and the access token issued with it.

    Tokens of one sign-in form a family: each refresh uses one up and issues the next.
    Presenting a used one again means it leaked: the whole family is revoked.
    """

    __tablename__ = "refresh_token"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    family_id: Mapped[UUID] = mapped_column(Uuid, index=True)
    customer_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("customer.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The access token issued alongside: revoking the customer denylists it until it expires.
    access_token_id: Mapped[str] = mapped_column(String(64))
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class SigningKey(Base):
    """An Ed25519 key pair; the private half encrypted with a key derived from secret_key.

    The newest key whose ``active_from`` has come signs; a key keeps being published (and
    accepted) until ``retired_at`` plus the access-token lifetime, so nobody is signed out.
    """

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16), default="EdDSA")
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    active_from: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class AuditEntry(Base):
    """Who did what to which customer record, and when."""

    __tablename__ = "audit_entry"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    actor_id: Mapped[UUID | None] = mapped_column(Uuid)
    customer_id: Mapped[UUID] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(50))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_audit_entry_customer_id_at", "customer_id", "at"),)


class CountedOrder(Base):
    """An order counted in its customer's statistics, so a cancellation subtracts exactly it."""

    __tablename__ = "counted_order"

    order_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[UUID] = mapped_column(Uuid)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    counted: Mapped[bool] = mapped_column(Boolean, default=True)


#: What Alembic compares against: the service's tables and the kit's outbox/inbox.
ALL_METADATA: list[MetaData] = [KitBase.metadata, Base.metadata]
