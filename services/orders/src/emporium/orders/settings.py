"""The orders service's settings: every field is read from ``ORDERS_<FIELD>``."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from emporium.kit.settings import (
    AuthSettings,
    BusSettings,
    DatabaseSettings,
    RedisSettings,
    ServiceSettings,
)

__all__ = ["Settings"]


class Settings(ServiceSettings, DatabaseSettings, BusSettings, RedisSettings, AuthSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore")

    service_name: str = "orders"
    port: int = 8003
    database_url: str = "sqlite+aiosqlite:///./var/dev/orders.db"
