"""Create the pricing rules tables: shipping zones and rates, tax rates, promotions, redemptions

Amounts are 64-bit (as since 0005). A tax rate's key counts "no region" as the empty
region (an expression index), so two country-wide rates with the same key cannot both exist.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 13:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shipping_zone",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipping_zone")),
    )
    op.create_table(
        "shipping_rate",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("zone_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("min_subtotal", sa.BigInteger(), nullable=True),
        sa.Column("max_weight_grams", sa.BigInteger(), nullable=True),
        sa.Column("estimated_days", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["zone_id"],
            ["shipping_zone.id"],
            name=op.f("fk_shipping_rate_zone_id_shipping_zone"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipping_rate")),
    )
    op.create_index(op.f("ix_shipping_rate_zone_id"), "shipping_rate", ["zone_id"])

    op.create_table(
        "tax_rate",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("tax_class", sa.String(length=32), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_rate")),
    )
    op.create_index(op.f("ix_tax_rate_country"), "tax_rate", ["country"])
    op.create_index(
        "uq_tax_rate_key",
        "tax_rate",
        ["country", sa.text("coalesce(region, '')"), "tax_class", "name"],
        unique=True,
    )

    op.create_table(
        "promotion",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("products", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("usage_limit", sa.Integer(), nullable=True),
        sa.Column("per_customer_limit", sa.Integer(), nullable=True),
        sa.Column("min_subtotal", sa.BigInteger(), nullable=True),
        sa.Column("used_count", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion")),
        sa.UniqueConstraint("code", name=op.f("uq_promotion_code")),
    )
    op.create_table(
        "promotion_redemption",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("promotion_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotion.id"],
            name=op.f("fk_promotion_redemption_promotion_id_promotion"),
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_promotion_redemption")),
    )
    op.create_index(
        "ix_promotion_redemption_customer",
        "promotion_redemption",
        ["promotion_id", "customer_id", "status"],
    )


def downgrade() -> None:
    op.drop_index("ix_promotion_redemption_customer", table_name="promotion_redemption")
    op.drop_table("promotion_redemption")
    op.drop_table("promotion")
    op.drop_index("uq_tax_rate_key", table_name="tax_rate")
    op.drop_index(op.f("ix_tax_rate_country"), table_name="tax_rate")
    op.drop_table("tax_rate")
    op.drop_index(op.f("ix_shipping_rate_zone_id"), table_name="shipping_rate")
    op.drop_table("shipping_rate")
    op.drop_table("shipping_zone")
