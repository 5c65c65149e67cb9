"""Reserving an order's variants across stock locations: which units come from where.

The rule, for each variant of the order, is to take units from its locations in priority
order (lower ``priority`` first, ties broken by location code) until the asked quantity is
covered; the whole order is reserved or none of it: if any variant cannot be covered, the
answer is the shortfall of every such variant and nothing is held.

The functions here are pure: the database adapter locks the stock rows (in ``lock_order``),
reads them into ``LocationStock`` values, calls ``allocate`` and writes the deltas back.
Holding the locks from the read to the write is what makes the decision safe under
concurrency; taking them in one global order is what makes it free of deadlocks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from uuid import UUID

__all__ = [
    "Allocation",
    "LocationStock",
    "Rejection",
    "Shortfall",
    "StockKey",
    "allocate",
    "check_accounting",
    "lock_order",
    "release",
    "reserve",
    "reserved_by_orders",
    "ship",
    "wanted",
]

#: One stock row: a variant at a location (the primary key of ``stock_level``).
StockKey = tuple[UUID, str]


@dataclass(frozen=True)
class LocationStock:
    """A variant's units at one location: ``available`` is ``on_hand - reserved``."""

    location: str
    priority: int
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True)
class Shortfall:
    """A variant the order asks more of than all its locations have available."""

    variant_id: UUID
    requested: int
    available: int


@dataclass(frozen=True)
class Allocation:
    """Units held for one order: ``(variant_id, location) → quantity`` (all positive)."""

    quantities: Mapping[StockKey, int]

    def per_variant(self) -> dict[UUID, int]:
        totals = Counter[UUID]()
        for (variant_id, _), quantity in self.quantities.items():
            totals[variant_id] += quantity
        return dict(totals)

    def at(self, location: str) -> Allocation:
        """The part held at ``location`` (what a shipment from there takes)."""
        return _allocation({k: q for k, q in self.quantities.items() if k[1] == location})

    def without(self, location: str) -> Allocation:
        """What is still held once the part at ``location`` is shipped or released."""
        return _allocation({k: q for k, q in self.quantities.items() if k[1] != location})


@dataclass(frozen=True)
class Rejection:
    """Nothing reserved: each variant that could not be covered, in variant-id order."""

    shortfalls: tuple[Shortfall, ...]


def _allocation(quantities: Mapping[StockKey, int]) -> Allocation:
    return Allocation(MappingProxyType(dict(sorted(quantities.items()))))


def wanted(lines: Iterable[tuple[UUID, int]]) -> dict[UUID, int]:
    """The order's lines as quantity per variant (two lines of one variant add up);
    ValueError on a quantity below 1 (the API refuses those long before)."""
    totals = Counter[UUID]()
    for variant_id, quantity in lines:
        if quantity < 1:
            raise ValueError(f"quantity of {variant_id} must be at least 1, not {quantity}")
        totals[variant_id] += quantity
    return dict(sorted(totals.items()))


def _by_priority(locations: Iterable[LocationStock]) -> list[LocationStock]:
    return sorted(locations, key=lambda stock: (stock.priority, stock.location))


def allocate(
    lines: Iterable[tuple[UUID, int]], stock: Mapping[UUID, Sequence[LocationStock]]
) -> Allocation | Rejection:
    """Where each unit of the order comes from, or why the order cannot be reserved.

    ``stock`` holds, per variant, its rows at every location (a variant missing from it,
    or with no rows, has nothing available). A row whose ``available`` is not positive
    gives nothing (``reserved > on_hand`` is a broken row, never a negative credit).
    """
    quantities: dict[StockKey, int] = {}
    shortfalls: list[Shortfall] = []
    for variant_id, asked in wanted(lines).items():
        rows = _by_priority(stock.get(variant_id, ()))
        total = sum(max(row.available, 0) for row in rows)
        if total < asked:
            shortfalls.append(Shortfall(variant_id, requested=asked, available=total))
            continue
        remaining = asked
        for row in rows:
            take = min(remaining, max(row.available, 0))
            if take > 0:
                quantities[(variant_id, row.location)] = take
                remaining -= take
            if remaining == 0:
                break
    if shortfalls:
        return Rejection(tuple(shortfalls))
    return _allocation(quantities)


def lock_order(keys: Iterable[StockKey]) -> list[StockKey]:
    """The order in which a transaction must lock stock rows: ascending
    ``(variant_id, location_code)``.

    Why no deadlock: every transaction (reserve, release, ship, an admin's ``PUT .../stock``)
    takes its row locks in this one total order, and only ever waits for a row above all the
    rows it holds. A deadlock is a cycle T1 → T2 → … → T1 of transactions each waiting for a
    row the next one holds; along such a cycle the awaited rows would have to increase
    strictly (each waiter holds only rows below the one it waits for, and the holder of that
    row waits for one above it) and come back to where they started, which a total order
    makes impossible.

    The reservation locks *all* rows of its variants, not only the ones it will use: which
    locations are used depends on what is available, and that may only be read under lock.

    For the SQL adapter: ``ORDER BY variant_id, location_code COLLATE "C" FOR UPDATE`` locks
    rows in this order (UUIDs compare bytewise in both PostgreSQL and Python; ``COLLATE
    "C"`` makes text compare by code point as Python's ``sorted`` does, where a linguistic
    collation would ignore ``-`` and disagree with other code paths that sort in Python).
    """
    return sorted(set(keys))


# Applying a decision to the rows it was made on: the adapter writes these values back.


def _apply(
    stock: Mapping[UUID, Sequence[LocationStock]],
    allocation: Allocation,
    *,
    reserved: int,
    on_hand: int,
) -> dict[UUID, list[LocationStock]]:
    """``stock`` after each allocated quantity ``q`` moved ``reserved`` by ``reserved * q``
    and ``on_hand`` by ``on_hand * q``; ValueError if a row is missing or would break the
    accounting (the adapter is then working on rows other than the locked ones)."""
    result: dict[UUID, list[LocationStock]] = {}
    used: set[StockKey] = set()
    for variant_id, rows in stock.items():
        new_rows: list[LocationStock] = []
        for row in rows:
            q = allocation.quantities.get((variant_id, row.location), 0)
            if q:
                used.add((variant_id, row.location))
                row = replace(row, reserved=row.reserved + reserved * q,
                              on_hand=row.on_hand + on_hand * q)  # fmt: skip
                check_accounting(row.on_hand, row.reserved, row.available, where=row.location)
            new_rows.append(row)
        result[variant_id] = new_rows
    missing = set(allocation.quantities) - used
    if missing:
        raise ValueError(f"no stock row for {sorted(missing)}")
    return result


def reserve(
    stock: Mapping[UUID, Sequence[LocationStock]], allocation: Allocation
) -> dict[UUID, list[LocationStock]]:
    """The rows once ``allocation`` is held: ``reserved`` up, ``on_hand`` unchanged."""
    return _apply(stock, allocation, reserved=+1, on_hand=0)


def release(
    stock: Mapping[UUID, Sequence[LocationStock]], allocation: Allocation
) -> dict[UUID, list[LocationStock]]:
    """The rows once ``allocation`` is given back (order cancelled): ``reserved`` down."""
    return _apply(stock, allocation, reserved=-1, on_hand=0)


def ship(
    stock: Mapping[UUID, Sequence[LocationStock]], allocation: Allocation
) -> dict[UUID, list[LocationStock]]:
    """The rows once ``allocation`` has left the shelves: ``reserved`` and ``on_hand``
    down (ship one location's part with ``allocation.at(location)``)."""
    return _apply(stock, allocation, reserved=-1, on_hand=-1)


def check_accounting(on_hand: int, reserved: int, available: int, *, where: str = "") -> None:
    """The invariant of every stock row: ``on_hand = available + reserved`` with
    ``0 <= reserved <= on_hand`` (so ``available >= 0``); ValueError naming the row if not.

    The database holds ``0 <= reserved <= on_hand`` as CHECK constraints and computes
    ``available``; the three numbers are checked together because the API's and events'
    copies of a row carry all three (``GET /admin/variants/{id}/stock``, ``StockChanged``).
    """
    if not (0 <= reserved <= on_hand and on_hand == available + reserved):
        raise ValueError(
            f"stock{' at ' + where if where else ''} breaks on_hand = available + reserved "
            f"with 0 <= reserved <= on_hand: on_hand={on_hand}, reserved={reserved}, "
            f"available={available}"
        )


def reserved_by_orders(open_allocations: Iterable[Allocation]) -> dict[StockKey, int]:
    """What ``reserved`` must be on each row: the sum over the open orders' allocations
    (the concurrency test compares it with the rows after the storm)."""
    totals = Counter[StockKey]()
    for allocation in open_allocations:
        totals.update(allocation.quantities)
    return dict(sorted(totals.items()))
