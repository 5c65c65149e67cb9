"""``emporium-dlq``: list, show and replay the dead letters of a consumer group.

    emporium-dlq list   --group G [--bootstrap HOST:PORT] [--topic T]
    emporium-dlq show   --group G OFFSET
    emporium-dlq replay --group G (OFFSET... | --all [--include-replayed])

The dead-letter topic (default ``<group>.dlq``) is read from its beginning with a throwaway
consumer group, so the real group's offsets are never touched. ``OFFSET`` is the offset in
the dead-letter topic (``PARTITION:OFFSET`` if it has several partitions). ``replay``
republishes the original record to its original topic — every group's inbox sees it again:
the group that failed applies it (once), groups that had applied it ignore the duplicate —
and records the replay in the dead-letter topic, which ``list`` shows as ``replayed``.

A service run with a ``<PREFIX>TOPIC_PREFIX`` names its groups and topics under it on the
broker: pass the same value as ``--topic-prefix`` (or ``EMPORIUM_TOPIC_PREFIX``) and name
the group as the service does (``catalog.orders``); replays then go to the prefixed topics.

Kafka is found with ``--bootstrap`` or ``EMPORIUM_KAFKA_BOOTSTRAP``. Exit codes: 0 done,
1 an OFFSET is not a dead letter of the topic, 2 usage, 3 Kafka unavailable.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

import orjson

from emporium.kit.bus.base import Bus, BusUnavailable
from emporium.kit.bus.prefixed import with_topic_prefix
from emporium.kit.dlq import DeadLetter, dead_letter_topic, read_dead_letters, replay
from emporium.kit.settings import topic_prefix_problem

__all__ = ["format_line", "main", "run"]

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--group", required=True, help="the consumer group")
    common.add_argument(
        "--bootstrap",
        default=os.environ.get("EMPORIUM_KAFKA_BOOTSTRAP"),
        help="Kafka bootstrap servers (default: $EMPORIUM_KAFKA_BOOTSTRAP)",
    )
    common.add_argument("--topic", help="the dead-letter topic (default: <group>.dlq)")
    common.add_argument(
        "--topic-prefix",
        default=os.environ.get("EMPORIUM_TOPIC_PREFIX", ""),
        help="the services' topic prefix (default: $EMPORIUM_TOPIC_PREFIX, none)",
    )
    common.add_argument(
        "--timeout", type=float, default=60.0, help="seconds allowed to read the topic"
    )
    parser = argparse.ArgumentParser(
        prog="emporium-dlq", description="Inspect and replay a consumer group's dead letters."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", parents=[common], help="one line per dead letter")
    show = commands.add_parser("show", parents=[common], help="one dead letter in full")
    show.add_argument("offset", help="OFFSET or PARTITION:OFFSET in the dead-letter topic")
    again = commands.add_parser(
        "replay", parents=[common], help="republish dead letters to their original topics"
    )
    again.add_argument("offsets", nargs="*", help="OFFSET or PARTITION:OFFSET (several allowed)")
    again.add_argument("--all", action="store_true", help="every dead letter not yet replayed")
    again.add_argument(
        "--include-replayed", action="store_true", help="with --all: also those already replayed"
    )
    return parser


def format_line(letter: DeadLetter) -> str:
    """One ``key=value`` line per dead letter (the error last: it may contain spaces)."""
    state = f"replayed@{letter.replayed_at}" if letter.replayed_at else "pending"
    return (
        f"offset={letter.ref} state={state} type={letter.type or '?'} "
        f"id={letter.event_id or '?'} "
        f"origin={letter.original_topic}/{letter.original_partition}@{letter.original_offset} "
        f"group={letter.group} attempts={letter.attempts} failed_at={letter.failed_at} "
        f"error={letter.error}"
    )


def _details(letter: DeadLetter) -> str:
    lines = [format_line(letter), "headers:"]
    lines += [f"  {name}: {value.decode(errors='replace')}" for name, value in letter.headers]
    lines.append(f"key: {letter.key.decode(errors='replace') if letter.key else None}")
    try:
        body = orjson.dumps(orjson.loads(letter.value), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        body = repr(letter.value)
    lines += ["value:", body]
    return "\n".join(lines)


def _select(
    letters: Sequence[DeadLetter], refs: Sequence[str]
) -> tuple[list[DeadLetter], list[str]]:
    """The letters named by ``refs`` (``N`` or ``P:N``), and the refs that match none/several."""
    chosen: list[DeadLetter] = []
    problems: list[str] = []
    for ref in refs:
        partition, _, offset = ref.rpartition(":")
        try:
            wanted = int(offset)
            wanted_partition = int(partition) if partition else None
        except ValueError:
            problems.append(f"{ref}: not an offset")
            continue
        matches = [
            letter
            for letter in letters
            if letter.offset == wanted
            and (wanted_partition is None or letter.partition == wanted_partition)
        ]
        if not matches:
            problems.append(f"{ref}: no dead letter at this offset")
        elif len(matches) > 1:
            problems.append(f"{ref}: ambiguous, name it PARTITION:OFFSET")
        elif matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen, problems


async def run(
    args: argparse.Namespace, bus: Bus, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Carry out one parsed command on a started ``bus``; returns the exit code."""
    topic = args.topic or dead_letter_topic(args.group)
    letters = await read_dead_letters(bus, topic, timeout=args.timeout)
    if args.command == "list":
        for letter in letters:
            print(format_line(letter), file=out)
        replayed = sum(1 for letter in letters if letter.replayed_at)
        print(f"{len(letters)} dead letter(s) in {topic}, {replayed} replayed", file=err)
        return EXIT_OK
    if args.command == "show":
        chosen, problems = _select(letters, [args.offset])
        for problem in problems:
            print(problem, file=err)
        for letter in chosen:
            print(_details(letter), file=out)
        return EXIT_NOT_FOUND if problems else EXIT_OK
    # replay
    if args.all:
        chosen = [letter for letter in letters if args.include_replayed or not letter.replayed_at]
        problems = []
    else:
        chosen, problems = _select(letters, args.offsets)
    for problem in problems:
        print(problem, file=err)
    if problems:
        return EXIT_NOT_FOUND  # replay nothing when any name is wrong
    for letter in chosen:
        if letter.replayed_at:
            print(f"{letter.ref}: already replayed at {letter.replayed_at}; again", file=err)
    await replay(bus, chosen, dlq_topic=topic)
    for letter in chosen:
        print(
            f"replayed offset={letter.ref} type={letter.type or '?'} "
            f"id={letter.event_id or '?'} to={letter.original_topic}",
            file=out,
        )
    if not chosen:
        print("nothing to replay", file=err)
    return EXIT_OK


async def _main(args: argparse.Namespace) -> int:
    from emporium.kit.bus.kafka import KafkaBus

    kafka = KafkaBus(args.bootstrap, client_id="emporium-dlq", request_timeout=10.0)
    bus = with_topic_prefix(kafka, args.topic_prefix)
    await bus.start()
    try:
        return await run(args, bus)
    finally:
        await bus.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``emporium-dlq``."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "replay" and not args.all and not args.offsets:
        parser.error("replay needs OFFSET... or --all")
    if args.command == "replay" and args.all and args.offsets:
        parser.error("replay takes OFFSET... or --all, not both")
    if not args.bootstrap:
        parser.error("Kafka bootstrap servers: pass --bootstrap or set EMPORIUM_KAFKA_BOOTSTRAP")
    problem = topic_prefix_problem(args.topic_prefix)
    if problem is not None:
        parser.error(f"--topic-prefix {args.topic_prefix!r}: {problem}")
    # aiokafka logs every failed connection attempt; only our own message matters here.
    logging.basicConfig(level=logging.CRITICAL)
    try:
        return asyncio.run(_main(args))
    except (BusUnavailable, TimeoutError) as error:
        print(f"emporium-dlq: Kafka unavailable: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
