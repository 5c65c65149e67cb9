"""A relay process for the crash tests: publishes the outbox once, or dies half-way.

    python relay_proc.py DATABASE_URL KAFKA_BOOTSTRAP SERVICE [CRASH]

``CRASH`` says where the process SIGKILLs itself (no clean-up, like a node that vanishes):

- ``before-publish``: the batch is claimed (its transaction open), nothing published yet;
- ``after-publish``: Kafka has acknowledged the batch, the rows are not marked sent yet.

Without ``CRASH`` it publishes everything due and exits 0. It prints ``claimed N`` before
publishing and ``published N`` at the end, so the test can check where it stopped.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from emporium.kit.bus.kafka import KafkaBus
from emporium.kit.db import Database
from emporium.kit.outbox import OutboxMessage
from emporium.kit.relay import OutboxRelay


class CrashingRelay(OutboxRelay):
    """The real relay, with a SIGKILL at the chosen point of a cycle."""

    crash = ""

    async def _publish(self, rows: Sequence[OutboxMessage]) -> None:
        print(f"claimed {len(rows)}", flush=True)
        if self.crash == "before-publish":
            os.kill(os.getpid(), signal.SIGKILL)
        await super()._publish(rows)
        if self.crash == "after-publish":
            os.kill(os.getpid(), signal.SIGKILL)


async def main(url: str, bootstrap: str, service: str, crash: str) -> int:
    database = Database(url)
    bus = KafkaBus(bootstrap, request_timeout=10)
    await bus.start()
    try:
        relay = CrashingRelay(database, bus, service_name=service, listen=False)
        relay.crash = crash
        published = await relay.drain()
        print(f"published {published}", flush=True)
        return 0 if relay.last_error is None else 1
    finally:
        await bus.stop()
        await database.dispose()


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    url, bootstrap, service = sys.argv[1:4]
    crash = sys.argv[4] if len(sys.argv) == 5 else ""
    sys.exit(asyncio.run(main(url, bootstrap, service, crash)))
