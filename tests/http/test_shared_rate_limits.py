"""Rate limits through the ``limits`` library: createQuote per user, and one count for every
replica when the store is Redis (two real server processes here)."""

from __future__ import annotations

import asyncio
import logging
import os

import httpx
import pytest

from tests.api.flow import LOGIN, User
from tests.servers import ServerProcess, seeded_server_env

REDIS_URL = os.environ.get("CARDCASH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"SKIPPED LOUDLY: Redis not reachable at {REDIS_URL} ({error}); .ci/run "
                    "starts redis-server when it is installed")
    client.flushdb()  # this test's database: counts of earlier runs must not spill over
    return client


async def _quote(user: User, card_id: str) -> str:
    body = await user.q(
        """mutation($input: CreateQuoteInput!) { createQuote(input: $input) { __typename } }""",
        {"input": {"bankCode": "CEB", "creditCardId": card_id, "amount": "1000.00",
                   "repaymentType": "SINGLE_MONTH", "periods": 1}},
    )
    return body["data"]["createQuote"]["__typename"]


async def test_create_quote_is_limited_per_user(serve):
    async with serve(rate_quote_per_minute=3) as client:
        eager, calm = await User.sign_in(client, "eager"), await User.sign_in(client, "calm")
        card = (await eager.cards())[0]["CEB"]["id"]
        answers = [await _quote(eager, card) for _ in range(5)]
        assert answers == ["Quote"] * 3 + ["RateLimitedError"] * 2
        assert await _quote(calm, (await calm.cards())[0]["CEB"]["id"]) == "Quote"
        body = await eager.q(
            """mutation($input: CreateQuoteInput!) { createQuote(input: $input) {
              ... on RateLimitedError { code message retryAfterSeconds } } }""",
            {"input": {"bankCode": "CEB", "creditCardId": card, "amount": "1000.00",
                       "repaymentType": "SINGLE_MONTH", "periods": 1}},
        )
        refused = body["data"]["createQuote"]
        assert refused["code"] == "RATE_LIMITED" and refused["message"]
        assert 1 <= refused["retryAfterSeconds"] <= 60


async def test_an_unreachable_store_still_limits_in_the_process(serve, caplog):
    caplog.set_level(logging.ERROR, logger="cardcash")
    async with serve(rate_login_per_minute=2, rate_limit_storage="redis://127.0.0.1:1/0") as c:
        answers = [
            (await c.post("/graphql", json={
                "query": LOGIN, "variables": {"code": f"sandbox:u{i}", "channel": "ALIPAY"}
            })).json()["data"]["login"]
            for i in range(3)
        ]
    assert [bool(a.get("token")) for a in answers] == [True, True, False]
    assert answers[2]["code"] == "RATE_LIMITED"
    assert "rate limit storage unreachable" in caplog.text


def test_an_unknown_store_is_a_configuration_error(tmp_path):
    from api.settings import Settings

    with pytest.raises(Exception, match="CARDCASH_RATE_LIMIT_STORAGE"):
        Settings(data_dir=tmp_path, rate_limit_storage="memcached://127.0.0.1:11211")


async def _sign_ins(urls: list[str], count: int) -> list[bool]:
    """``count`` sign-ins from one address, alternating between the replicas."""
    answers = []
    async with httpx.AsyncClient(timeout=10) as client:
        for i in range(count):
            response = await client.post(f"{urls[i % len(urls)]}/graphql", json={
                "query": LOGIN, "variables": {"code": f"sandbox:r{i}", "channel": "ALIPAY"}
            })
            answers.append(bool(response.json()["data"]["login"].get("token")))
    return answers


@pytest.fixture
def two_replicas(tmp_path, database_url):
    started: list[ServerProcess] = []

    def start(**settings: str) -> list[str]:
        env = seeded_server_env(database_url, tmp_path, **settings)
        for _ in range(2):
            started.append(ServerProcess(env, tmp_path).start())
        return [s.url for s in started[-2:]]

    yield start
    for server in started:
        server.stop()


async def test_with_redis_the_limit_holds_across_replicas(two_replicas):
    redis = _redis()
    urls = await asyncio.to_thread(
        two_replicas, rate_login_per_minute="4", rate_limit_storage=REDIS_URL
    )
    assert await _sign_ins(urls, 8) == [True] * 4 + [False] * 4
    assert redis.keys("*cardcash*")  # counted in Redis, under cardcash's namespace


async def test_with_redis_quotes_are_counted_once_across_replicas(two_replicas):
    _redis()
    urls = await asyncio.to_thread(
        two_replicas, rate_quote_per_minute="3", rate_limit_storage=REDIS_URL
    )
    async with httpx.AsyncClient(base_url=urls[0], timeout=10) as a, httpx.AsyncClient(
        base_url=urls[1], timeout=10
    ) as b:
        on_a = await User.sign_in(a, "shared-quoter")
        on_b = User(b, on_a.headers["Authorization"].split()[1])
        card = (await on_a.cards())[0]["CEB"]["id"]
        answers = [await _quote(on_a if i % 2 else on_b, card) for i in range(6)]
    assert answers.count("Quote") == 3 and answers[3:] == ["RateLimitedError"] * 3


async def test_in_memory_each_replica_counts_alone(two_replicas):
    """The default, said in the README: replicas × limit in all."""
    urls = await asyncio.to_thread(two_replicas, rate_login_per_minute="2")
    assert await _sign_ins(urls, 6) == [True] * 4 + [False] * 2
