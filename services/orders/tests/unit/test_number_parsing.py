"""Cursors and event ids from the client are bounded: a 422 problem, never a 500."""

from __future__ import annotations

import base64
import uuid

import pytest

from emporium.orders.common import BadCursor, decode_cursor, encode_cursor
from emporium.orders.order.stream import MAX_EVENT_ID, resume_after, status_events


def test_a_cursor_round_trips() -> None:
    last = uuid.uuid4()
    assert decode_cursor(encode_cursor(last)) == last


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "x",
        "!!!!",
        "é",
        base64.urlsafe_b64encode(b"\x00" * 15).decode(),
        base64.urlsafe_b64encode(b"\x00" * 17).decode(),
        base64.urlsafe_b64encode((2**200).to_bytes(26, "big")).decode(),
        "A" * 25,
        "A" * 100_000,
    ],
)
def test_anything_but_a_cursor_we_gave_out_is_a_bad_cursor(cursor: str) -> None:
    with pytest.raises(BadCursor):
        decode_cursor(cursor)


@pytest.mark.parametrize("after", [-1, MAX_EVENT_ID + 1, 2**64, 10**30])
async def test_the_stream_refuses_a_sequence_number_beyond_64_bits(after: int) -> None:
    stream = status_events(None, uuid.uuid4(), after_seq=after)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="after_seq"):
        await anext(stream)


@pytest.mark.parametrize(
    ("after", "last", "final", "expected"),
    [
        (0, 0, False, 0),
        (0, 3, False, 0),
        (1, 3, False, 1),
        (2, 3, True, 2),  # the final entry not seen yet: it is sent
        (3, 3, True, None),  # the final entry seen: end at once
        (9, 3, True, None),
        (MAX_EVENT_ID, 3, True, None),
        (3, 3, False, 3),  # caught up on a live order: wait for what comes next
        (9, 3, False, 3),  # an id from the future: resume after the last real entry
        (MAX_EVENT_ID, 0, False, 0),  # no history yet
    ],
)
def test_a_stream_resumes_after_the_last_entry_it_can_have_sent(
    after: int, last: int, final: bool, expected: int | None
) -> None:
    assert resume_after(after, last, last_is_final=final) == expected
