"""The customers service's tables (its own metadata; the kit's outbox and inbox sit beside it)."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from emporium.kit import inbox, outbox  # noqa: F401  (their tables join KitBase.metadata)
from emporium.kit.db import Base as KitBase
from emporium.kit.db import make_metadata

__all__ = ["ALL_METADATA", "Base"]


class Base(DeclarativeBase):
    metadata = make_metadata()


#: What Alembic compares against: the service's tables and the kit's outbox/inbox.
ALL_METADATA: list[MetaData] = [KitBase.metadata, Base.metadata]
