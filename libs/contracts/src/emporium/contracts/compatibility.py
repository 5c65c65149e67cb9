"""Schema evolution rules: what a change to an existing event version may and may not do.

A versioned type (``orders.OrderPlaced.v1``) is a promise to every consumer. Within one
version a producer may add optional fields (consumers ignore what they do not know) and
document more; it may not remove or retype a field, make an optional field required, or add
a required field (a consumer of the new shape would fail on the older events still in the
topic). Anything else needs a new version, published beside the old one.

``schemas.json`` beside this module is the append-only record of every published version;
``emporium-contracts-lock`` adds new versions to it and refuses breaking edits.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from emporium.contracts.asyncapi import event_schema
from emporium.contracts.base import REGISTRY

__all__ = ["LOCK_PATH", "breaking_changes", "current_schemas", "load_lock", "main"]

LOCK_PATH = Path(__file__).with_name("schemas.json")


def current_schemas() -> dict[str, dict[str, Any]]:
    return {name: event_schema(REGISTRY[name]) for name in sorted(REGISTRY)}


def load_lock(path: Path = LOCK_PATH) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    data: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: dict[str, Any] = root["$defs"][ref.removeprefix("#/$defs/")]
        return resolved
    return schema


def _shape(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """A comparable form of a property's type, ignoring titles, descriptions and defaults."""
    schema = _resolve(schema, root)
    ignored = {"title", "description", "default", "examples"}
    out: dict[str, Any] = {}
    for key, value in sorted(schema.items()):
        if key in ignored:
            continue
        if key == "properties":
            out[key] = {n: _shape(v, root) for n, v in sorted(value.items())}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _shape(value, root)
        elif key in ("anyOf", "oneOf", "allOf"):
            out[key] = [_shape(v, root) for v in value]
        else:
            out[key] = value
    return out


def _object_items(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any] | None:
    """The item schema of an array of objects (None: not an array of objects)."""
    items = schema.get("items")
    if schema.get("type") != "array" or not isinstance(items, dict):
        return None
    return items if "properties" in _resolve(items, root) else None


def _compare(
    old: dict[str, Any],
    new: dict[str, Any],
    path: str,
    old_root: dict[str, Any],
    new_root: dict[str, Any],
) -> list[str]:
    problems: list[str] = []
    old = _resolve(old, old_root)
    new = _resolve(new, new_root)
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    old_required = set(old.get("required", []))
    new_required = set(new.get("required", []))
    for name, old_prop in old_props.items():
        where = f"{path}.{name}"
        if name not in new_props:
            problems.append(f"{where}: removed")
            continue
        new_prop = new_props[name]
        resolved_old, resolved_new = _resolve(old_prop, old_root), _resolve(new_prop, new_root)
        old_items, new_items = (
            _object_items(resolved_old, old_root),
            _object_items(resolved_new, new_root),
        )
        if "properties" in resolved_old and "properties" in resolved_new:
            problems.extend(_compare(old_prop, new_prop, where, old_root, new_root))
        elif old_items is not None and new_items is not None:
            # A list of objects evolves like an object: its items may gain optional fields.
            problems.extend(_compare(old_items, new_items, f"{where}[]", old_root, new_root))
        elif _shape(old_prop, old_root) != _shape(new_prop, new_root):
            problems.append(f"{where}: type changed")
        if name not in old_required and name in new_required:
            problems.append(f"{where}: optional field became required")
    for name in sorted(new_required - old_required - set(old_props)):
        problems.append(f"{path}.{name}: new required field (make it optional or add a version)")
    return problems


def breaking_changes(
    locked: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]
) -> list[str]:
    """Every way ``current`` would break a consumer of a version recorded in ``locked``."""
    problems: list[str] = []
    for type_name, old in sorted(locked.items()):
        if type_name not in current:
            problems.append(f"{type_name}: removed while consumers may still read it")
            continue
        problems.extend(_compare(old, current[type_name], type_name, old, current[type_name]))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="emporium-contracts-lock",
        description="Record new event versions in schemas.json; refuse breaking edits.",
    )
    parser.parse_args(argv)
    locked, current = load_lock(), current_schemas()
    problems = breaking_changes(locked, current)
    if problems:
        print("Breaking changes to published event versions (add a new version instead):")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    LOCK_PATH.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{LOCK_PATH.name}: {len(current)} event versions recorded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
