"""Structured logs: one JSON line per request with its id, operation, user, duration and
outcome; secrets never appear, whoever logs them."""

from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api import logging_setup
from api.logging_setup import build_handler, logging_config, redact
from tests.api.flow import User
from tests.logscan import find_secrets

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3JfMSIsImNoIjoiV0VDSEFUIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
RAW_SECRETS = [
    "card number 6225880137706655 declined",
    "card 6225 8801 3770 6655 bound",
    "card 6225-8801-3770-6655-123 bound",
    f"Authorization: Bearer {JWT}",
    f"token {JWT}",
    "jscode2session answered session_key=tiihtNczf5v6AKRyjwEUhQ== openid=o1",
    '{"session_key": "tiihtNczf5v6AKRyjwEUhQ=="}',
    "verification code 123456 accepted",
    '{"verificationCode": "123456"}',
    "SMS sent: your code is 123456",
]


@pytest.mark.parametrize("line", RAW_SECRETS)
def test_the_scan_finds_each_kind_of_secret_and_the_filter_removes_it(line):
    assert find_secrets([line]), line
    assert find_secrets([redact(line)]) == [], redact(line)


def test_redaction_keeps_what_operators_need():
    kept = [
        '{"code": "BANK_UNAVAILABLE", "bank": "CEB"}',
        "withdrawal wdr_01HZ3Q status PROCESSING -> SUCCEEDED amount 3000.00",
        "card ****6655 last4 6655",
        "status sync took 0.25 s, 12 due",
    ]
    for line in kept:
        assert redact(line) == line
    assert redact("login code=081aBcDeFgHiJkLmNoPqRs2") == "login code=[REDACTED]"


FRAGMENTS = [
    *"0123456789 -:=.\"'ab",
    "token", "code", "secret", "session_key", "verification code", "otp", "验证码",
    "Bearer ", "bearer", "eyJ", "eyJhbGciOiJIUzI1NiJ9.", "1234", "6225 8801 3770 6655",
    "6-2-2-5-8-8-0-1-3-7-7-0-6", "3000.00", "wdr_01HZ3Q", "127.0.0.1",
]  # fmt: skip


@settings(max_examples=1000)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join))
def test_the_quick_check_never_lets_a_secret_through(text):
    """Text the one-scan check calls clean is text none of the patterns would change."""
    if not logging_setup._MAYBE_SECRET.search(text):
        full = text
        for pattern in (
            logging_setup._JWT,
            logging_setup._BEARER,
            logging_setup._SECRET_PAIR,
            logging_setup._CODE_PAIR,
            logging_setup._VERIFICATION,
            logging_setup._CARD,
        ):
            assert not pattern.search(full), (pattern.pattern, text)


@pytest.fixture
def json_logs():
    """The production log handler writing into a buffer, at DEBUG, for one test."""
    stream = io.StringIO()
    handler = build_handler(stream, "json")
    root = logging.getLogger()
    root.addHandler(handler)
    names = ("cardcash", "api", "providers", "db")
    levels = {n: logging.getLogger(n).level for n in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_the_uvicorn_configuration_uses_the_same_handler():
    config = logging_config("warning", "json")
    assert config["handlers"]["default"]["()"] == "api.logging_setup.build_handler"
    assert config["root"]["level"] == "WARNING"
    assert config["loggers"]["uvicorn.access"]["propagate"] is False


async def test_request_lines_and_no_secrets_through_a_whole_withdrawal(client, json_logs):
    user = await User.sign_in(client, "logan")
    quote = await user.quote("CEB", "2000.00", "INSTALLMENT", 6)
    withdrawal = await user.withdraw(quote)
    if withdrawal["status"] == "VERIFICATION_REQUIRED":
        withdrawal = await user.confirm(withdrawal["id"], "123456")
    logging.getLogger("cardcash.test").warning(
        "deliberately careless: %s %s", user.headers["Authorization"], "card 6225880137706655"
    )
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line]
    requests = [r for r in lines if r["logger"] == "cardcash.access"]
    assert requests
    for r in requests:
        assert {"time", "level", "message", "request_id", "route", "status", "duration_ms"} <= set(
            r
        )
        assert r["request_id"] and r["route"] == "/graphql" and r["status"] == 200
    quoted = [r for r in requests if r["operation_type"] == "mutation" and r["user_id"]]
    assert quoted and all(r["outcome"] in ("ok", "error_result") for r in quoted)
    assert find_secrets(json_logs.getvalue().splitlines()) == []
    assert user.headers["Authorization"].split()[1] not in json_logs.getvalue()
    careless = [r for r in lines if r["logger"] == "cardcash.test"]
    assert "[REDACTED]" in careless[0]["message"] and "****6655" in careless[0]["message"]


async def test_a_request_id_ties_every_line_of_a_request_together(client, json_logs):
    response = await client.post(
        "/graphql",
        json={"query": "{ viewer { id } }"},
        headers={"authorization": "Bearer x.y.z", "x-request-id": "trace-0001-abcd"},
    )
    assert response.headers["x-request-id"] == "trace-0001-abcd"
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line]
    mine = [r for r in lines if r.get("request_id") == "trace-0001-abcd"]
    assert any(r["logger"] == "cardcash.access" for r in mine)
    assert all("x.y.z" not in json.dumps(r) for r in lines)
