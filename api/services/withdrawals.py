"""Withdrawals: consent, idempotency, the bank call, and every status change after it.

Guarantees, and how they hold across crashes and replicas:

- One withdrawal per (user, idempotency key): its id is derived from both and is the request
  id the bank receives, and a unique constraint settles concurrent duplicates. A retry after
  a crash therefore reaches the bank as the same request.
- The row is written (``PENDING``, with a status sync due) *before* the bank is called, so a
  crash between the bank's answer and our write loses nothing: status sync asks the bank.
- Status changes are compare-and-set inside one transaction with a row lock, move only forward,
  and are recorded as events with their source. A terminal status never changes.
- A bank call whose outcome is unknown (timeout, outage, inconsistent answer) never fails the
  withdrawal; only the bank's word does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import Row, bindparam, insert, literal, or_, tuple_, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from api.banks.guard import GuardedProvider
from api.banks.registry import Registry
from api.services import failpoints
from api.services.accounts import Account
from api.services.banks import Banks, bank_error, today_in_china
from api.services.cards import Cards, CardView
from api.services.errors import DomainError, ErrorCode
from api.services.events import ChangeFeed
from api.services.exposure import Exposure
from api.services.ids import derived_id, is_id
from api.services.lifecycle import Source, Status, can_move
from api.services.quotes import Quotes, QuoteView
from db.engine import Database
from db.models import WITHDRAWAL_STATUSES, Card, User, Withdrawal, WithdrawalEvent
from db.types import UTCDateTime, utcnow
from providers import (
    TERMINAL_STATES,
    BookedTerms,
    CardKind,
    ConfirmWithdrawal,
    Customer,
    DeclineReason,
    ProviderError,
    ProviderErrorCode,
    RepaymentType,
    SubmitWithdrawal,
    WithdrawalPurpose,
    WithdrawalResult,
    WithdrawalState,
    terms_digest,
)

log = logging.getLogger("cardcash.withdrawals")

#: The length of the failure_reason column.
FAILURE_REASON_LENGTH = 256
_KEY = re.compile(r"[A-Za-z0-9._:-]{8,128}")
_CODE = re.compile(r"\d{4,8}")
_UNKNOWN_OUTCOME = {
    ProviderErrorCode.TIMEOUT,
    ProviderErrorCode.UNAVAILABLE,
    ProviderErrorCode.INVALID_RESPONSE,
}


#: What the money is for: the SDK's closed set, so what the API accepts is what banks get.
FundPurpose = WithdrawalPurpose

#: How far ahead of the server's clock a client's stated time of acceptance may be.
ACCEPTANCE_CLOCK_SKEW = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Consent:
    """What the user states they accepted, and when (their client's clock)."""

    disclosure_version: str
    disclosure_digest: str
    accepted_at: datetime
    data_sharing_version: str


@dataclass(frozen=True)
class SyncPolicy:
    """When status sync asks the bank again."""

    first_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=5)
    lease: timedelta = timedelta(seconds=60)
    verification_window: timedelta = timedelta(minutes=15)
    resubmit_window: timedelta = timedelta(minutes=10)
    max_verification_attempts: int = 5

    def backoff(self, attempts: int) -> timedelta:
        return min(self.first_delay * (2 ** min(attempts, 20)), self.max_delay)


@dataclass(frozen=True, slots=True)
class WithdrawalView:
    id: str
    user_id: str
    status: Status
    amount: Decimal
    currency: str
    bank_code: str
    quote_id: str
    credit_card_id: str
    debit_card_id: str
    repayment_type: RepaymentType
    periods: int
    purpose: FundPurpose
    disclosure_version: str
    disclosure_accepted_at: datetime
    """When the user accepted, as their client stated it (within the quote's life)."""
    disclosure_digest: str | None
    data_sharing_version: str | None
    data_sharing_digest: str | None
    failure_code: str | None
    failure_reason: str | None
    """The bank's own words on a failure (masked, bounded): for operators, never users."""
    decline_reason: DeclineReason | None
    bank_reference: str | None
    booked_terms_digest: str | None
    """providers.terms_digest of the terms the bank said it booked; None when it did not say."""
    expected_arrival: datetime | None
    verification_attempts: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EventView:
    from_status: Status | None
    to_status: Status
    source: Source
    detail: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Page:
    items: list[WithdrawalView]
    has_next: bool
    end_cursor: str | None


# The write path of a withdrawal runs on plain statements, built once: the ORM's unit of
# work (model validation, identity map, flush) cost more than the statements themselves.
# Rows come back as Core rows (attribute access by column, the same column types), and
# what was just written as a SimpleNamespace of its values.
_WITHDRAWALS = Withdrawal.__table__
_EVENTS = WithdrawalEvent.__table__
_INSERT_WITHDRAWAL = insert(_WITHDRAWALS)
_INSERT_EVENT = insert(_EVENTS)
_BY_ID = core_select(_WITHDRAWALS).where(_WITHDRAWALS.c.id == bindparam("id"))
_BY_ID_FOR_UPDATE = _BY_ID.with_for_update()
# SET takes the columns of the parameters given: one statement for every set of changes.
_UPDATE_BY_ID = update(_WITHDRAWALS).where(_WITHDRAWALS.c.id == bindparam("withdrawal_key"))
_UPDATE_IF_STATUS = _UPDATE_BY_ID.where(_WITHDRAWALS.c.status == bindparam("expected_status"))


def _event(
    withdrawal_id: str,
    to_status: Status,
    source: Source,
    detail: str,
    at: datetime,
    from_status: Status | None = None,
) -> dict:
    return {
        "withdrawal_id": withdrawal_id,
        "from_status": from_status.value if from_status else None,
        "to_status": to_status.value,
        "source": source.value,
        "detail": detail[:256],
        "occurred_at": at,
    }


Record = Row | SimpleNamespace
"""A withdrawals row: as read (a Core row) or as just written (its values)."""


def _view(row: Record) -> WithdrawalView:
    return WithdrawalView(
        id=row.id,
        user_id=row.user_id,
        status=Status(row.status),
        amount=row.amount,
        currency=row.currency,
        bank_code=row.bank_code,
        quote_id=row.quote_id,
        credit_card_id=row.credit_card_id,
        debit_card_id=row.debit_card_id,
        repayment_type=RepaymentType(row.repayment_type),
        periods=row.periods,
        purpose=FundPurpose(row.purpose),
        disclosure_version=row.disclosure_version,
        disclosure_accepted_at=row.disclosure_accepted_at,
        disclosure_digest=row.disclosure_digest,
        data_sharing_version=row.data_sharing_version,
        data_sharing_digest=row.data_sharing_digest,
        failure_code=row.failure_code,
        failure_reason=row.failure_reason,
        decline_reason=DeclineReason(row.decline_reason) if row.decline_reason else None,
        bank_reference=row.bank_reference,
        booked_terms_digest=row.booked_terms_digest,
        expected_arrival=row.expected_arrival,
        verification_attempts=row.verification_attempts,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def cursor_of(row: WithdrawalView) -> str:
    """The keyset cursor of a withdrawal in the newest-first list."""
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


#: A cursor is an ISO time and an id, base64: well under this.
_MAX_CURSOR_LENGTH = 128


def _uncursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor of :func:`cursor_of` names; VALIDATION for anything else (not
    base64, not UTF-8, not ``time|id``, a time without its zone, an id of another shape)."""
    try:
        if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR_LENGTH:
            raise ValueError("not a cursor")
        padded = (cursor + "=" * (-len(cursor) % 4)).encode("ascii")
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        created_text, wid = raw.split("|")
        created = datetime.fromisoformat(created_text)
        if created.utcoffset() is None or not is_id("withdrawal", wid):
            raise ValueError("not a cursor of ours")
        return created.astimezone(UTC), wid
    except (ValueError, UnicodeError, OverflowError):
        raise DomainError(ErrorCode.VALIDATION, "cursor", field="after") from None


def _outcome(result: WithdrawalResult) -> dict[str, str | None]:
    """What a bank's answer records, however it came (answer, status query, callback). Its
    text has passed the guard (``providers.integrity``): the reference is fit to keep, the
    reason cleaned and bounded (kept for operators; users read a sentence for the code)."""
    changes: dict[str, str | None] = {"bank_reference": result.bank_reference or None}
    if result.state is WithdrawalState.FAILED:
        changes["failure_code"] = "BANK_DECLINED"
        changes["failure_reason"] = (result.failure_reason or "the bank did not pay out")[
            :FAILURE_REASON_LENGTH
        ]
        changes["decline_reason"] = (result.decline_reason or DeclineReason.OTHER).value
    return changes



def check_consent(quote: QuoteView, consent: Consent, now: datetime) -> None:
    """The consent of a withdrawal against what its quote showed: the disclosure's version
    and digest, the data-sharing consent's version, and a time of acceptance within the
    quote's life (not before it was made, not after it expired, not ahead of ``now`` by
    more than :data:`ACCEPTANCE_CLOCK_SKEW`). DISCLOSURE_NOT_ACCEPTED or
    DATA_SHARING_NOT_ACCEPTED otherwise."""

    def refused(reason: str, field: str) -> DomainError:
        return DomainError(
            ErrorCode.DISCLOSURE_NOT_ACCEPTED, reason, field=field, version=quote.disclosure_version
        )

    if not consent.disclosure_version or consent.disclosure_version != quote.disclosure_version:
        raise refused("version", "acceptedDisclosureVersion")
    if not isinstance(consent.disclosure_digest, str) or (
        consent.disclosure_digest.lower() != quote.disclosure_digest
    ):
        raise refused("digest", "acceptedDisclosureDigest")
    accepted = consent.accepted_at
    if not isinstance(accepted, datetime) or accepted.utcoffset() is None:
        raise DomainError(ErrorCode.VALIDATION, "accepted_at", field="acceptedAt")
    # Clients see times to the millisecond: the quote's own time, as shown, is the bound.
    made = quote.created_at.replace(microsecond=quote.created_at.microsecond // 1000 * 1000)
    if accepted < made:
        raise refused("accepted_before_quote", "acceptedAt")
    if accepted >= quote.expires_at:
        raise refused("accepted_after_expiry", "acceptedAt")
    if accepted > now + ACCEPTANCE_CLOCK_SKEW:
        raise refused("accepted_in_future", "acceptedAt")
    if not quote.data_sharing_version or (
        consent.data_sharing_version != quote.data_sharing_version
    ):
        raise DomainError(
            ErrorCode.DATA_SHARING_NOT_ACCEPTED,
            "version",
            field="acceptedDataSharingVersion",
            version=quote.data_sharing_version,
        )


def terms_problem(quote: QuoteView, booked: BookedTerms) -> str | None:
    """How the terms a bank says it booked differ from those the holder accepted (the
    quote's start day and the bank's own schedule), or None when they are the same."""
    if booked.start_date != quote.start_date:
        return f"booked from {booked.start_date}, accepted from {quote.start_date}"
    if tuple(booked.schedule) != quote.bank_schedule:
        return f"booked schedule {booked.digest[:12]}, accepted {quote_terms_digest(quote)[:12]}"
    return None


def quote_terms_digest(quote: QuoteView) -> str:
    return terms_digest(quote.start_date, quote.bank_schedule)


def request_fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class Withdrawals:
    def __init__(
        self,
        db: Database,
        registry: Registry,
        banks: Banks,
        cards: Cards,
        quotes: Quotes,
        feed: ChangeFeed,
        policy: SyncPolicy | None = None,
        *,
        exposure: Exposure | None = None,
    ) -> None:
        self._db = db
        self._exposure = exposure or Exposure(db)
        self._registry = registry
        self._banks = banks
        self._cards = cards
        self._quotes = quotes
        self._feed = feed
        self.policy = policy or SyncPolicy()
        # Leases this process took whose pass was cut short (the database went away mid-job,
        # or the claim's answer was lost), by their expiry, which is also their token.
        # Released on the next pass, so the work resumes in seconds, not when the lease
        # runs out.
        self._abandoned: set[datetime] = set()
        self._last_lease: datetime | None = None
        self._sync_slots: dict[str, asyncio.Semaphore] = {}

    # -- reads -----------------------------------------------------------------------------

    async def get(self, account: Account, withdrawal_id: str) -> WithdrawalView:
        """The viewer's withdrawal, or WITHDRAWAL_NOT_FOUND (someone else's included)."""
        row = await self._load(withdrawal_id) if is_id("withdrawal", withdrawal_id) else None
        if row is None or row.user_id != account.id:
            raise DomainError(ErrorCode.WITHDRAWAL_NOT_FOUND, field="withdrawalId")
        return _view(row)

    async def by_id(self, withdrawal_id: str) -> WithdrawalView | None:
        row = await self._load(withdrawal_id)
        return _view(row) if row else None

    async def page(self, account: Account, first: int, after: str | None) -> Page:
        """The viewer's withdrawals, newest first, by keyset (cost does not grow with depth)."""
        query = select(Withdrawal).where(Withdrawal.user_id == account.id)
        if after:
            created, wid = _uncursor(after)
            # The row-value comparison is the keyset itself; the plain bound on created_at
            # lets SQLite seek the index instead of scanning down to the cursor.
            query = query.where(
                col(Withdrawal.created_at) <= created,
                tuple_(col(Withdrawal.created_at), col(Withdrawal.id))
                < tuple_(literal(created, UTCDateTime), literal(wid)),
            )
        query = query.order_by(col(Withdrawal.created_at).desc(), col(Withdrawal.id).desc())
        async with self._db.read() as session:
            rows = list(await session.exec(query.limit(first + 1)))
        items = [_view(r) for r in rows[:first]]
        return Page(items, len(rows) > first, cursor_of(items[-1]) if items else None)

    async def events(self, withdrawal_ids: list[str]) -> dict[str, list[EventView]]:
        async with self._db.read() as session:
            rows = await session.exec(
                select(WithdrawalEvent)
                .where(col(WithdrawalEvent.withdrawal_id).in_(withdrawal_ids))
                .order_by(col(WithdrawalEvent.id))
            )
            result: dict[str, list[EventView]] = {wid: [] for wid in withdrawal_ids}
            for e in rows:
                result[e.withdrawal_id].append(
                    EventView(
                        Status(e.from_status) if e.from_status else None,
                        Status(e.to_status),
                        Source(e.source),
                        e.detail,
                        e.occurred_at,
                    )
                )
        return result

    # -- the user's mutations --------------------------------------------------------------

    async def create(
        self,
        account: Account,
        *,
        quote_id: str,
        debit_card_id: str,
        purpose: FundPurpose,
        consent: Consent,
        idempotency_key: str,
    ) -> WithdrawalView:
        if not isinstance(idempotency_key, str) or not _KEY.fullmatch(idempotency_key):
            raise DomainError(
                ErrorCode.VALIDATION,
                "idempotency_key",
                field="idempotencyKey",
            )
        # What was accepted belongs to the request; when (by the client's clock) does not: a
        # retry that restates the time answers as the first, whose time is the one kept.
        fingerprint = request_fingerprint(
            quote_id,
            debit_card_id,
            purpose.value,
            consent.disclosure_version or "",
            consent.disclosure_digest or "",
            consent.data_sharing_version or "",
        )
        withdrawal_id = derived_id("withdrawal", account.id, idempotency_key)
        try:
            quote, credit, debit = await self._checked(account, quote_id, debit_card_id, consent)
        except DomainError:
            # A retry of a request that went through answers as the first time, even though
            # its quote has since expired or been used. (A retry that passes the checks meets
            # the first one's row on insert, below.)
            if (existing := await self._load(withdrawal_id)) is not None:
                return self._replay(existing, fingerprint)
            raise

        now = utcnow()
        values = {
            "id": withdrawal_id,
            "user_id": account.id,
            "idempotency_key": idempotency_key,
            "request_hash": fingerprint,
            "quote_id": quote.id,
            "bank_code": quote.bank_code,
            "credit_card_id": credit.id,
            "debit_card_id": debit.id,
            "amount": quote.amount,
            "currency": quote.currency,
            "repayment_type": quote.repayment_type.value,
            "periods": quote.periods,
            "purpose": purpose.value,
            "disclosure_version": quote.disclosure_version,
            "disclosure_accepted_at": consent.accepted_at.astimezone(UTC),
            "disclosure_digest": quote.disclosure_digest,
            "data_sharing_version": quote.data_sharing_version,
            "data_sharing_digest": quote.data_sharing_digest,
            "status": Status.PENDING.value,
            "failure_code": None,
            "failure_reason": None,
            "decline_reason": None,
            "bank_reference": None,
            "booked_terms_digest": None,
            "verification_attempts": 0,
            "expected_arrival": None,
            "created_at": now,
            "updated_at": now,
            # Due at once if this process dies before the bank's answer is written.
            "next_sync_at": now + self.policy.first_delay,
            "sync_attempts": 0,
            "sync_lease_until": None,
        }
        accepted = (
            f"disclosure {quote.disclosure_version} and data sharing "
            f"{quote.data_sharing_version} accepted; purpose {purpose.value}"
        )
        try:
            async with self._db.write_core() as connection:
                # The person's other withdrawals today, at every bank and on every channel,
                # counted under a lock on the person: two at once cannot share the room.
                await self._exposure.check(
                    account.id, quote.amount, connection=connection, except_id=withdrawal_id
                )
                await connection.execute(_INSERT_WITHDRAWAL, values)
                await connection.execute(
                    _INSERT_EVENT,
                    _event(withdrawal_id, Status.PENDING, Source.USER, accepted, now),
                )
        except DomainError:
            # Past the cap now: unless this is a retry of one that went through before.
            if (existing := await self._load(withdrawal_id)) is not None:
                return self._replay(existing, fingerprint)
            raise
        except IntegrityError as exc:
            if (existing := await self._load(withdrawal_id)) is not None:
                return self._replay(existing, fingerprint)
            # The partial unique index on PENDING withdrawals per card: another replica (or
            # request) is handing a withdrawal of this card to the bank right now. Unless
            # that one is this very quote's, waiting a moment and retrying will work.
            if "card_pending" in str(exc) or "withdrawals.credit_card_id" in str(exc):
                async with self._db.read() as session:
                    quote_taken = (
                        await session.exec(
                            select(Withdrawal.id).where(Withdrawal.quote_id == quote.id).limit(1)
                        )
                    ).first()
                if quote_taken is None:
                    raise DomainError(
                        ErrorCode.CARD_BUSY,
                        field="quoteId",
                    ) from None
            raise DomainError(
                ErrorCode.QUOTE_ALREADY_USED,
                field="quoteId",
            ) from None
        await self._feed.publish(withdrawal_id)
        return await self._submit(
            SimpleNamespace(**values),
            account.customer,
            credit.card_ref,
            debit.card_ref,
            quote,
            Source.BANK,
            inserted=True,
        )

    async def confirm(self, account: Account, withdrawal_id: str, code: str) -> WithdrawalView:
        view = await self.get(account, withdrawal_id)
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise DomainError(
                ErrorCode.VALIDATION,
                "verification_code",
                field="verificationCode",
            )
        if view.status in (Status.PROCESSING, Status.SUCCEEDED):
            return view  # confirmed before: a retry after a lost answer
        if view.status is not Status.VERIFICATION_REQUIRED:
            raise self._state_error(view, "not_awaiting_code")
        limit = self.policy.max_verification_attempts
        async with self._db.write() as session:
            counted = await session.exec(
                update(Withdrawal)
                .where(
                    col(Withdrawal.id) == view.id,
                    col(Withdrawal.status) == Status.VERIFICATION_REQUIRED.value,
                    col(Withdrawal.verification_attempts) < limit,
                )
                .values(verification_attempts=col(Withdrawal.verification_attempts) + 1)
            )
        if counted.rowcount != 1:
            view = await self.get(account, withdrawal_id)
            raise self._state_error(view, "not_awaiting_code")
        attempts = view.verification_attempts + 1
        provider = self._provider(view.bank_code)
        try:
            result = await provider.confirm_withdrawal(
                ConfirmWithdrawal(view.id, code),
                expected_amount=view.amount,
                expected_currency=view.currency,
            )
        except ProviderError as exc:
            return await self._confirm_failed(view, exc, limit - attempts)
        return await self.apply(view.id, result, Source.USER)

    async def cancel(self, account: Account, withdrawal_id: str) -> WithdrawalView:
        view = await self.get(account, withdrawal_id)
        if view.status is Status.CANCELLED:
            return view
        if view.status is not Status.VERIFICATION_REQUIRED:
            raise self._state_error(view, "not_cancellable")
        try:
            result = await self._provider(view.bank_code).cancel_withdrawal(
                view.id, expected_amount=view.amount, expected_currency=view.currency
            )
        except ProviderError as exc:
            await self._sync_soon(view.id)
            raise bank_error(exc, view.bank_code) from None
        return await self.apply(view.id, result, Source.USER)

    # -- the bank's word -------------------------------------------------------------------

    async def apply(
        self,
        withdrawal_id: str,
        result: WithdrawalResult,
        source: Source,
        *,
        written: SimpleNamespace | None = None,
    ) -> WithdrawalView:
        """Record what the bank says a withdrawal's state is (a no-op for stale news).
        ``written``: the row as this request inserted it (see :meth:`_move`)."""
        if result.booked is not None:
            quote_id = written.quote_id if written is not None else None
            if quote_id is None:
                loaded = await self._load(withdrawal_id)
                quote_id = loaded.quote_id if loaded is not None else None
            quote = await self._quotes.view(quote_id) if quote_id else None
            problem = terms_problem(quote, result.booked) if quote is not None else None
            if problem is not None:
                return await self._terms_mismatch(withdrawal_id, result, source, problem, written)
        target = Status.of(result.state)
        changes = _outcome(result)
        if result.booked is not None:
            changes["booked_terms_digest"] = result.booked.digest
        if result.expected_arrival is not None:
            changes["expected_arrival"] = result.expected_arrival
        row, _ = await self._move(
            withdrawal_id,
            target,
            source,
            changes=changes,
            written=written,
        )
        return _view(row)

    async def _terms_mismatch(
        self,
        withdrawal_id: str,
        result: WithdrawalResult,
        source: Source,
        problem: str,
        written: SimpleNamespace | None,
    ) -> WithdrawalView:
        """The bank booked other terms than the holder accepted: never a success. The bank
        is asked to cancel (what it says is not taken: the withdrawal fails here), the
        withdrawal fails with TERMS_MISMATCH, and operators are told (a bank that paid out
        all the same broke the SDK's contract; reconciliation shows it)."""
        log.error("withdrawal %s: the bank booked other terms (%s); failing it", withdrawal_id,
                  problem)
        if result.state not in TERMINAL_STATES:
            bank_code = written.bank_code if written is not None else None
            if bank_code is None:
                bank_code = (await self._load(withdrawal_id)).bank_code
            try:
                await self._provider(bank_code).cancel_withdrawal(
                    withdrawal_id, expected_amount=result.amount, expected_currency=result.currency
                )
            except ProviderError:
                pass
        row, _ = await self._move(
            withdrawal_id,
            Status.FAILED,
            source,
            changes={
                "failure_code": "TERMS_MISMATCH",
                "failure_reason": f"the bank booked other terms: {problem}"[
                    :FAILURE_REASON_LENGTH
                ],
                "decline_reason": None,
                "bank_reference": result.bank_reference or None,
                "booked_terms_digest": result.booked.digest if result.booked else None,
            },
            written=written,
        )
        return _view(row)

    async def handle_callback(self, bank_code: str, headers, body: bytes) -> str:
        """A bank's signed notification. Returns what happened: applied, stale or rejected."""
        provider = self._registry.get(bank_code)
        if provider is None:
            raise DomainError(ErrorCode.BANK_NOT_FOUND, bank_code=bank_code)
        try:
            event = provider.verify_callback(headers, body)
        except ProviderError as exc:
            log.warning("callback from %s refused: %s", bank_code, exc.code.value)
            raise DomainError(ErrorCode.VALIDATION, "callback_unverified") from None
        row = await self._load(event.request_id) if is_id("withdrawal", event.request_id) else None
        if row is None or row.bank_code != bank_code:
            raise DomainError(ErrorCode.WITHDRAWAL_NOT_FOUND)
        if event.amount != row.amount or event.currency != row.currency:
            await self._note(
                row.id, Source.CALLBACK, "integrity check failed: the callback's amount differs"
            )
            log.error("callback for %s reports a different amount; not applied", row.id)
            raise DomainError(ErrorCode.VALIDATION, "callback_amount")
        result = WithdrawalResult(
            event.request_id,
            event.bank_reference,
            event.state,
            event.amount,
            event.currency,
            event.failure_reason,
            decline_reason=event.decline_reason,
        )
        before = row.status
        after = await self.apply(row.id, result, Source.CALLBACK)
        return "applied" if after.status.value != before else "unchanged"

    # -- status sync -----------------------------------------------------------------------

    async def count_by_status(self) -> dict[str, int]:
        """How many withdrawals are in each status (every status named, zero included)."""
        counts = dict.fromkeys(WITHDRAWAL_STATUSES, 0)
        async with self._db.scan() as session:
            rows = await session.exec(
                select(Withdrawal.status, func.count()).group_by(Withdrawal.status)
            )
            counts.update(dict(rows.all()))
        return counts

    async def due_count(self) -> int:
        async with self._db.scan() as session:
            return (
                await session.exec(
                    select(func.count())
                    .select_from(Withdrawal)
                    .where(col(Withdrawal.next_sync_at) <= utcnow())
                )
            ).one()

    def sync_slots(self, provider: GuardedProvider) -> int:
        """How many calls status sync keeps in flight to one bank: half the guard's cap, so
        that users' own calls to the bank still find a free slot behind any backlog."""
        return max(1, provider.settings.max_concurrency // 2)

    #: The most due withdrawals of one bank a pass claims. Small, so that replicas draining
    #: one backlog take turns at it (each takes what it works on now, not all there is),
    #: and a pass's answers are written in one short transaction.
    SYNC_CLAIM = 10
    #: Passes each bank's lane of status sync runs at once: one asks the bank while the
    #: other writes its answers.
    SYNC_PASSES = 2

    def sync_pass_size(self, provider: GuardedProvider) -> int:
        """How many due withdrawals of one bank a pass claims: one batch query's worth, or
        one call per slot for a bank without a batch query, at most :data:`SYNC_CLAIM`."""
        per_pass = provider.batch_query_limit if provider.has_batch_query else self.sync_slots(
            provider
        )
        return min(per_pass, self.SYNC_CLAIM)

    async def sync_due(self, limit: int | None = None, *, bank_code: str | None = None) -> int:
        """Claim due withdrawals (of one bank, or of every loaded bank) and ask the banks.

        Banks are asked concurrently, each with at most :meth:`sync_slots` calls in flight,
        in batches where the bank has a batch query, and the answers are written together
        (:meth:`_record`). ``limit`` caps the withdrawals claimed (default:
        :meth:`sync_pass_size` per bank). Returns how many were claimed. When
        a database error cuts the pass short, it is raised once every other withdrawal of
        the pass is done, and the leases left are given back on the next pass.
        """
        await self._release_abandoned()
        codes = [bank_code] if bank_code is not None else self._registry.codes
        now = utcnow()
        lease = self._new_lease(now)
        if bank_code is None and limit is not None:
            claims: list[tuple[str | None, int]] = [(None, limit)]
        else:
            claims = [
                (code, limit or self.sync_pass_size(provider))
                for code in codes
                if (provider := self._registry.get(code)) is not None
            ]
        rows: list[Row] = []
        try:
            for code, size in claims:
                rows += await self._claim_due(now, lease, size, code)
        except BaseException:
            # A claim that committed but whose answer was lost is ours all the same.
            self._abandoned.add(lease)
            raise
        by_bank: dict[str, list[Row]] = {}
        for row in rows:
            by_bank.setdefault(row.bank_code, []).append(row)
        try:
            failures = [
                failure
                for failures in await asyncio.gather(
                    *(self._sync_bank(code, claimed) for code, claimed in by_bank.items())
                )
                for failure in failures
            ]
        except BaseException:
            self._abandoned.add(lease)
            raise
        if failures:
            self._abandoned.add(lease)
            raise failures[0]
        return len(rows)

    async def sync_now(self, withdrawal_id: str) -> bool:
        """Ask the bank about one withdrawal now, due or not (an operator's forced sync).

        Claimed with a lease like any sync, so it never runs beside a replica's own sync of
        the same withdrawal: False when one holds it at the moment. A terminal withdrawal is
        never changed (``sync_one`` leaves it as it is).
        """
        now = utcnow()
        lease = now + self.policy.lease
        try:
            async with self._db.write_core() as connection:
                result = await connection.execute(
                    update(_WITHDRAWALS)
                    .where(
                        _WITHDRAWALS.c.id == withdrawal_id,
                        or_(
                            _WITHDRAWALS.c.sync_lease_until.is_(None),
                            _WITHDRAWALS.c.sync_lease_until < now,
                        ),
                    )
                    .values(sync_lease_until=lease)
                    .returning(*_WITHDRAWALS.c)
                )
                rows = list(result.all())
            if not rows:
                return False
            failures = await self._sync_bank(rows[0].bank_code, rows)  # ends the lease
        except BaseException:
            # Noted only on the way out: while it runs, the status sync loop (which
            # releases what is noted) must not free the lease under it.
            self._abandoned.add(lease)
            raise
        if failures:
            self._abandoned.add(lease)
            raise failures[0]
        return True

    async def sync_one(self, withdrawal_id: str) -> None:
        """Ask the bank about one withdrawal now, whether due or not."""
        row = await self._load(withdrawal_id)
        failures = await self._sync_bank(row.bank_code, [row])
        if failures:
            raise failures[0]

    async def _sync_bank(self, bank_code: str, rows: list[Row]) -> list[BaseException]:
        """Ask one bank about its claimed withdrawals; every way out ends each one's lease,
        except a database error, which is returned (the lease is released later)."""
        provider = self._registry.get(bank_code)
        if provider is None:
            return await self._each(rows, self._backoff)
        open_rows = [row for row in rows if not Status(row.status).terminal]
        closed = await self._each(
            [row for row in rows if Status(row.status).terminal],
            lambda row: self._schedule(row.id, None),
        )
        now = utcnow()
        expired = [
            row for row in open_rows
            if Status(row.status) is Status.VERIFICATION_REQUIRED
            and now - row.updated_at >= self.policy.verification_window
        ]
        cancelled = {row.id for row in expired}
        asked = [row for row in open_rows if row.id not in cancelled]
        slots = self._sync_slots.get(bank_code)
        if slots is None:
            slots = self._sync_slots[bank_code] = asyncio.Semaphore(self.sync_slots(provider))

        async def cancel(row: Row) -> None:
            async with slots:
                answer = await _answer(
                    provider.cancel_withdrawal(
                        row.id, expected_amount=row.amount, expected_currency=row.currency
                    )
                )
            await self._synced(row, answer)

        answers: dict[str, WithdrawalResult | ProviderError] = {}

        async def query(row: Row) -> None:
            async with slots:
                answers[row.id] = await _answer(
                    provider.query_withdrawal(
                        row.id, expected_amount=row.amount, expected_currency=row.currency
                    )
                )

        async def query_batch(batch: list[Row]) -> None:
            async with slots:
                try:
                    answers.update(
                        await provider.query_withdrawals(
                            {row.id: (row.amount, row.currency) for row in batch}
                        )
                    )
                except ProviderError as exc:
                    answers.update(dict.fromkeys((row.id for row in batch), exc))

        if provider.has_batch_query and len(asked) > 1:  # one alone gains nothing from it
            step = provider.batch_query_limit
            asking = [query_batch(asked[i : i + step]) for i in range(0, len(asked), step)]
        else:
            asking = [query(row) for row in asked]
        cancel_failures, asked_results = await asyncio.gather(
            self._each(expired, cancel, concurrently=True),
            asyncio.gather(*asking, return_exceptions=True),
        )
        failures = [r for r in asked_results if isinstance(r, BaseException)]
        for failure in failures:
            if isinstance(failure, asyncio.CancelledError):
                raise failure
        # A row whose call failed otherwise (a bug) keeps its lease: released later.
        answered = [row for row in asked if row.id in answers]
        return closed + cancel_failures + failures + await self._record(answered, answers)

    async def _record(
        self, rows: list[Row], answers: dict[str, WithdrawalResult | ProviderError]
    ) -> list[BaseException]:
        """Record the banks' answers about claimed withdrawals: the usual ones (a move
        forward, nothing new, a failed call) all in one transaction, with one statement per
        kind of move and per backoff step; anything else one by one, as :meth:`_synced`
        does. Returns the database errors (the leases left are released later)."""
        now = utcnow()
        moves: dict[tuple, list[Row]] = {}
        backoffs: dict[int, list[Row]] = {}
        alone: list[Row] = []
        for row in rows:
            answer, status = answers[row.id], Status(row.status)
            if isinstance(answer, ProviderError):
                usual = answer.code is not ProviderErrorCode.INVALID_RESPONSE and not (
                    answer.code is ProviderErrorCode.UNKNOWN_WITHDRAWAL
                    and status is Status.PENDING
                )
                if usual:
                    backoffs.setdefault(row.sync_attempts + 1, []).append(row)
                else:
                    alone.append(row)
                continue
            target = Status.of(answer.state)
            if target is status and (answer.bank_reference or None) == row.bank_reference:
                backoffs.setdefault(row.sync_attempts + 1, []).append(row)
                continue
            # What the row holds already needs no writing; rows alike then share a statement.
            details = tuple(
                (k, v)
                for k, v in _outcome(answer).items()
                if v is not None and getattr(row, k) != v
            )
            if target is status or not can_move(status, target):
                alone.append(row)
            else:
                moves.setdefault((status, target, details), []).append(row)
        moved: list[tuple[Row, Status, Status]] = []
        try:
            if moves or backoffs:
                async with self._db.write_core() as connection:
                    for (status, target, details), group in moves.items():
                        done = await connection.execute(
                            update(_WITHDRAWALS)
                            .where(
                                _WITHDRAWALS.c.id.in_([row.id for row in group]),
                                _WITHDRAWALS.c.status == status.value,
                            )
                            .values(self._moved(target, now) | dict(details))
                            .returning(_WITHDRAWALS.c.id)
                        )
                        ids = set(done.scalars().all())
                        for row in group:
                            if row.id in ids:
                                moved.append((row, status, target))
                            else:  # moved by someone else meanwhile: read it and see
                                alone.append(row)
                    if moved:
                        await connection.execute(
                            insert(_EVENTS),
                            [
                                _event(
                                    row.id,
                                    target,
                                    Source.STATUS_SYNC,
                                    _outcome(answers[row.id]).get("failure_code") or "",
                                    now,
                                    status,
                                )
                                for row, status, target in moved
                            ],
                        )
                    for attempts, group in backoffs.items():
                        await connection.execute(
                            update(_WITHDRAWALS)
                            .where(_WITHDRAWALS.c.id.in_([row.id for row in group]))
                            .values(
                                next_sync_at=now + self.policy.backoff(attempts),
                                sync_lease_until=None,
                                sync_attempts=attempts,
                            )
                        )
        except Exception as exc:  # noqa: BLE001 - the caller raises it once all are done
            return [exc]
        for row, *_ in moved:
            await self._feed.publish(row.id)
        return await self._each(alone, lambda row: self._synced(row, answers[row.id]))

    @staticmethod
    async def _each(rows, job, *, concurrently: bool = False) -> list[BaseException]:
        """Run ``job`` for every row (one after the other, or all at once); the exceptions."""
        if concurrently:
            results = await asyncio.gather(*(job(row) for row in rows), return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            for failure in failures:
                if isinstance(failure, asyncio.CancelledError):
                    raise failure
            return failures
        failures = []
        for row in rows:
            try:
                await job(row)
            except Exception as exc:  # noqa: BLE001 - the others go on; the caller raises it
                failures.append(exc)
        return failures

    async def _synced(self, row: Row, answer: WithdrawalResult | ProviderError) -> None:
        """Record a bank's answer to status sync about one withdrawal."""
        status = Status(row.status)
        if isinstance(answer, ProviderError):
            if answer.code is ProviderErrorCode.UNKNOWN_WITHDRAWAL and status is Status.PENDING:
                return await self._never_received(row, utcnow())
            if answer.code is ProviderErrorCode.INVALID_RESPONSE:
                await self._note(
                    row.id, Source.STATUS_SYNC, f"integrity check failed: {answer.message}"
                )
            return await self._backoff(row)
        target = Status.of(answer.state)
        if target is status and (answer.bank_reference or None) == row.bank_reference:
            return await self._backoff(row)  # nothing new: ask again later
        updated, moved = await self._move(
            row.id,
            target,
            Source.STATUS_SYNC,
            changes=_outcome(answer),
        )
        if not moved:
            await self._backoff(updated)

    # -- internals -------------------------------------------------------------------------

    def _provider(self, bank_code: str):
        provider = self._registry.get(bank_code)
        if provider is None:
            raise DomainError(
                ErrorCode.BANK_UNAVAILABLE,
                bank_code=bank_code,
                retryable=True,
            )
        return provider

    def _replay(self, existing: Record, fingerprint: str) -> WithdrawalView:
        if existing.request_hash != fingerprint:
            raise DomainError(
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                field="idempotencyKey",
                withdrawal_id=existing.id,
            )
        return _view(existing)

    def _state_error(self, view: WithdrawalView, why: str) -> DomainError:
        return DomainError(ErrorCode.INVALID_STATE, why, current_status=view.status.value)

    async def _checked(
        self, account: Account, quote_id: str, debit_card_id: str, consent: Consent
    ) -> tuple[QuoteView, CardView, CardView]:
        """The quote and both cards of a new withdrawal, once every check has passed."""
        quote = await self._quotes.get(account, quote_id)
        if quote.expired():
            raise DomainError(ErrorCode.QUOTE_EXPIRED, field="quoteId")
        if quote.start_date != today_in_china():
            # Its schedule counts from the day it was made: booked today, the same schedule
            # would be other terms (a quote at 23:55 booked at 00:04). A new quote, not a shift.
            raise DomainError(ErrorCode.QUOTE_EXPIRED, "day_changed", field="quoteId")
        check_consent(quote, consent, utcnow())
        _, provider = await self._banks.usable(account, quote.bank_code)
        if provider.asks_credit_report and not quote.credit_report:
            # The bank asks for the credit-report authorisation; the consent the user gave
            # (a quote made before the bank asked) does not include it.
            raise DomainError(
                ErrorCode.DATA_SHARING_NOT_ACCEPTED,
                "credit_report",
                field="acceptedDataSharingVersion",
                version=quote.data_sharing_version,
            )
        credit = await self._cards.owned(account, quote.credit_card_id, CardKind.CREDIT)
        debit = await self._cards.owned(account, debit_card_id, CardKind.DEBIT)
        if not debit.usable_for_payout:
            raise DomainError(
                ErrorCode.CARD_NOT_ELIGIBLE, "payout_refused", field="debitCardId"
            )
        try:
            same_holder = await provider.verify_same_holder(
                account.customer, credit.card_ref, debit.card_ref
            )
        except ProviderError as exc:
            raise bank_error(exc, quote.bank_code) from None
        if not same_holder:
            raise DomainError(
                ErrorCode.CARD_NOT_OWNED,
                field="debitCardId",
            )
        return quote, credit, debit

    async def _submit(
        self,
        row: Record,
        customer: Customer,
        credit_ref: str,
        debit_ref: str,
        quote: QuoteView,
        source: Source,
        *,
        inserted: bool = False,
    ) -> WithdrawalView:
        """Hand the withdrawal to its bank, with the terms the holder accepted (the quote's
        id, start day and the bank's own schedule, and their digest), and record the answer.
        ``inserted``: ``row`` is as this request just wrote it (not read back)."""
        written = row if inserted else None
        provider = self._provider(row.bank_code)
        try:
            result = await provider.submit_withdrawal(
                SubmitWithdrawal(
                    request_id=row.id,
                    customer=customer,
                    credit_card_ref=credit_ref,
                    debit_card_ref=debit_ref,
                    amount=row.amount,
                    currency=row.currency,
                    repayment_type=RepaymentType(row.repayment_type),
                    periods=row.periods,
                    purpose=WithdrawalPurpose(row.purpose),
                    agreement_version=quote.agreement_version,
                    quote_id=quote.id,
                    start_date=quote.start_date,
                    schedule=quote.bank_schedule,
                    schedule_digest=terms_digest(quote.start_date, quote.bank_schedule),
                    credit_report_authorized=quote.credit_report,
                )
            )
        except ProviderError as exc:
            if exc.code in _UNKNOWN_OUTCOME:
                # Unknown outcome: the row stays PENDING and status sync asks the bank.
                log.warning("withdrawal %s: bank outcome unknown (%s)", row.id, exc.code.value)
                if exc.code is ProviderErrorCode.INVALID_RESPONSE:
                    await self._note(row.id, source, f"integrity check failed: {exc.message}")
                return _view(await self._load(row.id))
            mapped = bank_error(exc, row.bank_code)
            changes = {
                "failure_code": mapped.code.value,
                "failure_reason": (mapped.details.get("bank_message") or mapped.message)[
                    :FAILURE_REASON_LENGTH
                ],
                "decline_reason": exc.decline_reason.value,
            }
            failed, _ = await self._move(
                row.id,
                Status.FAILED,
                source,
                changes=changes,
                    written=written,
            )
            return _view(failed)
        failpoints.hit("after-bank-submit")
        return await self.apply(row.id, result, source, written=written)

    async def _confirm_failed(self, view: WithdrawalView, exc: ProviderError, attempts_left: int):
        if exc.code is ProviderErrorCode.VERIFICATION_FAILED and attempts_left > 0:
            raise DomainError(
                ErrorCode.VERIFICATION_FAILED,
                "attempts",
                attempts_left=attempts_left,
            )
        if exc.code in (ProviderErrorCode.VERIFICATION_FAILED, ProviderErrorCode.TOO_MANY_ATTEMPTS):
            if exc.code is ProviderErrorCode.VERIFICATION_FAILED:
                # Our own limit: the bank still waits, so withdraw the request there too.
                try:
                    await self._provider(view.bank_code).cancel_withdrawal(
                        view.id, expected_amount=view.amount, expected_currency=view.currency
                    )
                except ProviderError:
                    pass
            await self._move(
                view.id,
                Status.FAILED,
                Source.USER,
                changes={
                    "failure_code": "TOO_MANY_ATTEMPTS",
                    "failure_reason": "too many wrong verification codes",
                },
            )
            raise DomainError(
                ErrorCode.TOO_MANY_ATTEMPTS,
                attempts_left=0,
            )
        await self._sync_soon(view.id)
        raise bank_error(exc, view.bank_code)

    async def _never_received(self, row: Record, now: datetime) -> None:
        if now - row.created_at < self.policy.resubmit_window:
            credit, debit, quote = await self._submission_parts(row)
            customer = await self._customer(row.user_id)
            view = await self._submit(row, customer, credit, debit, quote, Source.STATUS_SYNC)
            if view.status is Status.PENDING:
                await self._backoff(row)
            return
        await self._move(
            row.id,
            Status.FAILED,
            Source.STATUS_SYNC,
            changes={
                "failure_code": "BANK_UNAVAILABLE",
                "failure_reason": "the bank did not receive the request; nothing was lent",
            },
        )

    async def _submission_parts(self, row: Record) -> tuple[str, str, QuoteView]:
        async with self._db.read() as session:
            credit = await session.get(Card, row.credit_card_id)
            debit = await session.get(Card, row.debit_card_id)
        return credit.card_ref, debit.card_ref, await self._quotes.view(row.quote_id)

    async def _customer(self, user_id: str) -> Customer:
        async with self._db.read() as session:
            user = await session.get(User, user_id)
        return Customer(user.channel, user.channel_user_id)

    async def _load(self, withdrawal_id: str) -> Row | None:
        async with self._db.read_core() as connection:
            return (await connection.execute(_BY_ID, {"id": withdrawal_id})).first()

    def _next_sync(self, status: Status, now: datetime) -> datetime | None:
        if status.terminal:
            return None
        if status is Status.VERIFICATION_REQUIRED:
            return now + self.policy.verification_window
        return now + self.policy.first_delay

    async def _move(
        self,
        withdrawal_id: str,
        target: Status,
        source: Source,
        *,
        changes: dict | None = None,
        detail: str = "",
        written: SimpleNamespace | None = None,
    ) -> tuple[Record, bool]:
        """Compare-and-set the status under a row lock, with its event. Stale or backward
        moves change nothing.

        ``written`` is the row as this request inserted it: while its status holds, the
        row needs no reading first (the bank's first answer to a new withdrawal).
        """
        now = utcnow()
        details = {k: v for k, v in (changes or {}).items() if v is not None}
        row: Record | None = None
        async with self._db.write_core() as connection:
            if written is not None and can_move(current := Status(written.status), target):
                values = self._moved(target, now) | details
                done = await connection.execute(
                    _UPDATE_IF_STATUS,
                    values | {"withdrawal_key": withdrawal_id, "expected_status": current.value},
                )
                if done.rowcount == 1:
                    row, moved = written, True
            if row is None:  # someone else may have moved it: read it under the lock
                row = (await connection.execute(_BY_ID_FOR_UPDATE, {"id": withdrawal_id})).one()
                current = Status(row.status)
                moved = can_move(current, target)
                values = self._moved(target, now) if moved else {}
                # Details refresh while a status holds (a bank reference arriving later), but
                # a final record stays as it was written.
                if moved or (current is target and not current.terminal):
                    values.update(details)
                if values:
                    await connection.execute(
                        _UPDATE_BY_ID, values | {"withdrawal_key": withdrawal_id}
                    )
            if moved:
                # An event's detail is shown to the user: a failure's code, never the bank's
                # own words (those stay in failure_reason, for operators).
                detail = detail or details.get("failure_code") or ""
                await connection.execute(
                    _INSERT_EVENT, _event(withdrawal_id, target, source, detail, now, current)
                )
        fields = vars(row) if isinstance(row, SimpleNamespace) else row._asdict()
        row = SimpleNamespace(**(fields | values))
        if moved:
            await self._feed.publish(withdrawal_id)
        return row, moved

    def _moved(self, target: Status, now: datetime) -> dict:
        """The columns a move to ``target`` sets."""
        return {
            "status": target.value,
            "updated_at": now,
            "next_sync_at": self._next_sync(target, now),
            "sync_attempts": 0,
            "sync_lease_until": None,
        }

    async def _note(self, withdrawal_id: str, source: Source, detail: str) -> None:
        async with self._db.write_core() as connection:
            row = (await connection.execute(_BY_ID, {"id": withdrawal_id})).one()
            status = Status(row.status)
            event = _event(withdrawal_id, status, source, detail, utcnow(), status)
            await connection.execute(_INSERT_EVENT, event)

    def _new_lease(self, now: datetime) -> datetime:
        """A lease's expiry, which is also its token: unique among this process's leases."""
        lease = now + self.policy.lease
        if self._last_lease is not None and lease <= self._last_lease:
            lease = self._last_lease + timedelta(microseconds=1)
        self._last_lease = lease
        return lease

    async def _release_abandoned(self) -> None:
        for lease in list(self._abandoned):
            async with self._db.write_core() as connection:
                await connection.execute(
                    update(_WITHDRAWALS)
                    .where(_WITHDRAWALS.c.sync_lease_until == lease)
                    .values(sync_lease_until=None)
                )
            self._abandoned.discard(lease)

    async def _claim_due(
        self, now: datetime, lease: datetime, limit: int, bank_code: str | None
    ) -> list[Row]:
        """Lease up to ``limit`` due withdrawals in one statement. On PostgreSQL, rows another
        replica is claiming at the same moment are skipped, not waited for."""
        due = (
            _WITHDRAWALS.c.next_sync_at <= now,
            or_(_WITHDRAWALS.c.sync_lease_until.is_(None), _WITHDRAWALS.c.sync_lease_until < now),
        )
        if bank_code is not None:
            due += (_WITHDRAWALS.c.bank_code == bank_code,)
        # Chosen once (MATERIALIZED): a LIMIT subquery planned inside the UPDATE may run
        # again and, skipping locked rows, choose other rows the second time.
        chosen = (
            core_select(_WITHDRAWALS.c.id)
            .where(*due)
            .order_by(_WITHDRAWALS.c.next_sync_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("chosen")
            .prefix_with("MATERIALIZED")
        )
        # Most passes find nothing due: a read says so without taking the write lock.
        async with self._db.read_core() as connection:
            if (await connection.execute(core_select(literal(1)).where(*due).limit(1))).first() is None:
                return []
        async with self._db.write_core() as connection:
            result = await connection.execute(
                update(_WITHDRAWALS)
                .where(_WITHDRAWALS.c.id.in_(core_select(chosen.c.id)), *due)
                .values(sync_lease_until=lease)
                .returning(*_WITHDRAWALS.c)
            )
            return list(result.all())

    async def _schedule(
        self, withdrawal_id: str, at: datetime | None, attempts: int | None = None
    ) -> None:
        values: dict = {"next_sync_at": at, "sync_lease_until": None}
        if attempts is not None:
            values["sync_attempts"] = attempts
        async with self._db.write() as session:
            await session.exec(
                update(Withdrawal).where(col(Withdrawal.id) == withdrawal_id).values(**values)
            )

    async def _backoff(self, row: Record) -> None:
        if Status(row.status).terminal:
            return await self._schedule(row.id, None)
        attempts = row.sync_attempts + 1
        await self._schedule(row.id, utcnow() + self.policy.backoff(attempts), attempts)

    async def _sync_soon(self, withdrawal_id: str) -> None:
        await self._schedule(withdrawal_id, utcnow() + self.policy.first_delay)


async def _answer(call) -> WithdrawalResult | ProviderError:
    """A bank call's answer, or the ProviderError it raised."""
    try:
        return await call
    except ProviderError as exc:
        return exc
