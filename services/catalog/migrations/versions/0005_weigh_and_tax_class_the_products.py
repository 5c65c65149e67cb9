"""Weigh and tax-class the products: ``product.weight_grams`` and ``product.tax_class``

What checkout pricing needs besides the price, carried by the product events to orders:
the shipping weight in grams (never negative) and the tax class whose rates apply. Every
existing product weighs 0 g and is of the ``standard`` class until an admin says otherwise.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("weight_grams", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("tax_class", sa.String(32), nullable=False, server_default="standard")
        )
        batch_op.create_check_constraint(
            op.f("ck_product_weight_not_negative"), sa.text("weight_grams >= 0")
        )


def downgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_product_weight_not_negative"), type_="check")
        batch_op.drop_column("tax_class")
        batch_op.drop_column("weight_grams")
