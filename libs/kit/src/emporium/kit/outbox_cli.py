"""``emporium-outbox``: list, show and retry a service's outbox rows (parked ones first of all).

    emporium-outbox list  [--database-url URL | --service NAME] [--status S] [--limit N]
    emporium-outbox show  [--database-url URL | --service NAME] ROW
    emporium-outbox retry [--database-url URL | --service NAME] (ROW... | --all)

The relay parks a row it can never publish (see ``emporium.kit.relay``); a parked row holds
back the later rows of its key until it is retried. ``ROW`` is the row's ``seq`` or its id
(the event id). ``retry`` puts a parked row back to ``pending`` with a fresh count of attempts,
due at once (the relay picks it up on its next poll); a ``sent`` row named explicitly is
re-sent (consumers deduplicate on the event id). ``retry --all`` un-parks every parked row.
Fix the cause first (raise the size limit, create the topic ...), or the row is parked again.

The database is ``--database-url``, or ``<NAME>_DATABASE_URL`` with ``--service NAME``
(``--service catalog`` reads ``CATALOG_DATABASE_URL``), or ``$EMPORIUM_DATABASE_URL``.
Exit codes: 0 done, 1 a ROW is not there (or not retriable), 2 usage, 3 database unavailable.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from typing import TextIO

import orjson
from sqlalchemy import Select, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from emporium.kit.db import Database
from emporium.kit.outbox import PARKED, PENDING, SENT, OutboxMessage

__all__ = ["format_line", "main", "retry_rows", "run", "select_rows"]

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3

_STATUSES = {
    "parked": (PARKED,),
    "pending": (PENDING,),
    "sent": (SENT,),
    "unsent": (PENDING, PARKED),
    "all": (PENDING, PARKED, SENT),
}


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_mutually_exclusive_group()
    where.add_argument("--database-url", help="SQLAlchemy URL of the service's database")
    where.add_argument("--service", help="read the URL from <SERVICE>_DATABASE_URL")
    parser = argparse.ArgumentParser(
        prog="emporium-outbox", description="Inspect a service's outbox and retry parked rows."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", parents=[common], help="one line per row")
    listing.add_argument(
        "--status", choices=sorted(_STATUSES), default="parked", help="which rows (parked)"
    )
    listing.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    show = commands.add_parser("show", parents=[common], help="one row in full")
    show.add_argument("row", help="seq or event id")
    again = commands.add_parser("retry", parents=[common], help="put rows back to pending")
    again.add_argument("rows", nargs="*", help="seq or event id (several allowed)")
    again.add_argument("--all", action="store_true", help="every parked row")
    return parser


def database_url(args: argparse.Namespace) -> str | None:
    """The URL from ``--database-url``, ``--service`` or the environment."""
    if args.database_url:
        return str(args.database_url)
    if args.service:
        return os.environ.get(f"{args.service.upper()}_DATABASE_URL")
    return os.environ.get("EMPORIUM_DATABASE_URL")


def format_line(row: OutboxMessage) -> str:
    """One ``key=value`` line per row (the error last: it may contain spaces)."""
    return (
        f"seq={row.seq} id={row.id} status={row.status} topic={row.topic} key={row.key} "
        f"type={row.type} attempts={row.attempts} bytes={len(row.envelope)} "
        f"created_at={row.created_at.isoformat()} error={row.last_error or '-'}"
    )


def _details(row: OutboxMessage) -> str:
    lines = [
        format_line(row),
        f"next_attempt_at: {row.next_attempt_at.isoformat()}",
        f"sent_at: {row.sent_at.isoformat() if row.sent_at else None}",
        "envelope:",
    ]
    try:
        lines.append(orjson.dumps(orjson.loads(row.envelope), option=orjson.OPT_INDENT_2).decode())
    except orjson.JSONDecodeError:
        lines.append(repr(row.envelope[:2000]))
    return "\n".join(lines)


def _by_ref(ref: str) -> Select[OutboxMessage] | None:
    statement = select(OutboxMessage)
    if ref.isdigit():
        return statement.where(OutboxMessage.seq == int(ref))
    try:
        return statement.where(OutboxMessage.id == uuid.UUID(ref))
    except ValueError:
        return None


async def select_rows(
    database: Database, refs: Sequence[str]
) -> tuple[list[OutboxMessage], list[str]]:
    """The rows named by ``refs`` (seq or id), and a problem for each ref that names none."""
    rows: list[OutboxMessage] = []
    problems: list[str] = []
    async with database.session() as session:
        for ref in refs:
            statement = _by_ref(ref)
            if statement is None:
                problems.append(f"{ref}: neither a seq nor an event id")
                continue
            row = await session.scalar(statement)
            if row is None:
                problems.append(f"{ref}: no such outbox row")
            elif all(row.id != seen.id for seen in rows):
                rows.append(row)
    return rows, problems


async def retry_rows(database: Database, rows: Sequence[OutboxMessage]) -> int:
    """Put ``rows`` back to pending (fresh attempts, due now); returns how many changed.

    Only a row still in the status it was read in changes (the relay may have moved it).
    """
    changed = 0
    async with database.session() as session:
        for row in rows:
            result = await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.status == row.status)
                # next_attempt_at stays: it is when the row was last tried (or sent), so the
                # row is due at once; with attempts at 0 it holds nothing back meanwhile.
                .values(status=PENDING, attempts=0, sent_at=None)
                .execution_options(synchronize_session=False)
            )
            changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


async def run(
    args: argparse.Namespace,
    database: Database,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Carry out one parsed command on ``database``; returns the exit code."""
    if args.command == "list":
        statuses = _STATUSES[args.status]
        async with database.session() as session:
            rows = list(
                (
                    await session.scalars(
                        select(OutboxMessage)
                        .where(OutboxMessage.status.in_(statuses))
                        .order_by(OutboxMessage.seq)
                        .limit(args.limit)
                    )
                ).all()
            )
        for row in rows:
            print(format_line(row), file=out)
        print(f"{len(rows)} {args.status} outbox row(s)", file=err)
        return EXIT_OK
    if args.command == "show":
        rows, problems = await select_rows(database, [args.row])
        for problem in problems:
            print(problem, file=err)
        for row in rows:
            print(_details(row), file=out)
        return EXIT_NOT_FOUND if problems else EXIT_OK
    # retry
    if args.all:
        async with database.session() as session:
            rows = list(
                (
                    await session.scalars(
                        select(OutboxMessage)
                        .where(OutboxMessage.status == PARKED)
                        .order_by(OutboxMessage.seq)
                    )
                ).all()
            )
        problems = []
    else:
        rows, problems = await select_rows(database, args.rows)
        problems += [f"{row.seq}: already pending" for row in rows if row.status == PENDING]
    for problem in problems:
        print(problem, file=err)
    if problems:
        return EXIT_NOT_FOUND  # retry nothing when any name is wrong
    await retry_rows(database, rows)
    for row in rows:
        verb = "re-sent" if row.status == SENT else "un-parked"
        print(f"{verb} seq={row.seq} id={row.id} type={row.type} topic={row.topic}", file=out)
    if not rows:
        print("nothing to retry", file=err)
    return EXIT_OK


async def _main(args: argparse.Namespace, url: str) -> int:
    database = Database(url)
    try:
        return await run(args, database)
    finally:
        await database.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``emporium-outbox``."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "retry" and not args.all and not args.rows:
        parser.error("retry needs ROW... or --all")
    if args.command == "retry" and args.all and args.rows:
        parser.error("retry takes ROW... or --all, not both")
    url = database_url(args)
    if not url:
        parser.error(
            "the database: pass --database-url, or --service NAME with NAME_DATABASE_URL set,"
            " or set EMPORIUM_DATABASE_URL"
        )
    logging.basicConfig(level=logging.CRITICAL)
    try:
        return asyncio.run(_main(args, url))
    except (OperationalError, DBAPIError, OSError) as error:
        print(f"emporium-outbox: database unavailable: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
