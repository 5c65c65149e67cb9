"""The fair line's rules: at most ``limit`` callers in, first come first served, a bounded
wait that ends in False, and a slot never lost nor counted twice when a caller gives up or
is cancelled, even in the loop turn it is handed the slot.

Everything is counted in loop turns (``asyncio.sleep(0)``) and futures, never in seconds:
a wait meant to run out is below the loop clock's resolution (``DUE``), so its timeout is
due on the loop's next turn, and a wait meant to last is an hour (``LONG``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any

import pytest

from emporium.kit.admission import FairLine

#: A wait too short for the loop's clock (``time() + DUE == time()``): ``asyncio.timeout``
#: then schedules its expiry for the next loop turn instead of a moment in time.
DUE = 5e-324
#: A wait that never runs out within a test.
LONG = 3600.0


async def _turns(n: int = 4) -> None:
    """Let the loop run ``n`` turns (a hand-off or a cancel settles within three)."""
    for _ in range(n):
        await asyncio.sleep(0)


async def _result(task: asyncio.Task[bool], turns: int = 4) -> bool:
    """``task``'s result once it had ``turns`` loop turns to settle (it must be done by then:
    a line that lost a slot fails here instead of hanging)."""
    await _turns(turns)
    assert task.done(), "still waiting after the hand-off had time to settle"
    return task.result()


async def _all_done(tasks: list[asyncio.Task[None]], turns: int) -> None:
    await _turns(turns)
    assert all(task.done() for task in tasks), "a caller is still waiting"
    for task in tasks:
        task.result()  # its own assertions, if any failed


def _at_once(coroutine: Coroutine[Any, Any, bool]) -> bool:
    """The result of a coroutine that must finish without suspending even once."""
    with pytest.raises(StopIteration) as stop:
        coroutine.send(None)
    result: bool = stop.value.value
    return result


def _filled(limit: int) -> FairLine:
    line = FairLine(limit)
    for _ in range(limit):
        assert line.try_enter()
    return line


def _enter(line: FairLine, wait: float = LONG) -> asyncio.Task[bool]:
    return asyncio.create_task(line.enter(wait))


# -- the limit -----------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [0, -1, -100])
def test_a_limit_below_one_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FairLine(limit)


@pytest.mark.parametrize("limit", [1, 2, 3, 8])
def test_at_most_limit_callers_are_in_and_a_free_slot_needs_no_wait(limit: int) -> None:
    line = FairLine(limit)
    for held in range(limit):
        assert _at_once(line.enter(LONG))  # a free slot: taken without one loop turn
        assert line.in_use == held + 1
    assert not line.try_enter()
    assert line.in_use == limit
    assert line.waiting == 0  # try_enter never queues


@pytest.mark.parametrize(("limit", "callers"), [(1, 5), (2, 7), (3, 3), (4, 20)])
async def test_many_callers_never_hold_more_than_limit_slots(limit: int, callers: int) -> None:
    line = FairLine(limit)
    inside = most = 0

    async def call() -> None:
        nonlocal inside, most
        assert await line.enter(LONG)
        inside += 1
        most = max(most, inside)
        await _turns(2)  # hold the slot across loop turns, as a real call does
        inside -= 1
        line.leave()

    await _all_done([asyncio.create_task(call()) for _ in range(callers)], turns=4 * callers)
    assert most == min(limit, callers)
    assert (line.in_use, line.waiting) == (0, 0)


# -- first come, first served --------------------------------------------------------------


@pytest.mark.parametrize(("limit", "callers"), [(1, 3), (1, 10), (2, 9), (3, 12)])
async def test_slots_go_to_waiters_in_the_order_they_came(limit: int, callers: int) -> None:
    line = _filled(limit)
    served: list[int] = []

    async def call(n: int) -> None:
        assert await line.enter(LONG)
        served.append(n)
        await asyncio.sleep(0)
        line.leave()

    tasks = []
    for n in range(callers):
        tasks.append(asyncio.create_task(call(n)))
        await asyncio.sleep(0)  # each joins the line before the next comes
    assert line.waiting == callers
    for _ in range(limit):
        line.leave()
    await _all_done(tasks, turns=4 * callers)
    assert served == list(range(callers))
    assert (line.in_use, line.waiting) == (0, 0)


async def test_a_newcomer_cannot_take_a_slot_handed_to_a_waiter() -> None:
    line = _filled(1)
    waiter = _enter(line)
    await asyncio.sleep(0)
    line.leave()  # handed on: the waiter has not even run yet
    assert not waiter.done()
    assert not line.try_enter()  # so the newcomer finds no free slot
    late = _enter(line)
    assert await _result(waiter)
    await asyncio.sleep(0)
    assert not late.done()  # it waits behind, it did not overtake
    assert line.in_use == 1
    line.leave()
    assert await _result(late)
    line.leave()
    assert line.in_use == 0


async def test_a_slot_freed_with_nobody_in_line_goes_back_to_the_pool() -> None:
    line = _filled(2)
    first = _enter(line)
    await asyncio.sleep(0)
    line.leave()
    line.leave()  # one slot to the waiter, one back to the pool
    assert await _result(first)
    assert line.in_use == 1
    assert line.try_enter()  # the line is empty now: a free slot is free
    assert line.in_use == 2


# -- the bounded wait ----------------------------------------------------------------------


@pytest.mark.parametrize("wait", [0.0, -1.0])
def test_no_wait_at_all_is_a_false_at_once_without_joining(wait: float) -> None:
    line = _filled(1)
    assert _at_once(line.enter(wait)) is False
    assert (line.in_use, line.waiting) == (1, 0)


@pytest.mark.parametrize("behind", [0, 1, 5])
async def test_a_wait_that_runs_out_is_false_and_leaves_no_trace(behind: int) -> None:
    line = _filled(1)
    others = [_enter(line) for _ in range(behind)]
    await asyncio.sleep(0)
    assert not await line.enter(DUE)
    assert (line.in_use, line.waiting) == (1, behind)
    for n in range(behind):
        line.leave()
        assert await _result(others[n])  # the slots skipped the one that gave up
    line.leave()
    assert (line.in_use, line.waiting) == (0, 0)


async def test_a_timed_out_waiter_ahead_is_skipped_in_the_turn_it_gives_up() -> None:
    line = _filled(1)
    quitter = _enter(line, DUE)  # its timeout is due on the turn after it joins
    stayer = _enter(line)
    await asyncio.sleep(0)  # both join; the quitter's expiry is scheduled
    await asyncio.sleep(0)  # the expiry ran: its wait is cancelled, its task not yet run
    assert not quitter.done()
    line.leave()  # must go past the quitter, to the stayer
    assert await _result(quitter) is False
    assert await _result(stayer) is True
    assert (line.in_use, line.waiting) == (1, 0)


# -- cancelled waiters ---------------------------------------------------------------------


@pytest.mark.parametrize(("waiters", "cancelled"), [(1, 0), (3, 0), (3, 1), (3, 2), (6, 4)])
async def test_a_waiter_cancelled_in_line_gives_its_place_up(waiters: int, cancelled: int) -> None:
    line = _filled(1)
    tasks = [_enter(line) for _ in range(waiters)]
    await asyncio.sleep(0)
    tasks[cancelled].cancel()
    await _turns()
    assert tasks[cancelled].cancelled()
    assert line.waiting == waiters - 1
    rest = [task for n, task in enumerate(tasks) if n != cancelled]
    for task in rest:
        line.leave()
        assert await _result(task)
    line.leave()
    assert (line.in_use, line.waiting) == (0, 0)
    assert line.try_enter()  # nobody is left in a line that would block a newcomer


@pytest.mark.parametrize("behind", [0, 1, 3])
async def test_a_waiter_cancelled_just_after_its_hand_off_passes_the_slot_on(behind: int) -> None:
    line = _filled(1)
    first = _enter(line)
    others = [_enter(line) for _ in range(behind)]
    await asyncio.sleep(0)
    line.leave()  # the slot goes to ``first`` ...
    first.cancel()  # ... cancelled in the same turn, before it could run
    await _turns()
    assert first.cancelled()
    if behind:
        assert await _result(others[0])  # it went on to the next caller in line
        assert (line.in_use, line.waiting) == (1, behind - 1)
        for task in others[1:]:
            line.leave()
            assert await _result(task)
        line.leave()
    assert (line.in_use, line.waiting) == (0, 0)


# -- a hand-off racing the end of a wait ---------------------------------------------------


@pytest.mark.parametrize("behind", [0, 1, 4])
async def test_a_slot_handed_on_as_the_wait_runs_out_is_kept_and_counted_once(
    behind: int,
) -> None:
    line = _filled(1)
    racer = _enter(line, DUE)  # joins, and its expiry is due on the next turn
    others = [_enter(line) for _ in range(behind)]
    await asyncio.sleep(0)
    line.leave()  # the hand-off: in the turn before the expiry runs
    assert not racer.done()
    assert await _result(racer) is True  # woken by the expiry, yet handed the slot: it is its
    assert (line.in_use, line.waiting) == (1, behind)  # one slot, held once
    await _turns()
    assert not any(task.done() for task in others)  # nobody got the slot a second time
    for task in others:
        line.leave()
        assert await _result(task)
    line.leave()
    assert (line.in_use, line.waiting) == (0, 0)


# -- what a release is told ------------------------------------------------------------


async def test_each_release_is_told_whether_the_slot_went_on_or_back() -> None:
    told: list[bool] = []
    line = FairLine(1, on_release=told.append)
    assert line.try_enter()
    first, second = _enter(line), _enter(line)
    await asyncio.sleep(0)
    line.leave()  # to ``first``, which is cancelled before it runs: on to ``second``
    first.cancel()
    assert await _result(second)
    line.leave()  # nobody in line: back to the pool
    assert told == [True, True, False]
    assert first.cancelled()
    assert (line.in_use, line.waiting) == (0, 0)


# -- every rule at once, against a model ---------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
async def test_random_arrivals_leaves_and_cancels_match_a_model_line(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.randint(1, 4)
    line = FairLine(limit)
    holders: list[asyncio.Task[bool]] = []  # model: in the order they got in
    queue: list[asyncio.Task[bool]] = []  # model: the line, first first

    def hand_on() -> None:
        if queue:
            holders.append(queue.pop(0))  # the real line must pick the same one: FIFO

    for _ in range(60):
        move = rng.choice(["arrive", "arrive", "leave", "cancel", "cancel_handed"])
        if move == "arrive":
            task = _enter(line)
            if len(holders) < limit and not queue:
                holders.append(task)
            else:
                queue.append(task)
        elif move == "leave" and holders:
            holders.pop(rng.randrange(len(holders)))
            line.leave()
            hand_on()
        elif move == "cancel" and queue:
            queue.pop(rng.randrange(len(queue))).cancel()
        elif move == "cancel_handed" and holders and queue:
            holders.pop(rng.randrange(len(holders)))
            line.leave()  # to the head of the line, which is cancelled in the same turn
            head = queue.pop(0)
            head.cancel()
            hand_on()  # so the slot goes on to the next one
        await _turns()
        assert line.in_use == len(holders) <= limit
        assert line.waiting == len(queue)
        assert all(task.done() and task.result() for task in holders)
        assert not any(task.done() for task in queue)
    for task in queue:
        task.cancel()
    await _turns()
    assert all(task.cancelled() for task in queue)
    assert line.waiting == 0
