"""The gateway's settings: every field is read from ``GATEWAY_<FIELD>``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from emporium.kit.settings import AuthSettings, RedisSettings, ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings, RedisSettings, AuthSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    port: int = 8000
    catalog_url: str = "http://127.0.0.1:8001"
    customers_url: str = "http://127.0.0.1:8002"
    orders_url: str = "http://127.0.0.1:8003"
    upstream_timeout_seconds: float = Field(default=5.0, gt=0)

    def upstreams(self) -> dict[str, str]:
        """Each service the gateway fronts, by name, with its base URL."""
        return {
            "catalog": self.catalog_url,
            "customers": self.customers_url,
            "orders": self.orders_url,
        }
