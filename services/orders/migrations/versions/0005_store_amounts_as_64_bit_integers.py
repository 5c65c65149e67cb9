"""Store amounts as 64-bit integers

Catalog accepts prices up to 10**12 minor units (a BIGINT there); orders kept them in
32-bit INTEGER columns, so a product priced over 21,474,836.47 could not enter the product
read model (its event was dead-lettered) and could never be bought. Every amount column is
widened; no value changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 11:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: (table, column) of every amount in minor units.
AMOUNTS = (
    ("product_copy", "price_amount"),
    ("cart_item", "seen_unit_amount"),
    ("customer_order", "total_amount"),
    ("order_line", "unit_amount"),
    ("payment", "amount"),
    ("simulated_charge", "amount"),
    ("simulated_charge", "refunded_amount"),
    ("simulated_refund", "amount"),
)


def _alter(to: type[sa.types.TypeEngine[int]], from_: type[sa.types.TypeEngine[int]]) -> None:
    for table, column in AMOUNTS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, type_=to(), existing_type=from_())


def upgrade() -> None:
    _alter(sa.BigInteger, sa.Integer)


def downgrade() -> None:
    _alter(sa.Integer, sa.BigInteger)
