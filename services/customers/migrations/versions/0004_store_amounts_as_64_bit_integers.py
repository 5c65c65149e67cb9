"""Store amounts as 64-bit integers

Catalog accepts prices up to 10**12 minor units; customers kept an order's amount and a
customer's lifetime spend in 32-bit INTEGER columns, so one large order could not be
counted. Both are widened; no value changes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 11:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: (table, column) of every amount in minor units.
AMOUNTS = (
    ("counted_order", "amount"),
    ("customer", "lifetime_spend"),
)


def _alter(to: type[sa.types.TypeEngine[int]], from_: type[sa.types.TypeEngine[int]]) -> None:
    for table, column in AMOUNTS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, type_=to(), existing_type=from_())


def upgrade() -> None:
    _alter(sa.BigInteger, sa.Integer)


def downgrade() -> None:
    _alter(sa.Integer, sa.BigInteger)
