"""``python -m emporium.customers rotate-keys``: add a new signing key, retire the current one.

Tokens signed with the retired key stay valid until they expire (see the README).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from emporium.customers.runtime import make_accounts
from emporium.customers.settings import Settings
from emporium.kit.db import Database

__all__ = ["rotate_keys"]


async def _rotate(settings: Settings, publish_ahead: int | None) -> str:
    accounts = make_accounts(settings)
    database = Database(settings.database_url)
    try:
        async with database.session() as session:
            ahead = None if publish_ahead is None else timedelta(seconds=publish_ahead)
            row = await accounts.keys.rotate(session, publish_ahead=ahead)
            return f"new signing key {row.kid}, signing from {row.active_from.isoformat()}"
    finally:
        await database.dispose()
        await accounts.throttle.close()


def rotate_keys(argv: list[str]) -> int:
    """Run the command; ``--publish-ahead SECONDS`` overrides the setting."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m emporium.customers rotate-keys")
    parser.add_argument("--publish-ahead", type=int, default=None, metavar="SECONDS")
    args = parser.parse_args(argv)
    print(asyncio.run(_rotate(Settings(), args.publish_ahead)))
    return 0
