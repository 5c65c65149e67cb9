"""The orders service's tables (its own metadata; the kit's outbox and inbox sit beside it).

- ``product_copy``: the read model of catalog's products (event-carried state transfer);
- ``variant_copy`` / ``variant_price_copy``: their variants and prices per currency (a
  product without options has one variant, whose id is the product's);
- ``cart`` / ``cart_item``: one durable cart per customer, with its shipping address,
  chosen shipping rate and promotion code;
- ``customer_order`` / ``order_line`` / ``order_status_change``: orders with the price
  breakdown stored when placed, their snapshot lines and their status history;
- ``payment``: the saga's payment step per order (what to charge or refund, retries);
- ``simulated_charge`` / ``simulated_refund``: the simulated payment provider's own state.
"""

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
    MetaData,
    String,
    Text,
    Uuid,
)
from sqlalchemy import UniqueConstraint as Unique
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from emporium.kit import inbox, outbox  # noqa: F401  (their tables join KitBase.metadata)
from emporium.kit.db import Base as KitBase
from emporium.kit.db import make_metadata
from emporium.kit.outbox import UTCDateTime

__all__ = [
    "ALL_METADATA",
    "Base",
    "Cart",
    "CartItem",
    "CustomerOrder",
    "OrderLine",
    "OrderStatusChange",
    "Payment",
    "ProductCopy",
    "SimulatedCharge",
    "SimulatedRefund",
    "VariantCopy",
    "VariantPriceCopy",
]


class Base(DeclarativeBase):
    metadata = make_metadata()


class ProductCopy(Base):
    """What orders knows of a catalog product, kept from ``catalog.events``."""

    __tablename__ = "product_copy"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    price_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: What checkout pricing needs of a product: promotions by category, shipping by
    #: weight, tax by class (from the product events; defaults until catalog sends them).
    category_id: Mapped[UUID | None] = mapped_column(Uuid, default=None)
    weight_grams: Mapped[int] = mapped_column(Integer, default=0)
    tax_class: Mapped[str] = mapped_column(String(32), default="standard")
    #: Catalog's ``product_version`` of the newest versioned event applied: an event with a
    #: version at or below it changes nothing. None while only v1 events (no version) came.
    version: Mapped[int | None] = mapped_column(Integer, default=None)
    #: Time of the newest catalog event applied; only v1 events (no version) are judged by it.
    source_time: Mapped[datetime] = mapped_column(UTCDateTime())


class VariantCopy(Base):
    """What orders knows of one variant of a catalog product (from the product events: a
    v1/v2 event is the product's one variant, of the product's id, at the event's price)."""

    __tablename__ = "variant_copy"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    product_id: Mapped[UUID] = mapped_column(Uuid, index=True)
    sku: Mapped[str] = mapped_column(String(64))
    #: Option name: value ({} for a product without options).
    options: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    weight_grams: Mapped[int] = mapped_column(Integer, default=0)
    #: Gone from catalog (deleted, or missing from the product's newest state).
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The ``product_version`` of the event that wrote it (None: a v1 event).
    version: Mapped[int | None] = mapped_column(Integer, default=None)


class VariantPriceCopy(Base):
    """A variant's price in one currency; no row: the variant is not sold in it."""

    __tablename__ = "variant_price_copy"

    variant_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("variant_copy.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)


class Cart(Base):
    """One per customer; its row is the lock that serialises cart changes and checkout."""

    __tablename__ = "cart"

    customer_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Where the cart ships (an ``Address`` as JSON): shipping options and tax follow it.
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    #: The chosen shipping rate; dropped (with a notice) once it is no longer offered.
    shipping_rate_id: Mapped[UUID | None] = mapped_column(Uuid, default=None)
    #: The promotion code applied (upper-case; at most one); dropped once it stops applying.
    promotion_code: Mapped[str | None] = mapped_column(String(64), default=None)
    #: Why a rate or a code was dropped ([{reason, detail}]): shown until the next change.
    notices: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, default=None)
    #: Fixed by the first item put in (its ``currency``, else the variant's base price's);
    #: None while the cart never held anything.
    currency: Mapped[str | None] = mapped_column(String(3), default=None)


class CartItem(Base):
    __tablename__ = "cart_item"

    customer_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("cart.customer_id", ondelete="CASCADE"), primary_key=True
    )
    #: The variant's id (a product without options: its one variant's, the product's id).
    product_id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    #: The unit price the customer saw when they last set the quantity (to flag repricing).
    seen_unit_amount: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CustomerOrder(Base):
    __tablename__ = "customer_order"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    customer_id: Mapped[UUID] = mapped_column(Uuid, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    #: What the shopper pays: ``subtotal - discount + shipping + tax`` (the breakdown's total).
    total_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    #: The breakdown's figures, stored when the order is placed and never recomputed.
    subtotal_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    shipping_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The whole breakdown (``pricing.Breakdown.to_json``); None for orders placed before
    #: checkout pricing (their total is their subtotal).
    breakdown: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    card_token: Mapped[str | None] = mapped_column(String(255), default=None)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    #: A digest of the request body: the same key with another body is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    personal_data_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: The ``OrderPlaced`` envelope id (= its outbox row): the reservation deadline counts
    #: from when that row was published. None for orders placed before it was recorded.
    placed_event_id: Mapped[UUID | None] = mapped_column(Uuid, default=None)

    __table_args__ = (Unique("customer_id", "idempotency_key"),)


class OrderLine(Base):
    """A snapshot of a cart line at checkout: later catalog changes do not touch it."""

    __tablename__ = "order_line"

    order_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("customer_order.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[UUID] = mapped_column(Uuid)
    #: The variant bought (lines from before variants: the product's id, its one variant).
    variant_id: Mapped[UUID] = mapped_column(Uuid)
    #: The variant's option values ({} for a product without options; None before 0009).
    options: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    unit_amount: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)
    #: The line's share of the discounts (entered prices) and its tax, from the breakdown.
    discount_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_amount: Mapped[int] = mapped_column(BigInteger, default=0)


class OrderStatusChange(Base):
    """One entry of an order's status history (the first is ``pending``)."""

    __tablename__ = "order_status_change"

    order_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("customer_order.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Payment(Base):
    """The payment step of one order's saga: what is owed to or by the provider, and retries.

    ``status``: ``charge_due`` (a worker charges it), ``charging`` (committed before each
    provider call: a charge may be under way), ``captured``, ``declined``, ``failed``
    (provider refused every attempt before accepting it: nothing charged), ``refund_due``
    (a worker refunds or voids it), ``refunded``. The rules: ``saga/payment_rules.py``.
    """

    __tablename__ = "payment"

    order_id: Mapped[UUID] = mapped_column(
        Uuid, ForeignKey("customer_order.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    #: Sent to the provider with every attempt of the charge: it charges at most once per key.
    charge_key: Mapped[str] = mapped_column(String(255), unique=True)
    refund_key: Mapped[str] = mapped_column(String(255), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Some attempt's outcome is unknown (a timeout, a lease lost): giving up refunds.
    maybe_charged: Mapped[bool] = mapped_column(Boolean, default=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: A worker owns the step until then; another may take over after (a crashed worker).
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    provider_reference: Mapped[str | None] = mapped_column(String(255), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_payment_due", "status", "next_attempt_at"),)


class SimulatedCharge(Base):
    """The simulated provider's record of a charge, keyed by the caller's idempotency key.

    ``status``: ``approved``, ``declined``, or ``voided`` (refunded before it was charged:
    a charge arriving later under the same key is refused).
    """

    __tablename__ = "simulated_charge"

    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    card_token: Mapped[str] = mapped_column(String(255))
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SimulatedRefund(Base):
    """The simulated provider's record of a refund, keyed by the caller's idempotency key."""

    __tablename__ = "simulated_refund"

    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    charge_key: Mapped[str] = mapped_column(String(255), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


#: What Alembic compares against: the service's tables and the kit's outbox/inbox.
ALL_METADATA: list[MetaData] = [KitBase.metadata, Base.metadata]


# The pricing rules' tables live beside their rules; importing them here puts them in
# ``ALL_METADATA`` (migrations, the embedded default's create_all).
from emporium.orders.rules import models as _rules_models  # noqa: E402, F401
