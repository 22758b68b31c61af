"""Rate limits over HTTP: typed RATE_LIMITED answers, keyed on the real client address."""

from __future__ import annotations

from tests.api.flow import User

LOGIN = """mutation($code: String!) { login(input: {channel: ALIPAY, code: $code}) {
  __typename ... on RateLimitedError { code retryAfterSeconds } } }"""
CONFIRM = """mutation { confirmWithdrawal(input: {withdrawalId: "wdr_x", verificationCode: "1"}) {
  __typename ... on RateLimitedError { code retryAfterSeconds } } }"""


async def _login(client, name: str, **headers) -> dict:
    response = await client.post(
        "/graphql", json={"query": LOGIN, "variables": {"code": f"sandbox:{name}"}}, headers=headers
    )
    assert response.status_code == 200
    return response.json()["data"]["login"]


async def test_login_is_limited_per_client_address(serve):
    async with serve(rate_login_per_minute=2) as client:
        assert (await _login(client, "a"))["__typename"] == "LoginSuccess"
        assert (await _login(client, "b"))["__typename"] == "LoginSuccess"
        refused = await _login(client, "c")
        assert refused["__typename"] == "RateLimitedError"
        assert refused["code"] == "RATE_LIMITED"
        assert 1 <= refused["retryAfterSeconds"] <= 60


async def test_behind_a_trusted_proxy_each_user_has_their_own_budget(serve):
    """The app sits behind a proxy on 10.0.0.5: X-Forwarded-For names the user."""
    async with serve(
        client_address="10.0.0.5", trusted_proxies=["10.0.0.0/8"], rate_login_per_minute=1
    ) as client:
        alice = {"x-forwarded-for": "203.0.113.7"}
        bob = {"x-forwarded-for": "198.51.100.9"}
        assert (await _login(client, "a", **alice))["__typename"] == "LoginSuccess"
        assert (await _login(client, "a", **alice))["__typename"] == "RateLimitedError"
        assert (await _login(client, "b", **bob))["__typename"] == "LoginSuccess"
        # A client-supplied hop in front of the proxy's cannot buy a new budget.
        spoof = {"x-forwarded-for": "1.2.3.4, 203.0.113.7"}
        assert (await _login(client, "a", **spoof))["__typename"] == "RateLimitedError"


async def test_an_untrusted_peer_cannot_choose_its_address(serve):
    async with serve(client_address="203.0.113.50", rate_login_per_minute=1) as client:
        assert (await _login(client, "a", **{"x-forwarded-for": "10.1.1.1"}))[
            "__typename"
        ] == "LoginSuccess"
        refused = await _login(client, "a", **{"x-forwarded-for": "10.2.2.2"})
        assert refused["__typename"] == "RateLimitedError"


async def test_money_moving_mutations_are_limited_per_user(serve):
    async with serve(rate_money_per_minute=2) as client:
        user = await User.sign_in(client, "spender")
        other = await User.sign_in(client, "saver")
        answers = [(await user.q(CONFIRM))["data"]["confirmWithdrawal"] for _ in range(3)]
        assert [a["__typename"] for a in answers][:2] != ["RateLimitedError"] * 2
        assert answers[2] == {
            "__typename": "RateLimitedError",
            "code": "RATE_LIMITED",
            "retryAfterSeconds": answers[2]["retryAfterSeconds"],
        }
        assert (await other.q(CONFIRM))["data"]["confirmWithdrawal"][
            "__typename"
        ] != "RateLimitedError"


async def test_money_moving_mutations_are_limited_per_address(serve):
    async with serve(rate_address_per_minute=2, rate_money_per_minute=100) as client:
        users = [await User.sign_in(client, f"u{i}") for i in range(3)]
        kinds = [(await u.q(CONFIRM))["data"]["confirmWithdrawal"]["__typename"] for u in users]
        assert kinds[2] == "RateLimitedError" and "RateLimitedError" not in kinds[:2]
