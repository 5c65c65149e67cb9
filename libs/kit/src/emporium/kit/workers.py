"""The ``Worker`` contract: a background loop the app starts, stops and asks about its health.

The outbox relay and the event consumers satisfy it; ``create_app`` starts them after the
resources (in order) and stops them before the resources go (in reverse order), and
``/healthz`` fails while any of them reports a problem, so the orchestrator restarts a pod
whose worker is stuck (for example a Kafka consumer that stopped polling).

A worker that waits for a dependency is not stuck: it stays healthy (a restart would not
bring the database back) and says what it waits for through ``readiness()``
(``ReportsReadiness``), which ``/readyz`` reports and fails on.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["ReportsReadiness", "Worker"]


@runtime_checkable
class Worker(Protocol):
    """A long-running background task owned by the web process."""

    @property
    def name(self) -> str:
        """Stable, human-readable name (``relay``, ``consumer orders-catalog``)."""
        ...

    async def start(self) -> None:
        """Begin working (spawn the loop); return once started."""
        ...

    async def stop(self) -> None:
        """Finish the current unit of work, release what was taken, and return."""
        ...

    def health(self) -> str | None:
        """``None`` when healthy, else why not (``has not polled for 75 s``). Must not block."""
        ...


@runtime_checkable
class ReportsReadiness(Protocol):
    """A worker that can say it cannot make progress for now (its database is away)."""

    @property
    def name(self) -> str: ...

    def readiness(self) -> str | None:
        """``None`` when it can work, else what it waits for. Must not block."""
        ...
