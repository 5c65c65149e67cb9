"""Count the pricing rules' changes: ``pricing_rules_version``, one row

Every admin change to zones, rates, tax rates or promotions adds one to it in its own
transaction, so a process that keeps the rules in memory (``rules.cache``) reads one number
per quote instead of the rules, and reloads them when it moved.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 00:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "pricing_rules_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pricing_rules_version")),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("pricing_rules_version")
