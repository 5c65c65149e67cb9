"""A named "work is due" signal, raised inside a transaction and heard once it commits.

A writer that makes work due for a background worker (a payment to charge, a refund owed)
calls ``await signal.raise_in(session)`` in its unit of work:

- in this process, the signal's listeners (``listen(callback)``: the worker's ``wake``)
  are called right after that session commits (a rolled-back one wakes nobody);
- on PostgreSQL it also runs ``pg_notify(channel)`` in the transaction, so workers in other
  processes (other HTTP workers of the service, other pods) that keep a
  ``NotifyListener`` on ``signal.channel`` wake too: PostgreSQL delivers it at commit.

Both only make the worker faster: it keeps polling as the fallback. One session raises a
signal at most once (a batch of events making many payments due sends one NOTIFY).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

__all__ = ["WakeupSignal"]


class WakeupSignal:
    """Wakes the listeners of ``name`` after the transactions that raise it commit."""

    def __init__(self, name: str) -> None:
        #: The PostgreSQL NOTIFY channel (a plain lower-case identifier).
        self.channel = "wake_" + re.sub(r"[^a-z0-9_]+", "_", name.lower())[:50]
        self._listeners: list[Callable[[], None]] = []
        self._marker = f"emporium.wakeup.{self.channel}"

    def listen(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (synchronously, in the event loop) after each raising commit."""
        self._listeners.append(callback)

    def unlisten(self, callback: Callable[[], None]) -> None:
        """Stop calling ``callback`` (a worker that stopped)."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    def fire(self) -> None:
        """Call the listeners now."""
        for callback in list(self._listeners):
            callback()

    async def raise_in(self, session: AsyncSession) -> None:
        """Wake the listeners once ``session``'s transaction commits (see the module doc)."""
        if session.info.get(self._marker):
            return
        session.info[self._marker] = True
        if session.get_bind().dialect.name == "postgresql":
            # NOTIFY is transactional: delivered only if this transaction commits.
            await session.execute(select(func.pg_notify(self.channel, "")))
        event.listen(session.sync_session, "after_commit", self._after_commit, once=True)
        event.listen(session.sync_session, "after_rollback", self._forget, once=True)

    def _after_commit(self, session: Session) -> None:
        session.info.pop(self._marker, None)
        self.fire()

    def _forget(self, session: Session) -> None:
        # Rolled back: a retry in this session must raise it again (the NOTIFY went with the
        # transaction). A later commit of the session may still fire the listeners: a wake-up
        # with nothing due costs the worker one look, nothing else.
        session.info.pop(self._marker, None)
