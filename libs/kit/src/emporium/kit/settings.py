"""Settings fragments: a service composes its ``Settings`` from these and sets its env prefix.

Example::

    class Settings(ServiceSettings, DatabaseSettings, BusSettings, RedisSettings):
        model_config = SettingsConfigDict(env_prefix="CATALOG_")

Every field is then read from ``CATALOG_<FIELD>`` (``CATALOG_DATABASE_URL`` ...).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "AuthSettings",
    "BusSettings",
    "DatabaseSettings",
    "RedisSettings",
    "ServiceSettings",
    "StorageSettings",
]

Environment = Literal["dev", "test", "prod"]


class _Fragment(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)


class ServiceSettings(_Fragment):
    """What every service has: its name, environment, HTTP bind and log level."""

    service_name: str = "emporium"
    environment: Environment = "dev"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies trusted for X-Forwarded-For (the gateway's address; '*' in a "
        "private network where only the gateway can reach the service).",
    )
    log_json: bool = True
    run_workers: bool = Field(
        default=True,
        description="Run the outbox relay and event consumers inside the web process.",
    )


class DatabaseSettings(_Fragment):
    """SQLAlchemy async URL: ``postgresql+asyncpg://...`` or ``sqlite+aiosqlite:///file.db``."""

    database_url: str = "sqlite+aiosqlite:///./var/emporium.db"
    database_pool_size: int = Field(default=10, ge=1)
    database_echo: bool = False

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


class BusSettings(_Fragment):
    """The event bus: ``kafka`` (real) or ``memory`` (in-process, embedded default)."""

    bus: Literal["kafka", "memory"] = "memory"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_client_id: str | None = None
    kafka_linger_ms: int = Field(default=5, ge=0)
    kafka_replication_factor: int = Field(
        default=1, ge=1, description="For topics the services create (3 on a real cluster)."
    )
    handler_max_attempts: int = Field(default=5, ge=1)
    handler_backoff_seconds: float = Field(default=0.2, ge=0)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_batch_size: int = Field(default=100, ge=1)
    consumer_stall_seconds: float = Field(
        default=60.0,
        gt=0,
        description="/healthz fails when a running consumer has not polled for this long.",
    )


class RedisSettings(_Fragment):
    """Redis URL; unset means an in-process memory cache (embedded default)."""

    redis_url: str | None = None
    cache_ttl_seconds: int = Field(default=300, ge=1)


class StorageSettings(_Fragment):
    """Object storage: ``s3`` (any S3-compatible server) or ``local`` (a folder)."""

    storage: Literal["s3", "local"] = "local"
    media_dir: str = "./var/media"
    s3_endpoint_url: str | None = None
    s3_bucket: str = "emporium-media"
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None


class AuthSettings(_Fragment):
    """Access-token verification: who issues them, for whom, and where the keys are."""

    jwt_issuer: str = "emporium-customers"
    jwt_audience: str = "emporium"
    jwks_url: str | None = None
    jwks_cache_seconds: int = Field(default=300, ge=1)
    secret_key: SecretStr = SecretStr("dev-only-secret-change-me")

    @model_validator(mode="after")
    def _refuse_default_secret_outside_dev(self) -> Self:
        env = getattr(self, "environment", "dev")
        if env == "prod" and self.secret_key.get_secret_value() == "dev-only-secret-change-me":
            raise ValueError("secret_key must be set outside dev (it is still the default)")
        return self
