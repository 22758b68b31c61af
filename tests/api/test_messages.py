"""The message catalogs: every user-facing sentence in zh-CN and en, picked by Accept-Language."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from api import messages
from api.schema.errors import ERROR_TYPES
from api.schema.errors import ErrorCode as SchemaErrorCode
from api.services.catalog import Unusable
from api.services.errors import DomainError, ErrorCode
from api.services.quotes import MAX_PERIODS
from tests.api.flow import User
from tests.conftest import gql

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")


def _catalogs() -> dict[str, dict[str, str]]:
    return {language: messages.catalog(language) for language in messages.LANGUAGES}


def test_every_error_code_has_a_message_in_both_languages():
    for language, catalog in _catalogs().items():
        for code in ErrorCode:
            assert catalog.get(code.value), f"{code.value} has no {language} message"
            # The code's own message is shown when nothing more precise is known: it may not
            # need anything filled in.
            assert messages.placeholders(catalog[code.value]) == set(), code.value
    assert {c.value for c in ErrorCode} == {c.value for c in SchemaErrorCode} == set(ERROR_TYPES)


def test_every_code_of_the_one_list_has_a_message_in_both_languages():
    # api/schema/codes.py lists every code a front end branches on: the typed errors' and
    # those of errors[] entries. Each is shown in zh-CN and en, filled with nothing.
    from api.schema import codes
    from api.schema.auth import REASONS

    every = {c.value for c in ErrorCode} | set(codes.REQUEST_CODES)
    assert set(codes.RETRY) | set(codes.REQUEST_CODES) == every
    keys = every | {f"auth.{reason}" for reason in REASONS} | {"OPERATION_TIMEOUT.mutation"}
    for language, catalog in _catalogs().items():
        for key in keys:
            assert catalog.get(key), f"{key} has no {language} message"
            assert messages.placeholders(catalog[key]) == set(), key
            assert bool(CJK.search(catalog[key])) == (language == "zh-CN"), (language, key)


def test_both_catalogs_have_the_same_keys_and_placeholders():
    zh, en = messages.catalog("zh-CN"), messages.catalog("en")
    assert sorted(zh) == sorted(en)
    for key in zh:
        assert messages.placeholders(zh[key]) == messages.placeholders(en[key]), key


def test_each_catalog_is_in_its_language():
    zh, en = messages.catalog("zh-CN"), messages.catalog("en")
    for key in zh:
        assert CJK.search(zh[key]), f"zh-CN {key} has no Chinese: {zh[key]!r}"
        assert not CJK.search(en[key]), f"en {key} is not English: {en[key]!r}"
        assert zh[key] != en[key]


def _literal_calls(name: str):
    """(file, line, first string argument after the code) of every ``name(...)`` call."""
    for path in [*(ROOT / "api").rglob("*.py"), *(ROOT / "sdk" / "providers").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called != name:
                continue
            yield path.relative_to(ROOT), node


def _keys(path, call: ast.Call, code: str) -> list[str]:
    """The catalog keys a DomainError call may show: a literal reason, or a variable given
    a literal just before (``reason = "a" if ... else "b"``)."""
    if len(call.args) < 2:
        return [code]
    reason = call.args[1]
    if isinstance(reason, ast.Attribute) and reason.attr == "value":
        return []  # an enum's value: its members are checked (Unusable below)
    if isinstance(reason, ast.Attribute) and reason.attr == "reason":
        return []  # an unparsable amount's: checked below
    if isinstance(reason, ast.Name):
        source = (ROOT / path).read_text(encoding="utf-8")
        assignment = next(
            (
                node
                for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Assign)
                and node.lineno < call.lineno
                and any(isinstance(t, ast.Name) and t.id == reason.id for t in node.targets)
            ),
            None,
        )
        if assignment is None:  # a parameter: its callers are checked (_state_error below)
            return []
        reason = assignment.value
    options = [reason.body, reason.orelse] if isinstance(reason, ast.IfExp) else [reason]
    for option in options:
        assert isinstance(option, ast.Constant) and isinstance(option.value, str), (
            f"{path}:{call.lineno}: the reason must be a catalog key, not a sentence"
        )
    return [f"{code}.{option.value}" for option in options]


def test_every_reason_raised_in_the_code_is_in_the_catalogs():
    seen = 0
    for path, call in _literal_calls("DomainError"):
        if not call.args:
            continue
        code = call.args[0]
        if not (isinstance(code, ast.Attribute) and code.attr in ErrorCode.__members__):
            continue
        for key in _keys(path, call, code.attr):
            assert messages.has(key), f"{path}:{call.lineno}: no message {key!r} in the catalogs"
            # Every placeholder of its message is given.
            given = {k.arg for k in call.keywords}
            if None in given:  # **details: what they hold is known when it runs, not here
                seen += 1
                continue
            for language in messages.LANGUAGES:
                missing = messages.placeholders(messages.catalog(language)[key]) - given
                assert not missing, f"{path}:{call.lineno}: {key} needs {missing}"
            seen += 1
    assert seen > 20


def test_every_state_error_reason_is_in_the_catalogs():
    for _path, call in _literal_calls("_state_error"):
        reason = call.args[1]
        assert messages.has(f"INVALID_STATE.{reason.value}"), reason.value


def test_every_reason_an_amount_is_unparsable_is_in_the_catalogs():
    from api.schema.scalars import UnparsableDecimal, _parse

    for raw in ("1e3", 1000, 10.5, "abc"):
        parsed = _parse(raw)
        assert isinstance(parsed, UnparsableDecimal)
        assert messages.has(f"VALIDATION.{parsed.reason}"), parsed


def test_every_reason_a_bank_is_unavailable_is_in_the_catalogs():
    for reason in Unusable:
        if reason is not Unusable.BANK_NOT_LOADED:  # that one is BANK_UNAVAILABLE
            assert messages.has(f"BANK_NOT_AVAILABLE.{reason.value}"), reason


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "zh-CN"),
        ("", "zh-CN"),
        ("zh-CN", "zh-CN"),
        ("zh", "zh-CN"),
        ("zh-Hans-CN,zh;q=0.9", "zh-CN"),
        ("zh-TW", "zh-CN"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("EN-gb", "en"),
        ("fr-FR", "zh-CN"),  # neither: the channels' users read Chinese
        ("fr-FR, en;q=0.5", "en"),
        ("en;q=0.3, zh-CN;q=0.8", "zh-CN"),
        ("zh;q=0.2, en;q=0.9", "en"),
        ("*", "zh-CN"),
        ("en;q=0", "zh-CN"),
        ("en;q=abc", "zh-CN"),
        (";;;,,,", "zh-CN"),
    ],
)
def test_accept_language_picks_the_catalog(header, language):
    assert messages.pick_language(header) == language


def test_a_missing_message_falls_back_to_the_codes_own():
    error = DomainError(ErrorCode.CARD_BUSY, "no_such_reason")
    assert error.text("en") == messages.text("CARD_BUSY", "en")
    assert error.text("zh-CN") == messages.text("CARD_BUSY", "zh-CN")
    assert error.message == messages.text("CARD_BUSY", "en")  # logs read English


def test_amounts_are_shown_with_two_decimals():
    from decimal import Decimal

    error = DomainError(ErrorCode.AMOUNT_OUT_OF_RANGE, "above_max", max_amount=Decimal("50000"))
    assert "50000.00" in error.text("zh-CN") and "50000.00" in error.text("en")


# --- over GraphQL ---------------------------------------------------------------------------

QUOTE_ERROR = """mutation($input: CreateQuoteInput!) { createQuote(input: $input) {
  __typename ... on Error { code message } ... on Quote { disclosure { text } } } }"""


async def _quote(user: User, card: str, amount: str, periods: int, language: str | None):
    headers = dict(user.headers)
    if language is not None:
        headers["Accept-Language"] = language
    variables = {
        "input": {
            "bankCode": "CEB",
            "creditCardId": card,
            "amount": amount,
            "repaymentType": "INSTALLMENT",
            "periods": periods,
        }
    }
    body = await gql(user.client, QUOTE_ERROR, variables, headers=headers)
    return body["data"]["createQuote"]


@pytest.mark.parametrize(
    ("language", "expected"),
    [(None, "zh-CN"), ("zh-CN,zh;q=0.9", "zh-CN"), ("en-US", "en"), ("de", "zh-CN")],
)
async def test_typed_errors_speak_the_requests_language(client, language, expected):
    user = await User.sign_in(client, "lena")
    credit, _ = await user.cards()
    card = credit["CEB"]["id"]
    wrong_periods = await _quote(user, card, "1000.00", MAX_PERIODS + 1, language)
    assert wrong_periods["code"] == "VALIDATION"
    assert wrong_periods["message"] == messages.text(
        "VALIDATION.installment_periods", expected, max=MAX_PERIODS
    )
    too_precise = await _quote(user, card, "1000.001", 3, language)
    assert too_precise["message"] == messages.text("VALIDATION.amount_decimals", expected)
    assert bool(CJK.search(too_precise["message"])) == (expected == "zh-CN")


async def test_the_disclosure_is_written_in_the_language_it_is_read_in(client):
    user = await User.sign_in(client, "mona")
    credit, _ = await user.cards()
    card = credit["CEB"]["id"]
    zh = (await _quote(user, card, "1000.00", 3, None))["disclosure"]["text"]
    en = (await _quote(user, card, "1000.00", 3, "en"))["disclosure"]["text"]
    assert zh.startswith("【年化利率】") and "【理性借贷】" in zh
    assert en.startswith("[APR]") and "[Borrow responsibly]" in en
    assert messages.text("disclosure.fund_use", "zh-CN") in zh
    assert messages.text("disclosure.fund_use", "en") in en


async def test_a_failure_reason_in_both_languages(client):
    user = await User.sign_in(client, "nina")
    quote = await user.quote("CEB", "800.00", "INSTALLMENT", 3)
    w = await user.withdraw(quote)
    while (result := await user.confirm(w["id"], "000000"))["__typename"] != "Withdrawal":
        if result["code"] == "TOO_MANY_ATTEMPTS":
            break
        assert result["code"] == "VERIFICATION_FAILED", result
        assert result["message"] == messages.text(
            "VERIFICATION_FAILED.attempts", "zh-CN", attempts_left=result["attemptsLeft"]
        )
    assert result["code"] == "TOO_MANY_ATTEMPTS"
    query = "query($id: ID!) { withdrawal(id: $id) { status failureCode failureReason } }"
    for language, header in (("zh-CN", None), ("en", "en")):
        headers = dict(user.headers) | ({"Accept-Language": header} if header else {})
        body = await gql(client, query, {"id": w["id"]}, headers=headers)
        failed = body["data"]["withdrawal"]
        assert failed["status"] == "FAILED" and failed["failureCode"] == "TOO_MANY_ATTEMPTS"
        assert failed["failureReason"] == messages.text("failure.TOO_MANY_ATTEMPTS", language)


async def test_sign_in_errors_are_translated_without_the_channels_words(client):
    body = await gql(
        client,
        """mutation { login(input: {channel: WECHAT, code: "sandbox:"}) {
          ... on Error { code message } } }""",
        headers={"Accept-Language": "en"},
    )
    login = body["data"]["login"]
    assert login["message"] == messages.text(login["code"], "en")


def test_a_bank_is_named_in_the_language_of_the_message():
    bank = messages.Named("华夏银行", "Hua Xia Bank")
    error = DomainError(ErrorCode.BANK_NOT_AVAILABLE, "COMING_SOON", bank=bank)
    assert error.text("zh-CN") == messages.text("BANK_NOT_AVAILABLE.COMING_SOON", bank="华夏银行")
    assert error.text("en") == "Hua Xia Bank is not available here yet."
    assert not CJK.search(error.message)  # logs read English too
