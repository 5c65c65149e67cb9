from __future__ import annotations

from pathlib import Path

from emporium.contracts import REGISTRY
from emporium.contracts.asyncapi import build_document, render

DOC = Path(__file__).parents[3] / "docs" / "asyncapi.json"


def test_every_event_type_is_a_message_on_its_topic_channel() -> None:
    document = build_document()
    assert document["asyncapi"].startswith("3.")
    names = {m["name"] for m in document["components"]["messages"].values()}
    assert names == set(REGISTRY)
    addresses = {c["address"] for c in document["channels"].values()}
    assert addresses == {"catalog.events", "customers.events", "orders.events"}
    placed = document["components"]["messages"]["orders_OrderPlaced_v1"]
    assert placed["payload"]["properties"]["type"] == {"const": "orders.OrderPlaced.v1"}
    assert "lines" in placed["payload"]["properties"]["data"]["properties"]


def test_the_committed_document_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/asyncapi.json is stale: run `uv run emporium-asyncapi --write docs/asyncapi.json`"
    )
