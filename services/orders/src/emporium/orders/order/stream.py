"""Server-sent events of one order's status changes, read from its history.

The stream polls the history table with a short interval (works across processes and on
both databases), sends each new entry as one event (``id`` = its sequence number, so a
client reconnecting with ``Last-Event-ID`` resumes after it) and ends after a final status.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from uuid import UUID

from emporium.kit.db import Database
from emporium.orders.order import repository
from emporium.orders.order.state import FINAL, Status

__all__ = ["MAX_EVENT_ID", "resume_after", "status_events"]

#: Event ids are history sequence numbers: a signed 64-bit column. A ``Last-Event-ID``
#: beyond it (or negative, or not a number) is a 422, never a database error.
MAX_EVENT_ID = 2**63 - 1

#: A comment line now and then keeps proxies from closing an idle stream.
_KEEPALIVE_EVERY = 15.0


def resume_after(after_seq: int, last_seq: int, *, last_is_final: bool) -> int | None:
    """Where a stream asked to resume after ``after_seq`` starts, given the history so far
    (its last sequence number, and whether that entry is a final status); None: end at once.

    An id at or past the last entry of a finished order means the client saw the end: the
    stream ends (else a reconnecting EventSource would wait forever). An id past the last
    entry of a live order (one this service never sent) resumes after the last entry, so
    the client still gets every status change from now on.
    """
    if after_seq >= last_seq:
        return None if last_is_final and last_seq > 0 else last_seq
    return after_seq


async def status_events(
    database: Database, order_id: UUID, *, after_seq: int = 0, poll_seconds: float = 0.5
) -> AsyncIterator[bytes]:
    if not 0 <= after_seq <= MAX_EVENT_ID:
        raise ValueError(f"after_seq must be in 0..{MAX_EVENT_ID}")
    if after_seq > 0:
        async with database.session() as session:
            so_far = (await repository.history(session, [order_id]))[order_id]
        last = so_far[-1] if so_far else None
        start = resume_after(
            after_seq,
            last.seq if last is not None else 0,
            last_is_final=last is not None and Status(last.status) in FINAL,
        )
        if start is None:
            return
        after_seq = start
    idle = 0.0
    while True:
        async with database.session() as session:
            entries = (await repository.history(session, [order_id], after_seq=after_seq))[order_id]
        for entry in entries:
            after_seq = entry.seq
            data = {"status": entry.status, "reason": entry.reason, "at": entry.at.isoformat()}
            yield (f"id: {entry.seq}\nevent: status\ndata: {json.dumps(data)}\n\n".encode())
            if Status(entry.status) in FINAL:
                return
        if entries:
            idle = 0.0
        else:
            idle += poll_seconds
            if idle >= _KEEPALIVE_EVERY:
                idle = 0.0
                yield b": keep-alive\n\n"
        await asyncio.sleep(poll_seconds)
