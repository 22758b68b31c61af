"""The guard between cardcash and a bank: timeouts, concurrency cap, breaker, checks."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from api.banks.guard import GuardedProvider, GuardSettings
from providers import (
    CardInfo,
    CardKind,
    ConfirmWithdrawal,
    Customer,
    ProviderError,
    ProviderErrorCode,
    QuoteRequest,
    RepaymentType,
    ScheduledPayment,
    WithdrawalState,
)
from providers.integrity import ContractViolation, check_money
from tests.providers.conftest import ScriptedBank, withdrawal

CUSTOMER = Customer("WECHAT", "o-1")
EXPECTED = {"expected_amount": Decimal("500.00"), "expected_currency": "CNY"}


def guard(bank, clock, **settings) -> GuardedProvider:
    settings = {"read_timeout": 1.0, "write_timeout": 1.0, **settings}
    return GuardedProvider(bank, GuardSettings(**settings), clock=clock)


async def raises(code: ProviderErrorCode, call) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await call
    assert caught.value.code is code, caught.value
    return caught.value


async def test_a_slow_bank_times_out(scripted_bank, clock):
    async def slow(*_):
        await asyncio.sleep(5)

    scripted_bank.script["query_withdrawal"] = slow
    guarded = guard(scripted_bank, clock, read_timeout=0.05)
    await raises(ProviderErrorCode.TIMEOUT, guarded.query_withdrawal("w-1", **EXPECTED))
    assert guarded.outcomes["TIMEOUT"] == 1


async def test_breaker_opens_after_consecutive_failures_and_refuses_without_calling(
    scripted_bank, clock
):
    scripted_bank.script["list_cards"] = ProviderError(ProviderErrorCode.UNAVAILABLE)
    guarded = guard(scripted_bank, clock, failure_threshold=3, cool_down=30)
    for _ in range(3):
        await raises(ProviderErrorCode.UNAVAILABLE, guarded.list_cards(CUSTOMER))
    assert guarded.breaker_state == "open"

    error = await raises(ProviderErrorCode.UNAVAILABLE, guarded.list_cards(CUSTOMER))
    assert "circuit breaker" in error.message
    assert scripted_bank.calls["list_cards"] == 3


async def test_half_open_lets_exactly_one_probe_through_and_closes_on_success(
    scripted_bank, clock
):
    changes = []
    guarded = GuardedProvider(
        scripted_bank, GuardSettings(failure_threshold=1, cool_down=30, read_timeout=1.0),
        clock=clock, on_breaker_change=lambda bank, state: changes.append((bank, state)),
    )
    scripted_bank.script["list_cards"] = RuntimeError("connection reset")
    await raises(ProviderErrorCode.UNAVAILABLE, guarded.list_cards(CUSTOMER))
    assert guarded.breaker_state == "open"

    clock.advance(29)
    assert guarded.breaker_state == "open"
    clock.advance(1)
    assert guarded.breaker_state == "half_open"

    release = asyncio.Event()

    async def held(*_):
        await release.wait()
        return []

    scripted_bank.script["list_cards"] = held
    probe = asyncio.create_task(guarded.list_cards(CUSTOMER))
    await asyncio.sleep(0)
    await raises(ProviderErrorCode.UNAVAILABLE, guarded.list_cards(CUSTOMER))
    release.set()
    assert await probe == []
    assert guarded.breaker_state == "closed"
    assert scripted_bank.calls["list_cards"] == 2
    assert changes == [("SCRIPTED", "open"), ("SCRIPTED", "half_open"), ("SCRIPTED", "closed")]


async def test_a_failed_probe_opens_the_breaker_again(scripted_bank, clock):
    guarded = guard(scripted_bank, clock, failure_threshold=2, cool_down=10)
    scripted_bank.script["get_offer"] = ProviderError(ProviderErrorCode.TIMEOUT)
    for _ in range(2):
        await raises(ProviderErrorCode.TIMEOUT, guarded.get_offer(CUSTOMER, "ref-credit"))
    clock.advance(10)
    assert guarded.breaker_state == "half_open"
    await raises(ProviderErrorCode.TIMEOUT, guarded.get_offer(CUSTOMER, "ref-credit"))
    assert guarded.breaker_state == "open"
    clock.advance(9)
    await raises(ProviderErrorCode.UNAVAILABLE, guarded.get_offer(CUSTOMER, "ref-credit"))
    assert scripted_bank.calls["get_offer"] == 3


async def test_business_refusals_never_open_the_breaker(scripted_bank, clock, make_submit):
    guarded = guard(scripted_bank, clock, failure_threshold=1)
    for code in (ProviderErrorCode.DECLINED, ProviderErrorCode.LIMIT_EXCEEDED,
                 ProviderErrorCode.VERIFICATION_FAILED):
        scripted_bank.script["submit_withdrawal"] = ProviderError(code)
        await raises(code, guarded.submit_withdrawal(make_submit()))
    assert guarded.breaker_state == "closed"


async def test_a_success_resets_the_failure_count(scripted_bank, clock):
    guarded = guard(scripted_bank, clock, failure_threshold=2)
    scripted_bank.script["list_cards"] = ProviderError(ProviderErrorCode.UNAVAILABLE)
    await raises(ProviderErrorCode.UNAVAILABLE, guarded.list_cards(CUSTOMER))
    del scripted_bank.script["list_cards"]
    await guarded.list_cards(CUSTOMER)
    scripted_bank.script["list_cards"] = ProviderError(ProviderErrorCode.UNAVAILABLE)
    await raises(ProviderErrorCode.UNAVAILABLE, guarded.list_cards(CUSTOMER))
    assert guarded.breaker_state == "closed"


async def test_concurrency_cap_refuses_calls_beyond_it_without_sending_them(
    scripted_bank, clock, make_submit, make_withdrawal
):
    release = asyncio.Event()

    async def held(request):
        await release.wait()
        return make_withdrawal(request.request_id, request.amount)

    scripted_bank.script["submit_withdrawal"] = held
    # Submits may take 5 s; a read waits at most its own 0.05 s timeout for a free slot.
    guarded = guard(scripted_bank, clock, max_concurrency=2, read_timeout=0.05, write_timeout=5)
    first = [asyncio.create_task(guarded.submit_withdrawal(make_submit(i))) for i in "ab"]
    await asyncio.sleep(0)
    assert guarded.in_flight == 2
    error = await raises(
        ProviderErrorCode.UNAVAILABLE, guarded.verify_same_holder(CUSTOMER, "c", "d")
    )
    assert "in flight" in error.message
    assert scripted_bank.calls["verify_same_holder"] == 0
    release.set()
    assert [r.request_id for r in await asyncio.gather(*first)] == ["a", "b"]
    assert guarded.breaker_state == "closed"
    assert await guarded.verify_same_holder(CUSTOMER, "c", "d") is True


async def test_unexpected_exceptions_become_unavailable_and_are_logged_without_card_numbers(
    scripted_bank, clock, caplog
):
    scripted_bank.script["get_offer"] = ValueError("bad card 6222 0212 3456 7890")
    guarded = guard(scripted_bank, clock)
    with caplog.at_level(logging.WARNING):
        error = await raises(
            ProviderErrorCode.UNAVAILABLE, guarded.get_offer(CUSTOMER, "ref-credit")
        )
    assert "6222" not in error.message
    assert "ValueError" in caplog.text
    assert "****7890" in caplog.text
    assert "6222 0212 3456" not in caplog.text


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", Decimal("5000.00")), ("currency", "USD"), ("request_id", "w-other")],
)
async def test_an_answer_about_another_amount_or_withdrawal_is_an_integrity_event(
    scripted_bank, clock, make_submit, make_withdrawal, caplog, field, value
):
    scripted_bank.script["submit_withdrawal"] = replace(
        make_withdrawal("w-1", Decimal("500.00")), **{field: value}
    )
    guarded = guard(scripted_bank, clock)
    with caplog.at_level(logging.ERROR):
        await raises(
            ProviderErrorCode.INVALID_RESPONSE, guarded.submit_withdrawal(make_submit("w-1"))
        )
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "integrity event" in record.getMessage()
    assert "submit_withdrawal" in record.getMessage()


async def test_confirm_cancel_and_query_are_checked_against_the_expected_amount(
    scripted_bank, clock, make_withdrawal
):
    guarded = guard(scripted_bank, clock)
    other = {"expected_amount": Decimal("499.99"), "expected_currency": "CNY"}
    await raises(
        ProviderErrorCode.INVALID_RESPONSE,
        guarded.confirm_withdrawal(ConfirmWithdrawal("w-1", "123456"), **other),
    )
    await raises(ProviderErrorCode.INVALID_RESPONSE, guarded.cancel_withdrawal("w-1", **other))
    await raises(ProviderErrorCode.INVALID_RESPONSE, guarded.query_withdrawal("w-1", **other))
    result = await guarded.query_withdrawal("w-1", **EXPECTED)
    assert result.state is WithdrawalState.PROCESSING


async def test_integrity_failures_count_towards_the_breaker(scripted_bank, clock):
    guarded = guard(scripted_bank, clock, failure_threshold=2)
    wrong = {"expected_amount": Decimal("1.00"), "expected_currency": "CNY"}
    for _ in range(2):
        await raises(ProviderErrorCode.INVALID_RESPONSE, guarded.query_withdrawal("w-1", **wrong))
    assert guarded.breaker_state == "open"


@pytest.mark.parametrize(
    ("method", "bad"),
    [
        ("submit_withdrawal", {"amount": 500.0}),
        ("submit_withdrawal", {"state": "PROCESSING"}),
        ("submit_withdrawal", {"amount": Decimal("500.001")}),
        ("submit_withdrawal", {"bank_reference": ""}),
        ("submit_withdrawal", {"failure_reason": 42}),
    ],
)
async def test_wrongly_typed_withdrawal_answers_are_invalid(
    scripted_bank, clock, make_submit, make_withdrawal, method, bad
):
    # A float equal to the amount, or a plain string equal to the state, is still refused:
    # money is Decimal and states are WithdrawalState, nothing "close enough".
    scripted_bank.script[method] = replace(make_withdrawal("w-1", Decimal("500.00")), **bad)
    guarded = guard(scripted_bank, clock)
    await raises(ProviderErrorCode.INVALID_RESPONSE, guarded.submit_withdrawal(make_submit()))


async def test_a_truthy_string_is_not_a_same_holder_answer(scripted_bank, clock):
    scripted_bank.script["verify_same_holder"] = "yes"
    guarded = guard(scripted_bank, clock)
    await raises(
        ProviderErrorCode.INVALID_RESPONSE, guarded.verify_same_holder(CUSTOMER, "c", "d")
    )


@pytest.mark.parametrize(
    "card",
    [
        CardInfo("ref", CardKind.CREDIT, "SCRIPTED", "123", "Gold"),
        CardInfo("ref", "CREDIT", "SCRIPTED", "1234", "Gold"),
        CardInfo("4111111111111111", CardKind.CREDIT, "SCRIPTED", "1111", "Gold"),
        CardInfo("ref", CardKind.CREDIT, "SCRIPTED", "١٢٣٤", "Gold"),
    ],
    ids=["short-last4", "kind-not-enum", "pan-as-ref", "non-ascii-digits"],
)
async def test_cards_must_be_masked_and_typed(scripted_bank, clock, card):
    scripted_bank.script["list_cards"] = [card]
    guarded = guard(scripted_bank, clock)
    await raises(ProviderErrorCode.INVALID_RESPONSE, guarded.list_cards(CUSTOMER))


async def test_offer_must_be_for_the_asked_card_with_decimal_limits(scripted_bank, clock):
    guarded = guard(scripted_bank, clock)
    offer = await guarded.get_offer(CUSTOMER, "ref-credit")
    scripted_bank.script["get_offer"] = replace(offer, card_ref="ref-other")
    await raises(ProviderErrorCode.INVALID_RESPONSE, guarded.get_offer(CUSTOMER, "ref-credit"))
    scripted_bank.script["get_offer"] = replace(offer, available_limit=20000)
    await raises(ProviderErrorCode.INVALID_RESPONSE, guarded.get_offer(CUSTOMER, "ref-credit"))
    scripted_bank.script["get_offer"] = replace(offer, min_amount=Decimal("30000.00"))
    await raises(ProviderErrorCode.INVALID_RESPONSE, guarded.get_offer(CUSTOMER, "ref-credit"))


async def test_a_schedule_whose_principals_do_not_add_up_is_invalid(scripted_bank, clock):
    request = QuoteRequest(CUSTOMER, "ref-credit", Decimal("1000.00"), "CNY",
                           RepaymentType.SINGLE_MONTH, 1, date(2026, 1, 15))
    guarded = guard(scripted_bank, clock)
    good = await guarded.quote(request)
    short = (ScheduledPayment(1, date(2026, 2, 15), Decimal("999.99"), Decimal("15.50"),
                              Decimal("10.00")),)
    scripted_bank.script["quote"] = replace(good, schedule=short)
    await raises(ProviderErrorCode.INVALID_RESPONSE, guarded.quote(request))
    scripted_bank.script["quote"] = replace(good, periods=3)
    await raises(ProviderErrorCode.INVALID_RESPONSE, guarded.quote(request))


async def test_observer_sees_every_call_and_cannot_break_it(scripted_bank, clock):
    seen = []

    def on_call(bank, method, outcome, seconds):
        seen.append((bank, method, outcome, seconds))
        raise RuntimeError("metrics backend down")

    guarded = GuardedProvider(scripted_bank, GuardSettings(), clock=clock, on_call=on_call)
    scripted_bank.script["cancel_withdrawal"] = ProviderError(ProviderErrorCode.INVALID_STATE)
    await guarded.list_cards(CUSTOMER)
    await raises(ProviderErrorCode.INVALID_STATE, guarded.cancel_withdrawal("w-1", **EXPECTED))
    assert seen == [
        ("SCRIPTED", "list_cards", "ok", 0.0),
        ("SCRIPTED", "cancel_withdrawal", "INVALID_STATE", 0.0),
    ]
    assert guarded.outcomes == {"ok": 1, "INVALID_STATE": 1}


async def test_health_never_raises(scripted_bank, clock):
    guarded = guard(scripted_bank, clock, failure_threshold=1)
    assert (await guarded.health()).ok

    async def broken():
        raise OSError("socket closed")

    scripted_bank.health = broken
    health = await guarded.health()
    assert not health.ok and "OSError" in health.detail

    scripted_bank.script["list_cards"] = ProviderError(ProviderErrorCode.UNAVAILABLE)
    await raises(ProviderErrorCode.UNAVAILABLE, guarded.list_cards(CUSTOMER))
    assert (await guarded.health()).detail == "circuit breaker open"


def test_a_callback_the_plugin_cannot_parse_is_an_invalid_response(scripted_bank, clock):
    guarded = guard(scripted_bank, clock)
    assert guarded.verify_callback({}, b"{}").amount == Decimal("500.00")
    scripted_bank.script["verify_callback"] = KeyError("amount")
    with pytest.raises(ProviderError) as caught:
        guarded.verify_callback({}, b"{}")
    assert caught.value.code is ProviderErrorCode.INVALID_RESPONSE
    scripted_bank.script["verify_callback"] = ProviderError(ProviderErrorCode.INVALID_SIGNATURE)
    with pytest.raises(ProviderError) as caught:
        guarded.verify_callback({}, b"{}")
    assert caught.value.code is ProviderErrorCode.INVALID_SIGNATURE


def test_guard_settings_come_from_bank_options():
    settings = GuardSettings.from_options(
        {"guard_read_timeout_s": "2.5", "guard_max_concurrency": "8", "latency_ms": "0"}
    )
    assert (settings.read_timeout, settings.max_concurrency) == (2.5, 8)
    assert settings.write_timeout == GuardSettings().write_timeout
    with pytest.raises(ValueError, match="guard_cool_down_s"):
        GuardSettings.from_options({"guard_cool_down_s": "soon"})
    with pytest.raises(ValueError):
        GuardSettings.from_options({"guard_max_concurrency": "0"})


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("1234.56", True), ("0.00", True), ("1", True), ("1.5", True), ("1E+3", True),
        ("1.005", False), ("1.500", False), ("-0.01", False), ("NaN", False), ("Infinity", False),
    ],
)
def test_money_from_a_bank_has_at_most_two_decimals(value, ok):
    if ok:
        assert check_money(Decimal(value), "amount") == Decimal(value)
    else:
        with pytest.raises(ContractViolation):
            check_money(Decimal(value), "amount")
    with pytest.raises(ContractViolation):
        check_money(float(value) if ok else value, "amount")


class BatchBank(ScriptedBank):
    """The scripted bank with a batch status query (``script["query_withdrawals"]``)."""

    batch_query_limit = 3

    async def query_withdrawals(self, request_ids):
        answer = {r: withdrawal(r, Decimal("500.00")) for r in request_ids if r != "w-unknown"}
        return await self._answer("query_withdrawals", answer, request_ids)


ASKED = {r: (Decimal("500.00"), "CNY") for r in ("w-1", "w-2", "w-unknown")}


async def test_a_batch_query_is_offered_only_by_a_bank_that_has_one(scripted_bank, clock):
    assert not guard(scripted_bank, clock).has_batch_query
    batch = guard(BatchBank(), clock)
    assert batch.has_batch_query and batch.batch_query_limit == 3
    with pytest.raises(ValueError):
        await batch.query_withdrawals(ASKED | {"w-4": (Decimal("1.00"), "CNY")})


async def test_each_withdrawal_of_a_batch_answer_is_checked_on_its_own(clock, caplog):
    bank = BatchBank()
    guarded = guard(bank, clock, failure_threshold=1)
    answers = await guarded.query_withdrawals(ASKED)
    assert answers["w-1"].state is WithdrawalState.PROCESSING
    assert answers["w-unknown"].code is ProviderErrorCode.UNKNOWN_WITHDRAWAL

    async def one_wrong(request_ids):
        return {r: withdrawal(r, Decimal("499.00" if r == "w-2" else "500.00")) for r in request_ids}

    bank.script["query_withdrawals"] = one_wrong
    with caplog.at_level(logging.ERROR, "cardcash.providers"):
        answers = await guarded.query_withdrawals(ASKED)
    assert answers["w-1"].state is WithdrawalState.PROCESSING  # the others still count
    assert answers["w-unknown"].state is WithdrawalState.PROCESSING
    assert answers["w-2"].code is ProviderErrorCode.INVALID_RESPONSE
    assert "integrity event" in caplog.text and "query_withdrawals" in caplog.text


@pytest.mark.parametrize(
    "answer",
    [
        [withdrawal("w-1", Decimal("500.00"))],  # not a mapping
        {"w-9": withdrawal("w-9", Decimal("500.00"))},  # about a withdrawal not asked
    ],
)
async def test_a_batch_answer_that_breaks_the_contract_fails_the_whole_call(clock, answer):
    bank = BatchBank()
    bank.script["query_withdrawals"] = answer
    guarded = guard(bank, clock, failure_threshold=1)
    await raises(ProviderErrorCode.INVALID_RESPONSE, guarded.query_withdrawals(ASKED))
    assert guarded.breaker_state == "open"


async def test_a_slow_batch_query_times_out_as_a_whole(clock):
    async def slow(*_):
        await asyncio.sleep(5)

    bank = BatchBank()
    bank.script["query_withdrawals"] = slow
    guarded = guard(bank, clock, read_timeout=0.05)
    await raises(ProviderErrorCode.TIMEOUT, guarded.query_withdrawals(ASKED))
