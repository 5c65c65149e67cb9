from __future__ import annotations

import time
import uuid

from emporium.kit.ids import request_id, uuid7


def test_uuid7_is_version_7_with_rfc_variant() -> None:
    value = uuid7()
    assert value.version == 7
    assert value.variant == "specified in RFC 4122"


def test_uuid7_ids_made_in_a_row_are_strictly_increasing_and_unique() -> None:
    ids = [uuid7() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_uuid7_carries_the_current_unix_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= value.int >> 80 <= after + 1


def test_a_request_id_is_a_uuid7s_hex_with_the_current_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    ids = [request_id() for _ in range(20_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for text in ids:
        value = uuid.UUID(hex=text)
        assert text == value.hex  # 32 lower-case hex digits, as uuid7().hex
        assert value.version == 7
        assert value.variant == "specified in RFC 4122"
        assert before <= value.int >> 80 <= after
    # Time-ordered to the millisecond: log lines sort by their request ids.
    assert [text[:12] for text in ids] == sorted(text[:12] for text in ids)
