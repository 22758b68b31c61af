"""/metrics: requests, operations, bank calls, breakers, withdrawals and the sync backlog."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.api.flow import User


def samples(text: str) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: dict, name: str, **labels) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client, **headers) -> dict:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_requests_operations_and_bank_calls_are_counted(serve):
    async with serve(metrics_db_refresh_seconds=0) as client:
        user = await User.sign_in(client, "metered")
        quote = await user.quote("CEB", "3000.00", "INSTALLMENT", 12)
        assert quote["__typename"] == "Quote"
        await client.post("/graphql", json={"query": "{ nope }"})
        await client.post("/callbacks/NOPE", content=b"{}")
        m = await scrape(client)

    assert (
        value(m, "cardcash_http_requests_total", route="/graphql", method="POST", status="200") >= 3
    )
    assert (
        value(
            m,
            "cardcash_http_requests_total",
            route="/callbacks/{bank}",
            method="POST",
            status="404",
        )
        == 1
    )
    assert value(m, "cardcash_http_request_duration_seconds_count", route="/graphql") >= 3
    assert (
        value(
            m,
            "cardcash_graphql_operations_total",
            operation="anonymous",
            type="mutation",
            outcome="ok",
        )
        >= 2
    )
    assert (
        value(
            m,
            "cardcash_graphql_operations_total",
            operation="anonymous",
            type="query",
            outcome="rejected",
        )
        == 1
    )
    calls = {k: v for k, v in m.items() if k[0] == "cardcash_provider_calls_total"}
    assert any(dict(k[1])["bank"] == "CEB" and dict(k[1])["outcome"] == "ok" for k in calls)
    assert any(k[0] == "cardcash_provider_call_duration_seconds_bucket" for k in m)
    assert (
        value(
            m,
            "cardcash_provider_breaker_state",
            bank="CEB",
            cardcash_provider_breaker_state="closed",
        )
        == 1
    )
    assert value(m, "cardcash_withdrawals", status="PENDING") == 0
    assert ("cardcash_status_sync_backlog", ()) in m


async def test_withdrawals_by_status_and_typed_errors(serve):
    async with serve(
        metrics_db_refresh_seconds=0, status_sync=False, rate_money_per_minute=1
    ) as client:
        user = await User.sign_in(client, "counted")
        quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)
        created = await user.withdraw(quote)
        second = await user.withdraw(quote)
        m = await scrape(client)
    assert value(m, "cardcash_withdrawals", status=created["status"]) == 1
    assert second["code"] == "RATE_LIMITED"
    assert value(m, "cardcash_graphql_error_results_total", code="RATE_LIMITED") == 1


async def test_breaker_changes_are_observed(serve):
    async with serve() as client:
        metrics = client.app.state.metrics
        metrics.on_breaker_change("CEB", "open")
        m = await scrape(client)
    assert (
        value(
            m, "cardcash_provider_breaker_state", bank="CEB", cardcash_provider_breaker_state="open"
        )
        == 1
    )
    assert value(m, "cardcash_provider_breaker_changes_total", bank="CEB", state="open") == 1


async def test_operation_names_cannot_grow_the_series_without_bound(serve):
    async with serve() as client:
        for i in range(250):
            await client.post("/graphql", json={"query": f"query Q{i} {{ __typename }}"})
        m = await scrape(client)
    names = {dict(k[1])["operation"] for k in m if k[0] == "cardcash_graphql_operations_total"}
    assert "other" in names and len(names) <= 202


async def test_metrics_are_internal_unless_a_token_is_shown(serve):
    async with serve(
        client_address="203.0.113.9", metrics_token="scrape-token-0123456789"
    ) as outside:
        assert (await outside.get("/metrics")).status_code == 403
        wrong = await outside.get("/metrics", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 403
        await scrape(outside, authorization="Bearer scrape-token-0123456789")
    async with serve(client_address="10.1.2.3", metrics_allow=["10.0.0.0/8"]) as inside:
        await scrape(inside)
    async with serve(
        client_address="127.0.0.1", trusted_proxies=["127.0.0.1"]
    ) as through_proxy:  # the public proxy runs beside us: its clients are not internal
        response = await through_proxy.get("/metrics", headers={"x-forwarded-for": "198.51.100.1"})
        assert response.status_code == 403
    async with serve(metrics=False) as off:
        assert (await off.get("/metrics")).status_code == 404
