"""Wake-ups between processes: PostgreSQL ``LISTEN/NOTIFY``.

A worker that polls for due work (the outbox relay, the orders payment worker) also keeps
a ``NotifyListener``: one dedicated asyncpg connection ``LISTEN``ing on a channel, calling
the worker's ``wake`` on every notification. The writers ``NOTIFY`` inside their
transaction (``pg_notify``), which PostgreSQL delivers only once it commits, so a wake-up
never comes before the rows it announces are visible. The poll stays as the fallback: a
lost notification (the listener reconnecting) delays work by one poll interval at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

__all__ = ["NotifyListener", "asyncpg_dsn"]

log = logging.getLogger(__name__)


def _backoff(failures: int, *, base: float, cap: float) -> float:
    return float(min(cap, base * (2 ** min(max(failures, 1) - 1, 30))))


class NotifyListener:
    """A PostgreSQL ``LISTEN`` connection calling ``wake`` on each notification of ``channel``.

    Reconnects with backoff whenever the connection drops, and calls ``wake`` once it is
    (re)connected: what was committed while nobody listened is not left for the poll.
    """

    def __init__(
        self,
        *,
        url: str,
        channel: str,
        application_name: str,
        wake: Callable[[], None],
        poll_seconds: float,
        base_backoff: float,
        max_backoff: float,
        service_name: str,
    ) -> None:
        self.url = url
        self.channel = channel
        self.application_name = application_name
        self.wake = wake
        self.poll_seconds = poll_seconds
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.service_name = service_name
        #: True while the connection is up.
        self.listening = False

    async def run(self) -> None:
        """Hold a LISTEN connection until cancelled; reconnect with backoff whenever it drops."""
        import asyncpg

        dsn = asyncpg_dsn(self.url)
        failures = 0
        while True:
            connection: Any = None
            closed = asyncio.Event()
            try:
                connection = await asyncpg.connect(
                    dsn, timeout=10, server_settings={"application_name": self.application_name}
                )
                connection.add_termination_listener(_setter(closed))
                await connection.add_listener(self.channel, self._on_notify)
                self.listening = True
                failures = 0
                # Rows committed while we were not listening would otherwise wait for the poll.
                self.wake()
                while not closed.is_set() and not connection.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(closed.wait(), timeout=max(self.poll_seconds, 5.0))
                    if not closed.is_set():
                        # A cheap round trip notices a half-open connection.
                        await asyncio.wait_for(connection.execute("SELECT 1"), timeout=10)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # reconnect whatever went wrong
                failures += 1
                log.warning(
                    "LISTEN connection lost; reconnecting",
                    extra={
                        "service": self.service_name,
                        "channel": self.channel,
                        "error": repr(error),
                    },
                )
            finally:
                self.listening = False
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            await asyncio.sleep(_backoff(failures, base=self.base_backoff, cap=self.max_backoff))

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, _payload: str) -> None:
        self.wake()


def _setter(flag: asyncio.Event) -> Callable[[Any], None]:
    return lambda _connection: flag.set()


def asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://...`` as the plain DSN asyncpg accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
