"""The in-process cache stays within its bounds by evicting the least recently used."""

from __future__ import annotations

import pytest

from emporium.kit.cache import MemoryCache


async def test_past_max_entries_the_least_recently_used_entry_goes(unique: str) -> None:
    cache = MemoryCache(unique, max_entries=3)
    await cache.set("a", b"1")
    await cache.set("b", b"2")
    await cache.set("c", b"3")
    assert await cache.get("a") == b"1"  # a is now more recent than b

    await cache.set("d", b"4")

    assert len(cache) == 3
    assert await cache.get("b") is None
    assert [await cache.get(k) for k in ("a", "c", "d")] == [b"1", b"3", b"4"]


async def test_past_max_bytes_old_entries_make_room(unique: str) -> None:
    cache = MemoryCache(unique, max_bytes=10_000)
    for i in range(10):
        await cache.set(f"k{i}", bytes(2_000))
    assert cache.size_bytes <= 10_000
    assert await cache.get("k9") is not None
    assert await cache.get("k0") is None


async def test_a_value_larger_than_the_whole_cache_is_not_kept(unique: str) -> None:
    cache = MemoryCache(unique, max_bytes=1_000)
    await cache.set("small", b"s")
    await cache.set("huge", bytes(5_000))
    assert await cache.get("huge") is None
    assert await cache.get("small") == b"s"


async def test_replacing_a_value_accounts_for_its_new_size(unique: str) -> None:
    cache = MemoryCache(unique)
    await cache.set("k", bytes(1_000))
    await cache.set("k", bytes(10))
    assert cache.size_bytes == len(cache.full_key("k")) + 10
    await cache.delete("k")
    assert cache.size_bytes == 0
    assert len(cache) == 0


def test_bounds_must_be_positive(unique: str) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(unique, max_entries=0)
