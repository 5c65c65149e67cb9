"""Each live product's option values once: ``product_option_value``, for the facets

New table ``product_option_value`` (product, name key, value key, and the smallest spelling
of each among the product's live variants), the primary key and a ``(name_key,
value_key, product_id)`` index both covering the spellings (PostgreSQL ``INCLUDE``), so
the listing's facets count products with an index-only ``count(*)`` per value instead of
``count(DISTINCT)`` over every variant's ``variant_option`` rows.

Data, in the same transaction, with a plain ``INSERT ... SELECT`` (the models move on, this
must not): the rows of every live variant of every live product, grouped per product and
value. The downgrade drops the table (``variant_option`` is the source; nothing is lost).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BACKFILL = (
    "INSERT INTO product_option_value (product_id, name_key, value_key, name, value)"
    " SELECT vo.product_id, vo.name_key, vo.value_key, min(vo.name{c}), min(vo.value{c})"
    " FROM variant_option vo"
    " JOIN variant v ON v.id = vo.variant_id"
    " JOIN product p ON p.id = vo.product_id"
    " WHERE v.deleted_at IS NULL AND p.deleted_at IS NULL"
    " GROUP BY vo.product_id, vo.name_key, vo.value_key"
)


def upgrade() -> None:
    op.create_table(
        "product_option_value",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("value_key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_product_option_value_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "product_id",
            "name_key",
            "value_key",
            name=op.f("pk_product_option_value"),
            postgresql_include=["name", "value"],
        ),
    )
    op.create_index(
        "ix_product_option_value_term",
        "product_option_value",
        ["name_key", "value_key", "product_id"],
        postgresql_include=["name", "value"],
    )
    # The smallest spelling by code point: PostgreSQL's "C" collation (SQLite compares bytes).
    collate = ' COLLATE "C"' if op.get_bind().dialect.name == "postgresql" else ""
    op.execute(sa.text(_BACKFILL.format(c=collate)))


def downgrade() -> None:
    op.drop_index("ix_product_option_value_term", table_name="product_option_value")
    op.drop_table("product_option_value")
