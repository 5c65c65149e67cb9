"""The orders service's settings: every field is read from ``ORDERS_<FIELD>``."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from emporium.contracts.topics import CATALOG_EVENTS, CUSTOMERS_EVENTS, ORDERS_EVENTS
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
    jwks_url: str | None = "http://127.0.0.1:8002/auth/jwks"

    reservation_timeout_seconds: float = Field(
        default=120.0, gt=0, description="A pending order with no answer from catalog is cancelled."
    )
    sweeper_interval_seconds: float = Field(default=5.0, gt=0)
    payment_max_attempts: int = Field(
        default=4, ge=1, description="Charges tried while the provider is unavailable."
    )
    payment_backoff_seconds: float = Field(default=1.0, ge=0)
    payment_backoff_cap_seconds: float = Field(default=30.0, gt=0)
    payment_poll_seconds: float = Field(default=0.5, gt=0)
    payment_lease_seconds: float = Field(
        default=30.0, gt=0, description="How long a worker owns a payment step it has claimed."
    )
    payment_call_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        description="A provider call not answered by then has an unknown outcome (refunded if "
        "the charge is given up); keep it below payment_lease_seconds.",
    )
    sse_poll_seconds: float = Field(default=0.5, gt=0)
    max_requests_in_flight: int = Field(
        default=0,
        ge=0,
        description="HTTP requests served at once (probes and event streams aside); the next "
        "wait up to request_admission_wait_seconds, then get 503 with Retry-After. 0: no cap.",
    )
    request_admission_wait_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How long a request over max_requests_in_flight waits for a slot; keep "
        "it well below the gateway's upstream timeout.",
    )
    tax_inclusive_currencies: str = Field(
        default="EUR,GBP",
        description="Comma-separated ISO 4217 codes whose prices are entered tax included "
        "(the tax is worked out of them); every other currency is entered without tax.",
    )

    @field_validator("tax_inclusive_currencies")
    @classmethod
    def _currency_codes(cls, value: str) -> str:
        codes = [code.strip().upper() for code in value.split(",") if code.strip()]
        bad = [code for code in codes if len(code) != 3 or not code.isalpha()]
        if bad:
            raise ValueError(f"not ISO 4217 currency codes: {', '.join(bad)}")
        return ",".join(codes)

    @property
    def tax_inclusive(self) -> frozenset[str]:
        """The currencies whose prices include tax."""
        return frozenset(filter(None, self.tax_inclusive_currencies.split(",")))

    # The names on the broker (``topic_prefix`` included), for whoever talks to the bus
    # directly; the service itself names the contract's topics (see emporium.kit.eventing).
    @property
    def catalog_topic(self) -> str:
        return self.topic(CATALOG_EVENTS)

    @property
    def customers_topic(self) -> str:
        return self.topic(CUSTOMERS_EVENTS)

    @property
    def orders_topic(self) -> str:
        return self.topic(ORDERS_EVENTS)
