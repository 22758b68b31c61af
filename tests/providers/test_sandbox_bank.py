"""The simulated banks behave like banks: limits, daily caps, verification, settlement."""

from __future__ import annotations

import asyncio
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from api.banks.sandbox import SANDBOX_BANKS, SandboxBank
from api.banks.sandbox.bank import FAILURE_REASONS
from api.banks.sandbox.bankdata import parse_bank_data
from api.banks.sandbox.identity import derive_customer
from providers import (
    CardKind,
    ConfirmWithdrawal,
    Customer,
    ProviderContext,
    ProviderError,
    ProviderErrorCode,
    QuoteRequest,
    RepaymentType,
    SubmitWithdrawal,
    WithdrawalPurpose,
    WithdrawalState,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


class WallClock:
    """An aware wall clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def wall() -> WallClock:
    return WallClock(datetime(2026, 3, 10, 9, 0, tzinfo=SHANGHAI))


@pytest.fixture
async def open_bank(tmp_path, wall):
    """``open_bank("CEB", failure_rate="0")``: a sandbox bank on the test's file and clock."""
    opened: list[SandboxBank] = []

    def open_(code: str = "CEB", **options: str) -> SandboxBank:
        options = {"latency_ms": "0", "failure_rate": "0", **options}
        bank = SandboxBank.from_data_file(
            code, ProviderContext(code, tmp_path, options), clock=wall
        )
        opened.append(bank)
        return bank

    yield open_
    for bank in opened:
        await bank.aclose()


async def raises(code: ProviderErrorCode, call) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await call
    assert caught.value.code is code, caught.value
    return caught.value


async def cards(bank: SandboxBank, customer: Customer):
    credit, debit = await bank.list_cards(customer)
    return credit.card_ref, debit.card_ref


async def submit(bank, customer, amount="500.00", request_id="w-1", **changes):
    credit, debit = await cards(bank, customer)
    fields = dict(
        request_id=request_id, customer=customer, credit_card_ref=credit, debit_card_ref=debit,
        amount=Decimal(amount), currency="CNY", repayment_type=RepaymentType.SINGLE_MONTH,
        periods=1, purpose=WithdrawalPurpose.EDUCATION, agreement_version=bank.data.agreement_version,
    )
    return await bank.submit_withdrawal(SubmitWithdrawal(**{**fields, **changes}))


async def customer_with_cash_limit(bank: SandboxBank, at_least: Decimal) -> Customer:
    """A customer whose derived cash-advance limit is at least ``at_least``."""
    for n in range(500):
        customer = Customer("ALIPAY", f"rich-{n}")
        credit, _ = await cards(bank, customer)
        if (await bank.get_offer(customer, credit)).available_limit >= at_least:
            return customer
    raise AssertionError("no such customer in the first 500")


ALICE = Customer("WECHAT", "o-alice")
BOB = Customer("WECHAT", "o-bob")


async def test_a_customer_has_a_credit_card_here_and_one_debit_card_seen_by_every_bank(
    open_bank,
):
    banks = [open_bank(code) for code in SANDBOX_BANKS]
    listed = [await bank.list_cards(ALICE) for bank in banks]
    for bank, (credit, debit) in zip(banks, listed, strict=True):
        assert (credit.kind, credit.issuer_code) == (CardKind.CREDIT, bank.code)
        assert debit.kind is CardKind.DEBIT
        assert len(credit.last4) == 4 and credit.last4.isdigit()
    assert len({debit.card_ref for _, debit in listed}) == 1
    assert len({credit.card_ref for credit, _ in listed}) == 6
    assert (await banks[0].list_cards(BOB))[1].card_ref != listed[0][1].card_ref


async def test_same_holder_only_for_the_customers_own_cards(open_bank):
    bank = open_bank("CEB")
    credit, debit = await cards(bank, ALICE)
    _, bobs_debit = await cards(bank, BOB)
    assert await bank.verify_same_holder(ALICE, credit, debit) is True
    assert await bank.verify_same_holder(ALICE, credit, bobs_debit) is False
    assert await bank.verify_same_holder(BOB, credit, bobs_debit) is False


async def test_the_offer_follows_the_data_file(open_bank):
    bank = open_bank("SPABANK")
    credit, debit = await cards(bank, ALICE)
    offer = await bank.get_offer(ALICE, credit)
    assert Decimal("10000") <= offer.credit_limit <= Decimal("120000")
    assert offer.available_limit == (offer.credit_limit * Decimal("0.30") / 100).to_integral_value(
        rounding="ROUND_DOWN") * 100
    assert (offer.min_amount, offer.max_amount, offer.daily_remaining) == (
        Decimal("100.00"), Decimal("8000.00"), Decimal("8000.00"))
    assert offer.single_month.daily_interest_rate == Decimal("0.0005")
    assert [p.periods for p in offer.installments] == [3, 6, 12, 24]
    assert all(Decimal("0.0045") <= p.monthly_fee_rate <= Decimal("0.0075")
               for p in offer.installments)
    await raises(ProviderErrorCode.CARD_NOT_ELIGIBLE, bank.get_offer(ALICE, debit))
    await raises(ProviderErrorCode.CARD_NOT_FOUND, bank.get_offer(BOB, credit))


async def test_quote_uses_the_banks_rates_and_refuses_what_it_does_not_offer(open_bank):
    bank = open_bank("CEB")
    credit, _ = await cards(bank, ALICE)

    def ask(amount="10000.00", kind=RepaymentType.INSTALLMENT, periods=12, card=credit):
        return bank.quote(QuoteRequest(ALICE, card, Decimal(amount), "CNY", kind, periods,
                                       date(2026, 1, 15)))

    quote = await ask()
    assert quote.schedule[0].total == Decimal("893.33")  # 0.60 % a month at CEB
    assert sum(p.principal for p in quote.schedule) == Decimal("10000.00")
    assert quote.agreement_version == "CEB-CA-2022.05"
    single = await ask("1000.00", RepaymentType.SINGLE_MONTH, 1)
    # CEB counts a single month as 30 days (31 days to 15 February would be 15.50).
    assert single.schedule[0].due_date == date(2026, 2, 14)
    assert (single.schedule[0].interest, single.schedule[0].fee) == (
        Decimal("15.00"), Decimal("10.00"))
    # Its installments start at 500.00 (the notice's minimum starting amount).
    await raises(ProviderErrorCode.AMOUNT_OUT_OF_RANGE, ask("499.99", periods=3))
    assert (await ask("500.00", periods=3)).schedule[0].principal == Decimal("166.66")
    await raises(ProviderErrorCode.UNSUPPORTED_TENOR, ask(periods=7))
    await raises(ProviderErrorCode.UNSUPPORTED_TENOR, ask(kind=RepaymentType.SINGLE_MONTH))
    await raises(ProviderErrorCode.AMOUNT_OUT_OF_RANGE, ask("99.99"))
    await raises(ProviderErrorCode.AMOUNT_OUT_OF_RANGE, ask("10000.01"))
    await raises(ProviderErrorCode.AMOUNT_OUT_OF_RANGE, ask("500.005"))
    await raises(ProviderErrorCode.CARD_NOT_FOUND, ask(card="sbx-cc-someone-else"))


async def test_withdrawals_hold_the_limit_until_they_fail_or_are_cancelled(open_bank):
    bank = open_bank("CEB")
    credit, _ = await cards(bank, ALICE)
    before = (await bank.get_offer(ALICE, credit)).available_limit

    await submit(bank, ALICE, "700.00", "w-1")
    await submit(bank, ALICE, "300.00", "w-2")
    offer = await bank.get_offer(ALICE, credit)
    assert offer.available_limit == before - Decimal("1000.00")
    assert offer.daily_remaining == Decimal("9000.00")

    await bank.cancel_withdrawal("w-2")
    assert (await bank.get_offer(ALICE, credit)).available_limit == before - Decimal("700.00")
    for _ in range(2):
        await raises(ProviderErrorCode.VERIFICATION_FAILED,
                     bank.confirm_withdrawal(ConfirmWithdrawal("w-1", "000000")))
    await raises(ProviderErrorCode.TOO_MANY_ATTEMPTS,
                 bank.confirm_withdrawal(ConfirmWithdrawal("w-1", "000000")))
    assert (await bank.get_offer(ALICE, credit)).available_limit == before


async def test_over_the_limit_is_refused(open_bank, wall):
    bank = open_bank("HXBANK")
    credit, _ = await cards(bank, ALICE)
    offer = await bank.get_offer(ALICE, credit)
    # Draw in steps of the per-withdrawal maximum (over several days) until the limit is used.
    left, n = offer.available_limit, 0
    while left >= offer.min_amount:
        step = min(left, offer.max_amount)
        await submit(bank, ALICE, str(step), f"w-{n}")
        left, n = left - step, n + 1
        wall.advance(days=1)
    await raises(ProviderErrorCode.LIMIT_EXCEEDED, submit(bank, ALICE, "100.00", "w-over"))


async def test_the_daily_cap_resets_at_midnight_in_shanghai(open_bank, wall):
    bank = open_bank("HXBANK")  # 5,000 a day, 5,000 per withdrawal
    customer = await customer_with_cash_limit(bank, Decimal("10100.00"))
    wall.now = datetime(2026, 3, 10, 23, 58, tzinfo=SHANGHAI)
    await submit(bank, customer, "5000.00", "w-day1")
    error = await raises(ProviderErrorCode.DAILY_LIMIT_EXCEEDED,
                         submit(bank, customer, "100.00", "w-day1-more"))
    assert "0.00 CNY left" in error.message
    credit, _ = await cards(bank, customer)
    wall.advance(minutes=3)  # 00:01 on the 11th in Shanghai (16:01 UTC on the 10th)
    offer = await bank.get_offer(customer, credit)
    assert offer.daily_remaining == Decimal("5000.00")
    await submit(bank, customer, "5000.00", "w-day2")


async def test_submission_is_idempotent_and_a_reused_id_with_other_terms_is_refused(open_bank):
    bank = open_bank("CEB")
    credit, _ = await cards(bank, ALICE)
    first = await submit(bank, ALICE, "500.00")
    again = await submit(bank, ALICE, "500")  # the same amount, written differently
    assert again == first
    assert first.state is WithdrawalState.VERIFICATION_REQUIRED
    error = await raises(ProviderErrorCode.INVALID_STATE, submit(bank, ALICE, "600.00"))
    assert "already used" in error.message
    offer = await bank.get_offer(ALICE, credit)
    assert offer.daily_remaining == Decimal("9500.00")


async def test_submission_checks_cards_terms_and_agreement(open_bank):
    bank = open_bank("CEB")
    _, bobs_debit = await cards(bank, BOB)
    await raises(ProviderErrorCode.NOT_SAME_HOLDER, submit(bank, ALICE, debit_card_ref=bobs_debit))
    await raises(ProviderErrorCode.CARD_NOT_FOUND,
                 submit(bank, ALICE, credit_card_ref="sbx-cc-unknown"))
    await raises(ProviderErrorCode.UNSUPPORTED_TENOR,
                 submit(bank, ALICE, repayment_type=RepaymentType.INSTALLMENT, periods=5))
    await raises(ProviderErrorCode.DECLINED, submit(bank, ALICE, agreement_version="old"))
    await raises(ProviderErrorCode.DECLINED, submit(bank, ALICE, currency="USD"))
    await raises(ProviderErrorCode.UNKNOWN_WITHDRAWAL, bank.query_withdrawal("w-1"))


async def test_verification_then_settlement_by_the_clock(open_bank, wall):
    bank = open_bank("CEB", settlement_delay_s="60")
    await submit(bank, ALICE)
    confirmed = await bank.confirm_withdrawal(ConfirmWithdrawal("w-1", "123456"))
    assert confirmed.state is WithdrawalState.PROCESSING
    assert confirmed.expected_arrival == wall.now + timedelta(seconds=60)
    # A retry of the confirmation (say after a timeout) answers the current state.
    assert await bank.confirm_withdrawal(ConfirmWithdrawal("w-1", "123456")) == confirmed
    await raises(ProviderErrorCode.INVALID_STATE,
                 bank.confirm_withdrawal(ConfirmWithdrawal("w-1", "999999")))
    wall.advance(seconds=59)
    assert (await bank.query_withdrawal("w-1")).state is WithdrawalState.PROCESSING
    wall.advance(seconds=1)
    settled = await bank.query_withdrawal("w-1")
    assert settled.state is WithdrawalState.SUCCEEDED and settled.expected_arrival is None
    assert (await bank.confirm_withdrawal(ConfirmWithdrawal("w-1", "123456"))).state is (
        WithdrawalState.SUCCEEDED)
    await raises(ProviderErrorCode.INVALID_STATE, bank.cancel_withdrawal("w-1"))
    assert (await bank.query_withdrawal("w-1")).state is WithdrawalState.SUCCEEDED


async def test_cancel_only_before_verification_and_idempotently(open_bank):
    bank = open_bank("CEB")
    await submit(bank, ALICE, request_id="w-c")
    cancelled = await bank.cancel_withdrawal("w-c")
    assert cancelled.state is WithdrawalState.CANCELLED
    assert await bank.cancel_withdrawal("w-c") == cancelled
    await raises(ProviderErrorCode.INVALID_STATE,
                 bank.confirm_withdrawal(ConfirmWithdrawal("w-c", "123456")))
    await submit(bank, ALICE, request_id="w-p")
    await bank.confirm_withdrawal(ConfirmWithdrawal("w-p", "123456"))
    await raises(ProviderErrorCode.INVALID_STATE, bank.cancel_withdrawal("w-p"))
    await raises(ProviderErrorCode.UNKNOWN_WITHDRAWAL, bank.cancel_withdrawal("w-none"))


async def test_too_many_wrong_codes_fail_the_withdrawal_for_good(open_bank):
    bank = open_bank("CITIC")
    await submit(bank, ALICE)
    for left in (2, 1):
        error = await raises(ProviderErrorCode.VERIFICATION_FAILED,
                             bank.confirm_withdrawal(ConfirmWithdrawal("w-1", "111111")))
        assert f"{left} attempts left" in error.message
    await raises(ProviderErrorCode.TOO_MANY_ATTEMPTS,
                 bank.confirm_withdrawal(ConfirmWithdrawal("w-1", "111111")))
    await raises(ProviderErrorCode.TOO_MANY_ATTEMPTS,
                 bank.confirm_withdrawal(ConfirmWithdrawal("w-1", "123456")))
    failed = await bank.query_withdrawal("w-1")
    assert failed.state is WithdrawalState.FAILED
    assert failed.failure_reason == "too many wrong verification codes"


async def test_a_bank_without_verification_goes_straight_to_processing(open_bank):
    bank = open_bank("SPDB")
    result = await submit(bank, ALICE)
    assert result.state is WithdrawalState.PROCESSING
    forced = open_bank("CEB", verification_required="false")
    assert (await submit(forced, ALICE)).state is WithdrawalState.PROCESSING


async def test_failures_at_settlement_are_reproducible_and_release_the_limit(open_bank, wall):
    bank = open_bank("SPDB", failure_rate="1", settlement_delay_s="0")
    credit, _ = await cards(bank, ALICE)
    before = (await bank.get_offer(ALICE, credit)).available_limit
    await submit(bank, ALICE, "800.00")
    failed = await bank.query_withdrawal("w-1")
    assert failed.state is WithdrawalState.FAILED
    assert failed.failure_reason in FAILURE_REASONS
    assert (await bank.get_offer(ALICE, credit)).available_limit == before
    never = open_bank("SPDB", failure_rate="0", settlement_delay_s="0")
    await submit(never, BOB, request_id="w-2")
    assert (await never.query_withdrawal("w-2")).state is WithdrawalState.SUCCEEDED


async def test_state_survives_a_restart_on_the_same_file(open_bank):
    bank = open_bank("CEB")
    credit, _ = await cards(bank, ALICE)
    await submit(bank, ALICE, "1500.00")
    offer = await bank.get_offer(ALICE, credit)
    await bank.aclose()

    restarted = open_bank("CEB")
    assert (await restarted.query_withdrawal("w-1")).amount == Decimal("1500.00")
    assert await restarted.get_offer(ALICE, credit) == offer
    confirmed = await restarted.confirm_withdrawal(ConfirmWithdrawal("w-1", "123456"))
    assert confirmed.state is WithdrawalState.PROCESSING


async def test_banks_share_the_file_but_not_their_withdrawals(open_bank):
    ceb, citic = open_bank("CEB"), open_bank("CITIC")
    await submit(ceb, ALICE, request_id="same-id")
    await raises(ProviderErrorCode.UNKNOWN_WITHDRAWAL, citic.query_withdrawal("same-id"))
    other = await submit(citic, ALICE, request_id="same-id")
    assert other.bank_reference != (await ceb.query_withdrawal("same-id")).bank_reference


async def test_a_duplicate_request_from_two_processes_makes_one_withdrawal(open_bank):
    # Two instances stand for two cardcash processes: separate connections to one file.
    first, second = open_bank("CEB"), open_bank("CEB")
    credit, _ = await cards(first, ALICE)
    before = (await first.get_offer(ALICE, credit)).available_limit
    results = await asyncio.gather(
        *(submit(bank, ALICE, "900.00", "dup") for bank in (first, second) * 5)
    )
    assert len({r.bank_reference for r in results}) == 1
    assert (await second.get_offer(ALICE, credit)).available_limit == before - Decimal("900.00")


async def test_a_down_bank_refuses_calls_and_reports_unhealthy(open_bank):
    bank = open_bank("NBBANK", down="true")
    health = await bank.health()
    assert not health.ok and "down" in health.detail
    await raises(ProviderErrorCode.UNAVAILABLE, bank.list_cards(ALICE))
    assert (await open_bank("NBBANK").health()).ok


async def test_latency_follows_the_option(open_bank):
    bank = open_bank("CEB", latency_ms="40")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await bank.list_cards(ALICE)
    assert loop.time() - started >= 0.039


@pytest.mark.parametrize(
    ("option", "value"),
    [("latency_ms", "fast"), ("latency_ms", "80-20"), ("failure_rate", "2"),
     ("verification_required", "maybe"), ("settlement_delay_s", "-1")],
)
def test_invalid_options_refuse_to_start(tmp_path, option, value):
    with pytest.raises(ValueError, match=option):
        SandboxBank.from_data_file("CEB", ProviderContext("CEB", tmp_path, {option: value}))


def test_money_in_a_data_file_must_not_be_a_float():
    with pytest.raises(ValueError, match="daily_interest_rate must be written as a string"):
        parse_bank_data({
            "code": "X", "name": "X", "credit_limit_min": "1000", "credit_limit_max": "2000",
            "cash_advance_share": "0.4", "min_amount": "100", "max_amount": "1000",
            "daily_cap": "1000", "daily_interest_rate": 0.0005, "fee_rate": "0.01",
            "min_fee": "10", "installment_fee_rates": {}, "latency_ms": [0, 0],
            "failure_rate": "0", "settlement_delay_s": 1, "verification_required": True,
            "arrival_description": "", "card_product": "", "agreement": {"version": "v",
                                                                       "summary": ""},
        })


def test_sandbox_data_cannot_serve_another_bank_code(tmp_path):
    with pytest.raises(ValueError, match="cannot serve bank SPDB"):
        SandboxBank.from_data_file("CEB", ProviderContext("SPDB", tmp_path))


SUBMIT_FROM_A_PROCESS = """
import asyncio, sys
from decimal import Decimal
from pathlib import Path
from providers import (
    Customer, ProviderContext, RepaymentType, SubmitWithdrawal, WithdrawalPurpose,
)
from api.banks.sandbox import SandboxBank

async def main():
    bank = SandboxBank.from_data_file(
        "CEB", ProviderContext("CEB", Path(sys.argv[1]), {"latency_ms": "0"}))
    customer = Customer("WECHAT", "o-two-processes")
    credit, debit = await bank.list_cards(customer)
    requests = [SubmitWithdrawal(f"w-{n}", customer, credit.card_ref, debit.card_ref,
                                 Decimal("100.00"), "CNY", RepaymentType.SINGLE_MONTH, 1,
                                 WithdrawalPurpose.EDUCATION, bank.data.agreement_version)
                for n in range(20)]
    results = await asyncio.gather(*(bank.submit_withdrawal(r) for r in requests))
    print(" ".join(r.bank_reference for r in results))
    await bank.aclose()

asyncio.run(main())
"""


async def test_two_real_processes_submitting_the_same_ids_make_one_withdrawal_each(
    tmp_path, open_bank
):
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", SUBMIT_FROM_A_PROCESS, str(tmp_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [await p.communicate() for p in processes]
    assert all(p.returncode == 0 for p in processes), [err.decode()[-1500:] for _, err in outputs]
    first, second = (out.decode().split() for out, _ in outputs)
    assert first == second and len(set(first)) == 20
    bank = open_bank("CEB")
    customer = Customer("WECHAT", "o-two-processes")
    credit, _ = await cards(bank, customer)
    offer = await bank.get_offer(customer, credit)
    limit = derive_customer(
        "CEB", customer, card_product="", credit_limit_min=bank.data.credit_limit_min,
        credit_limit_max=bank.data.credit_limit_max,
        cash_advance_share=bank.data.cash_advance_share,
    ).cash_advance_limit
    assert offer.available_limit == limit - 20 * Decimal("100.00")


async def test_a_file_locked_by_another_process_is_waited_for_without_stopping_the_loop(
    open_bank, tmp_path
):
    import sqlite3

    from api.banks.sandbox.store import FILE_NAME

    bank = open_bank("CEB")
    credit, _ = await cards(bank, ALICE)  # the file exists, in WAL
    other = sqlite3.connect(tmp_path / FILE_NAME, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing, for as long as it likes
    offer = asyncio.ensure_future(bank.get_offer(ALICE, credit))
    ticks = 0
    for _ in range(20):
        await asyncio.sleep(0.01)
        ticks += 1
    assert not offer.done() and ticks == 20  # it waits, and the loop runs meanwhile
    other.execute("COMMIT")
    other.close()
    assert (await asyncio.wait_for(offer, 2)).available_limit > 0


def test_bank_references_never_look_like_card_numbers():
    from api.banks.sandbox.bank import _bank_reference
    from providers.scrub import contains_card_number

    references = {_bank_reference("CEB", f"wdr_{n}") for n in range(20_000)}
    assert len(references) == 20_000
    assert not [r for r in references if contains_card_number(r)]


async def test_an_offer_follows_a_settlement_that_comes_due_by_the_clock(open_bank, wall):
    bank = open_bank("SPDB", failure_rate="1", settlement_delay_s="60")
    credit, _ = await cards(bank, ALICE)
    before = (await bank.get_offer(ALICE, credit)).available_limit
    await submit(bank, ALICE, "800.00")
    held = before - Decimal("800.00")
    assert (await bank.get_offer(ALICE, credit)).available_limit == held
    wall.advance(seconds=59)
    assert (await bank.get_offer(ALICE, credit)).available_limit == held
    wall.advance(seconds=2)  # the settlement fails, and gives the limit back
    assert (await bank.get_offer(ALICE, credit)).available_limit == before
    assert (await bank.query_withdrawal("w-1")).state is WithdrawalState.FAILED


async def test_an_offer_follows_withdrawals_made_by_another_process(open_bank):
    # Two instances stand for two cardcash processes: separate connections to one file.
    first, second = open_bank("CEB"), open_bank("CEB")
    credit, _ = await cards(first, ALICE)
    before = await first.get_offer(ALICE, credit)
    assert await first.get_offer(ALICE, credit) == before
    await submit(second, ALICE, "600.00", "w-elsewhere")
    after = await first.get_offer(ALICE, credit)
    assert after.available_limit == before.available_limit - Decimal("600.00")
    assert after.daily_remaining == before.daily_remaining - Decimal("600.00")
    # Another bank writing to the shared file changes nothing for this card.
    await submit(open_bank("CITIC"), ALICE, "100.00", "w-citic")
    assert await first.get_offer(ALICE, credit) == after
    await second.cancel_withdrawal("w-elsewhere")
    assert await first.get_offer(ALICE, credit) == before


async def test_a_quote_sees_the_limit_another_process_used_or_gave_back(open_bank, wall):
    first, second = open_bank("CEB"), open_bank("CEB")
    credit, _ = await cards(first, ALICE)
    offer = await first.get_offer(ALICE, credit)

    def ask(amount: Decimal):
        return first.quote(QuoteRequest(ALICE, credit, amount, "CNY", RepaymentType.SINGLE_MONTH,
                                        1, date(2026, 3, 10)))

    step = min(offer.available_limit, offer.max_amount)
    left, n = offer.available_limit, 0
    while left >= step:  # another process draws the limit down, a day at a time
        wall.advance(days=1)
        await submit(second, ALICE, str(step), f"w-{n}")
        left, n = left - step, n + 1
    await raises(ProviderErrorCode.LIMIT_EXCEEDED, ask(step))
    await second.cancel_withdrawal(f"w-{n - 1}")  # the same day: only the file tells
    assert (await ask(step)).amount == step
