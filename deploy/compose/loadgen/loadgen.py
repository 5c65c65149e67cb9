"""A bounded load run against the gateway: ``docker compose --profile loadgen up``.

Workers send GET requests to the listed paths in turn until the time or the request budget
runs out, then one JSON line sums the run up (requests, status codes, errors, latency
percentiles) and the process exits: 0 if any request got an HTTP answer, else 1.

Configuration (environment):

``LOADGEN_TARGET``            base URL, e.g. ``http://gateway:8000``
``LOADGEN_PATHS``             comma-separated paths (default ``/healthz``)
``LOADGEN_CONCURRENCY``       concurrent workers (default 8)
``LOADGEN_DURATION_SECONDS``  stop after this long (default 60)
``LOADGEN_MAX_REQUESTS``      stop after this many requests (default 100000)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

__all__ = ["Config", "Report", "main", "run"]


@dataclass(frozen=True)
class Config:
    """What one run does; ``from_env`` reads it from the ``LOADGEN_*`` variables."""

    target: str
    paths: tuple[str, ...] = ("/healthz",)
    concurrency: int = 8
    duration_seconds: float = 60.0
    max_requests: int = 100_000

    @classmethod
    def from_env(cls) -> Config:
        paths = tuple(
            path.strip()
            for path in os.environ.get("LOADGEN_PATHS", "/healthz").split(",")
            if path.strip()
        )
        return cls(
            target=os.environ.get("LOADGEN_TARGET", "http://gateway:8000"),
            paths=paths or ("/healthz",),
            concurrency=max(1, int(os.environ.get("LOADGEN_CONCURRENCY", "8"))),
            duration_seconds=max(0.1, float(os.environ.get("LOADGEN_DURATION_SECONDS", "60"))),
            max_requests=max(1, int(os.environ.get("LOADGEN_MAX_REQUESTS", "100000"))),
        )


@dataclass
class Report:
    """What a run saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    def percentile(self, fraction: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def summary(self) -> dict[str, object]:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 2)

        return {
            "requests": self.requests,
            "elapsed_seconds": round(self.elapsed, 2),
            "requests_per_second": round(self.requests / self.elapsed, 1) if self.elapsed else 0,
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "errors": dict(self.errors),
            "latency_ms": {"p50": ms(self.percentile(0.5)), "p95": ms(self.percentile(0.95))},
        }


async def run(config: Config) -> Report:
    """Send the requests; bounded by ``duration_seconds`` and ``max_requests``."""
    report = Report()
    budget = itertools.count()
    paths = itertools.cycle(config.paths)
    started = time.monotonic()
    deadline = started + config.duration_seconds

    async def worker(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline and next(budget) < config.max_requests:
            path = next(paths)
            sent = time.monotonic()
            try:
                response = await client.get(path)
            except httpx.HTTPError as error:
                report.errors[type(error).__name__] += 1
                # A gateway that is down answers at once: do not spin on it.
                await asyncio.sleep(0.1)
                continue
            report.latencies.append(time.monotonic() - sent)
            report.statuses[response.status_code] += 1

    timeout = httpx.Timeout(10.0, connect=3.0)
    async with httpx.AsyncClient(base_url=config.target, timeout=timeout) as client:
        await asyncio.gather(*(worker(client) for _ in range(config.concurrency)))
    report.elapsed = time.monotonic() - started
    return report


def main() -> int:
    config = Config.from_env()
    print(
        f"loadgen: {config.concurrency} workers -> {config.target} {list(config.paths)} "
        f"for {config.duration_seconds}s or {config.max_requests} requests",
        file=sys.stderr,
    )
    report = asyncio.run(run(config))
    print(json.dumps(report.summary()))
    return 0 if report.statuses else 1


if __name__ == "__main__":
    raise SystemExit(main())
