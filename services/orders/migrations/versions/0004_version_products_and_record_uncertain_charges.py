"""Version the product copy, record uncertain charges and the OrderPlaced event id

- ``product_copy.version``: catalog's ``product_version`` of the newest versioned event
  applied (staleness by the product's own counter, not by clocks);
- ``payment.maybe_charged``: some charge attempt's outcome is unknown, so giving up refunds;
- ``customer_order.placed_event_id``: the ``OrderPlaced`` outbox row, whose ``sent_at``
  starts the reservation deadline.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 07:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("product_copy", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=True))
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("maybe_charged", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("customer_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("placed_event_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer_order", schema=None) as batch_op:
        batch_op.drop_column("placed_event_id")
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_column("maybe_charged")
    with op.batch_alter_table("product_copy", schema=None) as batch_op:
        batch_op.drop_column("version")
