"""The reservation rule across locations: properties over generated stock, named cases."""

from __future__ import annotations

from collections import Counter
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emporium.catalog.variants.allocation import (
    Allocation,
    LocationStock,
    Rejection,
    Shortfall,
    allocate,
    check_accounting,
    lock_order,
    release,
    reserve,
    reserved_by_orders,
    ship,
    wanted,
)

SHIRT_S = UUID(int=1)
SHIRT_M = UUID(int=2)
SHIRT_L = UUID(int=3)
LOCATIONS = ["berlin", "default", "vienna", "vienna-2"]

Stock = dict[UUID, list[LocationStock]]


def at(location: str, priority: int, on_hand: int, reserved: int = 0) -> LocationStock:
    return LocationStock(location=location, priority=priority, on_hand=on_hand, reserved=reserved)


@st.composite
def stock_and_lines(draw: st.DrawFn) -> tuple[Stock, list[tuple[UUID, int]]]:
    variants = [UUID(int=n) for n in range(1, draw(st.integers(1, 4)) + 1)]
    stock: Stock = {}
    for variant in variants:
        locations = draw(st.lists(st.sampled_from(LOCATIONS), unique=True, max_size=4))
        rows = []
        for location in locations:
            on_hand = draw(st.integers(0, 20))
            rows.append(
                at(location, draw(st.integers(0, 3)), on_hand, draw(st.integers(0, on_hand)))
            )
        stock[variant] = rows
    lines = draw(
        st.lists(st.tuples(st.sampled_from([*variants, UUID(int=99)]), st.integers(1, 15)),
                 min_size=1, max_size=6)
    )  # fmt: skip
    return stock, lines


def available(stock: Stock) -> dict[tuple[UUID, str], int]:
    return {(v, row.location): row.available for v, rows in stock.items() for row in rows}


@settings(max_examples=300, deadline=None)
@given(stock_and_lines())
def test_allocation_properties(case: tuple[Stock, list[tuple[UUID, int]]]) -> None:
    stock, lines = case
    asked = wanted(lines)
    total = {v: sum(max(r.available, 0) for r in stock.get(v, [])) for v in asked}
    result = allocate(lines, stock)
    if isinstance(result, Rejection):
        # All or nothing: refused exactly when some variant is short, naming each short one.
        assert result.shortfalls == tuple(
            Shortfall(v, requested=q, available=total[v]) for v, q in asked.items() if total[v] < q
        )
        assert result.shortfalls
        return
    assert all(total[v] >= q for v, q in asked.items())
    # Never more than available anywhere, nothing but positive quantities.
    free = available(stock)
    for key, quantity in result.quantities.items():
        assert 0 < quantity <= free[key]
    # The sum per variant is what was asked, nothing for variants not asked.
    assert result.per_variant() == asked
    # Priority order: a location is used only when every one before it is exhausted.
    for variant, rows in stock.items():
        ordered = sorted(rows, key=lambda r: (r.priority, r.location))
        used = [result.quantities.get((variant, r.location), 0) for r in ordered]
        for i, quantity in enumerate(used):
            if quantity:
                assert all(used[j] == free[(variant, ordered[j].location)] for j in range(i))
    # Reserving then releasing gives the rows back; every step keeps the accounting.
    held = reserve(stock, result)
    for rows in held.values():
        for row in rows:
            check_accounting(row.on_hand, row.reserved, row.available, where=row.location)
    assert release(held, result) == {v: list(rows) for v, rows in stock.items()}


def test_fills_the_first_location_then_the_next() -> None:
    stock = {SHIRT_M: [at("vienna", 2, 10), at("default", 1, 3, reserved=1)]}
    result = allocate([(SHIRT_M, 5)], stock)
    assert result == Allocation({(SHIRT_M, "default"): 2, (SHIRT_M, "vienna"): 3})


def test_equal_priorities_go_by_location_code() -> None:
    stock = {SHIRT_S: [at("vienna", 1, 5), at("berlin", 1, 5)]}
    assert allocate([(SHIRT_S, 6)], stock) == Allocation(
        {(SHIRT_S, "berlin"): 5, (SHIRT_S, "vienna"): 1}
    )


def test_one_short_line_rejects_the_whole_order_naming_every_short_variant() -> None:
    stock = {
        SHIRT_S: [at("default", 1, 10)],
        SHIRT_M: [at("default", 1, 2), at("vienna", 2, 1)],
        SHIRT_L: [at("default", 1, 4, reserved=4)],
    }
    result = allocate([(SHIRT_S, 1), (SHIRT_M, 2), (SHIRT_M, 2), (SHIRT_L, 1)], stock)
    assert result == Rejection(
        (Shortfall(SHIRT_M, requested=4, available=3), Shortfall(SHIRT_L, requested=1, available=0))
    )


def test_a_variant_without_stock_rows_has_nothing() -> None:
    assert allocate([(SHIRT_S, 1)], {}) == Rejection((Shortfall(SHIRT_S, 1, 0),))


def test_a_broken_row_gives_nothing_rather_than_a_negative_credit() -> None:
    stock = {SHIRT_S: [at("default", 1, 1, reserved=3), at("vienna", 2, 2)]}
    assert allocate([(SHIRT_S, 2)], stock) == Allocation({(SHIRT_S, "vienna"): 2})


def test_quantities_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        allocate([(SHIRT_S, 0)], {SHIRT_S: [at("default", 1, 5)]})


def test_lock_order_is_variant_then_location_code_point_order() -> None:
    keys = [(SHIRT_M, "vienna"), (SHIRT_S, "vienna-2"), (SHIRT_S, "vienna"), (SHIRT_M, "Berlin")]
    assert lock_order([*keys, keys[0]]) == [
        (SHIRT_S, "vienna"),
        (SHIRT_S, "vienna-2"),
        (SHIRT_M, "Berlin"),  # upper case sorts before lower case: code points, not words
        (SHIRT_M, "vienna"),
    ]


def test_shipping_one_location_leaves_the_rest_reserved() -> None:
    stock = {SHIRT_M: [at("default", 1, 2), at("vienna", 2, 10)]}
    result = allocate([(SHIRT_M, 5)], stock)
    assert isinstance(result, Allocation)
    held = reserve(stock, result)
    shipped = ship(held, result.at("default"))
    assert shipped[SHIRT_M] == [at("default", 1, 0, 0), at("vienna", 2, 10, reserved=3)]
    assert result.without("default") == Allocation({(SHIRT_M, "vienna"): 3})
    assert ship(shipped, result.without("default"))[SHIRT_M] == [
        at("default", 1, 0),
        at("vienna", 2, 7),
    ]


def test_releasing_what_is_not_held_breaks_the_accounting() -> None:
    stock = {SHIRT_S: [at("default", 1, 5, reserved=1)]}
    with pytest.raises(ValueError, match="on_hand=5, reserved=-1"):
        release(stock, Allocation({(SHIRT_S, "default"): 2}))
    with pytest.raises(ValueError, match="no stock row"):
        release(stock, Allocation({(SHIRT_S, "vienna"): 1}))


@pytest.mark.parametrize(("on_hand", "reserved", "available"), [(5, 2, 2), (1, 2, -1), (3, -1, 4)])
def test_check_accounting_names_what_is_wrong(on_hand: int, reserved: int, available: int) -> None:
    with pytest.raises(ValueError, match="on_hand = available \\+ reserved"):
        check_accounting(on_hand, reserved, available, where="vienna")


def test_reserved_is_the_sum_over_open_orders() -> None:
    a = Allocation({(SHIRT_S, "default"): 2, (SHIRT_M, "vienna"): 1})
    b = Allocation({(SHIRT_S, "default"): 3})
    assert reserved_by_orders([a, b]) == {(SHIRT_S, "default"): 5, (SHIRT_M, "vienna"): 1}
    assert Counter(a.per_variant()) == Counter({SHIRT_S: 2, SHIRT_M: 1})
