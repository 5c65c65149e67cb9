"""The catalog service's settings: every field is read from ``CATALOG_<FIELD>``."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from emporium.contracts.currencies import currency_code
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
    # The customers service of the embedded/dev layout publishes the signing keys here.
    jwks_url: str | None = "http://127.0.0.1:8002/auth/jwks"
    max_image_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, description="Largest accepted image upload (413 above)."
    )
    max_image_pixels: int = Field(
        default=16_000_000,
        ge=1,
        description="Largest accepted width x height (413 above, checked before decoding). "
        "16 MP: a 16-megapixel photo (4920x3264) decodes to 64 MB, and processing holds at "
        "most two such buffers, so one upload stays under 150 MB and two at once (the "
        "default image_max_concurrent) fit a 512 MiB pod with the service itself.",
    )
    max_webp_pixels: int = Field(
        default=8_000_000,
        ge=1,
        description="Largest accepted width x height of a WebP upload (413 above): Pillow "
        "decodes WebP through libwebp's animation decoder, ~14 bytes a pixel while it runs, "
        "so 8 MP keeps one upload under 150 MB too.",
    )
    image_max_concurrent: int = Field(
        default=2,
        ge=1,
        description="Images decoded at once per process; further uploads wait their turn.",
    )
    media_url_prefix: str = Field(
        default="/api/v1/media",
        description="Where browsers fetch images: the gateway routes it to this service's /media.",
    )
    listing_cache_seconds: int = Field(default=60, ge=1)
    base_currency: str = Field(
        default="EUR",
        description="The shop's base currency (ISO 4217): every variant has a price in it, "
        "a product's `price_amount`/`currency` are its lowest there, and the listing shows "
        "it when no `currency` is asked.",
    )

    _base_currency = field_validator("base_currency")(currency_code)
