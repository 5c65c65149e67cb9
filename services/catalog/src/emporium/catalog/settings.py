"""The catalog service's settings: every field is read from ``CATALOG_<FIELD>``."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from emporium.kit.settings import (
    AuthSettings,
    BusSettings,
    DatabaseSettings,
    RedisSettings,
    ServiceSettings,
    StorageSettings,
)

__all__ = ["Settings"]


class Settings(
    ServiceSettings, DatabaseSettings, BusSettings, RedisSettings, StorageSettings, AuthSettings
):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore")

    service_name: str = "catalog"
    port: int = 8001
    database_url: str = "sqlite+aiosqlite:///./var/dev/catalog.db"
