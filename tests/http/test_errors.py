"""Unexpected exceptions: masked in prod with a request id, logged with the stack; typed
errors pass through untouched."""

from __future__ import annotations

import logging

from api import messages
from api.logging_setup import RequestContextFilter

BANKS = "{ banks(channel: ALIPAY) { code } }"


def _explode(*args, **kwargs):
    raise RuntimeError("pool exhausted at db-7.internal:5432")


async def test_prod_masks_unexpected_errors_and_logs_the_stack(serve, caplog):
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestContextFilter())
    async with serve(env="prod") as client:
        client.app.state.services.catalog.banks = _explode
        english = await client.post(
            "/graphql", json={"query": BANKS}, headers={"Accept-Language": "en"}
        )
        response = await client.post("/graphql", json={"query": BANKS})
    assert english.json()["errors"][0]["message"] == messages.text("INTERNAL_SERVER_ERROR", "en")
    assert response.status_code == 200
    error = response.json()["errors"][0]
    request_id = response.headers["x-request-id"]
    # The users' sentence, and nothing for anyone else to read.
    assert error["message"] == messages.text("INTERNAL_SERVER_ERROR")
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert "db-7" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert logged and logged[-1].request_id == request_id
    assert "pool exhausted" in logging.Formatter().formatException(logged[0].exc_info)


async def test_dev_shows_the_message_but_still_codes_it(serve):
    async with serve(env="dev") as client:
        client.app.state.services.catalog.banks = _explode
        response = await client.post("/graphql", json={"query": BANKS})
    error = response.json()["errors"][0]
    assert "pool exhausted" in error["extensions"]["detail"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"


async def test_typed_and_client_errors_pass_through_in_prod(serve):
    async with serve(env="prod") as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { id } }"},
            headers={"authorization": "Bearer forged"},
        )
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
        assert error["message"] == messages.text("auth.INVALID")
        response = await client.post(
            "/graphql",
            json={
                "query": 'mutation { login(input: {channel: WECHAT, code: "sandbox:amy"}) '
                "{ __typename ... on Error { code message } } }"
            },
        )
        login = response.json()["data"]["login"]
        assert login["code"] == "SANDBOX_DISABLED" and login["message"]


async def test_a_crash_outside_graphql_is_a_masked_500(serve, caplog):
    async with serve(env="prod") as client:
        client.app.state.services.withdrawals.handle_callback = _explode
        response = await client.post("/callbacks/CEB", content=b"{}")
    assert response.status_code == 500
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert body["errors"][0]["extensions"]["requestId"] == response.headers["x-request-id"]
    assert "db-7" not in response.text and "Traceback" not in response.text
    assert any(r.exc_info and r.levelno == logging.ERROR for r in caplog.records)
