"""The customers service's settings: every field is read from ``CUSTOMERS_<FIELD>``."""

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
    model_config = SettingsConfigDict(env_prefix="CUSTOMERS_", extra="ignore")

    service_name: str = "customers"
    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///./var/dev/customers.db"
