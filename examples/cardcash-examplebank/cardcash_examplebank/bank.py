"""ExampleBank: every method of the provider contract, as small as it can honestly be.

State is in memory: a real plugin calls its bank's API here instead, and keeps nothing it
cannot get back from the bank.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from providers import (
    BankProvider,
    CallbackEvent,
    CardInfo,
    CardKind,
    ConfirmWithdrawal,
    Customer,
    InstallmentPricing,
    Offer,
    ProviderContext,
    ProviderError,
    ProviderErrorCode,
    QuoteRequest,
    QuoteResult,
    RepaymentType,
    SingleMonthPricing,
    SubmitWithdrawal,
    WithdrawalResult,
    WithdrawalState,
)
from providers.pricing import standard_schedule
from providers.webhooks import CallbackSender, CallbackSigner

E = ProviderErrorCode
SIGNATURE_HEADER = "X-Example-Signature"
CASH_LIMIT = Decimal("8000.00")
DAILY_CAP = Decimal("5000.00")
#: From this amount on, the holder confirms with an SMS code; below it, no code is asked.
VERIFY_FROM = Decimal("2000.00")
MAX_WRONG_CODES = 3
SINGLE_MONTH = SingleMonthPricing(Decimal("0.0005"), Decimal("0.01"), Decimal("10.00"))
INSTALLMENTS = (InstallmentPricing(3, Decimal("0.0070")), InstallmentPricing(6, Decimal("0.0065")))
AGREEMENT = "EXAMPLE-CA-1"


def _ref(kind: str, customer: Customer) -> str:
    digest = hashlib.sha256(f"{kind}|{customer.channel}|{customer.channel_user_id}".encode())
    # base32 letters: a reference can never look like a card number.
    return f"ex-{kind}-" + base64.b32encode(digest.digest()[:10]).decode().lower()


def signer(secret: str = "example-secret") -> CallbackSigner:
    """How ExampleBank signs callbacks: the SDK's timestamped HMAC in ``X-Example-Signature``."""
    return CallbackSigner(secret, header=SIGNATURE_HEADER)


def sign_callback(event: CallbackEvent, secret: str = "example-secret") -> tuple[dict, bytes]:
    """Headers and body of a callback as ExampleBank sends it now (for tests)."""
    return signer(secret).signed(event)


class ExampleBank(BankProvider):
    """A bank that lends up to 8,000 CNY in cash per customer and 5,000 CNY a day, single month
    or 3/6 months, asks for an SMS code from 2,000 CNY, and pushes a signed callback when a
    withdrawal settles (option ``callback_url``)."""

    code = "EXAMPLE"
    name = "Example Bank"
    version = "0.1.0"
    # Written for SDK 1.1 (providers.webhooks, Offer.of); known to work up to the next major.
    sdk_version = "1.1"
    sdk_supported = ">=1.1,<2"
    verify_from = VERIFY_FROM

    def __init__(self, context: ProviderContext) -> None:
        self._code = context.options.get("verification_code", "123456")
        self._signer = signer(context.options.get("callback_secret", "example-secret"))
        self._settlement_s = float(context.options.get("settlement_s", "0"))
        url = context.options.get("callback_url")
        self._sender = CallbackSender(url, self._signer, bank_code=self.code) if url else None
        self._wrong_codes: dict[str, int] = {}
        self._timers: list[asyncio.TimerHandle] = []
        # request id -> (request, current result, settlement time, day it was drawn on)
        self._withdrawals: dict[str, tuple[SubmitWithdrawal, WithdrawalResult, float, date]] = {}
        # One lock makes check-then-reserve atomic under concurrent calls.
        self._lock = asyncio.Lock()

    async def list_cards(self, customer: Customer) -> list[CardInfo]:
        return [
            CardInfo(_ref("credit", customer), CardKind.CREDIT, self.code, "4242", "Example Card"),
            CardInfo(_ref("debit", customer), CardKind.DEBIT, "ICBC", "1881", "Debit card"),
        ]

    async def verify_same_holder(self, customer: Customer, credit: str, debit: str) -> bool:
        return (credit, debit) == (_ref("credit", customer), _ref("debit", customer))

    async def get_offer(self, customer: Customer, card_ref: str) -> Offer:
        self._own_credit_card(customer, card_ref)
        available = CASH_LIMIT - self._held(card_ref)
        today = DAILY_CAP - self._held(card_ref, date.today())
        return Offer.of(
            card_ref=card_ref, currency="CNY", credit_limit=Decimal("20000.00"),
            available_limit=available, min_amount=Decimal("100.00"),
            max_amount=Decimal("5000.00"), daily_remaining=today, single_month=SINGLE_MONTH,
            installments=INSTALLMENTS, arrival_description="within 1 hour",
        )

    async def quote(self, request: QuoteRequest) -> QuoteResult:
        self._own_credit_card(request.customer, request.card_ref)
        installment = self._check_terms(request.amount, request.currency, request.repayment_type,
                                        request.periods)
        schedule = standard_schedule(request.amount, request.repayment_type, request.periods,
                                     request.start_date, single_month=SINGLE_MONTH,
                                     installment=installment)
        return QuoteResult(request.amount, request.currency, request.repayment_type,
                           request.periods, schedule, AGREEMENT, "Example Bank cash advance terms.")

    async def submit_withdrawal(self, request: SubmitWithdrawal) -> WithdrawalResult:
        async with self._lock:
            known = self._withdrawals.get(request.request_id)
            if known is not None:
                if known[0] != request:
                    raise ProviderError(E.INVALID_STATE, "request id used for another withdrawal")
                return self._current(request.request_id)
            self._own_credit_card(request.customer, request.credit_card_ref)
            if request.debit_card_ref != _ref("debit", request.customer):
                raise ProviderError(E.NOT_SAME_HOLDER)
            self._check_terms(request.amount, request.currency, request.repayment_type,
                              request.periods)
            if request.amount > CASH_LIMIT - self._held(request.credit_card_ref):
                raise ProviderError(E.LIMIT_EXCEEDED)
            if request.amount > DAILY_CAP - self._held(request.credit_card_ref, date.today()):
                raise ProviderError(E.DAILY_LIMIT_EXCEEDED)
            result = WithdrawalResult(request.request_id, f"EX-{len(self._withdrawals) + 1:08d}",
                                      WithdrawalState.VERIFICATION_REQUIRED, request.amount,
                                      request.currency)
            self._withdrawals[request.request_id] = (request, result, 0.0, date.today())
            if request.amount < self.verify_from:
                return self._start_processing(request.request_id)
            return result

    async def confirm_withdrawal(self, request: ConfirmWithdrawal) -> WithdrawalResult:
        async with self._lock:
            current = self._current(request.request_id)
            right = request.verification_code == self._code
            if current.state is WithdrawalState.VERIFICATION_REQUIRED:
                if right:
                    return self._start_processing(request.request_id)
                wrong = self._wrong_codes[request.request_id] = (
                    self._wrong_codes.get(request.request_id, 0) + 1)
                if wrong < MAX_WRONG_CODES:
                    raise ProviderError(E.VERIFICATION_FAILED,
                                        f"wrong code, {MAX_WRONG_CODES - wrong} attempts left")
                self._set(request.request_id, replace(
                    current, state=WithdrawalState.FAILED,
                    failure_reason="too many wrong verification codes"))
                raise ProviderError(E.TOO_MANY_ATTEMPTS)
            if right and current.state in (WithdrawalState.PROCESSING, WithdrawalState.SUCCEEDED):
                return current
            if self._wrong_codes.get(request.request_id, 0) >= MAX_WRONG_CODES:
                raise ProviderError(E.TOO_MANY_ATTEMPTS)
            raise ProviderError(E.INVALID_STATE, f"withdrawal is {current.state.value}")

    async def cancel_withdrawal(self, request_id: str) -> WithdrawalResult:
        async with self._lock:
            current = self._current(request_id)
            if current.state is WithdrawalState.VERIFICATION_REQUIRED:
                current = self._set(request_id, replace(current,
                                                        state=WithdrawalState.CANCELLED))
            if current.state is not WithdrawalState.CANCELLED:
                raise ProviderError(E.INVALID_STATE, f"withdrawal is {current.state.value}")
            return current

    async def query_withdrawal(self, request_id: str) -> WithdrawalResult:
        return self._current(request_id)

    def verify_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        # Signature and replay window first, then the body: INVALID_SIGNATURE or
        # INVALID_RESPONSE, never another exception.
        return self._signer.construct_event(headers, body)

    async def aclose(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._sender is not None:
            await self._sender.aclose()

    def _set(self, request_id: str, result: WithdrawalResult,
             settles_at: float = 0.0) -> WithdrawalResult:
        submitted, _, _, day = self._withdrawals[request_id]
        self._withdrawals[request_id] = (submitted, result, settles_at, day)
        return result

    def _start_processing(self, request_id: str) -> WithdrawalResult:
        """Verified: the payout starts, and settles ``settlement_s`` later."""
        processing = replace(self._withdrawals[request_id][1], state=WithdrawalState.PROCESSING)
        self._set(request_id, processing, time.monotonic() + self._settlement_s)
        # Settle on time even if nobody asks (that is when a real bank calls back).
        self._timers.append(asyncio.get_running_loop().call_later(
            self._settlement_s, self._current, request_id))
        return processing

    def _current(self, request_id: str) -> WithdrawalResult:
        """The withdrawal now; a processing one succeeds once its settlement time is reached."""
        if request_id not in self._withdrawals:
            raise ProviderError(E.UNKNOWN_WITHDRAWAL)
        _, result, settles_at, _ = self._withdrawals[request_id]
        if result.state is WithdrawalState.PROCESSING and time.monotonic() >= settles_at:
            result = self._set(request_id, replace(result, state=WithdrawalState.SUCCEEDED),
                               settles_at)
            if self._sender is not None:
                self._sender.send(CallbackEvent(
                    result.request_id, result.bank_reference, result.state, result.amount,
                    result.currency, datetime.now(UTC)))
        return result

    def _held(self, card_ref: str, day: date | None = None) -> Decimal:
        """What the card's withdrawals hold of its limit (of one day's cap, given ``day``)."""
        holding = (WithdrawalState.VERIFICATION_REQUIRED, WithdrawalState.PROCESSING,
                   WithdrawalState.SUCCEEDED)
        return sum((self._current(s.request_id).amount
                    for s, _, _, drawn_on in list(self._withdrawals.values())
                    if s.credit_card_ref == card_ref and (day is None or drawn_on == day)
                    and self._current(s.request_id).state in holding), Decimal("0.00"))

    def _own_credit_card(self, customer: Customer, card_ref: str) -> None:
        if card_ref != _ref("credit", customer):
            raise ProviderError(E.CARD_NOT_FOUND)

    @staticmethod
    def _check_terms(
        amount: Decimal, currency: str, repayment_type: RepaymentType, periods: int
    ) -> InstallmentPricing | None:
        if currency != "CNY":
            raise ProviderError(E.DECLINED, "only CNY is lent")
        # Refuse fractions of a fen: rounding them would lend another amount than asked.
        if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
            raise ProviderError(E.AMOUNT_OUT_OF_RANGE, "the amount must be in yuan and fen")
        if not Decimal("100.00") <= amount <= Decimal("5000.00"):
            raise ProviderError(E.AMOUNT_OUT_OF_RANGE, "100.00 to 5000.00 CNY per withdrawal")
        if repayment_type is RepaymentType.SINGLE_MONTH and periods == 1:
            return None
        pricing = next((p for p in INSTALLMENTS if p.periods == periods), None)
        if repayment_type is not RepaymentType.INSTALLMENT or pricing is None:
            raise ProviderError(E.UNSUPPORTED_TENOR, "single month, or 3 or 6 installments")
        return pricing


__all__ = ["ExampleBank", "sign_callback", "signer"]
