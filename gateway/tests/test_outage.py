"""Redis left alone after it failed, but not after its connection pool was merely full."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from emporium.gateway.outage import Outage


def test_a_failed_redis_is_left_alone_for_the_cooldown() -> None:
    outage = Outage(cooldown=1.0)
    outage.failed(10.0, RedisConnectionError("refused"))
    assert outage.down(10.5)
    assert not outage.down(11.1)


def test_a_full_pool_costs_only_the_request_that_found_it_full() -> None:
    outage = Outage(cooldown=1.0)
    outage.failed(10.0, MaxConnectionsError("Too many connections"))
    assert not outage.down(10.0)  # the next requests use Redis as before
