"""Settings fragments: a service composes its ``Settings`` from these and sets its env prefix.

Example::

    class Settings(ServiceSettings, DatabaseSettings, BusSettings, RedisSettings):
        model_config = SettingsConfigDict(env_prefix="CATALOG_")

Every field is then read from ``CATALOG_<FIELD>`` (``CATALOG_DATABASE_URL`` ...).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEV_SECRET_KEY",
    "KNOWN_SECRET_KEYS",
    "MAX_TOPIC_PREFIX_LENGTH",
    "MIN_SECRET_KEY_BYTES",
    "AuthSettings",
    "BusSettings",
    "DatabaseSettings",
    "RedisSettings",
    "ServiceSettings",
    "StorageSettings",
    "secret_key_problem",
    "topic_prefix_problem",
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
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=0,
        description="Largest request body accepted (413 problem+json above).",
    )
    run_workers: bool = Field(
        default=True,
        description="Run the outbox relay and event consumers inside the web process.",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="HTTP worker processes (`serve`); the background loops run in one of "
        "them only. About one per core the service may use; 1 in dev.",
    )


class DatabaseSettings(_Fragment):
    """SQLAlchemy async URL: ``postgresql+asyncpg://...`` or ``sqlite+aiosqlite:///file.db``."""

    database_url: str = "sqlite+aiosqlite:///./var/emporium.db"
    database_pool_size: int = Field(default=10, ge=1)
    database_worker_pool_size: int = Field(
        default=5,
        ge=1,
        description="Pooled connections of the background workers' own engine (relay, "
        "consumers, the service's loops; as many again on overflow), apart from the "
        "requests' pool so the saga's steps never wait behind HTTP requests.",
    )
    database_echo: bool = False

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


#: The longest topic prefix: Kafka names are at most 249 characters, and the longest name a
#: service derives (``<service>.<purpose>.dlq``, then a reader group's suffix) needs the rest.
MAX_TOPIC_PREFIX_LENGTH = 64
_TOPIC_CHARACTERS = re.compile(r"[A-Za-z0-9._-]*")


def topic_prefix_problem(value: str) -> str | None:
    """Why ``value`` cannot prefix Kafka topic and group names; None when it can."""
    if len(value) > MAX_TOPIC_PREFIX_LENGTH:
        return f"it is {len(value)} characters long, more than {MAX_TOPIC_PREFIX_LENGTH}"
    if not _TOPIC_CHARACTERS.fullmatch(value):
        bad = sorted({c for c in value if not _TOPIC_CHARACTERS.fullmatch(c)})
        return (
            f"it contains {''.join(bad)!r}: only letters, digits, '.', '_' and '-' may be "
            "in a Kafka topic name"
        )
    return None


class BusSettings(_Fragment):
    """The event bus: ``kafka`` (real) or ``memory`` (in-process, embedded default)."""

    bus: Literal["kafka", "memory"] = "memory"
    topic_prefix: str = Field(
        default="",
        description="Prepended to every topic, consumer group and dead-letter topic the "
        "service uses on the bus, so platforms sharing one broker (test runs) never see each "
        "other's events; every service of one platform needs the same value. Kafka topic "
        f"characters (a-z A-Z 0-9 . _ -), at most {MAX_TOPIC_PREFIX_LENGTH}; empty: none.",
    )
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_client_id: str | None = None
    kafka_linger_ms: int = Field(
        default=0,
        ge=0,
        description="How long the producer waits to fill a batch. 0: a lone event leaves at "
        "once; the relay's publish of many rows still goes out as full batches (every record "
        "is queued before the sender runs).",
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=100,
        ge=0,
        description="How long the broker holds a consumer's fetch while it has nothing new "
        "(it answers at once when a record arrives).",
    )
    kafka_replication_factor: int = Field(
        default=1, ge=1, description="For topics the services create (3 on a real cluster)."
    )
    handler_max_attempts: int = Field(default=5, ge=1)
    handler_backoff_seconds: float = Field(default=0.2, ge=0)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_batch_size: int = Field(
        default=500, ge=1, description="Rows the relay claims and publishes per transaction."
    )
    consumer_batch_size: int = Field(
        default=500,
        ge=1,
        description="Records a consumer fetches at once; they are applied in one transaction "
        "with one inbox statement (see EventConsumer).",
    )
    outbox_max_attempts: int = Field(
        default=10,
        ge=1,
        description="Failed publish attempts (while the bus answers) before a row is parked.",
    )
    outbox_max_record_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Larger outbox records are parked at once (the producer's max_request_size).",
    )
    consumer_stall_seconds: float = Field(
        default=60.0,
        gt=0,
        description="/healthz fails when a running consumer's loop has not come round (a "
        "poll, or a step of a wait for its database or Kafka) for this long.",
    )
    handler_max_backoff_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Cap of the consumer's backoff between retries (failed handler, "
        "database or Kafka away).",
    )
    handler_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A handler running longer is cancelled; it counts as a failed attempt "
        "(as the database being away if it does not answer a ping then).",
    )
    inbox_retention_days: float = Field(
        default=7.0,
        gt=0,
        description="Inbox rows older than this are purged; keep it at least as long as "
        "the retention of the topics consumed (a redelivery after it would apply again).",
    )
    inbox_purge_interval_seconds: float = Field(
        default=3600.0, gt=0, description="How often each consumer purges its inbox rows."
    )

    @field_validator("topic_prefix")
    @classmethod
    def _valid_topic_prefix(cls, value: str) -> str:
        problem = topic_prefix_problem(value)
        if problem is not None:
            raise ValueError(f"topic_prefix {value!r} cannot prefix Kafka names: {problem}")
        return value

    def topic(self, name: str) -> str:
        """The name on the broker of topic ``name`` (a contract's, ``catalog.events``)."""
        return self.topic_prefix + name


class RedisSettings(_Fragment):
    """Redis URL; unset means an in-process memory cache (embedded default)."""

    redis_url: str | None = None
    cache_ttl_seconds: int = Field(default=300, ge=1)
    #: How long one Redis call may take before the caller goes on without the cache. It
    #: also bounds the event loop's own lag: a host starved of CPU needs more.
    redis_timeout_seconds: float = Field(default=0.3, gt=0, le=30)


class StorageSettings(_Fragment):
    """Object storage: ``s3`` (any S3-compatible server) or ``local`` (a folder)."""

    storage: Literal["s3", "local"] = "local"
    media_dir: str = "./var/media"
    s3_endpoint_url: str | None = None
    s3_bucket: str = "emporium-media"
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None


#: The secret key of the embedded default (``dev`` only).
DEV_SECRET_KEY = "dev-only-secret-change-me"
#: The shortest secret key accepted outside ``dev``, in bytes (UTF-8).
MIN_SECRET_KEY_BYTES = 32
#: Every secret key value published in this repository (defaults, the dev overlay, examples):
#: refused outside ``dev``, whatever their length. tests/deploy greps the compose, Kubernetes
#: and example files for secret values and fails on one missing here.
KNOWN_SECRET_KEYS: frozenset[str] = frozenset(
    {
        DEV_SECRET_KEY,
        "dev-only-secret-for-the-dev-overlay",
        "dev-overlay-only-secret-key-refused-outside-environment-dev",
        "CHANGE-ME",
        "CHANGE-ME-long-random",
        "change-me",
        "changeme",
        "secret",
    }
)
_KNOWN_FOLDED = frozenset(value.casefold() for value in KNOWN_SECRET_KEYS)


def secret_key_problem(value: str) -> str | None:
    """Why ``value`` is not acceptable as a secret key outside ``dev``; None when it is."""
    if not value.strip():
        return "it is empty"
    if value.strip().casefold() in _KNOWN_FOLDED:
        return "it is a default or example value published in the Emporium repository"
    if len(value.encode()) < MIN_SECRET_KEY_BYTES:
        return f"it is shorter than {MIN_SECRET_KEY_BYTES} bytes"
    return None


class AuthSettings(_Fragment):
    """Access-token verification: who issues them, for whom, and where the keys are.

    ``secret_key`` comes from ``<PREFIX>SECRET_KEY``, or from the file named by
    ``<PREFIX>SECRET_KEY_FILE`` (a Docker or Kubernetes secret mounted as a file; trailing
    newline ignored), never both. Outside ``dev`` a missing, short (< 32 bytes) or published
    value (``KNOWN_SECRET_KEYS``) stops the service at start.
    """

    jwt_issuer: str = "emporium-customers"
    jwt_audience: str = "emporium"
    jwks_url: str | None = None
    jwks_cache_seconds: int = Field(default=300, ge=1)
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    secret_key_file: Path | None = Field(
        default=None, description="A file holding the secret key (instead of secret_key)."
    )

    @model_validator(mode="after")
    def _secret_key_from_file_and_strong_outside_dev(self) -> Self:
        given = "secret_key" in self.model_fields_set
        if self.secret_key_file is not None:
            if given:
                raise ValueError("set secret_key or secret_key_file, not both")
            self.secret_key = SecretStr(_read_secret_file(self.secret_key_file))
            given = True
        env = getattr(self, "environment", "dev")
        if env == "dev":
            return self
        if not given:
            raise ValueError(
                f"secret_key must be set outside dev (environment {env!r}): give "
                "<PREFIX>SECRET_KEY or <PREFIX>SECRET_KEY_FILE a random value of "
                f"{MIN_SECRET_KEY_BYTES}+ bytes, e.g. `openssl rand -hex 32`"
            )
        problem = secret_key_problem(self.secret_key.get_secret_value())
        if problem is not None:
            raise ValueError(
                f"secret_key is refused outside dev (environment {env!r}): {problem}; use a "
                f"random value of {MIN_SECRET_KEY_BYTES}+ bytes, e.g. `openssl rand -hex 32`"
            )
        return self


def _read_secret_file(path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"secret_key_file {str(path)!r} cannot be read: {error}") from None
    value = value.rstrip("\r\n")
    if not value:
        raise ValueError(f"secret_key_file {str(path)!r} is empty")
    return value
