"""The catalog service's tables (its own metadata; the kit's outbox and inbox sit beside it).

The full-text index on products (PostgreSQL GIN over ``search_vector``'s expression) is
created by the migration only: SQLite has no such index and searches with ``LIKE``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from emporium.kit import inbox, outbox  # noqa: F401  (their tables join KitBase.metadata)
from emporium.kit.db import Base as KitBase
from emporium.kit.db import make_metadata
from emporium.kit.ids import uuid7
from emporium.kit.outbox import UTCDateTime, utcnow

__all__ = [
    "ALL_METADATA",
    "DEFAULT_TAX_CLASS",
    "Base",
    "Category",
    "OrderReservation",
    "Product",
    "ProductImage",
    "ReservationLine",
    "Stock",
]


#: The tax class of a product that names none (the class every shop's rates cover).
DEFAULT_TAX_CLASS = "standard"


class Base(DeclarativeBase):
    metadata = make_metadata()


class Category(Base):
    """A node of the category tree (``parent_id`` None for a root)."""

    __tablename__ = "category"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[UUID | None] = mapped_column(
        Uuid, ForeignKey("category.id", ondelete="RESTRICT"), index=True, default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


_LIVE = text("deleted_at IS NULL")


class Product(Base):
    """A product; ``deleted_at`` set means soft-deleted (gone from listings and lookups)."""

    __tablename__ = "product"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    price_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    category_id: Mapped[UUID | None] = mapped_column(
        Uuid, ForeignKey("category.id", ondelete="RESTRICT"), default=None
    )
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: What checkout pricing needs besides the price (orders keeps them from the events):
    #: the shipping weight, and the tax class whose rates apply (``standard`` unless set).
    weight_grams: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tax_class: Mapped[str] = mapped_column(
        String(32), default=DEFAULT_TAX_CLASS, server_default=DEFAULT_TAX_CLASS
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: 1 at creation, one more in the transaction of every change (the row is locked): the
    #: ``product_version`` its events carry, by which consumers order them (not by clocks).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __table_args__ = (
        # A deleted product frees its SKU; live ones are unique.
        Index("uq_product_sku_live", "sku", unique=True,
              postgresql_where=_LIVE, sqlite_where=_LIVE),
        # One index per listing order (keyset pagination reads them in order, LIMIT n).
        Index("ix_product_name_id", "name", "id", postgresql_where=_LIVE, sqlite_where=_LIVE),
        Index("ix_product_price_id", "price_amount", "id",
              postgresql_where=_LIVE, sqlite_where=_LIVE),
        Index("ix_product_category_name", "category_id", "name", "id",
              postgresql_where=_LIVE, sqlite_where=_LIVE),
        CheckConstraint("price_amount >= 0", name="price_not_negative"),
        CheckConstraint("weight_grams >= 0", name="weight_not_negative"),
    )  # fmt: skip


class Stock(Base):
    """Inventory of one product: ``available`` is ``on_hand - reserved``."""

    __tablename__ = "stock"

    product_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("product.id", ondelete="CASCADE"), primary_key=True
    )
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
    )

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class OrderReservation(Base):
    """What the catalog decided for one order: ``reserved``, ``rejected``, ``released``,
    ``committed`` (shipped) or ``cancelled`` (cancelled before any reservation).

    One row per order makes every order handler idempotent even across distinct events.
    """

    __tablename__ = "order_reservation"

    order_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReservationLine(Base):
    """Units of one product held for one order (released or committed as a whole)."""

    __tablename__ = "reservation_line"

    order_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("order_reservation.order_id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)


class ProductImage(Base):
    """An image of a product; its files live in object storage under ``content_key``."""

    __tablename__ = "product_image"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    product_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("product.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    content_key: Mapped[str] = mapped_column(String(200), index=True)
    original_format: Mapped[str] = mapped_column(String(8))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


#: What Alembic compares against: the service's tables and the kit's outbox/inbox.
ALL_METADATA: list[MetaData] = [KitBase.metadata, Base.metadata]
