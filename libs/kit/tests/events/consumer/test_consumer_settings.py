"""The consumer's settings reach every consumer ``event_workers`` builds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from emporium.kit.app import Resources
from emporium.kit.bus.memory import InMemoryBus
from emporium.kit.consumer import EventConsumer
from emporium.kit.db import Database
from emporium.kit.eventing import EventSubscription, event_workers
from emporium.kit.health import Probes
from emporium.kit.settings import BusSettings, DatabaseSettings, ServiceSettings


class Settings(ServiceSettings, DatabaseSettings, BusSettings):
    model_config = SettingsConfigDict(env_prefix="KIT_CONSUMER_TEST_")


def test_the_defaults() -> None:
    settings = Settings()
    assert settings.handler_timeout_seconds == 30
    assert settings.inbox_retention_days == 7
    assert settings.inbox_purge_interval_seconds == 3600
    assert settings.handler_max_backoff_seconds == 30


@pytest.mark.parametrize(
    "field",
    [
        "handler_timeout_seconds",
        "inbox_retention_days",
        "inbox_purge_interval_seconds",
        "handler_max_backoff_seconds",
    ],
)
def test_a_non_positive_value_is_refused(field: str) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({field: 0})


async def test_event_workers_pass_the_settings_to_each_consumer(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    monkeypatch.setenv("KIT_CONSUMER_TEST_HANDLER_TIMEOUT_SECONDS", "4.5")
    monkeypatch.setenv("KIT_CONSUMER_TEST_INBOX_RETENTION_DAYS", "14")
    monkeypatch.setenv("KIT_CONSUMER_TEST_INBOX_PURGE_INTERVAL_SECONDS", "600")
    monkeypatch.setenv("KIT_CONSUMER_TEST_HANDLER_MAX_BACKOFF_SECONDS", "12")
    monkeypatch.setenv("KIT_CONSUMER_TEST_CONSUMER_STALL_SECONDS", "90")
    settings = Settings(service_name="svc", database_url=sqlite_url)
    database = Database(sqlite_url)
    resources = Resources(settings=settings, probes=Probes(), database=database, bus=InMemoryBus())
    try:
        (consumer,) = event_workers(None, [EventSubscription("orders", ("orders.events",))])(
            resources
        )
    finally:
        await database.dispose()

    assert isinstance(consumer, EventConsumer)
    assert consumer.group == "svc.orders"
    assert consumer.handler_timeout == 4.5
    assert consumer.inbox_retention == timedelta(days=14)
    assert consumer.purge_every == 600
    assert consumer.max_backoff == 12
    assert consumer.stall_seconds == 90
