"""The schema-evolution gate: a breaking edit to a published event version fails here."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import pytest
from pydantic import Field

from emporium.contracts.asyncapi import event_schema
from emporium.contracts.base import REGISTRY, EventData
from emporium.contracts.compatibility import breaking_changes, current_schemas, load_lock


def test_every_published_event_version_is_still_readable_by_its_consumers() -> None:
    problems = breaking_changes(load_lock(), current_schemas())
    assert problems == [], "\n".join(problems)


def test_every_event_version_in_the_code_is_recorded_in_the_lock() -> None:
    missing = sorted(set(current_schemas()) - set(load_lock()))
    assert missing == [], f"run `uv run emporium-contracts-lock` to record {missing}"


def _schema_of(**fields: Any) -> dict[str, Any]:
    """The schema of a throwaway event class with ``fields`` (not registered)."""
    namespace: dict[str, Any] = {"__annotations__": {}}
    for name, (annotation, default) in fields.items():
        namespace["__annotations__"][name] = annotation
        if default is not ...:
            namespace[name] = default
    namespace["topic"] = "test.events"
    model = type("Probe", (EventData,), namespace)
    return event_schema(model)


BASE = {"order_id": (str, ...), "amount": (int, ...), "note": (str | None, None)}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"note": None}, "note: removed"),
        ({"amount": (str, ...)}, "amount: type changed"),
        ({"note": (str, ...)}, "note: optional field became required"),
        ({"coupon": (str, ...)}, "coupon: new required field"),
        ({"order_id": None}, "order_id: removed"),
    ],
)
def test_breaking_edits_are_reported(change: dict[str, Any], expected: str) -> None:
    new_fields = dict(BASE)
    for name, value in change.items():
        if value is None:
            new_fields.pop(name)
        else:
            new_fields[name] = value
    old = {"test.Probe.v1": _schema_of(**BASE)}
    new = {"test.Probe.v1": _schema_of(**new_fields)}
    problems = breaking_changes(old, new)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    "change",
    [
        {"coupon": (str | None, None)},
        {"discount": (int, 0)},
        {},
    ],
)
def test_compatible_edits_pass(change: dict[str, Any]) -> None:
    old = {"test.Probe.v1": _schema_of(**BASE)}
    new = {"test.Probe.v1": _schema_of(**{**BASE, **change})}
    assert breaking_changes(old, new) == []


def test_a_removed_event_version_is_breaking() -> None:
    old = {"test.Probe.v1": _schema_of(**BASE)}
    assert breaking_changes(old, {}) == ["test.Probe.v1: removed while consumers may still read it"]


def test_a_nested_field_retyped_is_breaking() -> None:
    locked = load_lock()
    placed = copy.deepcopy(locked["orders.OrderPlaced.v1"])
    line = placed["$defs"]["OrderLine"]
    line["properties"]["quantity"] = {"type": "string"}
    problems = breaking_changes(locked, {**locked, "orders.OrderPlaced.v1": placed})
    assert any("lines" in p and "type changed" in p for p in problems), problems


def test_a_new_version_beside_the_old_one_is_the_way_to_break() -> None:
    class OrderNoted(EventData):
        event_name: ClassVar[str] = "OrderNotedProbe"
        version: ClassVar[int] = 2
        topic: ClassVar[str] = "orders.events"
        order_id: str
        text: str = Field(min_length=1)

    try:
        assert OrderNoted.type_name() == "orders.OrderNotedProbe.v2"
        assert REGISTRY["orders.OrderNotedProbe.v2"] is OrderNoted
    finally:
        REGISTRY.pop("orders.OrderNotedProbe.v2")
