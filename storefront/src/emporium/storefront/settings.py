"""The storefront's settings: every field is read from ``STOREFRONT_<FIELD>``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from emporium.kit.settings import AuthSettings, ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings, AuthSettings):
    """``secret_key`` (from ``AuthSettings``) seals the session cookie; outside ``dev`` a
    missing, short or published one stops the storefront at start, as it does a service."""

    model_config = SettingsConfigDict(env_prefix="STOREFRONT_", extra="ignore")

    service_name: str = "storefront"
    port: int = 8004
    api_url: str = Field(
        default="http://127.0.0.1:8000/api/v1",
        description="The public API the storefront is a client of (the gateway's /api/v1).",
    )
    api_timeout_seconds: float = Field(default=10.0, gt=0)
    #: An image upload's answer comes once the catalog has re-encoded it (the gateway waits
    #: as long: GATEWAY_UPLOAD_TIMEOUT_SECONDS).
    upload_timeout_seconds: float = Field(default=30.0, gt=0)
    session_cookie: str = "emporium_session"
    session_max_age_seconds: int = Field(
        default=14 * 24 * 3600,
        ge=60,
        description="How long a sealed session cookie is accepted after it was last written.",
    )
    refresh_margin_seconds: int = Field(
        default=60,
        ge=0,
        description="Refresh the access token when it expires within this many seconds.",
    )
    page_size: int = Field(default=12, ge=1, le=100)
    currencies: str = Field(
        default="EUR,USD,GBP",
        pattern=r"^[A-Z]{3}(,[A-Z]{3})*$",
        description="The currencies the admin prices variants in, the shop's base currency "
        "(the catalog's EMPORIUM_CATALOG_BASE_CURRENCY) first; its price is required.",
    )
    admin_enabled: bool = Field(
        default=True, description="Serve the admin at /admin/ (off: a shop-only replica)."
    )

    @property
    def currency_list(self) -> list[str]:
        """``currencies`` as a list, the base currency first."""
        return self.currencies.split(",")

    @property
    def secure_cookies(self) -> bool:
        """``Secure`` cookies everywhere but the embedded default (plain http on loopback)."""
        return self.environment != "dev"
