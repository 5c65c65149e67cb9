"""Tables of the shop's pricing rules (they join ``emporium.orders.models.Base``).

- ``shipping_zone`` / ``shipping_rate``: countries that share shipping rates, and the rates;
- ``tax_rate``: a rate in basis points per country (or one of its regions) and tax class;
- ``promotion``: a percentage or fixed discount, automatic or by code, with its limits;
- ``promotion_redemption``: one order's use of a limited code (reserved, redeemed, released);
- ``pricing_rules_version``: one row, one more in the transaction of every admin change to
  the rules, so each process can keep the rules in memory and know when they changed.

Ids are UUIDv7, so ordering by id is ordering by creation.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from emporium.kit.ids import uuid7
from emporium.kit.outbox import UTCDateTime
from emporium.orders.models import Base

__all__ = [
    "Promotion",
    "PromotionRedemption",
    "RulesVersion",
    "ShippingRate",
    "ShippingZone",
    "TaxRate",
]


class ShippingZone(Base):
    """Countries (ISO 3166-1 alpha-2, upper case) that share a set of shipping rates."""

    __tablename__ = "shipping_zone"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(String(100))
    #: A JSON list of codes: zones are few, so a cart's zones are picked in Python.
    countries: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    rates: Mapped[list[ShippingRate]] = relationship(
        lazy="raise",
        order_by="ShippingRate.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class ShippingRate(Base):
    """A price for shipping to a zone; rates of one zone sharing ``name`` are one method."""

    __tablename__ = "shipping_rate"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    zone_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("shipping_zone.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    min_subtotal: Mapped[int | None] = mapped_column(BigInteger, default=None)
    max_weight_grams: Mapped[int | None] = mapped_column(BigInteger, default=None)
    estimated_days: Mapped[int | None] = mapped_column(Integer, default=None)


class TaxRate(Base):
    """A tax rate in basis points (1900 = 19 %); ``region`` None: the whole country."""

    __tablename__ = "tax_rate"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    country: Mapped[str] = mapped_column(String(2), index=True)
    region: Mapped[str | None] = mapped_column(String(64), default=None)
    tax_class: Mapped[str] = mapped_column(String(32), default="standard")
    rate_bp: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    # A plain unique constraint lets any number of country-wide (NULL region) rows with the
    # same key in, on both databases: the key treats "no region" as the empty region instead.
    __table_args__ = (
        Index(
            "uq_tax_rate_key",
            "country",
            func.coalesce(region, ""),
            "tax_class",
            "name",
            unique=True,
        ),
    )


class Promotion(Base):
    """A discount: ``kind`` ``percentage`` (``value`` whole percent) or ``fixed`` (``value``
    in minor units of ``currency``); ``code`` None: automatic.

    A deleted promotion keeps its row (``deleted_at``) so redemptions and their counts stay
    whole; deleting frees its code for a new promotion.
    """

    __tablename__ = "promotion"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    #: Upper case; codes are matched case-insensitively.
    code: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    #: JSON lists of UUID strings; both empty: every line of the cart.
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    products: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    usage_limit: Mapped[int | None] = mapped_column(Integer, default=None)
    per_customer_limit: Mapped[int | None] = mapped_column(Integer, default=None)
    min_subtotal: Mapped[int | None] = mapped_column(BigInteger, default=None)
    #: Orders holding the code (reserved or redeemed): moved only by ``rules.redemptions``.
    used_count: Mapped[int] = mapped_column(Integer, default=0)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def applies_to(self) -> dict[str, list[str]]:
        """The lines it discounts, as the API shows them (both empty: every line)."""
        return {"categories": list(self.categories), "products": list(self.products)}


class PromotionRedemption(Base):
    """One order's hold on a limited code: ``reserved`` when the order is placed,
    ``redeemed`` once it is confirmed, ``released`` (the count given back) if it is rejected
    or cancelled.

    ``order_id`` has no foreign key: the code is reserved in the placing transaction, which
    may insert the order row after it.
    """

    __tablename__ = "promotion_redemption"

    order_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    promotion_id: Mapped[UUID] = mapped_column(Uuid, ForeignKey("promotion.id"))
    customer_id: Mapped[UUID] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_promotion_redemption_customer", "promotion_id", "customer_id", "status"),
    )


class RulesVersion(Base):
    """How many times the admin changed the pricing rules (one row, ``id`` 1)."""

    __tablename__ = "pricing_rules_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
