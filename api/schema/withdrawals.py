"""Trial calculations, withdrawals and their live status."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from datetime import date, datetime
from enum import Enum
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from api import messages
from api.schema.auth import require_account
from api.schema.cards import Card
from api.schema.catalog import Bank, bank_for
from api.schema.errors import (
    AmountError,
    BankError,
    CardError,
    DeclineReason,
    IdempotencyError,
    QuoteError,
    RateLimitedError,
    ValidationError,
    VerificationError,
    WithdrawalError,
    error_member,
    next_step,
)
from api.schema.money import ZERO, Money
from api.schema.offers import RepaymentType, high_cost_warning
from api.schema.scalars import Decimal, UnparsableDecimal
from api.services.accounts import Account
from api.services.errors import DomainError, ErrorCode
from api.services.ids import is_id
from api.services.quotes import QuoteView
from api.services.withdrawals import Consent, EventView, WithdrawalView, cursor_of
from api.services.withdrawals import FundPurpose as DomainPurpose
from providers import RepaymentType as DomainRepaymentType

MAX_PAGE = 50
RECHECK_SECONDS = 5.0


@strawberry.enum(
    description="Permitted uses of a cash advance. Investment, real estate and repaying other debt are not permitted."
)
class FundPurpose(Enum):
    CONSUMPTION = strawberry.enum_value(
        "CONSUMPTION", description="Everyday personal consumption (日常消费)."
    )
    EDUCATION = strawberry.enum_value("EDUCATION", description="Tuition and training (教育).")
    MEDICAL = strawberry.enum_value("MEDICAL", description="Medical expenses (医疗).")
    TRAVEL = strawberry.enum_value("TRAVEL", description="Travel (旅游).")
    HOME_IMPROVEMENT = strawberry.enum_value(
        "HOME_IMPROVEMENT", description="Home furnishing and repairs (家装)."
    )
    WEDDING = strawberry.enum_value("WEDDING", description="Wedding expenses (婚庆).")
    RENT = strawberry.enum_value("RENT", description="Renting a home (租房).")


@strawberry.enum(description="Where a withdrawal is in its life.")
class WithdrawalStatus(Enum):
    PENDING = strawberry.enum_value(
        "PENDING", description="Recorded and being handed to the bank; its answer is not known yet."
    )
    VERIFICATION_REQUIRED = strawberry.enum_value(
        "VERIFICATION_REQUIRED",
        description="Waiting for the verification code the bank sent by SMS.",
    )
    PROCESSING = strawberry.enum_value(
        "PROCESSING", description="Accepted by the bank; the money is on its way."
    )
    SUCCEEDED = strawberry.enum_value(
        "SUCCEEDED", description="The money is on the debit card. Final."
    )
    FAILED = strawberry.enum_value(
        "FAILED", description="Not paid out; nothing was lent. See failureReason. Final."
    )
    CANCELLED = strawberry.enum_value(
        "CANCELLED", description="Cancelled before verification; nothing was lent. Final."
    )


@strawberry.enum(description="Who caused a status change.")
class EventSource(Enum):
    USER = strawberry.enum_value("USER", description="The user (create, confirm, cancel).")
    BANK = strawberry.enum_value("BANK", description="The bank's answer to a request.")
    CALLBACK = strawberry.enum_value("CALLBACK", description="A signed notification from the bank.")
    STATUS_SYNC = strawberry.enum_value(
        "STATUS_SYNC", description="cardcash asking the bank about an open outcome."
    )


@strawberry.type(description="One payment of a repayment schedule.")
class Installment:
    period: int = strawberry.field(description="1 for the first payment.")
    due_date: date = strawberry.field(description="When it is due.")
    principal: Money = strawberry.field(description="Principal repaid.")
    interest: Money = strawberry.field(
        description="Interest (利息). For installments, the whole cost of funds of the period, "
        "whatever the bank calls it (2022 credit-card notice)."
    )
    fee: Money = strawberry.field(
        description="SINGLE_MONTH: the one-off cash-advance fee (手续费). Zero for installments."
    )
    total: Money = strawberry.field(description="principal + interest + fee.")


@strawberry.type(description="What the user reads and accepts before withdrawing.")
class Disclosure:
    version: str = strawberry.field(description="Pass it as acceptedDisclosureVersion to accept.")
    text: str = strawberry.field(
        description="The APR and cost summary, the bank's agreement summary, the fund-use "
        "restrictions and the rational-borrowing prompt. Show it as it is."
    )
    digest: str = strawberry.field(
        description="SHA-256 (hex) of the UTF-8 bytes of version, a line feed and text: pass "
        "it as acceptedDisclosureDigest, computed over the text the user was shown."
    )


@strawberry.type(
    description="The consent to share the user's personal information with the bank (PIPL): "
    "its own explicit consent, apart from the disclosure, never preselected."
)
class DataSharingConsent:
    version: str = strawberry.field(
        description="Pass it as acceptedDataSharingVersion once the user agreed."
    )
    text: str = strawberry.field(
        description="Who receives what information, why, for how long, and the user's rights; "
        "in the request's language."
    )
    digest: str = strawberry.field(
        description="SHA-256 (hex) of version, a line feed and text: what the withdrawal records."
    )
    credit_report_authorization: bool = strawberry.field(
        description="True when the bank asks to query the user's credit report (征信) and this "
        "consent includes that authorisation, named in text: agreeing gives it."
    )


@strawberry.type(
    description="A trial calculation (试算): the schedule and the honest annualized rate."
)
class Quote:
    id: strawberry.ID = strawberry.field(description="Pass it to createWithdrawal.")
    bank_code: str = strawberry.field(description="The bank quoting.")
    credit_card_id: strawberry.ID = strawberry.field(
        description="The credit card the advance comes from."
    )
    amount: Money = strawberry.field(description="The amount paid out to the debit card.")
    repayment_type: RepaymentType = strawberry.field(description="Single month or installments.")
    periods: int = strawberry.field(description="Number of payments.")
    schedule: list[Installment] = strawberry.field(description="Every payment, in order.")
    total_interest: Money = strawberry.field(
        description="Sum of the schedule's interest (for installments, their whole cost)."
    )
    total_fee: Money = strawberry.field(
        description="Sum of the schedule's fees (the single-month cash-advance fee)."
    )
    total_repayment: Money = strawberry.field(description="Sum of all payments.")
    apr: Decimal = strawberry.field(
        description='Annualized rate in percent, e.g. "13.03": all costs relative to the money '
        "received, computed by cardcash from the schedule. Show it first and largest."
    )
    apr_method: str = strawberry.field(
        description='"IRR_ACTUAL_DATES_SIMPLE": the internal rate of return over each '
        "payment's actual date (whole calendar months 1/12 year, other days 1/365; a single "
        "payment by its days), per mean period × periods per year. A regular monthly schedule "
        'gives the monthly IRR × 12. Quotes made before it: "IRR_SIMPLE".'
    )
    platform_fee: Money = strawberry.field(description="What cardcash charges: always zero.")
    high_cost: bool = strawberry.field(
        description="True when apr passed the server's high-cost threshold (36 % unless "
        "configured otherwise) when quoted: show highCostWarning before the user accepts; "
        "the disclosure carries it too."
    )
    disclosure: Disclosure = strawberry.field(description="To read and accept before withdrawing.")
    data_sharing_consent: DataSharingConsent = strawberry.field(
        description="To read and agree to apart from the disclosure before withdrawing."
    )
    created_at: datetime = strawberry.field(description="When it was computed.")
    expires_at: datetime = strawberry.field(description="After this, ask for a new quote.")

    @strawberry.field(
        description="highCost: the warning to show before acceptance, in the request's "
        "language (it names the APR and the threshold); null otherwise."
    )
    def high_cost_warning(self, info: Info) -> str | None:
        if not self.high_cost:
            return None
        return high_cost_warning(info, self.apr, "disclosure.high_cost")

    @classmethod
    def of(cls, q: QuoteView) -> Quote:
        return cls(
            id=strawberry.ID(q.id),
            bank_code=q.bank_code,
            credit_card_id=strawberry.ID(q.credit_card_id),
            amount=Money.cny(q.amount),
            repayment_type=RepaymentType(q.repayment_type.value),
            periods=q.periods,
            schedule=[
                Installment(
                    period=p.period,
                    due_date=p.due_date,
                    principal=Money.cny(p.principal),
                    interest=Money.cny(p.interest),
                    fee=Money.cny(p.fee),
                    total=Money.cny(p.total),
                )
                for p in q.schedule
            ],
            total_interest=Money.cny(q.totals.interest),
            total_fee=Money.cny(q.totals.fee),
            total_repayment=Money.cny(q.totals.repayment),
            apr=q.apr,
            apr_method=q.apr_method,
            platform_fee=Money.cny(ZERO),
            high_cost=q.high_cost,
            disclosure=Disclosure(
                version=q.disclosure_version, text=q.disclosure_text, digest=q.disclosure_digest
            ),
            data_sharing_consent=DataSharingConsent(
                version=q.data_sharing_version,
                text=q.data_sharing_text,
                digest=q.data_sharing_digest,
                credit_report_authorization=q.credit_report,
            ),
            created_at=q.created_at,
            expires_at=q.expires_at,
        )


@strawberry.type(description="One status change of a withdrawal.")
class WithdrawalEvent:
    from_status: WithdrawalStatus | None = strawberry.field(
        description="The status before; null for the first."
    )
    to_status: WithdrawalStatus = strawberry.field(
        description="The status after (equal to fromStatus for a note)."
    )
    source: EventSource = strawberry.field(description="Who caused it.")
    detail: str = strawberry.field(description="A short explanation.")
    occurred_at: datetime = strawberry.field(description="When.")

    @classmethod
    def of(cls, e: EventView) -> WithdrawalEvent:
        return cls(
            from_status=WithdrawalStatus(e.from_status.value) if e.from_status else None,
            to_status=WithdrawalStatus(e.to_status.value),
            source=EventSource(e.source.value),
            detail=e.detail,
            occurred_at=e.occurred_at,
        )


def _loader(info: Info, name: str, load) -> DataLoader:
    loaders = info.context.loaders
    if name not in loaders:
        loaders[name] = DataLoader(load_fn=load)
    return loaders[name]


@strawberry.type(description="A cash advance to the viewer's own debit card.")
class Withdrawal:
    id: strawberry.ID = strawberry.field(
        description="The withdrawal's id (also the bank's request id)."
    )
    status: WithdrawalStatus = strawberry.field(description="Where it is now.")
    amount: Money = strawberry.field(description="The amount paid out.")
    purpose: FundPurpose = strawberry.field(description="The declared use of the money.")
    repayment_type: RepaymentType = strawberry.field(description="Single month or installments.")
    periods: int = strawberry.field(description="Number of payments.")
    failure_code: str | None = strawberry.field(
        description="A stable code for the failure, when it failed."
    )
    bank_reference: str | None = strawberry.field(
        description="The bank's reference, once it has one."
    )
    expected_arrival: datetime | None = strawberry.field(
        description="When the bank expects the money to arrive."
    )
    accepted_disclosure_version: str = strawberry.field(
        description="The disclosure the user accepted."
    )
    accepted_at: datetime = strawberry.field(
        description="When the user accepted it, as their client stated it (acceptedAt), within "
        "the quote's life. createdAt is when the request was received."
    )
    accepted_disclosure_digest: str | None = strawberry.field(
        description="SHA-256 of the disclosure accepted; null on withdrawals made before it "
        "was recorded."
    )
    accepted_data_sharing_version: str | None = strawberry.field(
        description="The data-sharing consent the user gave; null on withdrawals made before "
        "it was asked for."
    )
    attempts_left: int = strawberry.field(description="Wrong verification codes still allowed.")
    created_at: datetime = strawberry.field(description="When it was requested.")
    updated_at: datetime = strawberry.field(description="When its status last changed.")
    view: strawberry.Private[WithdrawalView]

    @strawberry.field(
        description="Why it failed, a sentence for the user in the request's language "
        "(Accept-Language); null unless it failed."
    )
    def failure_reason(self, info: Info) -> str | None:
        if self.failure_code is None and self.view.failure_reason is None:
            return None
        code, reason = self.failure_code, self.view.decline_reason
        if code == "BANK_DECLINED" and reason is not None:
            code = f"{code}.{reason.value}"
        return messages.failure_text(code, info.context.language)

    @strawberry.field(
        description="Why the bank said no, from a closed set; null unless the bank refused "
        "(failureCode BANK_DECLINED). The bank's own words are kept for operators only."
    )
    def decline_reason(self) -> DeclineReason | None:
        reason = self.view.decline_reason
        return DeclineReason(reason.value) if reason is not None else None

    @strawberry.field(
        description="What the user can do after the bank's refusal, in the request's language; "
        "null unless the bank refused."
    )
    def next_step(self, info: Info) -> str | None:
        if self.view.decline_reason is None:
            return None
        return next_step(self.view.decline_reason.value, info.context.language)

    @strawberry.field(description="The bank paying out.")
    async def bank(self, info: Info) -> Bank:
        account = await require_account(info)
        listing = await info.context.services.catalog.any_bank(self.view.bank_code, account.channel)
        return bank_for(info, listing, account)

    @strawberry.field(description="The debit card the money goes to.")
    async def debit_card(self, info: Info) -> Card:
        return await _card_loader(info).load(self.view.debit_card_id)

    @strawberry.field(description="The credit card the advance comes from.")
    async def credit_card(self, info: Info) -> Card:
        return await _card_loader(info).load(self.view.credit_card_id)

    @strawberry.field(description="The trial calculation the user accepted.")
    async def quote(self, info: Info) -> Quote:
        quotes = info.context.services.quotes

        async def load(ids: list[str]) -> list[Quote]:
            found = await quotes.by_ids(ids)
            return [Quote.of(found[i]) for i in ids]

        return await _loader(info, "quotes", load).load(self.view.quote_id)

    @strawberry.field(description="Every status change, oldest first.")
    async def events(self, info: Info) -> list[WithdrawalEvent]:
        withdrawals = info.context.services.withdrawals

        async def load(ids: list[str]) -> list[list[WithdrawalEvent]]:
            found = await withdrawals.events(ids)
            return [[WithdrawalEvent.of(e) for e in found[i]] for i in ids]

        return await _loader(info, "events", load).load(self.view.id)

    @classmethod
    def of(cls, w: WithdrawalView, max_attempts: int) -> Withdrawal:
        return cls(
            id=strawberry.ID(w.id),
            status=WithdrawalStatus(w.status.value),
            amount=Money.cny(w.amount),
            purpose=FundPurpose(w.purpose.value),
            repayment_type=RepaymentType(w.repayment_type.value),
            periods=w.periods,
            failure_code=w.failure_code,
            bank_reference=w.bank_reference,
            expected_arrival=w.expected_arrival,
            accepted_disclosure_version=w.disclosure_version,
            accepted_at=w.disclosure_accepted_at,
            accepted_disclosure_digest=w.disclosure_digest,
            accepted_data_sharing_version=w.data_sharing_version,
            attempts_left=max(0, max_attempts - w.verification_attempts),
            created_at=w.created_at,
            updated_at=w.updated_at,
            view=w,
        )


def _card_loader(info: Info) -> DataLoader:
    cards = info.context.services.cards

    async def load(ids: list[str]) -> list[Card]:
        found = await cards.by_ids(ids)
        return [Card.from_view(found[i]) for i in ids]

    return _loader(info, "cards", load)


def withdrawal_type(info: Info, view: WithdrawalView) -> Withdrawal:
    return Withdrawal.of(view, info.context.services.withdrawals.policy.max_verification_attempts)


@strawberry.type(description="One withdrawal in a page of them.")
class WithdrawalEdge:
    cursor: str = strawberry.field(
        description="Pass as `after` to get the withdrawals after this one."
    )
    node: Withdrawal = strawberry.field(description="The withdrawal.")


@strawberry.type(description="Where a page of a connection stands.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when more items follow.")
    end_cursor: str | None = strawberry.field(
        description="The cursor of the last item of the page."
    )


@strawberry.type(description="A page of the viewer's withdrawals, newest first.")
class WithdrawalConnection:
    edges: list[WithdrawalEdge] = strawberry.field(description="The withdrawals of this page.")
    page_info: PageInfo = strawberry.field(description="Whether more follow, and from where.")


async def resolve_withdrawals(
    info: Info, account: Account, first: int | None, after: str | None
) -> WithdrawalConnection:
    size = 20 if first is None else first
    if not 1 <= size <= MAX_PAGE:
        raise GraphQLError(
            f"first must be between 1 and {MAX_PAGE}", extensions={"code": "BAD_USER_INPUT"}
        )
    try:
        page = await info.context.services.withdrawals.page(account, size, after)
    except DomainError as exc:
        raise GraphQLError(exc.message, extensions={"code": "BAD_USER_INPUT"}) from None
    return WithdrawalConnection(
        edges=[
            WithdrawalEdge(cursor=cursor_of(w), node=withdrawal_type(info, w)) for w in page.items
        ],
        page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
    )


# -- mutations ---------------------------------------------------------------------------


@strawberry.input(description="What to compute a trial calculation for.")
class CreateQuoteInput:
    bank_code: str = strawberry.field(description='The bank, e.g. "CEB".')
    credit_card_id: strawberry.ID = strawberry.field(
        description="The viewer's credit card at that bank."
    )
    amount: Decimal = strawberry.field(description='The amount to withdraw, e.g. "3000.00".')
    repayment_type: RepaymentType = strawberry.field(description="Single month or installments.")
    periods: int = strawberry.field(
        description="1 for SINGLE_MONTH; an offered tenor for INSTALLMENT."
    )


QuoteResult = Annotated[
    Quote | ValidationError | AmountError | BankError | CardError | RateLimitedError,
    strawberry.union("QuoteResult", description="The quote, or why there is none."),
]


@strawberry.input(description="Withdraw as quoted, with the user's explicit consent.")
class CreateWithdrawalInput:
    quote_id: strawberry.ID = strawberry.field(description="The quote the user accepted.")
    debit_card_id: strawberry.ID = strawberry.field(
        description="The viewer's own debit card to pay out to."
    )
    purpose: FundPurpose = strawberry.field(
        description="What the money is for; nothing is preselected."
    )
    accepted_disclosure_version: str = strawberry.field(
        description="The quote's disclosure.version, sent only after the user accepted it."
    )
    accepted_disclosure_digest: str = strawberry.field(
        description="The digest of the disclosure the user was shown (the quote's "
        "disclosure.digest, best recomputed over the text shown); another is refused."
    )
    accepted_at: datetime = strawberry.field(
        description="When the user accepted, by the client's clock (RFC 3339 with offset): "
        "not before the quote's createdAt, before its expiresAt, and not more than two "
        "minutes ahead of the server's clock."
    )
    accepted_data_sharing_version: str = strawberry.field(
        description="The quote's dataSharingConsent.version, sent only after the user agreed "
        "to it, apart from the disclosure."
    )
    idempotency_key: str = strawberry.field(
        description="A fresh key per withdrawal (a UUID; 8-128 of A-Z a-z 0-9 . _ : -). Retrying "
        "with the same key and input returns the same withdrawal; it is also the bank's request id."
    )


CreateWithdrawalResult = Annotated[
    Withdrawal
    | ValidationError
    | QuoteError
    | CardError
    | BankError
    | AmountError
    | IdempotencyError
    | RateLimitedError,
    strawberry.union("CreateWithdrawalResult", description="The withdrawal, or why none was made."),
]


@strawberry.input(description="The verification code the bank sent.")
class ConfirmWithdrawalInput:
    withdrawal_id: strawberry.ID = strawberry.field(
        description="The withdrawal awaiting verification."
    )
    verification_code: str = strawberry.field(description="The code from the bank's SMS (digits).")


ConfirmWithdrawalResult = Annotated[
    Withdrawal
    | ValidationError
    | VerificationError
    | WithdrawalError
    | BankError
    | RateLimitedError,
    strawberry.union(
        "ConfirmWithdrawalResult", description="The withdrawal, or why the code was refused."
    ),
]

CancelWithdrawalResult = Annotated[
    Withdrawal | WithdrawalError | BankError,
    strawberry.union(
        "CancelWithdrawalResult", description="The cancelled withdrawal, or why it cannot be."
    ),
]


async def _guarded(info: Info, action, *, money: bool = True, quote: bool = False):
    try:
        limits = info.context.services.limits
        if money or quote:
            account = await require_account(info)
            check = limits.check_money if money else limits.check_quote
            await check(account.id, info.context.client_address)
        return await action()
    except DomainError as exc:
        return error_member(exc, info.context.language)


async def resolve_create_quote(
    info: Info,
    input: Annotated[CreateQuoteInput, strawberry.argument(description="What to quote.")],
) -> QuoteResult:
    account = await require_account(info)

    async def act():
        amount = input.amount
        if isinstance(amount, UnparsableDecimal):
            raise DomainError(ErrorCode.VALIDATION, amount.reason, field="amount")
        quote = await info.context.services.quotes.create(
            account,
            bank_code=input.bank_code,
            credit_card_id=str(input.credit_card_id),
            amount=amount,
            repayment_type=DomainRepaymentType(input.repayment_type.value),
            periods=input.periods,
            language=info.context.language,
        )
        return Quote.of(quote)

    return await _guarded(info, act, money=False, quote=True)


async def resolve_create_withdrawal(
    info: Info,
    input: Annotated[
        CreateWithdrawalInput, strawberry.argument(description="Quote, card, purpose and consent.")
    ],
) -> CreateWithdrawalResult:
    account = await require_account(info)

    async def act():
        view = await info.context.services.withdrawals.create(
            account,
            quote_id=str(input.quote_id),
            debit_card_id=str(input.debit_card_id),
            purpose=DomainPurpose(input.purpose.value),
            consent=Consent(
                disclosure_version=input.accepted_disclosure_version,
                disclosure_digest=input.accepted_disclosure_digest,
                accepted_at=input.accepted_at,
                data_sharing_version=input.accepted_data_sharing_version,
            ),
            idempotency_key=input.idempotency_key,
        )
        return withdrawal_type(info, view)

    return await _guarded(info, act)


async def resolve_confirm_withdrawal(
    info: Info,
    input: Annotated[
        ConfirmWithdrawalInput, strawberry.argument(description="Withdrawal and code.")
    ],
) -> ConfirmWithdrawalResult:
    account = await require_account(info)

    async def act():
        view = await info.context.services.withdrawals.confirm(
            account, str(input.withdrawal_id), input.verification_code
        )
        return withdrawal_type(info, view)

    return await _guarded(info, act)


async def resolve_cancel_withdrawal(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The withdrawal to cancel.")],
) -> CancelWithdrawalResult:
    account = await require_account(info)

    async def act():
        return withdrawal_type(
            info, await info.context.services.withdrawals.cancel(account, str(id))
        )

    return await _guarded(info, act, money=False)


async def resolve_withdrawal(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The withdrawal's id.")],
) -> Withdrawal | None:
    account = await require_account(info)
    try:
        return withdrawal_type(info, await info.context.services.withdrawals.get(account, str(id)))
    except DomainError:
        return None


async def subscribe_withdrawal(
    info: Info,
    id: Annotated[strawberry.ID, strawberry.argument(description="The withdrawal to watch.")],
) -> AsyncGenerator[Withdrawal | None, None]:
    account = await require_account(info)
    services = info.context.services
    if not is_id("withdrawal", str(id)):
        yield None
        return
    with services.feed.listen(str(id)) as changes:
        try:
            view = await services.withdrawals.get(account, str(id))
        except DomainError:
            yield None
            return
        yield withdrawal_type(info, view)
        while not view.status.terminal:
            # A change notice normally wakes us; the timeout re-reads anyway, so a notice
            # lost between replicas delays an update instead of losing it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changes.get(), RECHECK_SECONDS)
            latest = await services.withdrawals.get(account, view.id)
            if latest.status is not view.status:
                view = latest
                info.context.loaders.clear()
                yield withdrawal_type(info, view)
