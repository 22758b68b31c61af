"""A simulated bank, driven by its data file, with a durable ledger.

It behaves the way cardcash must expect a real bank to behave: limits that go down as the
customer draws, a daily cap per Asia/Shanghai calendar day, SMS verification with a limited
number of attempts, asynchronous settlement that sometimes fails, idempotent submission, and
signed callbacks. See ``docs/plugins.md`` for the options.

Verification code: always ``123456`` (:data:`VERIFICATION_CODE`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo

from api.banks.sandbox.bankdata import BankData, apply_options, load_bank_data, sleep_seconds
from api.banks.sandbox.callbacks import callback_secret, callback_signer
from api.banks.sandbox.identity import SandboxCustomer, customer_key, derive_customer
from api.banks.sandbox.store import (
    FILE_NAME,
    CommitThenRaise,
    Ledger,
    SandboxStore,
    Version,
    WithdrawalRow,
)
from providers.base import BankProvider, ProviderContext
from providers.errors import DeclineReason, ProviderError, ProviderErrorCode
from providers.pricing import standard_schedule
from providers.statement import StatementEntry
from providers.types import (
    SDK_VERSION,
    BookedTerms,
    CallbackEvent,
    CardInfo,
    ConfirmWithdrawal,
    Customer,
    Health,
    InstallmentPricing,
    Offer,
    QuoteRequest,
    QuoteResult,
    RepaymentType,
    SubmitWithdrawal,
    WithdrawalResult,
    WithdrawalState,
)
from providers.webhooks import CallbackSender

#: The verification code every sandbox withdrawal accepts.
VERIFICATION_CODE = "123456"
#: Wrong codes after which the withdrawal is failed.
MAX_WRONG_CODES = 3
#: The calendar the daily cap follows.
BANK_TIMEZONE = ZoneInfo("Asia/Shanghai")
#: Reasons a settlement may fail with (picked reproducibly per request id), and the reason
#: from the SDK's closed set each stands for.
FAILURE_REASONS = (
    "payee bank rejected the transfer",
    "debit card account is frozen",
    "risk control declined the payout",
)
DECLINE_REASONS = {
    "payee bank rejected the transfer": DeclineReason.DEBIT_CARD,
    "debit card account is frozen": DeclineReason.DEBIT_CARD,
    "risk control declined the payout": DeclineReason.RISK_CONTROL,
    "too many wrong verification codes": DeclineReason.OTHER,
}
SANDBOX_VERSION = "1.0.0"
_CENT = Decimal("0.01")
#: Cards whose totals a bank remembers (see SandboxBank._card_totals), and what it keeps of
#: each: the file's version then, the next settlement's time, (held, drawn).
_TOTALS_KEPT = 4096
_KnownTotals = tuple[Version, float | None, tuple[Decimal, Decimal]]

Clock = Callable[[], datetime]
T = TypeVar("T")

#: A customer's cards and limits are derived from who they are (two SHA-256s and some
#: Decimal arithmetic); every call of a bank needs them, so they are derived once.
_derive_customer = lru_cache(maxsize=16_384)(derive_customer)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SandboxBank(BankProvider):
    """A sandbox bank for one of the data files in ``api/banks/sandbox/banks``.

    ``clock`` returns the current time as an aware datetime (injectable: tests move it to
    settle withdrawals or cross midnight in Asia/Shanghai without sleeping).

    Example::

        bank = SandboxBank.from_data_file("CEB", ProviderContext("CEB", Path("var")))
        cards = await bank.list_cards(Customer("WECHAT", "o-123"))
    """

    version = SANDBOX_VERSION
    sdk_version = SDK_VERSION
    simulated = True

    @property
    def asks_credit_report(self) -> bool:  # type: ignore[override]
        """From the bank's data (``credit_report``) or the option of that name."""
        return self.data.credit_report

    def __init__(self, context: ProviderContext, data: BankData, *, clock: Clock = _utc_now):
        if context.bank_code != data.code:
            raise ValueError(f"sandbox data of {data.code} cannot serve bank {context.bank_code}")
        self.code = data.code
        self.name = data.name
        self.data, self.options = apply_options(data, context.options)
        self._clock = clock
        self._log = context.logger
        self._store = SandboxStore(context.data_dir / FILE_NAME, self.code)
        self._latency_rng = random.Random(f"{self.options.seed}:{self.code}:latency")
        self._signer = callback_signer(
            self.code,
            callback_secret(self.code, context.data_dir, self.options.callback_secret),
            clock=lambda: self._now().timestamp(),
        )
        self._callbacks: CallbackSender | None = None
        self._settler: asyncio.Task[None] | None = None
        # An offers page asks every bank for the same card's totals again and again, and
        # nothing has changed in between most of the time (see _card_totals).
        self._totals: dict[tuple[str, str], _KnownTotals] = {}

    @classmethod
    def from_data_file(
        cls, code: str, context: ProviderContext, *, clock: Clock = _utc_now
    ) -> SandboxBank:
        """Create the sandbox bank ``code`` from its data file shipped with the package."""
        return cls(context, load_bank_data(code), clock=clock)

    # -- the BankProvider methods -------------------------------------------------------

    async def list_cards(self, customer: Customer) -> list[CardInfo]:
        """The customer's credit card at this bank, then their own debit card."""
        await self._begin()
        known = self._customer(customer)
        return [known.credit_card, known.debit_card]

    async def verify_same_holder(
        self, customer: Customer, credit_card_ref: str, debit_card_ref: str
    ) -> bool:
        """True only for this customer's own credit card here and own debit card."""
        await self._begin()
        known = self._customer(customer)
        return (credit_card_ref, debit_card_ref) == (
            known.credit_card.card_ref,
            known.debit_card.card_ref,
        )

    async def get_offer(self, customer: Customer, card_ref: str) -> Offer:
        """Limits left on the card now, and the bank's pricing."""
        await self._begin()
        known = self._credit_card(customer, card_ref)
        now = self._now()
        held, drawn = await self._card_totals(card_ref, self._business_date(now), now)
        return Offer(
            card_ref=card_ref,
            currency=self.data.currency,
            credit_limit=known.credit_line,
            available_limit=max(known.cash_advance_limit - held, Decimal("0.00")),
            min_amount=self.data.min_amount,
            max_amount=self.data.max_amount,
            daily_remaining=max(self.data.daily_cap - drawn, Decimal("0.00")),
            single_month=self.data.single_month,
            installments=self.data.installments,
            arrival_description=self.data.arrival_description,
        )

    async def _card_totals(
        self, card_ref: str, business_date: str, now: datetime
    ) -> tuple[Decimal, Decimal]:
        """:meth:`Ledger.card_totals`, read again only when the file changed since the last
        reading for this card and day, or a withdrawal came due for settlement (offers and
        quotes read them between withdrawals, again and again)."""
        key = (card_ref, business_date)
        known = self._totals.get(key)
        if known is not None:
            version, settles_at, totals = known
            if (settles_at is None or now.timestamp() < settles_at) and (
                self._store.version() == version
            ):
                return totals

        def read(ledger: Ledger) -> _KnownTotals:
            totals = ledger.card_totals(card_ref, business_date)
            # Read last, in the same transaction: settlement above changed the count.
            return ledger.version(), ledger.next_settlement(), totals

        if len(self._totals) >= _TOTALS_KEPT:
            self._totals.clear()
        self._totals[key] = known = await self._run(read)
        return known[2]

    async def quote(self, request: QuoteRequest) -> QuoteResult:
        """The standard schedule at this bank's rates; refuses what a submission would refuse.

        The daily cap is not checked here (a quote may be for another day); it is at submission.
        """
        await self._begin()
        known = self._credit_card(request.customer, request.card_ref)
        self._check_amount(request.amount, request.currency)
        installment = self._check_tenor(request.repayment_type, request.periods)
        self._check_installment_amount(installment, request.amount)
        now = self._now()
        held, _ = await self._card_totals(request.card_ref, self._business_date(now), now)
        self._check_limit(known, held, request.amount)
        schedule = standard_schedule(
            request.amount,
            request.repayment_type,
            request.periods,
            request.start_date,
            single_month=self.data.single_month,
            installment=installment,
        )
        return QuoteResult(
            amount=request.amount,
            currency=request.currency,
            repayment_type=request.repayment_type,
            periods=request.periods,
            schedule=schedule,
            agreement_version=self.data.agreement_version,
            agreement_summary=self.data.agreement_summary,
        )

    async def submit_withdrawal(self, request: SubmitWithdrawal) -> WithdrawalResult:
        """Reserve the amount and start the withdrawal; idempotent on the request id.

        The same request id with different parameters raises ``INVALID_STATE``: the id is
        already used, and answering with the other withdrawal would misreport the amount.
        """
        await self._begin()
        fingerprint = _fingerprint(request)
        now = self._now()

        def work(ledger: Ledger) -> WithdrawalRow:
            existing = ledger.get(request.request_id)
            if existing is not None:
                if existing.fingerprint != fingerprint:
                    raise ProviderError(
                        ProviderErrorCode.INVALID_STATE,
                        "this request id was already used for a different withdrawal",
                    )
                return existing
            row = self._new_withdrawal(request, fingerprint, now)
            self._check_terms(request, row)
            held, drawn = ledger.card_totals(request.credit_card_ref, row.business_date)
            self._check_limit(self._customer(request.customer), held, request.amount)
            remaining = self.data.daily_cap - drawn
            if request.amount > remaining:
                raise ProviderError(
                    ProviderErrorCode.DAILY_LIMIT_EXCEEDED,
                    f"{max(remaining, Decimal('0.00'))} CNY left of today's cash-advance cap",
                )
            ledger.insert(row)
            return row

        # Checks that depend only on the request run before the transaction, except for a
        # repeated request, whose answer must not change if, say, the agreement changed since.
        try:
            self._check_submission(request)
        except ProviderError:
            existing = await self._run(lambda ledger: ledger.get(request.request_id))
            if existing is None or existing.fingerprint != fingerprint:
                raise
        return self._result(await self._run(work))

    async def confirm_withdrawal(self, request: ConfirmWithdrawal) -> WithdrawalResult:
        """Check the verification code. A retry with the right code after the withdrawal moved
        on answers its current state; three wrong codes fail the withdrawal."""
        await self._begin()
        now = self._now()

        def work(ledger: Ledger) -> WithdrawalRow:
            row = self._existing(ledger, request.request_id)
            right = request.verification_code == VERIFICATION_CODE
            if row.state is WithdrawalState.VERIFICATION_REQUIRED:
                if right:
                    row = self._processing(row, now)
                    ledger.update(row)
                    return row
                row = replace(row, wrong_codes=row.wrong_codes + 1, updated_at=now.timestamp())
                if row.wrong_codes >= MAX_WRONG_CODES:
                    row = replace(
                        row,
                        state=WithdrawalState.FAILED,
                        failure_reason="too many wrong verification codes",
                    )
                    ledger.update(row)
                    raise CommitThenRaise(ProviderError(ProviderErrorCode.TOO_MANY_ATTEMPTS))
                ledger.update(row)
                raise CommitThenRaise(
                    ProviderError(
                        ProviderErrorCode.VERIFICATION_FAILED,
                        f"wrong code, {MAX_WRONG_CODES - row.wrong_codes} attempts left",
                    )
                )
            if right and row.state in (WithdrawalState.PROCESSING, WithdrawalState.SUCCEEDED):
                return row
            if row.state is WithdrawalState.FAILED and row.wrong_codes >= MAX_WRONG_CODES:
                raise ProviderError(ProviderErrorCode.TOO_MANY_ATTEMPTS)
            raise ProviderError(
                ProviderErrorCode.INVALID_STATE, f"the withdrawal is {row.state.value}"
            )

        return self._result(await self._run(work))

    async def cancel_withdrawal(self, request_id: str) -> WithdrawalResult:
        """Cancel a withdrawal awaiting verification (again: the same answer)."""
        await self._begin()
        now = self._now()

        def work(ledger: Ledger) -> WithdrawalRow:
            row = self._existing(ledger, request_id)
            if row.state is WithdrawalState.VERIFICATION_REQUIRED:
                row = replace(row, state=WithdrawalState.CANCELLED, updated_at=now.timestamp())
                ledger.update(row)
                return row
            if row.state is WithdrawalState.CANCELLED:
                return row
            raise ProviderError(
                ProviderErrorCode.INVALID_STATE, f"the withdrawal is {row.state.value}"
            )

        return self._result(await self._run(work))

    async def query_withdrawal(self, request_id: str) -> WithdrawalResult:
        """The withdrawal now (settled first if its time has come)."""
        await self._begin()
        return self._result(await self._run(lambda ledger: self._existing(ledger, request_id)))

    async def query_withdrawals(
        self, request_ids: Sequence[str]
    ) -> Mapping[str, WithdrawalResult]:
        """Many withdrawals in one call (one latency, one transaction); unknown ids are left
        out of the answer."""
        await self._begin()
        rows = await self._run(lambda ledger: ledger.get_many(list(dict.fromkeys(request_ids))))
        return {row.request_id: self._result(row) for row in rows}

    @property
    def has_batch_query(self) -> bool:
        """Unless the option ``batch_query=false`` simulates a bank without one."""
        return self.options.batch_query
    async def list_withdrawals(self, day: date) -> list[StatementEntry]:
        """The business day's withdrawals (settled first if due), with the discrepancies the
        ``statement_*`` options ask for (see :class:`SandboxOptions`)."""
        await self._begin()
        rows = await self._run(lambda ledger: ledger.on_day(day.isoformat()))
        entries = [self._entry(row) for row in rows]
        o = self.options
        missing, rest = entries[: o.statement_missing], entries[o.statement_missing :]
        del missing  # left out of the statement
        off_amount = o.statement_amount_off
        rest = [
            replace(e, amount=e.amount + Decimal("0.01")) if i < off_amount else e
            for i, e in enumerate(rest)
        ]
        rest = [
            replace(e, state=_other_state(e.state))
            if off_amount <= i < off_amount + o.statement_state_off else e
            for i, e in enumerate(rest)
        ]
        noon = datetime.combine(day, time(12), BANK_TIMEZONE)
        extra = [
            StatementEntry(
                request_id=f"sandbox-extra-{day.isoformat()}-{i}",
                bank_reference=_bank_reference(self.code, f"extra-{day.isoformat()}-{i}"),
                amount=Decimal("100.00") + i,
                currency=self.data.currency,
                state=WithdrawalState.SUCCEEDED,
                created_at=noon,
                updated_at=noon,
            )
            for i in range(o.statement_extra)
        ]
        return rest + extra

    def _entry(self, row: WithdrawalRow) -> StatementEntry:
        return StatementEntry(
            request_id=row.request_id,
            bank_reference=row.bank_reference,
            amount=row.amount,
            currency=row.currency,
            state=row.state,
            created_at=datetime.fromtimestamp(row.created_at, UTC),
            updated_at=datetime.fromtimestamp(row.updated_at, UTC),
        )

    def verify_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        """Verify the ``X-Sandbox-Signature`` of a callback (signature, then replay window),
        then parse it: ``INVALID_SIGNATURE`` or ``INVALID_RESPONSE`` for a malformed body."""
        return self._signer.construct_event(headers, body)

    async def health(self) -> Health:
        """Not ok when the option ``down`` is set; otherwise the ledger must be reachable."""
        checked_at = self._now()
        if self.options.down:
            return Health(
                ok=False, detail="sandbox bank is down (option down=true)", checked_at=checked_at
            )
        await self._run(lambda ledger: ledger.get(""))
        return Health(ok=True, checked_at=checked_at)

    async def aclose(self) -> None:
        """Stop the settlement loop, flush callbacks, close the ledger."""
        if self._settler is not None:
            self._settler.cancel()
            await asyncio.gather(self._settler, return_exceptions=True)
        if self._callbacks is not None:
            await self._callbacks.aclose()
        await self._store.aclose()

    # -- internals ----------------------------------------------------------------------

    async def _begin(self) -> None:
        """What every call does first: simulate latency and outages, start callbacks."""
        if self.options.down:
            raise ProviderError(ProviderErrorCode.UNAVAILABLE, "the bank is in maintenance")
        if self.options.callback_url and self._settler is None:
            self._callbacks = CallbackSender(
                self.options.callback_url, self._signer, bank_code=self.code, logger=self._log
            )
            self._settler = asyncio.get_running_loop().create_task(self._settle_forever())
        delay = sleep_seconds(self.data, self._latency_rng)
        if delay:
            await asyncio.sleep(delay)

    async def _run(self, work: Callable[[Ledger], T]) -> T:
        """Settle whatever is due (lazily, by the clock), then run ``work`` in a transaction.

        One transaction: settlement holds (and its callbacks go out) even when ``work`` then
        refuses the call, because ``work`` runs under a savepoint of its own.
        """
        now = self._now()

        def unit(ledger: Ledger) -> tuple[list[WithdrawalRow], T | None, ProviderError | None]:
            settled = self._settle_due(ledger, now)
            try:
                with ledger.savepoint():
                    return settled, work(ledger), None
            except CommitThenRaise as signal:  # work's changes stay, the call fails
                return settled, None, signal.error
            except ProviderError as error:  # work's changes are undone, settlement stays
                return settled, None, error

        settled, result, error = await self._store.run(unit)
        if self._callbacks is not None:
            for row in settled:
                self._callbacks.send(self._event(row))
        if error is not None:
            raise error
        return result

    def _settle_due(self, ledger: Ledger, now: datetime) -> list[WithdrawalRow]:
        settled = []
        for row in ledger.due(now.timestamp()):
            final = self._settle(row, now)
            ledger.update(final)
            settled.append(final)
        return settled

    async def _settle_forever(self) -> None:
        """With callbacks on, settle due withdrawals even when nobody asks about them."""
        while True:
            await asyncio.sleep(self.options.callback_poll_s)
            try:
                await self._run(lambda ledger: None)
            except Exception:  # noqa: BLE001 - the loop must outlive a busy or broken file
                self._log.exception("bank=%s settlement loop failed", self.code)

    def _settle(self, row: WithdrawalRow, now: datetime) -> WithdrawalRow:
        if row.planned_failure is not None:
            return replace(
                row,
                state=WithdrawalState.FAILED,
                failure_reason=row.planned_failure,
                updated_at=now.timestamp(),
            )
        return replace(row, state=WithdrawalState.SUCCEEDED, updated_at=now.timestamp())

    def _processing(self, row: WithdrawalRow, now: datetime) -> WithdrawalRow:
        return replace(
            row,
            state=WithdrawalState.PROCESSING,
            updated_at=now.timestamp(),
            settle_at=now.timestamp() + self.data.settlement_delay_s,
        )

    def _new_withdrawal(
        self, request: SubmitWithdrawal, fingerprint: str, now: datetime
    ) -> WithdrawalRow:
        # The outcome is decided now, from the request id: reproducible for a given seed, and
        # fixed even if the failure rate is changed before settlement.
        outcome = random.Random(f"{self.options.seed}:{self.code}:{request.request_id}")
        fails = Decimal(str(outcome.random())) < self.data.failure_rate
        row = WithdrawalRow(
            bank_code=self.code,
            request_id=request.request_id,
            bank_reference=_bank_reference(self.code, request.request_id),
            fingerprint=fingerprint,
            customer_key=customer_key(request.customer),
            credit_card_ref=request.credit_card_ref,
            debit_card_ref=request.debit_card_ref,
            amount=request.amount.quantize(_CENT),
            currency=request.currency,
            repayment_type=request.repayment_type,
            periods=request.periods,
            state=WithdrawalState.VERIFICATION_REQUIRED,
            failure_reason=None,
            business_date=self._business_date(now),
            created_at=now.timestamp(),
            updated_at=now.timestamp(),
            settle_at=None,
            planned_failure=outcome.choice(FAILURE_REASONS) if fails else None,
            wrong_codes=0,
        )
        return row if self.data.verification_required else self._processing(row, now)

    def _check_submission(self, request: SubmitWithdrawal) -> None:
        self._credit_card(request.customer, request.credit_card_ref)
        known = self._customer(request.customer)
        if request.debit_card_ref != known.debit_card.card_ref:
            raise ProviderError(
                ProviderErrorCode.NOT_SAME_HOLDER, "the debit card is not the holder's own"
            )
        self._check_amount(request.amount, request.currency)
        installment = self._check_tenor(request.repayment_type, request.periods)
        self._check_installment_amount(installment, request.amount)
        if request.agreement_version != self.data.agreement_version:
            raise ProviderError(
                ProviderErrorCode.DECLINED,
                f"agreement {request.agreement_version} is not the current "
                f"{self.data.agreement_version}",
                decline_reason=DeclineReason.OTHER,
            )
        if not request.purpose.strip():
            raise ProviderError(ProviderErrorCode.DECLINED, "a purpose must be declared")

    def _booked(self, row: WithdrawalRow) -> BookedTerms:
        """The terms this bank books a withdrawal on: its own schedule, from the day it was
        received (its business day)."""
        start = date.fromisoformat(row.business_date)
        return BookedTerms(
            start,
            standard_schedule(
                row.amount,
                row.repayment_type,
                row.periods,
                start,
                single_month=self.data.single_month,
                installment=self.data.installment(row.periods)
                if row.repayment_type is RepaymentType.INSTALLMENT
                else None,
            ),
        )

    def _check_terms(self, request: SubmitWithdrawal, row: WithdrawalRow) -> None:
        """Book the terms sent (SDK 1.2) or refuse: a request sent with a schedule that this
        bank would not book today (the quote was of another day) is declined, never shifted.
        A request without terms (an older cardcash) is booked on the bank's own."""
        if request.start_date is None and not request.schedule:
            return  # an older cardcash: neither terms nor the credit-report authorisation
        if self.data.credit_report and not request.credit_report_authorized:
            raise ProviderError(
                ProviderErrorCode.DECLINED,
                "this bank queries the credit report only with the holder's authorisation",
                decline_reason=DeclineReason.OTHER,
            )
        booked = self._booked(row)
        if request.start_date != booked.start_date or tuple(request.schedule) != booked.schedule:
            raise ProviderError(
                ProviderErrorCode.DECLINED,
                f"the terms sent start on {request.start_date}; this bank books from "
                f"{booked.start_date} on its own schedule",
                decline_reason=DeclineReason.TERMS_CHANGED,
            )

    def _check_amount(self, amount: Decimal, currency: str) -> None:
        if currency != self.data.currency:
            raise ProviderError(ProviderErrorCode.DECLINED, f"only {self.data.currency} is lent")
        if (
            not isinstance(amount, Decimal)
            or not amount.is_finite()
            or amount != amount.quantize(_CENT)
        ):
            raise ProviderError(
                ProviderErrorCode.AMOUNT_OUT_OF_RANGE, "the amount must be in yuan and fen"
            )
        if not self.data.min_amount <= amount <= self.data.max_amount:
            raise ProviderError(
                ProviderErrorCode.AMOUNT_OUT_OF_RANGE,
                f"a withdrawal is {self.data.min_amount}-{self.data.max_amount} CNY",
            )

    def _check_tenor(
        self, repayment_type: RepaymentType, periods: int
    ) -> InstallmentPricing | None:
        if repayment_type is RepaymentType.SINGLE_MONTH and periods == 1:
            return None
        installment = self.data.installment(periods)
        if repayment_type is RepaymentType.INSTALLMENT and installment is not None:
            return installment
        offered = ", ".join(str(p.periods) for p in self.data.installments)
        raise ProviderError(
            ProviderErrorCode.UNSUPPORTED_TENOR,
            f"offered: single month (1 period) or installments of {offered} periods",
        )

    @staticmethod
    def _check_installment_amount(installment: InstallmentPricing | None, amount: Decimal) -> None:
        if installment is None:
            return
        low, high = installment.min_amount, installment.max_amount
        if (low is not None and amount < low) or (high is not None and amount > high):
            raise ProviderError(
                ProviderErrorCode.AMOUNT_OUT_OF_RANGE,
                f"installments over {installment.periods} periods are "
                f"{low or '0.01'}-{high or 'any'} CNY",
            )

    @staticmethod
    def _check_limit(known: SandboxCustomer, held: Decimal, amount: Decimal) -> None:
        available = max(known.cash_advance_limit - held, Decimal("0.00"))
        if amount > available:
            raise ProviderError(
                ProviderErrorCode.LIMIT_EXCEEDED, f"available cash-advance limit is {available}"
            )

    def _customer(self, customer: Customer) -> SandboxCustomer:
        return _derive_customer(
            self.code,
            customer,
            card_product=self.data.card_product,
            credit_limit_min=self.data.credit_limit_min,
            credit_limit_max=self.data.credit_limit_max,
            cash_advance_share=self.data.cash_advance_share,
        )

    def _credit_card(self, customer: Customer, card_ref: str) -> SandboxCustomer:
        known = self._customer(customer)
        if card_ref == known.debit_card.card_ref:
            raise ProviderError(
                ProviderErrorCode.CARD_NOT_ELIGIBLE, "a debit card cannot take a cash advance"
            )
        if card_ref != known.credit_card.card_ref:
            raise ProviderError(ProviderErrorCode.CARD_NOT_FOUND, "no such card for this customer")
        return known

    @staticmethod
    def _existing(ledger: Ledger, request_id: str) -> WithdrawalRow:
        row = ledger.get(request_id)
        if row is None:
            raise ProviderError(ProviderErrorCode.UNKNOWN_WITHDRAWAL)
        return row

    def _result(self, row: WithdrawalRow) -> WithdrawalResult:
        arrival = None
        if row.state is WithdrawalState.PROCESSING and row.settle_at is not None:
            arrival = datetime.fromtimestamp(row.settle_at, UTC)
        return WithdrawalResult(
            request_id=row.request_id,
            bank_reference=row.bank_reference,
            state=row.state,
            amount=row.amount,
            currency=row.currency,
            failure_reason=row.failure_reason,
            expected_arrival=arrival,
            decline_reason=_decline(row),
            booked=self._booked(row),
        )

    def _event(self, row: WithdrawalRow) -> CallbackEvent:
        return CallbackEvent(
            request_id=row.request_id,
            bank_reference=row.bank_reference,
            state=row.state,
            amount=row.amount,
            currency=row.currency,
            occurred_at=datetime.fromtimestamp(row.updated_at, UTC),
            failure_reason=row.failure_reason,
            decline_reason=_decline(row),
        )

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the sandbox clock must return an aware datetime")
        return now

    @staticmethod
    def _business_date(now: datetime) -> str:
        return now.astimezone(BANK_TIMEZONE).date().isoformat()


def _decline(row: WithdrawalRow) -> DeclineReason | None:
    if row.state is not WithdrawalState.FAILED:
        return None
    return DECLINE_REASONS.get(row.failure_reason or "", DeclineReason.OTHER)


def _fingerprint(request: SubmitWithdrawal) -> str:
    parts = [
        request.customer.channel,
        request.customer.channel_user_id,
        request.credit_card_ref,
        # normalize(): 500, 500.0 and 500.00 are the same amount, hence the same request.
        request.debit_card_ref,
        str(request.amount.normalize()),
        request.currency,
        request.repayment_type.value,
        request.periods,
        request.purpose,
        request.agreement_version,
    ]
    if request.schedule_digest:  # the same request id with other terms is another request
        parts.append(request.schedule_digest)
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _other_state(state: WithdrawalState) -> WithdrawalState:
    """A state that disagrees with ``state`` (for an injected status mismatch)."""
    if state is WithdrawalState.SUCCEEDED:
        return WithdrawalState.FAILED
    return WithdrawalState.SUCCEEDED


def _bank_reference(code: str, request_id: str) -> str:
    """The bank's own id for a withdrawal: stable per request id, and never shaped like a card
    number. (A hex digest sometimes holds a Luhn-valid run of 13+ digits, which cardcash rightly
    refuses to store; base32 uses six digits of 32 characters, so such a run never comes up.)
    """
    digest = hashlib.sha256(f"{code}\x00{request_id}".encode()).digest()[:15]
    return f"{code}{base64.b32encode(digest).decode()}"
