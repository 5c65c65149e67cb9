"""The contract step of issue 14: drop ``stock`` and ``reservation_line``

Migration 0006 copied them into ``stock_level`` (at ``default``) and
``reservation_allocation``; since then nothing reads or writes them (reservation, release,
shipment, the admin's stock, the seed, the chaos rig and the e2e tests all use the new
tables), so they only hold the state of 0006's time.

The downgrade recreates them as 0002 made them and fills them with what they can say of
today's state: each product's first variant (the product's id) at ``default``, and the
allocations there. Stock at other locations and of the other variants has no place in them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 17:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_COPY_BACK = (
    "INSERT INTO stock (product_id, on_hand, reserved, updated_at)"
    " SELECT sl.variant_id, sl.on_hand, sl.reserved, sl.updated_at FROM stock_level sl"
    " JOIN product p ON p.id = sl.variant_id WHERE sl.location_code = 'default'",
    "INSERT INTO reservation_line (order_id, product_id, quantity)"
    " SELECT ra.order_id, ra.variant_id, ra.quantity FROM reservation_allocation ra"
    " JOIN product p ON p.id = ra.variant_id WHERE ra.location_code = 'default'",
)


def upgrade() -> None:
    op.drop_table("reservation_line")
    op.drop_table("stock")


def downgrade() -> None:
    op.create_table(
        "reservation_line",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["order_reservation.order_id"],
            name=op.f("fk_reservation_line_order_id_order_reservation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", "product_id", name=op.f("pk_reservation_line")),
    )
    op.create_table(
        "stock",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("reserved <= on_hand", name=op.f("ck_stock_reserved_within_on_hand")),
        sa.CheckConstraint("reserved >= 0", name=op.f("ck_stock_reserved_not_negative")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_stock_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_stock")),
    )
    for statement in _COPY_BACK:
        op.execute(sa.text(statement))
