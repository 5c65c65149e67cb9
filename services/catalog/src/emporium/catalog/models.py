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
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
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
    "DEFAULT_LOCATION",
    "DEFAULT_TAX_CLASS",
    "Base",
    "Category",
    "OrderReservation",
    "Product",
    "ProductImage",
    "ProductOption",
    "ProductOptionValue",
    "ProductPrice",
    "ReservationAllocation",
    "StockLevel",
    "StockLocation",
    "Variant",
    "VariantOption",
    "VariantPrice",
]


#: The stock location every shop has from the start (migration 0006 creates it).
DEFAULT_LOCATION = "default"

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


class StockLocation(Base):
    """A place stock is kept (a warehouse); orders take units from the lowest ``priority``
    first, ties by ``code`` (lower case, digits and ``-``: the same order in SQL's
    ``COLLATE "C"`` and in Python, which the lock order relies on)."""

    __tablename__ = "stock_location"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProductOption(Base):
    """One option of a product (``size``: S, M, L) at ``position`` among its options;
    ``name_key`` is ``variants.options.key(name)``, what names compare by."""

    __tablename__ = "product_option"

    product_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("product.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    name_key: Mapped[str] = mapped_column(String(200))
    values: Mapped[list[str]] = mapped_column(JSON, default=list)

    __table_args__ = (
        UniqueConstraint("product_id", "name_key", name="uq_product_option_name_key"),
    )


class Variant(Base):
    """One sellable thing of a product (a SKU); a product's first variant has the product's
    id. ``combination_key`` is the JSON list of its option value keys in the product's
    option order (``[]`` for a product without options); ``deleted_at`` set: soft-deleted."""

    __tablename__ = "variant"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    product_id: Mapped[UUID] = mapped_column(Uuid, ForeignKey("product.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(64))
    weight_grams: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    position: Mapped[int] = mapped_column(Integer, default=0)
    combination_key: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    __table_args__ = (
        Index("uq_variant_sku_live", "sku", unique=True,
              postgresql_where=_LIVE, sqlite_where=_LIVE),
        Index("uq_variant_combination_live", "product_id", "combination_key", unique=True,
              postgresql_where=_LIVE, sqlite_where=_LIVE),
        Index("ix_variant_product_live", "product_id",
              postgresql_where=_LIVE, sqlite_where=_LIVE),
        CheckConstraint("weight_grams >= 0", name="weight_not_negative"),
    )  # fmt: skip


class VariantOption(Base):
    """A live variant's value of one option, by key (what filters and facets read) and as
    typed (what they show); ``product_id`` is copied so both indexes cover the listing."""

    __tablename__ = "variant_option"

    variant_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("variant.id", ondelete="CASCADE"), primary_key=True
    )
    name_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    product_id: Mapped[UUID] = mapped_column(Uuid)
    value_key: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(50))
    value: Mapped[str] = mapped_column(String(50))

    __table_args__ = (
        Index("ix_variant_option_term", "name_key", "value_key", "product_id"),
        Index("ix_variant_option_product", "product_id", "name_key", "value_key"),
    )


class ProductOptionValue(Base):
    """An option value some live variant of a live product has, once per product (by key,
    in its smallest spelling among those variants): what the listing's facets count with a
    ``count(*)`` and a one-name option filter probes, kept from ``variant_option`` in the
    transaction of every write of it (``product.option_values.refresh``)."""

    __tablename__ = "product_option_value"

    product_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("product.id", ondelete="CASCADE"), primary_key=True
    )
    name_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    value: Mapped[str] = mapped_column(String(50))

    __table_args__ = (
        # Both cover the labels, so facet counts are index-only scans: per filtered product
        # (the primary key), or per value over the whole catalogue or a one-name filter.
        PrimaryKeyConstraint("product_id", "name_key", "value_key",
                             postgresql_include=["name", "value"]),
        Index("ix_product_option_value_term", "name_key", "value_key", "product_id",
              postgresql_include=["name", "value"]),
    )  # fmt: skip


class VariantPrice(Base):
    """A variant's price in one currency (minor units); none in a currency: not sold in it."""

    __tablename__ = "variant_price"

    variant_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("variant.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"),)


class ProductPrice(Base):
    """The lowest live variant price of a product per currency, kept with the variants:
    what the listing sorts and filters by in a currency other than the base one."""

    __tablename__ = "product_price"

    product_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("product.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_product_price_currency_amount", "currency", "amount", "product_id"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )


class StockLevel(Base):
    """A variant's units at one location: ``available`` is ``on_hand - reserved``.

    ``variant_id`` has no foreign key: a reservation may outlive its variant and must
    still release. Rows are locked in ``(variant_id, location_code)`` order, always."""

    __tablename__ = "stock_level"

    variant_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    location_code: Mapped[str] = mapped_column(
        String(32), ForeignKey("stock_location.code", ondelete="RESTRICT"), primary_key=True
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


class ReservationAllocation(Base):
    """Units of one variant at one location held for one order (released or shipped with
    the order; kept afterwards as its history)."""

    __tablename__ = "reservation_allocation"

    order_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("order_reservation.order_id", ondelete="CASCADE"), primary_key=True
    )
    variant_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    location_code: Mapped[str] = mapped_column(String(32), primary_key=True)
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
