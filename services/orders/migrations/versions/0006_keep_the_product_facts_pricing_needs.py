"""Keep the product facts checkout pricing needs: category, weight, tax class

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 13:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("product_copy", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("weight_grams", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("tax_class", sa.String(32), nullable=False, server_default="standard")
        )


def downgrade() -> None:
    with op.batch_alter_table("product_copy", schema=None) as batch_op:
        batch_op.drop_column("tax_class")
        batch_op.drop_column("weight_grams")
        batch_op.drop_column("category_id")
