"""The AsyncAPI 3.0 document of every event, generated from the contract classes.

``emporium-asyncapi`` prints it; ``emporium-asyncapi --write docs/asyncapi.json`` refreshes
the committed copy (a test fails when the copy is stale).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from typing import Any

from emporium.contracts.base import REGISTRY, EventData

__all__ = ["build_document", "envelope_schema", "event_schema", "main"]

_SOURCES = {"catalog.events": "catalog", "customers.events": "customers", "orders.events": "orders"}


def event_schema(event: type[EventData]) -> dict[str, Any]:
    """The JSON Schema of one event's ``data``, self-contained (``$defs`` inlined in place)."""
    return event.model_json_schema(ref_template="#/$defs/{model}")


def envelope_schema(event: type[EventData]) -> dict[str, Any]:
    """The JSON Schema of the whole envelope carrying ``event``."""
    return {
        "type": "object",
        "required": ["id", "type", "source", "time", "key", "data"],
        "properties": {
            "id": {"type": "string", "format": "uuid", "description": "UUIDv7"},
            "type": {"const": event.type_name()},
            "source": {"type": "string", "description": "The producing service"},
            "time": {"type": "string", "format": "date-time"},
            "key": {"type": "string", "description": "Aggregate id; the partition key"},
            "trace": {
                "type": "object",
                "description": "W3C trace context (traceparent, tracestate)",
                "additionalProperties": {"type": "string"},
            },
            "data": event_schema(event),
        },
    }


def build_document() -> dict[str, Any]:
    """AsyncAPI 3.0: one channel per topic, one message per versioned event type."""
    by_topic: dict[str, list[type[EventData]]] = defaultdict(list)
    for type_name in sorted(REGISTRY):
        by_topic[REGISTRY[type_name].topic].append(REGISTRY[type_name])
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic, events in sorted(by_topic.items()):
        channel_id = topic.replace(".", "_")
        channel_messages = {}
        for event in events:
            message_id = event.type_name().replace(".", "_")
            messages[message_id] = {
                "name": event.type_name(),
                "title": event.event_name,
                "summary": (event.__doc__ or "").strip().split("\n")[0],
                "contentType": "application/json",
                "headers": {
                    "type": "object",
                    "properties": {
                        "type": {"const": event.type_name()},
                        "id": {"type": "string"},
                        "traceparent": {"type": "string"},
                    },
                },
                "payload": envelope_schema(event),
            }
            channel_messages[message_id] = {"$ref": f"#/components/messages/{message_id}"}
        channels[channel_id] = {
            "address": topic,
            "description": f"Events of {_SOURCES.get(topic, topic)}, keyed by aggregate id.",
            "messages": channel_messages,
        }
        operations[f"publish_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"{_SOURCES.get(topic, topic)} publishes through its outbox",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Emporium events",
            "version": "1.0.0",
            "description": (
                "Every event Emporium's services exchange over Kafka. The record value is the"
                " envelope as JSON; consumers ignore fields they do not know."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render() -> str:
    return json.dumps(build_document(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emporium-asyncapi", description=__doc__)
    parser.add_argument("--write", metavar="PATH", help="write the document to PATH")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        with open(args.write, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
