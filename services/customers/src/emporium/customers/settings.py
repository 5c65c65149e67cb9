"""The customers service's settings: every field is read from ``CUSTOMERS_<FIELD>``.

Two exceptions, named by the public docs: the bootstrap admin account comes from
``EMPORIUM_ADMIN_EMAIL`` / ``EMPORIUM_ADMIN_PASSWORD`` (``CUSTOMERS_ADMIN_*`` also work).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
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
    model_config = SettingsConfigDict(
        env_prefix="CUSTOMERS_", extra="ignore", populate_by_name=True
    )

    service_name: str = "customers"
    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///./var/dev/customers.db"
    #: Sign-up, sign-in, profile and address bodies are small: refuse more (413).
    max_body_bytes: int = Field(default=64 * 1024, ge=0)

    # -- tokens ---------------------------------------------------------------------------
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=3600)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    signing_key_max_age_days: int = Field(
        default=90, ge=1, description="A key older than this is rotated at start."
    )
    signing_key_publish_ahead_seconds: int = Field(
        default=0,
        ge=0,
        description=(
            "A rotated-in key is published in the JWKS this long before it signs (set it to "
            "the verifiers' JWKS cache time to spare them even one refetch)."
        ),
    )

    # -- passwords (Argon2id; defaults are RFC 9106's low-memory profile) ------------------
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    argon2_max_concurrent: int = Field(
        default=4, ge=1, description="Hashes computed at once per process (each takes the memory)."
    )

    # -- brute-force defence (Redis when redis_url is set) ---------------------------------
    login_window_seconds: int = Field(default=900, ge=1)
    login_slow_after: int = Field(
        default=5, ge=1, description="Failures of one email from one address before answers slow."
    )
    login_delay_seconds: float = Field(default=0.25, ge=0, description="First delay; doubles.")
    login_max_delay_seconds: float = Field(
        default=2.0,
        ge=0,
        description="Longest slow-down; well under the gateway's upstream timeout (5 s), so a "
        "slowed answer still arrives as 401 on a busy machine, not as the gateway's 504.",
    )
    login_lock_after: int = Field(
        default=20, ge=1, description="Failures of one email from one address, then that pair 429s."
    )
    login_ip_slow_after: int = Field(
        default=20, ge=1, description="Failures from one address (any email) before it slows."
    )
    login_ip_lock_after: int = Field(
        default=100, ge=1, description="Failures from one address (any email), then it 429s."
    )
    login_email_slow_after: int = Field(
        default=50,
        ge=1,
        description="Failures of one email from every address together before its answers "
        "slow down (never a lock: nobody elsewhere can lock the owner out).",
    )
    login_lock_seconds: int = Field(default=900, ge=1)
    login_throttle_namespace: str = "customers-login"

    # -- the bootstrap admin ---------------------------------------------------------------
    admin_email: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "admin_email", "EMPORIUM_ADMIN_EMAIL", "CUSTOMERS_ADMIN_EMAIL"
        ),
    )
    admin_password: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "admin_password", "EMPORIUM_ADMIN_PASSWORD", "CUSTOMERS_ADMIN_PASSWORD"
        ),
    )

    #: The currency lifetime spend is kept in (the shop's currency).
    currency: str = Field(default="EUR", min_length=3, max_length=3)
