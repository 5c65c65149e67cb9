"""Prometheus metrics of the kit, the asynchronous side included.

Gauges that read the database or the bus (outbox backlog, consumer lag) are refreshed by
their owners (the relay, the consumer) each cycle, so a scrape never waits on I/O.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "CACHE_ERRORS",
    "CACHE_REQUESTS",
    "CONSUMER_LAG",
    "CONSUMER_WAITING",
    "DEAD_LETTERED",
    "DEAD_LETTER_DEPTH",
    "EVENTS_HANDLED",
    "GATEWAY_BREAKER_OPEN",
    "GATEWAY_RATE_LIMITED",
    "GATEWAY_UPSTREAM_FAILURES",
    "HANDLER_FAILURES",
    "HANDLER_RETRIES",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_SECONDS",
    "INBOX_PURGED",
    "OUTBOX_BACKLOG",
    "OUTBOX_OLDEST_AGE",
    "OUTBOX_PARKED",
    "OUTBOX_PARKED_TOTAL",
    "OUTBOX_PUBLISHED",
    "OUTBOX_PUBLISH_FAILURES",
    "REGISTRY",
]

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "emporium_http_requests_total",
    "HTTP requests answered",
    ["service", "method", "route", "status"],
    registry=REGISTRY,
)
HTTP_REQUEST_SECONDS = Histogram(
    "emporium_http_request_duration_seconds",
    "HTTP request duration",
    ["service", "method", "route"],
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "emporium_outbox_backlog", "Outbox rows not yet published", ["service"], registry=REGISTRY
)
OUTBOX_OLDEST_AGE = Gauge(
    "emporium_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox row (0 when empty)",
    ["service"],
    registry=REGISTRY,
)
OUTBOX_PUBLISHED = Counter(
    "emporium_outbox_published_total", "Outbox rows published", ["service"], registry=REGISTRY
)
OUTBOX_PARKED = Gauge(
    "emporium_outbox_parked",
    "Outbox rows parked (not publishable; `emporium-outbox list`): each holds back its key",
    ["service"],
    registry=REGISTRY,
)
OUTBOX_PARKED_TOTAL = Counter(
    "emporium_outbox_parked_rows_total",
    "Outbox rows this process parked",
    ["service"],
    registry=REGISTRY,
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "emporium_outbox_publish_failures_total",
    "Outbox batches that failed to publish (retried with backoff)",
    ["service"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "emporium_consumer_lag",
    "Messages not yet consumed, per consumer group and topic",
    ["group", "topic"],
    registry=REGISTRY,
)
EVENTS_HANDLED = Counter(
    "emporium_events_handled_total",
    "Events handled by a consumer group, by outcome (handled, duplicate, ignored, dead_lettered)",
    ["group", "type", "outcome"],
    registry=REGISTRY,
)
HANDLER_RETRIES = Counter(
    "emporium_handler_retries_total",
    "Handler attempts that failed and were retried",
    ["group", "type"],
    registry=REGISTRY,
)
HANDLER_FAILURES = Counter(
    "emporium_handler_failures_total",
    "Failed handler attempts by failure class (unavailable, conflict, permanent, retry)",
    ["group", "type", "failure"],
    registry=REGISTRY,
)
CONSUMER_WAITING = Gauge(
    "emporium_consumer_waiting",
    "1 while a consumer group waits for a dependency (database, bus) to come back, else 0",
    ["group", "dependency"],
    registry=REGISTRY,
)
INBOX_PURGED = Counter(
    "emporium_inbox_purged_total",
    "Inbox rows forgotten after the retention period",
    ["group"],
    registry=REGISTRY,
)
DEAD_LETTERED = Counter(
    "emporium_dead_lettered_total",
    "Events sent to a dead-letter topic by this process",
    ["group"],
    registry=REGISTRY,
)
DEAD_LETTER_DEPTH = Gauge(
    "emporium_dead_letter_depth",
    "Messages held in a group's dead-letter topic",
    ["group"],
    registry=REGISTRY,
)
CACHE_REQUESTS = Counter(
    "emporium_cache_requests_total",
    "Cache lookups by result (hit, miss, bypass)",
    ["cache", "result"],
    registry=REGISTRY,
)
CACHE_ERRORS = Counter(
    "emporium_cache_errors_total",
    "Cache operations that failed and were skipped (Redis down)",
    ["cache"],
    registry=REGISTRY,
)
GATEWAY_UPSTREAM_FAILURES = Counter(
    "emporium_gateway_upstream_failures_total",
    "Gateway calls to a service that failed, by kind (unavailable, timeout, bad_answer, "
    "circuit_open)",
    ["upstream", "kind"],
    registry=REGISTRY,
)
GATEWAY_BREAKER_OPEN = Gauge(
    "emporium_gateway_breaker_open",
    "1 while the gateway's circuit breaker of a service is open or half-open, else 0",
    ["upstream"],
    registry=REGISTRY,
)
GATEWAY_RATE_LIMITED = Counter(
    "emporium_gateway_rate_limited_total",
    "Requests the gateway refused with 429, by bucket (auth, api)",
    ["bucket"],
    registry=REGISTRY,
)
