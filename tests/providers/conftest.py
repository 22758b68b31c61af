"""Shared fixtures of the provider SDK tests: a scriptable bank and a hand-driven clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from providers import (
    BankProvider,
    CallbackEvent,
    CardInfo,
    CardKind,
    ConfirmWithdrawal,
    Customer,
    Offer,
    QuoteRequest,
    QuoteResult,
    RepaymentType,
    ScheduledPayment,
    SubmitWithdrawal,
    WithdrawalPurpose,
    WithdrawalResult,
    WithdrawalState,
)

# A plugin package kept as written for SDK 1.0; test_sdk_compatibility.py runs it on its own.
collect_ignore = ["sdk_1_0_plugin"]

class ManualClock:
    """A monotonic clock that only moves when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ScriptedBank(BankProvider):
    """A provider whose every answer a test sets: ``bank.script["quote"] = ...``.

    A script entry is an exception to raise, a value to return, or a coroutine function
    called with the method's arguments. Without an entry the bank answers correctly.
    """

    code = "SCRIPTED"
    name = "Scripted Bank"
    version = "1.0.0"

    def __init__(self) -> None:
        self.script: dict[str, Any] = {}
        self.calls: Counter[str] = Counter()

    async def _answer(self, method: str, default: Any, *args: Any) -> Any:
        self.calls[method] += 1
        entry = self.script.get(method, default)
        if isinstance(entry, BaseException):
            raise entry
        if asyncio.iscoroutinefunction(entry):
            return await entry(*args)
        return entry

    async def list_cards(self, customer: Customer) -> list[CardInfo]:
        card = CardInfo("ref-credit", CardKind.CREDIT, "SCRIPTED", "1234", "Gold")
        return await self._answer("list_cards", [card], customer)

    async def verify_same_holder(self, customer: Customer, credit: str, debit: str) -> bool:
        return await self._answer("verify_same_holder", True, customer, credit, debit)

    async def get_offer(self, customer: Customer, card_ref: str) -> Offer:
        offer = Offer(
            card_ref=card_ref, currency="CNY", credit_limit=Decimal("50000.00"),
            available_limit=Decimal("20000.00"), min_amount=Decimal("100.00"),
            max_amount=Decimal("20000.00"), daily_remaining=Decimal("5000.00"),
            single_month=None,
        )
        return await self._answer("get_offer", offer, customer, card_ref)

    async def quote(self, request: QuoteRequest) -> QuoteResult:
        result = QuoteResult(
            amount=request.amount, currency=request.currency,
            repayment_type=request.repayment_type, periods=request.periods,
            schedule=(
                ScheduledPayment(1, date(2026, 2, 1), request.amount, Decimal("1.00"),
                                 Decimal("10.00")),
            ),
            agreement_version="v1", agreement_summary="summary",
        )
        return await self._answer("quote", result, request)

    async def submit_withdrawal(self, request: SubmitWithdrawal) -> WithdrawalResult:
        result = withdrawal(request.request_id, request.amount)
        return await self._answer("submit_withdrawal", result, request)

    async def confirm_withdrawal(self, request: ConfirmWithdrawal) -> WithdrawalResult:
        result = withdrawal(request.request_id, Decimal("500.00"))
        return await self._answer("confirm_withdrawal", result, request)

    async def cancel_withdrawal(self, request_id: str) -> WithdrawalResult:
        result = withdrawal(request_id, Decimal("500.00"), WithdrawalState.CANCELLED)
        return await self._answer("cancel_withdrawal", result, request_id)

    async def query_withdrawal(self, request_id: str) -> WithdrawalResult:
        result = withdrawal(request_id, Decimal("500.00"))
        return await self._answer("query_withdrawal", result, request_id)

    def verify_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        self.calls["verify_callback"] += 1
        entry = self.script.get("verify_callback")
        if isinstance(entry, BaseException):
            raise entry
        return entry or CallbackEvent(
            "w-1", "REF-1", WithdrawalState.SUCCEEDED, Decimal("500.00"), "CNY",
            datetime(2026, 1, 1, tzinfo=UTC),
        )


def withdrawal(
    request_id: str, amount: Decimal, state: WithdrawalState = WithdrawalState.PROCESSING
) -> WithdrawalResult:
    """A well-formed withdrawal answer."""
    return WithdrawalResult(request_id, f"REF-{request_id}", state, amount, "CNY")


def submit_request(request_id: str = "w-1", amount: str = "500.00") -> SubmitWithdrawal:
    """A withdrawal request for the scripted bank."""
    return SubmitWithdrawal(
        request_id=request_id, customer=Customer("WECHAT", "o-1"), credit_card_ref="ref-credit",
        debit_card_ref="ref-debit", amount=Decimal(amount), currency="CNY",
        repayment_type=RepaymentType.SINGLE_MONTH, periods=1, purpose=WithdrawalPurpose.EDUCATION,
        agreement_version="v1",
    )


@pytest.fixture
def clock() -> ManualClock:
    """A monotonic clock the test advances by hand."""
    return ManualClock()


@pytest.fixture
def scripted_bank() -> ScriptedBank:
    """A provider whose answers the test scripts."""
    return ScriptedBank()


@pytest.fixture
def make_withdrawal() -> Callable[..., WithdrawalResult]:
    """Build a well-formed withdrawal answer: ``make_withdrawal("w-1", Decimal("500.00"))``."""
    return withdrawal


@pytest.fixture
def make_submit() -> Callable[..., SubmitWithdrawal]:
    """Build a withdrawal request: ``make_submit("w-2", "800.00")``."""
    return submit_request
