"""Structured logs: one JSON line per request with its id, operation, user, duration and
outcome; secrets never appear, whoever logs them."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api import logging_setup
from api.logging_setup import build_handler, logging_config
from providers import scrub
from providers.scrub import redact
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
    if not scrub._MAYBE_SECRET.search(text):
        full = text
        for pattern in scrub.PATTERNS:
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


def _access_fields(**changes) -> dict:
    fields = {
        "method": "GET",
        "route": "/graphql",
        "status": 200,
        "duration_ms": 1.25,
        "operation": "Banks",
        "operation_type": "query",
        "outcome": "ok",
        "error_codes": None,
        "client": "127.0.0.1",
        "user_id": None,
    }
    return fields | changes


@pytest.fixture
def access_to(request):
    """Routes ``cardcash.access`` to one handler alone, at INFO, for one test."""
    logger = logging.getLogger("cardcash.access")
    saved = logger.handlers[:], logger.propagate, logger.level

    def use(handler: logging.Handler) -> logging.Handler:
        logger.handlers[:] = [handler]
        logger.propagate, logger.level = False, logging.INFO
        request.addfinalizer(handler.close)
        return handler

    yield use
    logger.handlers[:], logger.propagate, logger.level = saved


def test_an_access_line_without_a_record_reads_as_one_through_the_formatter(access_to):
    """The production handler's own access line and the line the usual logging path writes
    (any other handler gets a LogRecord) hold the same fields, redacted alike."""
    fast, usual = io.StringIO(), io.StringIO()
    text_handler = logging.StreamHandler(usual)
    text_handler.setFormatter(logging_setup.JsonLineFormatter())
    text_handler.addFilter(logging_setup.RequestContextFilter())
    text_handler.addFilter(logging_setup.RedactFilter())
    logger = logging.getLogger("cardcash.access")
    access_to(build_handler(fast, "json"))
    logger.addHandler(text_handler)
    token = logging_setup.request_id_var.set("req-0001-abcdef")
    try:
        for operation in ("Banks", f"Leak token={JWT}", "card 6225880137706655", None):
            fields = _access_fields(operation=operation, user_id="usr_1")
            logging_setup.log_access(logging.INFO, "GET /graphql 200", fields)
    finally:
        logging_setup.request_id_var.reset(token)
        logger.removeHandler(text_handler)
    ours = [json.loads(line) for line in fast.getvalue().splitlines()]
    theirs = [json.loads(line) for line in usual.getvalue().splitlines()]
    assert len(ours) == len(theirs) == 4
    for mine, other in zip(ours, theirs, strict=True):
        assert mine.pop("time")[:16] == other.pop("time")[:16]
        assert mine == other
    assert ours[0]["request_id"] == "req-0001-abcdef" and ours[0]["user_id"] == "usr_1"
    assert find_secrets(fast.getvalue().splitlines()) == []
    assert "****6655" in ours[2]["operation"] and "[REDACTED]" in ours[1]["operation"]


def test_buffered_access_lines_are_written_together_and_in_order(access_to):
    stream = io.StringIO()
    handler = access_to(build_handler(stream, "json", flush_seconds=30))
    for i in range(5):
        logging_setup.log_access(logging.INFO, f"GET /graphql {i}", _access_fields())
    assert stream.getvalue() == ""  # waiting for the writer, 30 s away
    # A record goes out at once, after the lines logged before it; so does a failed request's.
    logging.getLogger("cardcash.access").warning("a warning")
    logging_setup.log_access(logging.ERROR, "GET /graphql 500", _access_fields(status=500))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [
        *(f"GET /graphql {i}" for i in range(5)),
        "a warning",
        "GET /graphql 500",
    ]
    logging_setup.log_access(logging.INFO, "GET /graphql 6", _access_fields())
    logging_setup.flush()  # what the app's shutdown does
    assert stream.getvalue().splitlines()[-1].startswith('{"time"')
    assert json.loads(stream.getvalue().splitlines()[-1])["message"] == "GET /graphql 6"
    logging_setup.log_access(logging.INFO, "GET /graphql 7", _access_fields())
    handler.close()  # logging.shutdown() at exit
    assert json.loads(stream.getvalue().splitlines()[-1])["message"] == "GET /graphql 7"


def test_the_writer_writes_every_interval_and_at_once_when_lines_pile_up(access_to):
    stream = io.StringIO()
    access_to(build_handler(stream, "json", flush_seconds=0.2))
    logging_setup.log_access(logging.INFO, "GET /graphql 200", _access_fields())
    deadline = time.monotonic() + 5
    while not stream.getvalue():
        assert time.monotonic() < deadline, "the writer never wrote"
        time.sleep(0.02)
    slow = io.StringIO()
    access_to(build_handler(slow, "json", flush_seconds=30))
    for _ in range(logging_setup._FLUSH_LINES + 1):
        logging_setup.log_access(logging.INFO, "GET /graphql 200", _access_fields())
    deadline = time.monotonic() + 5
    while len(slow.getvalue().splitlines()) < logging_setup._FLUSH_LINES:
        assert time.monotonic() < deadline, "a full buffer waited for the interval"
        time.sleep(0.02)


def test_access_lines_respect_the_level_and_reach_other_handlers(access_to):
    stream = io.StringIO()
    access_to(build_handler(stream, "json"))
    logger = logging.getLogger("cardcash.access")
    logger.setLevel(logging.WARNING)
    logging_setup.log_access(logging.INFO, "GET /graphql 200", _access_fields())
    assert stream.getvalue() == ""
    logger.setLevel(logging.INFO)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger.addHandler(Keep())
    logging_setup.log_access(logging.INFO, "GET /graphql 200", _access_fields(route="/x"))
    assert json.loads(stream.getvalue())["route"] == "/x"
    assert [(r.getMessage(), r.route, r.status) for r in records] == [
        ("GET /graphql 200", "/x", 200)
    ]


@pytest.mark.parametrize(
    "offered",
    ["4111-1111-1111-1111", "card:6225880137706655", "token=abcdefgh123", "eyJhbGciOi.eyJzdWIi.x"],
)
async def test_a_request_id_that_holds_a_secret_is_replaced(client, json_logs, offered):
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": offered}
    )
    assert response.headers["x-request-id"] != offered
    assert offered not in json_logs.getvalue()
    kept = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": "trace-0001-abcd"}
    )
    assert kept.headers["x-request-id"] == "trace-0001-abcd"
