"""The error contract as a front end on the npm ``graphql-ws`` client meets it over the socket:
every error comes as GraphQL errors on the operation it belongs to, each with
``extensions.code`` and a message in the connection's language (zh-CN unless connection_init
asks for en), and a bad document never ends the connection's other operations."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from api import messages
from api.services.sessions import SessionTokens
from tests.api.flow import CREATE, LOGIN, QUOTE, accepted
from tests.js.conftest import HERE
from tests.node import run_node

SECRET = b"test-secret-key-shared-by-all-replicas-0123456789"  # tests.servers.server_env's
CJK = re.compile(r"[\u4e00-\u9fff]")
CARDS = "{ viewer { creditCards { id bankCode } debitCards { id } } }"
WATCH = "subscription Watch($id: ID!) { withdrawal(id: $id) { id status } }"
#: An onboarding bank on Alipay: its offer is a typed error member, BANK_NOT_AVAILABLE.
COMING_SOON = """query Soon { bank(code: "HXBANK", channel: ALIPAY) {
  offer { __typename ... on Error { code message } } } }"""
LOGOUT = "mutation { logout { __typename } }"
LANGUAGES = {"zh": ("zh-CN", {}), "en": ("en", {"Accept-Language": "en"})}

#: A document refused before it runs, and the code of its error.
REFUSED = {
    "syntax error": ("{ banks(channel: WECHAT) { code }", "GRAPHQL_PARSE_FAILED"),
    "unterminated string": (
        'subscription { withdrawal(id: "wdr_x) { id } }',
        "GRAPHQL_PARSE_FAILED",
    ),
    "token flood": ("{ " + "__typename " * 2100 + "}", "GRAPHQL_PARSE_FAILED"),
    "alias flood": (
        "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }",
        "QUERY_TOO_COMPLEX",
    ),
    "unknown field": ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
    "wrong enum value": ("{ banks(channel: MARS) { code } }", "GRAPHQL_VALIDATION_FAILED"),
}
BANKS = "query Banks { banks(channel: WECHAT) { code } }"


def _contract(server, connections: dict, cases: list[dict]) -> dict:
    given = {"connections": connections, "cases": cases}
    outcome = run_node(HERE / "error_contract.mjs", server.url, json.dumps(given), timeout=120)
    assert outcome["ok"], outcome
    return outcome


def _codes(result: dict) -> list[str]:
    assert result["end"] == "error", result
    return [e["extensions"]["code"] for e in result["errors"]]


def test_a_bad_document_is_an_error_of_its_operation_and_the_socket_goes_on(server):
    cases = [
        {"name": name, "connection": "anonymous", "request": {"query": query}}
        for name, (query, _code) in REFUSED.items()
    ]
    cases.append({"name": "after them", "connection": "anonymous", "request": {"query": BANKS}})
    outcome = _contract(server, {"anonymous": {}}, cases)
    results = outcome["results"]
    for name, (_query, code) in REFUSED.items():
        assert _codes(results[name]) == [code], (name, results[name])
        assert results[name]["seen"] == []
        error = results[name]["errors"][0]
        assert error["message"] and error["extensions"]["requestId"], error
    assert results["after them"]["end"] == "complete"
    assert results["after them"]["seen"][0]["data"]["banks"]
    # One socket for all of them, never closed by the server.
    assert outcome["sockets"]["anonymous"] == {"opened": 1, "closed": []}


def _post(http: httpx.Client, query: str, variables=None, token=None, language=None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if language:
        headers["Accept-Language"] = language
    body = http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    return body.json()


def _signed_in(http: httpx.Client, name: str) -> tuple[str, str]:
    login = _post(http, LOGIN, {"code": f"sandbox:{name}", "channel": "ALIPAY"})["data"]["login"]
    return login["token"], login["viewer"]["id"]


def _withdrawal_awaiting_its_code(http: httpx.Client, token: str) -> str:
    cards = _post(http, CARDS, token=token)["data"]["viewer"]
    credit = next(c["id"] for c in cards["creditCards"] if c["bankCode"] == "CEB")
    quote_input = {
        "bankCode": "CEB",
        "creditCardId": credit,
        "amount": "2000.00",
        "repaymentType": "INSTALLMENT",
        "periods": 6,
    }
    quote = _post(http, QUOTE, {"input": quote_input}, token)["data"]["createQuote"]
    created = _post(
        http,
        CREATE,
        {
            "input": {
                "quoteId": quote["id"],
                "debitCardId": cards["debitCards"][0]["id"],
                "purpose": "CONSUMPTION",
                "acceptedDisclosureVersion": quote["disclosure"]["version"],
                **accepted(quote),
                "idempotencyKey": str(uuid.uuid4()),
            }
        },
        token,
    )["data"]["createWithdrawal"]
    assert created["status"] == "VERIFICATION_REQUIRED", created
    return created["id"]


def _error(result: dict) -> dict:
    """The one GraphQL error an operation ended with (the error sink's)."""
    assert result["end"] == "error", result
    (error,) = result["errors"]
    return error


def test_every_error_channel_over_the_socket_has_a_code_in_the_connections_language(server):
    # What a front end on graphql-ws meets, each in zh-CN by default and in en when the
    # connection asks: a document refused (parse, validation, a wrong enum value as a literal
    # or as a variable), a field that needs a user without a token, a typed error member, a
    # subscription outliving its token, a session logged out under a subscription, and a
    # token refused at connection_init.
    with httpx.Client(base_url=server.url, timeout=30) as http:
        token, user_id = _signed_in(http, "js-contract")
        withdrawal = _withdrawal_awaiting_its_code(http, token)
        to_revoke = {lang: _signed_in(http, "js-contract")[0] for lang in LANGUAGES}
        logged_out, _ = _signed_in(http, "js-contract")
        assert _post(http, LOGOUT, token=logged_out)["data"]["logout"]["__typename"]
        typed_over_http = {
            lang: _post(http, COMING_SOON, token=token, language=code)["data"]["bank"]["offer"]
            for lang, (code, _) in LANGUAGES.items()
        }
    tokens = SessionTokens(SECRET, timedelta(hours=1))
    now = datetime.now(UTC)
    expired, _ = tokens.issue(user_id, "ALIPAY", now=now - timedelta(hours=2))
    # Ending 10 s and 18 s from now: the first is watched first, the second after it.
    short = {
        "zh": tokens.issue(user_id, "ALIPAY", now=now - timedelta(hours=1, seconds=-10))[0],
        "en": tokens.issue(user_id, "ALIPAY", now=now - timedelta(hours=1, seconds=-18))[0],
    }
    connections = {"expired": {"Authorization": f"Bearer {expired}"}}
    connections["logged out"] = {"Authorization": f"Bearer {logged_out}"}
    cases = []
    watch = {"query": WATCH, "variables": {"id": withdrawal}}
    for lang, (_code, asks) in LANGUAGES.items():
        connections[f"short {lang}"] = {"Authorization": f"Bearer {short[lang]}", **asks}
        cases.append({"name": f"expires {lang}", "connection": f"short {lang}", "request": watch})
    for lang, (_code, asks) in LANGUAGES.items():
        connections[lang] = dict(asks)
        connections[f"signed {lang}"] = {"Authorization": f"Bearer {token}", **asks}
        connections[f"revoked {lang}"] = {"Authorization": f"Bearer {to_revoke[lang]}", **asks}
        for name, query, variables in (
            ("parse", "{ banks(channel: WECHAT) { code }", None),
            ("validation", "{ nope }", None),
            ("enum literal", "{ banks(channel: MARS) { code } }", None),
            ("enum variable", "query($c: Channel!) { banks(channel: $c) { code } }", {"c": "MARS"}),
            ("no token", "{ viewer { id } }", None),
        ):
            request = {"query": query, **({"variables": variables} if variables else {})}
            cases.append({"name": f"{name} {lang}", "connection": lang, "request": request})
        cases.append(
            {
                "name": f"typed {lang}",
                "connection": f"signed {lang}",
                "request": {"query": COMING_SOON},
            }
        )
        cases.append(
            {
                "name": f"revoked under it {lang}",
                "connection": f"revoked {lang}",
                "request": watch,
                "logoutAfterFirst": to_revoke[lang],
            }
        )
    for name in ("expired", "logged out"):
        cases.append({"name": name, "connection": name, "request": {"query": "{ __typename }"}})
    outcome = _contract(server, connections, cases)
    results, sockets = outcome["results"], outcome["sockets"]

    for lang, (language, _asks) in LANGUAGES.items():

        def said(key: str, language: str = language) -> str:
            return messages.text(key, language)

        for name, code in (
            ("parse", "GRAPHQL_PARSE_FAILED"),
            ("validation", "GRAPHQL_VALIDATION_FAILED"),
            ("enum literal", "GRAPHQL_VALIDATION_FAILED"),
        ):
            error = _error(results[f"{name} {lang}"])
            assert error["extensions"]["code"] == code, error
            assert error["message"] == said(code), error
            assert error["extensions"]["detail"], error
        # A variable that does not coerce: the operation's one answer holds the error.
        variable = results[f"enum variable {lang}"]
        assert variable["end"] == "complete", variable
        (answer,) = variable["seen"]
        (error,) = answer["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["message"] == said("BAD_USER_INPUT")
        assert "MARS" in error["extensions"]["detail"]
        # No token: the field is null and says why.
        (answer,) = results[f"no token {lang}"]["seen"]
        assert answer["data"] == {"viewer": None}
        (error,) = answer["errors"]
        assert error["extensions"] | {"requestId": None} == {
            "code": "UNAUTHENTICATED",
            "reason": "MISSING",
            "requestId": None,
        }
        assert error["message"] == said("auth.MISSING")
        # A typed error member, the same over the socket as over HTTP in that language.
        typed = results[f"typed {lang}"]
        assert typed["end"] == "complete", typed
        offer = typed["seen"][0]["data"]["bank"]["offer"]
        assert offer == typed_over_http[lang], (offer, typed_over_http[lang])
        assert offer["code"] == "BANK_NOT_AVAILABLE"
        assert bool(CJK.search(offer["message"])) == (language == "zh-CN"), offer
        # A subscription outliving its token: its first answer, then UNAUTHENTICATED EXPIRED.
        expires = results[f"expires {lang}"]
        assert expires["seen"][0]["data"]["withdrawal"]["status"] == "VERIFICATION_REQUIRED"
        error = _error(expires)
        assert (error["extensions"]["code"], error["extensions"]["reason"]) == (
            "UNAUTHENTICATED",
            "EXPIRED",
        )
        assert error["message"] == said("auth.EXPIRED")
        # Logged out under the subscription: UNAUTHENTICATED REVOKED, then 4401.
        revoked = results[f"revoked under it {lang}"]
        assert revoked["seen"][0]["data"]["withdrawal"]["status"] == "VERIFICATION_REQUIRED"
        error = _error(revoked)
        assert (error["extensions"]["code"], error["extensions"]["reason"]) == (
            "UNAUTHENTICATED",
            "REVOKED",
        )
        assert error["message"] == said("auth.REVOKED")
        assert [c["code"] for c in sockets[f"revoked {lang}"]["closed"]] == [4401]
        # The other connections of the language were never closed by the server.
        for name in (lang, f"signed {lang}"):
            assert sockets[name] == {"opened": 1, "closed": []}, (name, sockets[name])
    # A token refused at connection_init: closed with 4403 before any acknowledgement.
    for name in ("expired", "logged out"):
        assert results[name]["end"] == "closed" and results[name]["code"] == 4403, results[name]
        assert sockets[name]["opened"] == 0
