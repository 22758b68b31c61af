"""What the conformance tests use to drive a provider and judge each of its answers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from providers.base import BankProvider
from providers.errors import ProviderError, ProviderErrorCode
from providers.testkit.inbox import CallbackInbox
from providers.types import (
    TERMINAL_STATES,
    CallbackEvent,
    CardInfo,
    CardKind,
    ConfirmWithdrawal,
    Customer,
    Offer,
    QuoteRequest,
    RepaymentType,
    SubmitWithdrawal,
    WithdrawalPurpose,
    WithdrawalResult,
    WithdrawalState,
    terms_digest,
)


def booking_day():
    """Today in China, where banks count their days: the day a loan booked now starts."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def echoes_terms(provider: BankProvider) -> bool:
    """Whether the plugin declares an SDK that echoes the booked terms (1.2 and later)."""
    major, _, minor = str(getattr(provider, "sdk_version", "1.0")).partition(".")
    try:
        return (int(major), int(minor.split(".")[0] or 0)) >= (1, 2)
    except ValueError:
        return False

T = TypeVar("T")

#: How far along the lifecycle each state is: an answer may move forward, never back.
PROGRESS = {
    WithdrawalState.VERIFICATION_REQUIRED: 0,
    WithdrawalState.PROCESSING: 1,
    WithdrawalState.SUCCEEDED: 2,
    WithdrawalState.FAILED: 2,
    WithdrawalState.CANCELLED: 2,
}


@dataclass
class Harness:
    """A provider under test with the fixtures that describe its test environment."""

    provider: BankProvider
    customer: Customer
    other_customer: Customer
    verification_code: str
    call_timeout: float
    settlement_timeout: float
    declared_amounts: tuple[Decimal, ...] = field(default=(), kw_only=True)
    final_pause: float = field(default=1.0, kw_only=True)
    callback_signer: Any = field(default=None, kw_only=True)
    callback_inbox: CallbackInbox | None = field(default=None, kw_only=True)

    async def call(self, what: str, awaitable: Awaitable[T]) -> T:
        """Await one provider call: in time, and raising nothing but ProviderError."""
        try:
            async with asyncio.timeout(self.call_timeout):
                return await awaitable
        except TimeoutError:
            pytest.fail(f"{what} did not complete within {self.call_timeout} s", pytrace=False)
        except ProviderError as error:
            if not isinstance(error.code, ProviderErrorCode):
                pytest.fail(f"{what} raised a ProviderError with code {error.code!r}")
            raise
        except Exception as error:  # noqa: BLE001 - reporting it is the point
            pytest.fail(
                f"{what} raised {type(error).__name__}: {error}; a provider may raise only "
                "ProviderError", pytrace=False,
            )

    async def answered(self, what: str, awaitable: Awaitable[T], rule: str) -> T:
        """Await a call that must answer, not refuse: a ProviderError fails, naming ``rule``."""
        try:
            return await self.call(what, awaitable)
        except ProviderError as error:
            pytest.fail(f"{what} raised {error}; {rule}", pytrace=False)

    async def refused(
        self, what: str, awaitable: Awaitable[Any], *codes: ProviderErrorCode
    ) -> ProviderError:
        """Await a call that must fail with a ProviderError of one of ``codes``."""
        try:
            result = await self.call(what, awaitable)
        except ProviderError as error:
            if codes and error.code not in codes:
                expected = " or ".join(c.value for c in codes)
                pytest.fail(f"{what} raised {error.code.value}, expected {expected}",
                            pytrace=False)
            return error
        expected = " or ".join(c.value for c in codes) or "a ProviderError"
        pytest.fail(f"{what} returned {result!r}, expected {expected}", pytrace=False)

    async def cards(self, customer: Customer | None = None) -> tuple[CardInfo, CardInfo]:
        """The customer's first credit card and first debit card."""
        cards = await self.call("list_cards", self.provider.list_cards(customer or self.customer))
        credit = next((c for c in cards if c.kind is CardKind.CREDIT), None)
        debit = next((c for c in cards if c.kind is CardKind.DEBIT), None)
        if credit is None or debit is None:
            pytest.fail("bank_customer must hold a credit card and a debit card", pytrace=False)
        return credit, debit

    async def offer(self, card: CardInfo) -> Offer:
        """The offer on ``card``."""
        return await self.call("get_offer", self.provider.get_offer(self.customer, card.card_ref))

    async def borrowable(self, card: CardInfo) -> Decimal:
        """The smallest amount the customer can draw now (fails if they cannot draw at all)."""
        offer = await self.offer(card)
        amount = offer.min_amount
        if amount > min(offer.available_limit, offer.daily_remaining, offer.max_amount):
            pytest.fail(
                f"bank_customer cannot draw {amount} now (available {offer.available_limit}, "
                f"today {offer.daily_remaining}): give the suite a customer with limit left",
                pytrace=False,
            )
        return amount

    @staticmethod
    def drawable(offer: Offer) -> tuple[Decimal, Decimal] | None:
        """The lowest and highest amount the offer lets the customer draw now, or None."""
        low = offer.min_amount
        high = min(offer.max_amount, offer.available_limit, offer.daily_remaining)
        return (low, high) if low <= high else None

    async def amount(self, choice: str) -> Decimal:
        """The offer's ``"minimum"``, ``"middle"`` or ``"maximum"`` amount drawable now."""
        credit, _ = await self.cards()
        offer = await self.offer(credit)
        bounds = self.drawable(offer)
        if bounds is None:
            await self.borrowable(credit)  # fails, saying why
        low, high = bounds
        middle = ((low + high) / 2).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        return {"minimum": low, "middle": middle, "maximum": high}[choice]

    async def candidate_amounts(self) -> list[Decimal]:
        """The declared amounts, then the offer's maximum, middle and minimum (no repeats)."""
        found: list[Decimal] = []
        for amount in (*self.declared_amounts, *[await self.amount(choice) for choice in
                                                 ("maximum", "middle", "minimum")]):
            if amount not in found:
                found.append(amount)
        return found

    async def limits(self) -> tuple[Decimal, Decimal]:
        """``(available_limit, daily_remaining)`` of the customer's credit card now."""
        credit, _ = await self.cards()
        offer = await self.offer(credit)
        return offer.available_limit, offer.daily_remaining

    async def completed(self, amount: Decimal) -> tuple[SubmitWithdrawal, WithdrawalResult]:
        """A withdrawal of ``amount``, confirmed when asked, followed to its final state."""
        request = await self.submission(amount)
        result = await self.submit(request)
        if result.state is WithdrawalState.VERIFICATION_REQUIRED:
            await self.confirm(request)
        return request, await self.final(request)

    async def awaiting_verification(
        self,
    ) -> tuple[SubmitWithdrawal, WithdrawalResult, tuple[Decimal, Decimal]]:
        """A withdrawal waiting for its code, with the limits just before it was submitted.

        Tries the declared amounts, then the offer's maximum, middle and minimum: a bank that
        asks for a code only above a threshold is met there. Skips the test when the bank asks
        at none of them.
        """
        tried = []
        for amount in await self.candidate_amounts():
            before = await self.limits()
            credit, _ = await self.cards()
            bounds = self.drawable(await self.offer(credit))
            if bounds is None or not bounds[0] <= amount <= bounds[1]:
                continue
            request = await self.submission(amount)
            result = await self.submit(request)
            tried.append(str(amount))
            if result.state is WithdrawalState.VERIFICATION_REQUIRED:
                return request, result, before
        pytest.skip(f"the bank asked for no verification code at {', '.join(tried)} "
                    "(declare bank_amounts to reach a threshold)")

    def check_event(self, event: Any, request: SubmitWithdrawal | None = None) -> CallbackEvent:
        """A verified callback is a well-typed CallbackEvent (about ``request``, if given).

        A callback whose amount or currency differs from the withdrawal's is refused by
        cardcash (HTTP 400, noted on the withdrawal), so it fails here too.
        """
        assert isinstance(event, CallbackEvent), f"verify_callback returned {event!r}"
        for name in ("request_id", "bank_reference", "currency"):
            assert isinstance(getattr(event, name), str), f"callback {name} is not a string"
        assert isinstance(event.state, WithdrawalState), f"callback state is {event.state!r}"
        assert isinstance(event.amount, Decimal), (
            f"callback amount is {type(event.amount).__name__}, not Decimal")
        assert event.failure_reason is None or isinstance(event.failure_reason, str), (
            "callback failure_reason is not a string")
        if request is not None:
            assert (event.amount, event.currency) == (request.amount, request.currency), (
                f"a callback reports {event.amount} {event.currency} for a withdrawal of "
                f"{request.amount} {request.currency}: cardcash refuses it"
            )
        return event

    async def pushed_events(
        self, request: SubmitWithdrawal, final: WithdrawalResult
    ) -> list[CallbackEvent]:
        """The verified callbacks the bank pushed about ``request``, once one is final."""
        assert self.callback_inbox is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settlement_timeout
        while True:
            events = []
            for delivery in self.callback_inbox.deliveries:
                async def verify(delivery=delivery):
                    return self.provider.verify_callback(delivery.headers, delivery.body)

                try:
                    event = await self.call("verify_callback(pushed)", verify())
                except ProviderError as error:
                    pytest.fail(f"a callback the bank pushed does not verify: {error}",
                                pytrace=False)
                if event.request_id == request.request_id:
                    events.append(self.check_event(event, request))
            if any(e.state in TERMINAL_STATES for e in events):
                return events
            if loop.time() > deadline:
                pytest.fail(f"no final callback about the withdrawal arrived within "
                            f"{self.settlement_timeout} s (it is {final.state.value})",
                            pytrace=False)
            await asyncio.sleep(0.05)

    def tenors(self, offer: Offer) -> list[tuple[RepaymentType, int]]:
        """Every repayment type and tenor the offer lists."""
        found = [(RepaymentType.SINGLE_MONTH, 1)] if offer.single_month is not None else []
        return found + [(RepaymentType.INSTALLMENT, p.periods) for p in offer.installments]

    @staticmethod
    def tenor_min_amount(offer: Offer, periods: int) -> Decimal:
        """The smallest amount of a tenor: the offer's, or the installment's own when higher."""
        pricing = next((p for p in offer.installments if p.periods == periods), None)
        if pricing is None or pricing.min_amount is None:
            return offer.min_amount
        return max(offer.min_amount, pricing.min_amount)

    async def submission(self, amount: Decimal | None = None) -> SubmitWithdrawal:
        """A valid withdrawal request with a new request id, on the bank's current agreement."""
        credit, debit = await self.cards()
        offer = await self.offer(credit)
        amount = amount if amount is not None else await self.borrowable(credit)
        tenors = self.tenors(offer)
        if not tenors:
            pytest.fail("the offer lists no repayment type", pytrace=False)
        repayment_type, periods = tenors[0]
        start = booking_day()
        quote = await self.call("quote", self.provider.quote(QuoteRequest(
            self.customer, credit.card_ref, amount, offer.currency, repayment_type, periods,
            start,
        )))
        return SubmitWithdrawal(
            request_id=f"conformance-{uuid.uuid4().hex}", customer=self.customer,
            credit_card_ref=credit.card_ref, debit_card_ref=debit.card_ref, amount=amount,
            currency=offer.currency, repayment_type=repayment_type, periods=periods,
            purpose=WithdrawalPurpose.EDUCATION, agreement_version=quote.agreement_version,
            quote_id=f"conformance-quote-{uuid.uuid4().hex}", start_date=start,
            schedule=quote.schedule, schedule_digest=terms_digest(start, quote.schedule),
            credit_report_authorized=bool(getattr(self.provider, "asks_credit_report", False)),
        )

    async def submit(self, request: SubmitWithdrawal) -> WithdrawalResult:
        """Submit and check the answer is about this request."""
        result = await self.call("submit_withdrawal", self.provider.submit_withdrawal(request))
        self.same_withdrawal(result, request)
        return result

    async def query(self, request: SubmitWithdrawal) -> WithdrawalResult:
        """Query and check the answer is about this request."""
        result = await self.call(
            "query_withdrawal", self.provider.query_withdrawal(request.request_id)
        )
        self.same_withdrawal(result, request)
        return result

    async def confirm(self, request: SubmitWithdrawal) -> WithdrawalResult:
        """Confirm with the right code and check the answer."""
        result = await self.call("confirm_withdrawal", self.provider.confirm_withdrawal(
            ConfirmWithdrawal(request.request_id, self.verification_code)
        ))
        self.same_withdrawal(result, request)
        return result

    async def started(self) -> tuple[SubmitWithdrawal, WithdrawalResult]:
        """A submitted withdrawal, confirmed when the bank asked for a code."""
        request = await self.submission()
        result = await self.submit(request)
        if result.state is WithdrawalState.VERIFICATION_REQUIRED:
            result = await self.confirm(request)
        return request, result

    async def final(self, request: SubmitWithdrawal) -> WithdrawalResult:
        """Query until the withdrawal is final (within ``bank_settlement_timeout``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settlement_timeout
        while True:
            result = await self.query(request)
            if result.state in TERMINAL_STATES:
                return result
            if loop.time() > deadline:
                pytest.fail(
                    f"withdrawal still {result.state.value} after {self.settlement_timeout} s "
                    "(bank_settlement_timeout)", pytrace=False,
                )
            await asyncio.sleep(0.05)

    @staticmethod
    def same_withdrawal(result: Any, request: SubmitWithdrawal) -> None:
        """The answer is a WithdrawalResult for this request id, amount and currency."""
        assert isinstance(result, WithdrawalResult), f"not a WithdrawalResult: {result!r}"
        assert isinstance(result.state, WithdrawalState), f"state is {result.state!r}"
        assert isinstance(result.amount, Decimal), f"amount is {type(result.amount).__name__}"
        assert result.request_id == request.request_id, "answer about another request id"
        assert (result.amount, result.currency) == (request.amount, request.currency), (
            f"bank reports {result.amount} {result.currency}, asked "
            f"{request.amount} {request.currency}"
        )
        assert isinstance(result.bank_reference, str) and result.bank_reference

    @staticmethod
    def not_behind(later: WithdrawalResult, earlier: WithdrawalResult) -> None:
        """``later`` is the same withdrawal, at the same point of its lifecycle or further."""
        assert later.bank_reference == earlier.bank_reference, "another withdrawal was made"
        if earlier.state in TERMINAL_STATES:
            assert later.state is earlier.state, (
                f"final state {earlier.state.value} changed to {later.state.value}"
            )
        assert PROGRESS[later.state] >= PROGRESS[earlier.state], (
            f"state went back from {earlier.state.value} to {later.state.value}"
        )


def two_decimals(value: Any, what: str) -> None:
    """``value`` is a Decimal amount with exactly two decimals (yuan and fen)."""
    assert isinstance(value, Decimal), f"{what} is {type(value).__name__}, not Decimal"
    assert value.as_tuple().exponent == -2, f"{what}={value} does not have two decimals"


def tampered(body: bytes) -> bytes:
    """``body`` with one byte changed."""
    if not body:
        return b"x"
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]


__all__ = ["PROGRESS", "Harness", "tampered", "two_decimals"]
