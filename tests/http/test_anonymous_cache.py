"""Anonymous query results are shared until the catalog turns over; signed-in ones never are."""

from __future__ import annotations

from db.models import BankChannel
from tests.api.flow import User
from tests.conftest import gql

PAGE = "{ viewer { id } banks(channel: ALIPAY) { code tagline } }"


async def test_anonymous_results_follow_the_catalog(client, app):
    first = await gql(client, PAGE)
    async with app.state.services.db.write() as session:
        row = await session.get(BankChannel, ("CEB", "ALIPAY"))
        row.availability = "SUSPENDED"
    again = await gql(client, PAGE)
    assert again["data"] == first["data"]  # within the catalog's cache time
    # The viewer's UNAUTHENTICATED error is kept too, with each request's own id on it.
    assert [e["extensions"]["code"] for e in again["errors"]] == ["UNAUTHENTICATED"]
    assert again["errors"][0]["extensions"]["requestId"] != first["errors"][0]["extensions"][
        "requestId"
    ]
    app.state.services.catalog.invalidate()
    codes = [b["code"] for b in (await gql(client, PAGE))["data"]["banks"]]
    assert "CEB" not in codes


async def test_signed_in_requests_are_never_served_from_it(client):
    anonymous = await gql(client, PAGE)
    assert anonymous["data"]["viewer"] is None
    user = await User.sign_in(client, "vera")
    signed_in = await user.q(PAGE)
    assert signed_in["data"]["viewer"]["id"]
    assert signed_in["data"]["banks"] == anonymous["data"]["banks"]


async def test_variables_and_errors_are_kept_apart(client):
    query = "query($c: Channel!) { banks(channel: $c) { code } }"
    wechat = await gql(client, query, {"c": "WECHAT"})
    alipay = await gql(client, query, {"c": "ALIPAY"})
    assert wechat["data"]["banks"][0]["code"] == "CEB"
    assert alipay["data"]["banks"][0]["code"] == "NBBANK"
    bad = await gql(client, query, {"c": "MARS"})
    assert "errors" in bad and "MARS" in bad["errors"][0]["extensions"]["detail"]


async def test_a_cached_answer_still_registers_a_persisted_query(client):
    import hashlib

    query = "{ banks(channel: WECHAT) { code } }"
    ext = {
        "persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}
    }
    await gql(client, query)  # the answer is cached now
    registered = await client.post("/graphql", json={"query": query, "extensions": ext})
    assert registered.json()["data"]["banks"][0]["code"] == "CEB"
    by_hash = await client.post("/graphql", json={"extensions": ext})
    assert by_hash.json()["data"]["banks"][0]["code"] == "CEB"
