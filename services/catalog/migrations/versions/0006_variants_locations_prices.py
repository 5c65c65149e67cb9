"""Variants, stock locations and prices per currency; every product becomes one variant

New tables: ``stock_location`` (with the ``default`` location), ``product_option``,
``variant``, ``variant_option``, ``variant_price``, ``product_price``, ``stock_level``
(stock per variant and location) and ``reservation_allocation`` (what each order holds
where).

Data, in the same transaction, with plain ``INSERT ... SELECT`` (the models move on, this
must not): every product, soft-deleted ones included (their open reservations must still
release), becomes one variant with the product's id, SKU and weight, without options; its
price becomes the variant's and the product's price in its currency; its ``stock`` row
becomes its ``stock_level`` at ``default``; every ``reservation_line`` (open, released or
committed: history costs nothing) becomes an allocation at ``default``. Because the
variant's id is the product's, the ids in carts, old events and reservations need no
rewrite.

``stock`` and ``reservation_line`` stay as they were (read by nothing after this release)
until a later contract step drops them; the downgrade drops the new tables only, so
stock set and reservations made since the upgrade are lost by it (the old tables hold the
state of the upgrade's time; this release writes only the new ones).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 14:10:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_LIVE = sa.text("deleted_at IS NULL")


def _create_tables() -> None:
    op.create_table(
        "stock_location",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_stock_location")),
    )
    op.create_table(
        "reservation_allocation",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("location_code", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["order_reservation.order_id"],
            name=op.f("fk_reservation_allocation_order_id_order_reservation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "order_id", "variant_id", "location_code", name=op.f("pk_reservation_allocation")
        ),
    )
    op.create_table(
        "stock_level",
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("location_code", sa.String(length=32), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reserved <= on_hand", name=op.f("ck_stock_level_reserved_within_on_hand")
        ),
        sa.CheckConstraint("reserved >= 0", name=op.f("ck_stock_level_reserved_not_negative")),
        sa.ForeignKeyConstraint(
            ["location_code"],
            ["stock_location.code"],
            name=op.f("fk_stock_level_location_code_stock_location"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("variant_id", "location_code", name=op.f("pk_stock_level")),
    )
    op.create_table(
        "product_option",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_product_option_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", "position", name=op.f("pk_product_option")),
        sa.UniqueConstraint("product_id", "name_key", name="uq_product_option_name_key"),
    )
    op.create_table(
        "product_price",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_product_price_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_product_price_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", "currency", name=op.f("pk_product_price")),
    )
    op.create_index(
        "ix_product_price_currency_amount",
        "product_price",
        ["currency", "amount", "product_id"],
        unique=False,
    )
    op.create_table(
        "variant",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("weight_grams", sa.Integer(), server_default="0", nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("combination_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("weight_grams >= 0", name=op.f("ck_variant_weight_not_negative")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_variant_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_variant")),
    )
    live = {"postgresql_where": _LIVE, "sqlite_where": _LIVE}
    op.create_index("ix_variant_product_live", "variant", ["product_id"], **live)
    op.create_index(
        "uq_variant_combination_live",
        "variant",
        ["product_id", "combination_key"],
        unique=True,
        **live,
    )
    op.create_index("uq_variant_sku_live", "variant", ["sku"], unique=True, **live)
    op.create_table(
        "variant_option",
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("value_key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variant.id"],
            name=op.f("fk_variant_option_variant_id_variant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("variant_id", "name_key", name=op.f("pk_variant_option")),
    )
    op.create_index(
        "ix_variant_option_product", "variant_option", ["product_id", "name_key", "value_key"]
    )
    op.create_index(
        "ix_variant_option_term", "variant_option", ["name_key", "value_key", "product_id"]
    )
    op.create_table(
        "variant_price",
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_variant_price_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variant.id"],
            name=op.f("fk_variant_price_variant_id_variant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("variant_id", "currency", name=op.f("pk_variant_price")),
    )


#: Every product as its one default variant, with its price, stock and reservations.
_COPY = (
    "INSERT INTO variant (id, product_id, sku, weight_grams, position, combination_key,"
    " created_at, updated_at, deleted_at)"
    " SELECT id, id, sku, weight_grams, 0, '[]', created_at, updated_at, deleted_at"
    " FROM product",
    "INSERT INTO variant_price (variant_id, currency, amount)"
    " SELECT id, currency, price_amount FROM product",
    "INSERT INTO product_price (product_id, currency, amount)"
    " SELECT id, currency, price_amount FROM product",
    "INSERT INTO stock_level (variant_id, location_code, on_hand, reserved, updated_at)"
    " SELECT product_id, 'default', on_hand, reserved, updated_at FROM stock",
    "INSERT INTO reservation_allocation (order_id, variant_id, location_code, quantity)"
    " SELECT order_id, product_id, 'default', quantity FROM reservation_line",
)


def upgrade() -> None:
    _create_tables()
    location = sa.table(
        "stock_location",
        sa.column("code", sa.String()),
        sa.column("name", sa.String()),
        sa.column("priority", sa.Integer()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(
        location,
        [{"code": "default", "name": "Default", "priority": 0, "created_at": datetime.now(UTC)}],
    )
    for statement in _COPY:
        op.execute(sa.text(statement))


def downgrade() -> None:
    op.drop_table("variant_price")
    op.drop_index("ix_variant_option_term", table_name="variant_option")
    op.drop_index("ix_variant_option_product", table_name="variant_option")
    op.drop_table("variant_option")
    op.drop_index("uq_variant_sku_live", table_name="variant")
    op.drop_index("uq_variant_combination_live", table_name="variant")
    op.drop_index("ix_variant_product_live", table_name="variant")
    op.drop_table("variant")
    op.drop_index("ix_product_price_currency_amount", table_name="product_price")
    op.drop_table("product_price")
    op.drop_table("product_option")
    op.drop_table("stock_level")
    op.drop_table("reservation_allocation")
    op.drop_table("stock_location")
