"""Price carts and orders: address, shipping method and code on the cart; the breakdown on the order

Orders placed before this have no breakdown: their subtotal is their total (no shipping, no
tax, no discount was ever charged), which is what the backfill writes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 13:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: The order's breakdown figures (minor units), 0 for orders placed before.
ORDER_AMOUNTS = ("subtotal_amount", "discount_amount", "shipping_amount", "tax_amount")
LINE_AMOUNTS = ("discount_amount", "tax_amount")


def _amount(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")


def upgrade() -> None:
    with op.batch_alter_table("cart", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shipping_address", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("shipping_rate_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("promotion_code", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("notices", sa.JSON(), nullable=True))
    with op.batch_alter_table("customer_order", schema=None) as batch_op:
        for name in ORDER_AMOUNTS:
            batch_op.add_column(_amount(name))
        batch_op.add_column(sa.Column("breakdown", sa.JSON(), nullable=True))
    with op.batch_alter_table("order_line", schema=None) as batch_op:
        for name in LINE_AMOUNTS:
            batch_op.add_column(_amount(name))
    op.execute("UPDATE customer_order SET subtotal_amount = total_amount")


def downgrade() -> None:
    with op.batch_alter_table("order_line", schema=None) as batch_op:
        for name in reversed(LINE_AMOUNTS):
            batch_op.drop_column(name)
    with op.batch_alter_table("customer_order", schema=None) as batch_op:
        batch_op.drop_column("breakdown")
        for name in reversed(ORDER_AMOUNTS):
            batch_op.drop_column(name)
    with op.batch_alter_table("cart", schema=None) as batch_op:
        for name in ("notices", "promotion_code", "shipping_rate_id", "shipping_address"):
            batch_op.drop_column(name)
