"""Variants and prices per currency: the variants' read model, the cart's currency, variant lines

Every product copy becomes its one variant (the product's id, its SKU and weight, no
options) with its price in its currency, as catalog's own migration made every product one
default variant of the product's id. Order lines from before name that variant
(``variant_id`` = ``product_id``, no options). A cart's currency stays unset: the next item
put in fixes it (the lines it holds keep being priced in their products' currency).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 14:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "variant_copy",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("weight_grams", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_variant_copy")),
    )
    op.create_index(op.f("ix_variant_copy_product_id"), "variant_copy", ["product_id"])
    op.create_table(
        "variant_price_copy",
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["variant_copy.id"],
            name=op.f("fk_variant_price_copy_variant_id_variant_copy"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("variant_id", "currency", name=op.f("pk_variant_price_copy")),
    )
    op.execute(
        "INSERT INTO variant_copy (id, product_id, sku, options, weight_grams, deleted, version)"
        " SELECT id, id, sku, '{}', weight_grams, deleted, version FROM product_copy"
    )
    op.execute(
        "INSERT INTO variant_price_copy (variant_id, currency, amount)"
        " SELECT id, currency, price_amount FROM product_copy"
    )
    with op.batch_alter_table("cart", schema=None) as batch_op:
        batch_op.add_column(sa.Column("currency", sa.String(3), nullable=True))
    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("options", sa.JSON(), nullable=True))
    op.execute("UPDATE order_line SET variant_id = product_id")
    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.alter_column("variant_id", existing_type=sa.Uuid(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.drop_column("options")
        batch_op.drop_column("variant_id")
    with op.batch_alter_table("cart", schema=None) as batch_op:
        batch_op.drop_column("currency")
    op.drop_table("variant_price_copy")
    op.drop_index(op.f("ix_variant_copy_product_id"), table_name="variant_copy")
    op.drop_table("variant_copy")
