"""The gateway's settings: every field is read from ``GATEWAY_<FIELD>``."""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from emporium.gateway.client import Networks, parse_networks
from emporium.kit.settings import AuthSettings, RedisSettings, ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings, RedisSettings, AuthSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    port: int = 8000
    catalog_url: str = "http://127.0.0.1:8001"
    customers_url: str = "http://127.0.0.1:8002"
    orders_url: str = "http://127.0.0.1:8003"
    storefront_url: str = Field(
        default="",
        description="The web storefront: every path not the gateway's own goes there "
        "(empty: such paths are a 404 problem).",
    )

    # Upstream calls. The timeout bounds the wait for an answer's headers and each pause
    # between two body chunks (not an event stream's pauses); per service overrides it.
    upstream_timeout_seconds: float = Field(default=5.0, gt=0)
    upstream_timeouts: dict[str, float] = Field(
        default_factory=dict, description='Per service, e.g. {"orders": 10}.'
    )
    # An upload's answer comes once the service has decoded and re-encoded it (a large PNG
    # takes seconds on a busy small machine): the wait after its body is sent, per call.
    upload_timeout_seconds: float = Field(default=30.0, gt=0)
    upstream_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    upstream_retries: int = Field(
        default=2, ge=0, description="Extra attempts of idempotent calls on connect errors."
    )
    # Connections per service (its pool): calls beyond wait in line for one (below). 32, not
    # 100: a service process with a database pool of 10 + 10 serves no faster with 100 calls
    # in flight; the extra ones waited inside it, where the gateway's timeout counted the
    # wait as slowness (504s, then an open breaker), instead of in the gateway's fair line.
    upstream_max_connections: int = Field(default=32, ge=1)
    upstream_pool_sizes: dict[str, int] = Field(
        default_factory=dict, description='Per service, e.g. {"catalog": 64}.'
    )
    upstream_keepalive_seconds: float = Field(
        default=4.0,
        gt=0,
        description="How long an idle pooled connection is kept: below the services' own "
        "keep-alive timeout (uvicorn's 5 s), so the gateway never reuses one being closed.",
    )
    # 10 s: thousands of shoppers from a stale cache wait here for their answers' one fetch
    # each (a closed loop: refusing them lowers no load); authenticated calls and writes
    # are bounded before, by the front line, so they never make this line deep.
    upstream_queue_seconds: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="Longest wait for a free pooled connection before 503 upstream-busy.",
    )
    upstream_queue_length: int = Field(
        default=10_000,
        ge=0,
        description="Most calls waiting for a connection per pool; more answer 503 at once.",
    )

    # The front line (shedding.py): at most ``shed_max_in_flight`` authenticated calls and
    # writes at once; the next wait in a FIFO line, at most ``shed_queue_seconds``, then get
    # 503 gateway-overloaded. Anonymous reads, probes and event streams are not in it. While
    # it stands, a newcomer whose turn would come after ``shed_turn_seconds`` is refused on
    # arrival: that bounds how deep it stands in an overload, so how soon it drains after.
    shed_enabled: bool = Field(default=True, description="False: no front line.")
    shed_max_in_flight: int = Field(
        default=256, ge=1, description="Authenticated calls and writes handled at once."
    )
    shed_queue_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Longest wait for a turn in the front line before 503 gateway-overloaded.",
    )
    shed_turn_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="While the front line stands, a newcomer whose turn would come later than "
        "this (at the line's measured pace) gets 503 gateway-overloaded on arrival; at most "
        "shed_queue_seconds.",
    )
    shed_queue_length: int = Field(
        default=10_000, ge=0, description="Most calls waiting in the front line; more get 503."
    )
    shed_retry_after_seconds: int = Field(default=1, ge=1, le=60)

    # Event streams (GET /orders/{id}/events): a pool of their own per service, a cap per
    # customer (counted in Redis across gateway replicas), a maximum lifetime, and the
    # token re-checked (expiry, revocation) every ``stream_check_seconds``.
    stream_max_connections: int = Field(default=200, ge=1)
    streams_per_customer: int = Field(default=5, ge=1)
    stream_max_seconds: float = Field(default=300.0, gt=0)
    stream_check_seconds: float = Field(default=5.0, gt=0)

    # The client address: the rightmost X-Forwarded-For hop not in these networks, when
    # the peer itself is in them; else the peer. Empty: trust no proxy.
    trusted_proxies: str = Field(
        default="", description="Comma-separated CIDRs, e.g. '10.0.0.0/8,127.0.0.1/32'."
    )
    # uvicorn's own X-Forwarded-For handling is off in the gateway (the kit's serve passes
    # this to uvicorn): ``trusted_proxies`` decides, once, in the gateway.
    forwarded_allow_ips: str = ""

    # Security headers: HSTS max-age on every answer (0: none).
    hsts_seconds: int = Field(default=0, ge=0, le=2 * 365 * 24 * 3600)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=5.0, gt=0)

    # Rate limits: requests per window, per client IP (anonymous) or per customer.
    rate_limit_enabled: bool = True
    rate_limit_window_seconds: int = Field(default=60, ge=1)
    rate_limit_anonymous: int = Field(default=300, ge=1)
    rate_limit_customer: int = Field(default=600, ge=1)
    rate_limit_auth: int = Field(default=30, ge=1, description="/auth/*, per client IP.")
    rate_limit_flush_seconds: float = Field(
        default=0.1,
        ge=0,
        le=5,
        description="Anonymous windows are counted in the process and flushed to Redis this "
        "often (batched_limits.py: a window may let through up to replicas x rate x this "
        "more than its limit); 0: each request counted in Redis as it comes.",
    )

    # Response cache of anonymous catalog GETs (0 turns it off). Long, as every change the
    # catalog makes drops exactly its answers (invalidation.py): the TTL bounds only what a
    # missed announcement leaves, and each expiry is a miss (browsing bench: 92 % hits at
    # 10 s, 98 % at 60 s).
    response_cache_seconds: int = Field(default=60, ge=0)
    # Its first level, in each gateway process (with Redis; 0 entries turns it off).
    local_cache_entries: int = Field(default=5_000, ge=0)
    local_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    # Answers an invalidation drops from a process's first level are fetched again at once
    # (refresh.py), so the next request is a hit; false: fetched by the next request.
    response_refresh: bool = True
    # With it, an answer asked for in its last this-many seconds in a process is fetched
    # again in the background (refresh.py), so it never expires into a miss; 0: off.
    response_refresh_ahead_seconds: float = Field(default=10.0, ge=0)
    # Access tokens verified once, kept in the process until they expire (revocation is
    # still checked on every request).
    token_cache_entries: int = Field(default=10_000, ge=1)
    freeze_heap: bool = Field(
        default=True, description="gc.freeze() once started (off in tests: many apps, one process)."
    )

    cors_origins: list[str] = Field(
        default_factory=list, description='Storefront origins, e.g. ["http://localhost:5173"].'
    )
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    openapi_retry_seconds: float = Field(
        default=15.0, gt=0, description="Refetch a service's spec this often while it is missing."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        parse_networks(value)  # raises ValueError naming the bad entry
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _no_uvicorn_proxy_trust(cls, value: str) -> str:
        if value.strip():
            raise ValueError(
                "the gateway resolves the client itself: set GATEWAY_TRUSTED_PROXIES "
                "(CIDRs), not GATEWAY_FORWARDED_ALLOW_IPS"
            )
        return ""

    def trusted_networks(self) -> Networks:
        """``trusted_proxies`` parsed."""
        return parse_networks(self.trusted_proxies)

    @model_validator(mode="after")
    def _jwks_from_customers(self) -> Self:
        # The keys live at the customers service unless told otherwise.
        if not self.jwks_url:
            self.jwks_url = self.customers_url.rstrip("/") + "/auth/jwks"
        return self

    def upstreams(self) -> dict[str, str]:
        """Each service the gateway fronts, by name, with its base URL."""
        return {
            "catalog": self.catalog_url,
            "customers": self.customers_url,
            "orders": self.orders_url,
        }

    def pool_size_of(self, upstream: str) -> int:
        """The connections kept to ``upstream`` (its override, else the default)."""
        return self.upstream_pool_sizes.get(upstream, self.upstream_max_connections)

    def timeout_of(self, upstream: str) -> float:
        """The timeout for calls to ``upstream`` (its override, else the default)."""
        return self.upstream_timeouts.get(upstream, self.upstream_timeout_seconds)
