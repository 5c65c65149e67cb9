"""What every cache does, in memory and on real Redis alike."""

from __future__ import annotations

import pytest

from emporium.kit.cache import Cache
from emporium.kit.metrics import REGISTRY
from emporium.kit.testing import eventually


def requests(cache: Cache, result: str) -> float:
    labels = {"cache": cache.namespace, "result": result}
    return REGISTRY.get_sample_value("emporium_cache_requests_total", labels) or 0.0


async def test_a_stored_value_comes_back_byte_for_byte(cache: Cache) -> None:
    value = bytes(range(256)) * 4
    await cache.set("blob", value)
    assert await cache.get("blob") == value


async def test_a_key_never_set_is_missing(cache: Cache) -> None:
    assert await cache.get("nothing-here") is None


async def test_setting_again_replaces_the_value(cache: Cache) -> None:
    await cache.set("k", b"one")
    await cache.set("k", b"two")
    assert await cache.get("k") == b"two"


async def test_delete_forgets_every_key_given_and_ignores_missing_ones(cache: Cache) -> None:
    await cache.set("a", b"1")
    await cache.set("b", b"2")
    await cache.set("c", b"3")
    await cache.delete("a", "b", "never-set")
    assert await cache.get("a") is None
    assert await cache.get("b") is None
    assert await cache.get("c") == b"3"


async def test_an_entry_expires_after_its_ttl(cache: Cache) -> None:
    await cache.set("short", b"x", ttl=0.2)
    await cache.set("long", b"y", ttl=60)

    async def expired() -> bool:
        return await cache.get("short") is None

    await eventually(expired, timeout=10)
    assert await cache.get("long") == b"y"


async def test_lookups_are_counted_as_hits_and_misses(cache: Cache) -> None:
    await cache.set("present", b"1")
    hits, misses = requests(cache, "hit"), requests(cache, "miss")
    await cache.get("present")
    await cache.get("absent")
    await cache.get("absent")
    assert requests(cache, "hit") == hits + 1
    assert requests(cache, "miss") == misses + 2
    assert requests(cache, "bypass") == 0


async def test_namespaces_keep_equal_keys_apart(cache: Cache, neighbour: Cache) -> None:
    await cache.set("same", b"mine")
    await neighbour.set("same", b"theirs")
    assert await cache.get("same") == b"mine"
    assert await neighbour.get("same") == b"theirs"
    assert cache.full_key("same") == f"{cache.namespace}:same"


async def test_a_peer_sees_what_was_stored(cache: Cache, peer: Cache) -> None:
    await cache.set("shared", b"v")
    assert await peer.get("shared") == b"v"
    await peer.delete("shared")
    assert await cache.get("shared") is None


async def test_a_bump_moves_every_versioned_key_to_a_new_generation(
    cache: Cache, peer: Cache
) -> None:
    page1 = await cache.versioned("products", "page=1")
    await cache.set(page1, b"old listing")
    assert await peer.versioned("products", "page=1") == page1  # everyone agrees
    assert await cache.versioned("products", "page=1") == page1  # stable until bumped

    await peer.bump("products")

    fresh = await cache.versioned("products", "page=1")
    assert fresh != page1
    assert await cache.get(fresh) is None
    assert await cache.versioned("orders", "page=1") != fresh  # other families untouched


async def test_a_lock_is_held_until_its_owner_releases_it(cache: Cache, peer: Cache) -> None:
    token = await cache.lock("job", ttl=30)
    assert token is not None
    assert await peer.lock("job", ttl=30) is None
    await peer.unlock("job", "not-the-token")  # a stranger cannot release it
    assert await peer.lock("job", ttl=30) is None
    await cache.unlock("job", token)
    assert await peer.lock("job", ttl=30) is not None


async def test_a_lock_expires_by_itself(cache: Cache, peer: Cache) -> None:
    assert await cache.lock("job", ttl=0.2) is not None

    async def free() -> bool:
        return await peer.lock("job", ttl=30) is not None

    await eventually(free, timeout=10)


async def test_ping_answers_when_the_backend_is_up(cache: Cache) -> None:
    assert await cache.ping()
    assert cache.available


async def test_a_ttl_must_be_positive(cache: Cache) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await cache.set("k", b"v", ttl=0)
