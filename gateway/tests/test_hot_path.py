"""The request path's speed work, as a user sees it: a stampede of cold GETs makes one
upstream call, cached tokens are still refused once revoked, stored answers are dropped by
family and never re-stored from a fetch older than an invalidation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import jwt
import pytest
from fastapi import FastAPI

from emporium.gateway.answers import MemoryAnswers, RedisAnswers
from emporium.gateway.auth import REFUSED_SECONDS, VerifiedTokens
from emporium.gateway.proxy import Gateway
from emporium.gateway.response_cache import families_of, write_families
from emporium.gateway.testing import GatewayFactory, Servers
from emporium.kit.auth import TokenVerifier
from emporium.kit.auth.denylist import CacheDenylist
from emporium.kit.errors import Unauthorized
from emporium.kit.testing.tokens import TokenMint


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, unique: str) -> dict[str, str | None]:
    if request.param == "memory":
        return {"redis_url": None, "cache_namespace": unique}
    return {"redis_url": request.getfixturevalue("redis_url"), "cache_namespace": unique}


class _SlowCatalog:
    """A catalog whose product answer takes ``delay``; counts the calls it gets."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/readyz")
        async def readyz() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/products/{product_id}")
        async def product(product_id: uuid.UUID) -> dict[str, object]:
            self.calls += 1
            await asyncio.sleep(self.delay)
            return {"id": str(product_id), "availability": {"available": 3}}

        return app


async def test_a_thousand_concurrent_cold_gets_make_one_upstream_call(
    gateway: GatewayFactory, servers: Servers, store: dict[str, str | None]
) -> None:
    catalog = _SlowCatalog(delay=0.5)
    gw = await gateway(
        catalog_url=await servers.start(catalog.app()),
        rate_limit_anonymous=100_000,
        response_cache_seconds=120,
        **store,
    )
    product = uuid.uuid4()
    url = f"{gw.url}/api/v1/products/{product}"

    async def get(session: aiohttp.ClientSession) -> tuple[int, bytes]:
        async with session.get(url) as answer:
            return answer.status, await answer.read()

    # aiohttp: a thousand connections at once (httpx takes minutes for that on 2 cores).
    connector = aiohttp.TCPConnector(limit=1000)
    async with aiohttp.ClientSession(connector=connector) as session:
        answers = await asyncio.gather(*(get(session) for _ in range(1000)))
    assert sorted({status for status, _ in answers}) == [200]
    assert len({body for _, body in answers}) == 1
    assert catalog.calls == 1
    again = await gw.client.get(f"/api/v1/products/{product}")
    assert again.headers["x-cache"] == "HIT"
    assert catalog.calls == 1


async def test_a_cached_token_is_refused_once_revoked(
    gateway: GatewayFactory, store: dict[str, str | None]
) -> None:
    gw = await gateway(**store)
    token = gw.mint.token(uuid.uuid4())
    me = {"Authorization": f"Bearer {token}"}
    for _ in range(3):  # the first verifies it, the others find it in the token cache
        assert (await gw.client.get("/api/v1/cart", headers=me)).status_code == 200
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    await gw.resources.get(CacheDenylist).revoke(
        jti, expires_at=datetime.now(UTC) + timedelta(minutes=5)
    )
    refused = await gw.client.get("/api/v1/cart", headers=me)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert "revoked" in refused.json()["detail"]
    # A public call with the revoked token is served as an anonymous one.
    assert (await gw.client.get("/api/v1/products", headers=me)).status_code == 200
    assert (await gw.client.get("/api/v1/orders", headers=me)).status_code == 401


async def test_the_token_cache_keeps_a_token_until_it_expires() -> None:
    mint = TokenMint()
    now = [0.0]
    verifier = TokenVerifier(mint.keys(), issuer=mint.issuer, audience=mint.audience)
    tokens = VerifiedTokens(verifier, max_entries=2, clock=lambda: now[0])
    token = mint.token(uuid.uuid4(), ttl=300)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    now[0] = expires - 10
    assert not (await tokens.verify(token)).recheck  # verified now
    assert (await tokens.verify(token)).recheck  # from the cache
    now[0] = expires
    assert not (await tokens.verify(token)).recheck  # expired in the cache: verified again
    for _ in range(2):  # two others push it out (bounded)
        await tokens.verify(mint.token(uuid.uuid4()))
    assert not (await tokens.verify(token)).recheck


def test_an_answer_belongs_to_the_catalog_family_of_its_path() -> None:
    product = uuid.uuid4()
    assert families_of(("products", str(product))) == (f"product:{product}",)
    assert families_of(("products", str(product).upper())) == (f"product:{product}",)
    assert families_of(("products",)) == ("listing",)
    assert families_of(("categories",)) == ("categories",)
    assert write_families(("admin", "products", str(product), "stock")) == (f"product:{product}",)
    assert write_families(("admin", "variants", str(product), "stock", "default")) == ()
    assert set(write_families(("admin", "products", str(product)))) == {
        "listing",
        f"product:{product}",
    }
    assert write_families(("admin", "variants", str(product))) == ("listing",)
    assert set(write_families(("admin", "categories"))) == {"categories", "listing"}


@pytest.fixture(params=["memory", "redis"])
async def answers(
    request: pytest.FixtureRequest, unique: str
) -> AsyncIterator[RedisAnswers | MemoryAnswers]:
    if request.param == "memory":
        yield MemoryAnswers()
        return
    from redis.asyncio import Redis

    client = Redis.from_url(request.getfixturevalue("redis_url"))
    try:
        yield RedisAnswers(client, prefix=f"{unique}:")
    finally:
        await client.aclose()


async def _get(answers: RedisAnswers | MemoryAnswers, key: str) -> bytes | None:
    if isinstance(answers, MemoryAnswers):
        return answers.get(key)
    value: bytes | None = await answers._client.get(key)
    return value


async def test_invalidating_a_family_drops_its_answers_only(
    answers: RedisAnswers | MemoryAnswers,
) -> None:
    a, b = f"product:{uuid.uuid4()}", f"product:{uuid.uuid4()}"
    for key, family in (("a", a), ("b", b), ("list", "listing")):
        assert await answers.store(answers.key(key), b"x", ttl=60, families=[family], seq=0)
    assert (await answers.invalidate([a, "listing"])).answers == 2
    assert await _get(answers, answers.key("a")) is None
    assert await _get(answers, answers.key("list")) is None
    assert await _get(answers, answers.key("b")) == b"x"


async def test_a_fetch_older_than_an_invalidation_is_not_stored(
    answers: RedisAnswers | MemoryAnswers,
) -> None:
    family = f"product:{uuid.uuid4()}"
    await answers.invalidate([f"product:{uuid.uuid4()}"])  # some other product's change
    if isinstance(answers, MemoryAnswers):
        seq = answers.seq
    else:
        seq = int(await answers._client.get(answers.seq_key) or 0)
    # The lookup saw ``seq``; the product changes while its answer is being fetched:
    await answers.invalidate([family])
    assert not await answers.store(answers.key("p"), b"old", ttl=60, families=[family], seq=seq)
    assert await _get(answers, answers.key("p")) is None
    # Another product's answer fetched meanwhile is stored.
    other = f"product:{uuid.uuid4()}"
    assert await answers.store(answers.key("q"), b"new", ttl=60, families=[other], seq=seq)


async def test_the_gateway_keeps_the_verifier_it_was_given(gateway: GatewayFactory) -> None:
    gw = await gateway()
    assert gw.resources.get(Gateway).tokens.verifier is gw.resources.get(TokenVerifier)


async def test_a_refused_token_is_refused_from_memory_for_a_second_then_checked_again() -> None:
    mint = TokenMint()
    now = [1000.0]
    verifier = TokenVerifier(mint.keys(), issuer=mint.issuer, audience=mint.audience)
    tokens = VerifiedTokens(verifier, clock=lambda: now[0])
    expired = mint.token(uuid.uuid4(), ttl=-60)
    for _ in range(2):  # the second from memory, with the same answer
        with pytest.raises(Unauthorized, match="expired") as refused:
            await tokens.verify(expired)
        assert refused.value.headers["WWW-Authenticate"] == "Bearer"
    now[0] += REFUSED_SECONDS
    with pytest.raises(Unauthorized, match="expired"):
        await tokens.verify(expired)  # verified again: still expired
    good = mint.token(uuid.uuid4())
    assert not (await tokens.verify(good)).recheck  # a refusal is only ever of its own token
