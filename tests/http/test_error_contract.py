"""One error contract for front ends: every errors[] entry has extensions.code (Apollo's names
where they exist), a field that needs a user says so, amounts are plain decimal strings and
their refusals carry the limits as money, and every timestamp has one shape."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from api import messages
from api.services.sessions import SessionTokens
from tests.api.flow import QUOTE, User
from tests.conftest import gql

RESPONSE = "application/graphql-response+json"


def _codes(body: dict) -> list[str]:
    errors = body.get("errors") or []
    assert errors, body
    for error in errors:
        assert isinstance(error["extensions"]["code"], str), error
        assert error["extensions"]["requestId"], error
    return [e["extensions"]["code"] for e in errors]


async def _post(client, query, variables=None, headers=None, **extra):
    body = {"query": query, "variables": variables or {}, **extra}
    return await client.post("/graphql", json=body, headers=headers or {})


@pytest.mark.parametrize("accept", ["application/json", RESPONSE])
@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("{ banks(channel: ALIPAY) { code }", None, "GRAPHQL_PARSE_FAILED"),
        ("query {", None, "GRAPHQL_PARSE_FAILED"),
        ("}}}", None, "GRAPHQL_PARSE_FAILED"),
        ('{ bank(code: "CEB, channel: ALIPAY) { code } }', None, "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", None, "GRAPHQL_VALIDATION_FAILED"),
        ("{ banks(channel: MARS) { code } }", None, "GRAPHQL_VALIDATION_FAILED"),
        ("{ bank { code } }", None, "GRAPHQL_VALIDATION_FAILED"),
        ("{ banks(channel: ALIPAY) }", None, "GRAPHQL_VALIDATION_FAILED"),
        (
            "query($c: Channel) { banks(channel: $c) { code } }",
            {"c": "ALIPAY"},
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "{ banks(channel: ALIPAY) { code } } fragment F on Bank { code }",
            None,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ("query($c: Channel!) { banks(channel: $c) { code } }", {"c": "MARS"}, "BAD_USER_INPUT"),
        ("query($c: Channel!) { banks(channel: $c) { code } }", {"c": 5}, "BAD_USER_INPUT"),
        ("query($c: Channel!) { banks(channel: $c) { code } }", {}, "BAD_USER_INPUT"),
        ("query($c: Channel!) { banks(channel: $c) { code } }", {"c": None}, "BAD_USER_INPUT"),
        ("{ viewer { id } }", None, "UNAUTHENTICATED"),
        ('{ withdrawal(id: "wd_x") { id } }', None, "UNAUTHENTICATED"),
        (
            '{ bank(code: "CEB", channel: ALIPAY) { offer { __typename } } }',
            None,
            "UNAUTHENTICATED",
        ),
    ],
)
async def test_every_graphql_error_has_a_code(client, accept, query, variables, code):
    response = await _post(client, query, variables, headers={"Accept": accept})
    assert set(_codes(response.json())) == {code}


@pytest.mark.parametrize(
    ("request_kwargs", "code"),
    [
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, "BAD_REQUEST"),
        ({"json": {"variables": {}}}, "BAD_REQUEST"),
        ({"json": {"query": 5}}, "BAD_REQUEST"),
        ({"data": {"query": "{ banks(channel: ALIPAY) { code } }"}}, "UNSUPPORTED_MEDIA_TYPE"),
        (
            {"json": {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}},
            "PERSISTED_QUERY_NOT_FOUND",
        ),
        ({"json": {"query": 'subscription { withdrawal(id: "x") { id } }'}}, "BAD_REQUEST"),
    ],
)
async def test_every_request_error_has_a_code(client, request_kwargs, code):
    response = await client.post("/graphql", **request_kwargs)
    assert _codes(response.json()) == [code]


# --- in the request's language -------------------------------------------------------------

ALIASES = "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }"
#: A request refused as a whole or in part, the code it gets, and the catalog key of its
#: message ("detail": whether the server's own words for the developer come with it).
REQUEST_ERRORS = [
    (
        "post",
        {"json": {"query": "{ banks(channel: ALIPAY) { code }"}},
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_PARSE_FAILED",
    ),
    (
        "post",
        {"json": {"query": "{ " + "__typename " * 2100 + "}"}},
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_PARSE_FAILED",
    ),
    (
        "post",
        {"json": {"query": "{ nope }"}},
        "GRAPHQL_VALIDATION_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
    ),
    (
        "post",
        {"json": {"query": "{ banks(channel: MARS) { code } }"}},
        "GRAPHQL_VALIDATION_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
    ),
    (
        "post",
        {
            "json": {
                "query": "query($c: Channel!) { banks(channel: $c) { code } }",
                "variables": {"c": "MARS"},
            }
        },
        "BAD_USER_INPUT",
        "BAD_USER_INPUT",
    ),
    ("post", {"json": {"query": ALIASES}}, "QUERY_TOO_COMPLEX", "QUERY_TOO_COMPLEX"),
    (
        "post",
        {"json": {"query": "query A { __typename }", "operationName": "B"}},
        "OPERATION_NOT_FOUND",
        "OPERATION_NOT_FOUND",
    ),
    ("post", {"json": {"query": "{ viewer { id } }"}}, "UNAUTHENTICATED", "auth.MISSING"),
    (
        "post",
        {"json": {"query": "{ viewer { id } }"}, "headers": {"Authorization": "Bearer forged"}},
        "UNAUTHENTICATED",
        "auth.INVALID",
    ),
    (
        "post",
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        "BAD_REQUEST",
        "BAD_REQUEST",
    ),
    (
        "post",
        {"data": {"query": "{ __typename }"}},
        "UNSUPPORTED_MEDIA_TYPE",
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    (
        "post",
        {"content": b"x" * 70_000, "headers": {"Content-Type": "application/json"}},
        "PAYLOAD_TOO_LARGE",
        "PAYLOAD_TOO_LARGE",
    ),
    (
        "post",
        {"json": {"query": "{ __typename }"}, "headers": {"Accept": "text/csv"}},
        "NOT_ACCEPTABLE",
        "NOT_ACCEPTABLE",
    ),
    (
        "get",
        {"params": {"query": "mutation { __typename }"}},
        "METHOD_NOT_ALLOWED",
        "METHOD_NOT_ALLOWED",
    ),
    ("post", {"json": [{"query": "{ __typename }"}]}, "BATCHING_DISABLED", "BATCHING_DISABLED"),
    (
        "post",
        {
            "json": {
                "query": "{ __typename }",
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}},
            }
        },
        "PERSISTED_QUERY_HASH_MISMATCH",
        "PERSISTED_QUERY_HASH_MISMATCH",
    ),
]


@pytest.mark.parametrize(
    ("accept_language", "language"),
    [
        (None, "zh-CN"),
        ("zh-CN,zh;q=0.9", "zh-CN"),
        ("en-US,en;q=0.9", "en"),
        ("fr", "zh-CN"),
        ("en;q=0.2, zh-TW", "zh-CN"),
    ],
)
@pytest.mark.parametrize(("method", "request_kwargs", "code", "key"), REQUEST_ERRORS)
async def test_request_errors_speak_the_requests_language(
    client, accept_language, language, method, request_kwargs, code, key
):
    kwargs = dict(request_kwargs)
    headers = dict(kwargs.pop("headers", {}))
    if accept_language is not None:
        headers["Accept-Language"] = accept_language
    response = await getattr(client, method)("/graphql", headers=headers, **kwargs)
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == code, error
    assert error["message"] == messages.text(key, language), error
    if code == "UNAUTHENTICATED":
        assert "detail" not in error["extensions"]  # its reason says it all
    else:
        # The server's own words for the developer, in English.
        detail = error["extensions"]["detail"]
        assert detail and detail != error["message"] and detail.isascii(), error


@pytest.mark.parametrize("accept_language", [None, "en"])
async def test_apollos_persisted_query_messages_are_kept_in_every_language(client, accept_language):
    headers = {"Accept-Language": accept_language} if accept_language else {}
    unknown = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    response = await client.post("/graphql", json={"extensions": unknown}, headers=headers)
    (error,) = response.json()["errors"]
    assert error["message"] == "PersistedQueryNotFound"  # what Apollo's clients look for


# --- signing in and out -------------------------------------------------------------------


async def test_fields_that_need_a_user_answer_null_and_unauthenticated(client):
    query = """{ viewer { id } banks(channel: ALIPAY) { code offer { __typename } } }"""
    body = (await _post(client, query)).json()
    assert body["data"]["viewer"] is None
    assert body["data"]["banks"] and all(b["offer"] is None for b in body["data"]["banks"])
    assert set(_codes(body)) == {"UNAUTHENTICATED"}
    assert {e["extensions"]["reason"] for e in body["errors"]} == {"MISSING"}
    assert body["errors"][0]["message"] == messages.text("auth.MISSING")
    english = (await _post(client, query, headers={"Accept-Language": "en"})).json()
    assert english["errors"][0]["message"] == messages.text("auth.MISSING", "en")


async def test_mutations_that_need_a_user_say_so(client):
    body = (
        await _post(
            client,
            QUOTE,
            {
                "input": {
                    "bankCode": "CEB",
                    "creditCardId": "card_x",
                    "amount": "1000",
                    "repaymentType": "SINGLE_MONTH",
                    "periods": 1,
                }
            },
        )
    ).json()
    assert _codes(body) == ["UNAUTHENTICATED"]
    assert body["errors"][0]["extensions"]["reason"] == "MISSING"


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("Bearer not-a-token", "INVALID"),
        ("Bearer " + "a" * 3000, "INVALID"),
        ("Basic dXNlcjpwYXNz", "MALFORMED"),
        ("Bearer ", "MALFORMED"),
        ("token-without-scheme", "MALFORMED"),
    ],
)
async def test_a_refused_token_says_why(client, authorization, reason):
    body = (
        await _post(client, "{ viewer { id } }", headers={"Authorization": authorization})
    ).json()
    assert body["data"] == {"viewer": None}
    assert _codes(body) == ["UNAUTHENTICATED"]
    assert body["errors"][0]["extensions"]["reason"] == reason


async def test_an_expired_token_is_told_apart_from_a_forged_one(client, app):
    user = await User.sign_in(client, "olga")
    user_id = (await user.q("{ viewer { id } }"))["data"]["viewer"]["id"]
    ours = SessionTokens(app.state.services.settings.signing_key, timedelta(minutes=5))
    expired, _ = ours.issue(user_id, "ALIPAY", now=datetime.now(UTC) - timedelta(hours=1))
    forged, _ = SessionTokens(b"x" * 32, timedelta(minutes=5)).issue(user_id, "ALIPAY")
    for token, reason in ((expired, "EXPIRED"), (forged, "INVALID")):
        body = (
            await _post(client, "{ viewer { id } }", headers={"Authorization": f"Bearer {token}"})
        ).json()
        assert body["errors"][0]["extensions"] == {
            "code": "UNAUTHENTICATED",
            "reason": reason,
            "requestId": body["errors"][0]["extensions"]["requestId"],
        }


LOGIN = """mutation($code: String!, $channel: Channel!) { login(input: {channel: $channel, code: $code})
  { __typename ... on Error { code message } } }"""


@pytest.mark.parametrize("channel", ["WECHAT", "ALIPAY"])
@pytest.mark.parametrize(
    "code",
    ["", " ", "a b", "x" * 300, "中文代码", "<script>", "code\n", "a;b", "sandbox:", "sandbox:a b"],
)
async def test_a_malformed_login_code_is_invalid_code(client, channel, code):
    body = await gql(client, LOGIN, {"code": code, "channel": channel})
    login = body["data"]["login"]
    assert login["code"] == "INVALID_CODE", (code, login)
    assert login["message"] == messages.text("INVALID_CODE")


# --- amounts ------------------------------------------------------------------------------


async def _quote(user: User, amount, periods=3, language=None):
    credit, _ = await user.cards()
    variables = {
        "input": {
            "bankCode": "CEB",
            "creditCardId": credit["CEB"]["id"],
            "amount": amount,
            "repaymentType": "INSTALLMENT",
            "periods": periods,
        }
    }
    headers = dict(user.headers) | ({"Accept-Language": language} if language else {})
    return (await gql(user.client, QUOTE, variables, headers=headers))["data"]["createQuote"]


@pytest.mark.parametrize("amount", ["1000", "1000.5", "1000.50"])
async def test_plain_decimal_strings_are_amounts(client, amount):
    quote = await _quote(await User.sign_in(client, "pia"), amount)
    assert quote["__typename"] == "Quote", quote
    assert Decimal(quote["amount"]["amount"]) == Decimal(amount)


@pytest.mark.parametrize(
    "amount",
    [
        "1e3",
        "1E3",
        "10e2",
        "1,000",
        " 1000",
        "1000 ",
        "+1000",
        "0x3e8",
        "1_000",
        "NaN",
        "Infinity",
        "１０００",
        "1000.",
        ".5",
        "",
        "1000.5.0",
        "¥1000",
    ],
)
async def test_other_strings_are_refused_as_malformed(client, amount):
    quote = await _quote(await User.sign_in(client, "quinn"), amount)
    assert (quote["__typename"], quote["code"], quote["field"]) == (
        "ValidationError",
        "VALIDATION",
        "amount",
    ), quote
    assert quote["message"] == messages.text("VALIDATION.amount_format")


@pytest.mark.parametrize("amount", [1000, 1000.5, 1e3, 0])
@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_json_numbers_are_refused_with_send_a_string(client, amount, language):
    quote = await _quote(await User.sign_in(client, "rhea"), amount, language=language)
    assert (quote["code"], quote["field"]) == ("VALIDATION", "amount"), quote
    assert quote["message"] == messages.text("VALIDATION.amount_not_string", language)
    assert '"1000.00"' in quote["message"]


async def test_a_number_written_in_the_document_is_refused_too(client):
    user = await User.sign_in(client, "sara")
    credit, _ = await user.cards()
    card = credit["CEB"]["id"]
    document = (
        'mutation { createQuote(input: {bankCode: "CEB", creditCardId: "' + card + '", '
        "amount: 1000, repaymentType: INSTALLMENT, periods: 3}) "
        "{ ... on Error { code message } } }"
    )
    quote = (await user.q(document))["data"]["createQuote"]
    assert quote == {"code": "VALIDATION", "message": messages.text("VALIDATION.amount_not_string")}


AMOUNT_ERROR = """mutation($input: CreateQuoteInput!) { createQuote(input: $input) {
  __typename ... on Error { code message }
  ... on AmountError { field minimum { amount currency } maximum { amount currency }
    availableLimit { amount currency } dailyRemaining { amount currency } } } }"""

OFFER = """{ bank(code: "CEB", channel: ALIPAY) { offer { ... on CashAdvanceOffer {
  minAmount { amount } maxAmount { amount } availableLimit { amount } dailyRemaining { amount } } } } }"""


async def _amount_error(user: User, amount: str, periods: int = 3) -> dict:
    credit, _ = await user.cards()
    variables = {
        "input": {
            "bankCode": "CEB",
            "creditCardId": credit["CEB"]["id"],
            "amount": amount,
            "repaymentType": "INSTALLMENT",
            "periods": periods,
        }
    }
    return (await user.q(AMOUNT_ERROR, variables))["data"]["createQuote"]


def _money(value: str) -> dict:
    return {"amount": value, "currency": "CNY"}


async def test_amount_errors_carry_the_limits_as_money(client):
    user = await User.sign_in(client, "tara")
    offer = (await user.q(OFFER))["data"]["bank"]["offer"]
    low, high = offer["minAmount"]["amount"], offer["maxAmount"]["amount"]
    limits = {
        "minimum": _money(low),
        "maximum": _money(high),
        "availableLimit": _money(offer["availableLimit"]["amount"]),
        "dailyRemaining": _money(offer["dailyRemaining"]["amount"]),
    }
    for amount in (str(Decimal(low) - Decimal("0.01")), str(Decimal(high) + Decimal("0.01"))):
        error = await _amount_error(user, amount)
        assert error["__typename"] == "AmountError" and error["code"] == "AMOUNT_OUT_OF_RANGE"
        assert {k: error[k] for k in limits} == limits, error
        assert error["field"] == "amount"
        assert error["message"] == messages.text(
            "AMOUNT_OUT_OF_RANGE.range", min_amount=Decimal(low), max_amount=Decimal(high)
        )


async def test_the_daily_cap_is_checked_when_quoting(client):
    user = await User.sign_in(client, "uma")
    offer = (await user.q(OFFER))["data"]["bank"]["offer"]
    first = await user.quote("CEB", "9000.00", "INSTALLMENT", 3)
    withdrawal = await user.withdraw(first)
    assert withdrawal["status"] == "VERIFICATION_REQUIRED"
    left = Decimal((await user.q(OFFER))["data"]["bank"]["offer"]["dailyRemaining"]["amount"])
    assert left < Decimal(offer["dailyRemaining"]["amount"])
    over = await _amount_error(user, str(left + Decimal("100.00")))
    assert over["__typename"] == "AmountError" and over["code"] == "DAILY_LIMIT_EXCEEDED", over
    assert over["dailyRemaining"] == _money(f"{left:.2f}")
    assert over["message"] == messages.text("DAILY_LIMIT_EXCEEDED.remaining", daily_remaining=left)
    if left >= Decimal(offer["minAmount"]["amount"]):
        assert (await _amount_error(user, f"{left:.2f}"))["__typename"] == "Quote"


# --- timestamps ---------------------------------------------------------------------------

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _timestamps(value, found: list[str], keys=("At", "expectedArrival")):
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and key.endswith(keys):
                found.append(item)
            else:
                _timestamps(item, found)
    elif isinstance(value, list):
        for item in value:
            _timestamps(item, found)
    return found


async def test_every_timestamp_has_one_shape(client):
    login = await gql(
        client,
        'mutation { login(input: {channel: ALIPAY, code: "sandbox:vivi"}) '
        "{ ... on LoginSuccess { token expiresAt } } }",
    )
    user = User(client, login["data"]["login"]["token"])
    quote = await user.quote("CEB", "1200.00", "INSTALLMENT", 3)
    created = await user.withdraw(quote)  # the view as written
    confirmed = await user.confirm(created["id"])
    done = await user.wait_for(created["id"], "SUCCEEDED")  # as read back
    history = await user.q(
        "{ viewer { withdrawals { edges { node { createdAt updatedAt acceptedAt } } } } }"
    )
    found = _timestamps([login, quote, created, confirmed, done, history], [])
    assert len(found) >= 12, found
    for text in found:
        assert RFC3339.match(text), text
        assert datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None


# --- the 415 answer -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "text/plain",
        "multipart/form-data; boundary=x",
        None,
    ],
)
async def test_a_form_body_is_told_which_content_type_to_send(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post(
        "/graphql", content=b"query=%7B%7D", headers=headers | {"Accept": "application/json"}
    )
    assert response.status_code == 415
    assert response.headers["accept-post"] == "application/json"
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert error["extensions"]["expectedContentType"] == "application/json"
    assert "Content-Type: application/json" in error["extensions"]["detail"]
    assert error["message"] == messages.text("UNSUPPORTED_MEDIA_TYPE")
