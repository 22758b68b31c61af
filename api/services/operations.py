"""What operators do: open, restrict and suspend banks per channel, find stuck withdrawals
and sync one, see each bank's health, look a withdrawal up. Every change is audited in the
same transaction as the change itself.

Both the ``cardcash admin`` commands and ``/admin/graphql`` call this module; the actor they
pass (``cli:<os user>`` or ``operator:<name>``) is who the audit log names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlmodel import col, or_, select

from api.banks.guard import GuardStats
from api.banks.registry import PluginInfo, Registry
from api.services.cards import Cards, CardView
from api.services.catalog import (
    IN_FLIGHT,
    BankAvailability,
    Catalog,
    Channel,
    Rollout,
    in_flight_withdrawals,
    parse_percent,
    parse_users,
)
from api.services.evidence import evidence
from api.services.ids import is_id
from api.services.operators import OperationError, audit
from api.services.quotes import Quotes
from api.services.withdrawals import EventView, Withdrawals, WithdrawalView
from db.engine import Database
from db.models import Bank, BankChannel, User, Withdrawal
from db.types import utcnow
from providers.scrub import scrub_card_numbers


@dataclass(frozen=True, slots=True)
class BankChannelState:
    """A bank on one channel as operators see it."""

    bank_code: str
    name: str
    channel: Channel
    availability: BankAvailability
    rollout: Rollout
    position: int
    in_flight: int
    updated_at: datetime

    def to_dict(self) -> dict:
        return {"availability": self.availability.value, "pilot": self.rollout.to_dict()}


@dataclass(frozen=True, slots=True)
class StuckWithdrawal:
    id: str
    bank_code: str
    status: str
    amount: str
    bank_reference: str | None
    updated_at: datetime
    stuck_seconds: int
    sync_attempts: int
    next_sync_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """A bank's plugin and, when loaded, what this process's guard knows of it."""

    plugin: PluginInfo
    stats: GuardStats | None


@dataclass(frozen=True, slots=True)
class WithdrawalRecord:
    """A withdrawal with its whole event history, cards masked."""

    withdrawal: WithdrawalView
    user_channel: str
    credit_card: str
    debit_card: str
    events: list[EventView]


def masked(card: CardView | None) -> str:
    return f"**** **** **** {card.last4}" if card is not None else "?"


class Operations:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        registry: Registry,
        withdrawals: Withdrawals,
        cards: Cards,
        quotes: Quotes,
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._registry = registry
        self._withdrawals = withdrawals
        self._cards = cards
        self._quotes = quotes

    # -- banks -------------------------------------------------------------------------------

    async def bank_channels(self) -> list[BankChannelState]:
        async with self._db.read() as session:
            busy = await in_flight_withdrawals(session)
            rows = await session.exec(
                select(Bank, BankChannel)
                .join(BankChannel, BankChannel.bank_code == Bank.code)
                .order_by(col(BankChannel.channel), col(BankChannel.position), col(Bank.code))
            )
            return [_state(bank, bc, busy) for bank, bc in rows]

    async def set_bank_channel(
        self,
        actor: str,
        bank_code: str,
        channel: str,
        *,
        availability: str | None = None,
        percent: object = None,
        sandbox_users: bool | None = None,
        users: list[str] | None = None,
        add_users: list[str] = (),
        remove_users: list[str] = (),
    ) -> BankChannelState:
        """Change a bank's availability and rollout on one channel; None leaves a part as is.

        Suspending takes the bank off every replica's listing within one catalog refresh;
        withdrawals in flight there go on to their end (the answer says how many there are).
        """
        try:
            wanted_channel = Channel(channel)
            wanted = BankAvailability(availability) if availability is not None else None
            new_percent = parse_percent(percent) if percent is not None else None
            replaced = parse_users(users) if users is not None else None
            added, removed = parse_users(list(add_users)), parse_users(list(remove_users))
        except ValueError as exc:
            raise OperationError("INVALID", str(exc)) from None
        if sandbox_users is not None and not isinstance(sandbox_users, bool):
            raise OperationError("INVALID", "sandbox_users must be true or false")
        async with self._db.write() as session:
            row = await session.get(BankChannel, (bank_code, wanted_channel.value))
            bank = await session.get(Bank, bank_code)
            if row is None or bank is None:
                raise OperationError(
                    "NOT_FOUND", f"{bank_code} is not in the catalog on {wanted_channel.value}"
                )
            before = _state(bank, row, {}).to_dict()
            rollout = Rollout.of(row)
            rollout = Rollout(
                users=((replaced if replaced is not None else rollout.users) | added) - removed,
                percent=new_percent if new_percent is not None else rollout.percent,
                sandbox_users=rollout.sandbox_users if sandbox_users is None else sandbox_users,
            )
            changed = rollout.store(row)
            if wanted is not None and row.availability != wanted.value:
                row.availability = wanted.value
                changed = True
            if changed:
                row.updated_at = utcnow()
                after = _state(bank, row, {}).to_dict()
                audit(
                    session, actor, "bank.set", f"{bank_code}/{wanted_channel.value}", before,
                    after,
                )
            busy = await in_flight_withdrawals(session, bank_code)
            state = _state(bank, row, busy)
        self._catalog.invalidate()  # this replica at once; the others at their next refresh
        return state

    # -- withdrawals -------------------------------------------------------------------------

    async def stuck(
        self, older_than: timedelta, *, now: datetime | None = None, limit: int = 200
    ) -> dict[str, list[StuckWithdrawal]]:
        """Per non-terminal status, the withdrawals in it for longer than ``older_than``,
        longest first."""
        now = now or utcnow()
        cutoff = now - older_than
        async with self._db.scan() as session:
            rows = await session.exec(
                select(Withdrawal)
                .where(col(Withdrawal.status).in_(IN_FLIGHT), col(Withdrawal.updated_at) < cutoff)
                .order_by(col(Withdrawal.updated_at))
                .limit(limit)
            )
            result: dict[str, list[StuckWithdrawal]] = {status: [] for status in IN_FLIGHT}
            for w in rows:
                result[w.status].append(
                    StuckWithdrawal(
                        id=w.id,
                        bank_code=w.bank_code,
                        status=w.status,
                        amount=str(w.amount),
                        bank_reference=w.bank_reference,
                        updated_at=w.updated_at,
                        stuck_seconds=int((now - w.updated_at).total_seconds()),
                        sync_attempts=w.sync_attempts,
                        next_sync_at=w.next_sync_at,
                    )
                )
        return result

    async def force_sync(self, actor: str, withdrawal_id: str) -> WithdrawalView:
        """Ask the bank about one withdrawal now; audited with its status before and after."""
        before = await self._withdrawal(withdrawal_id)
        if before.status.terminal:
            raise OperationError(
                "INVALID_STATE", f"{withdrawal_id} is {before.status.value}: nothing to sync"
            )
        if not await self._withdrawals.sync_now(withdrawal_id):
            raise OperationError(
                "BUSY", f"{withdrawal_id} is being synced by a replica right now; try again"
            )
        after = await self._withdrawal(withdrawal_id)
        async with self._db.write() as session:
            audit(
                session, actor, "withdrawal.sync", withdrawal_id,
                {"status": before.status.value}, {"status": after.status.value},
            )
        return after

    async def find_withdrawal(self, id_or_reference: str) -> WithdrawalRecord | None:
        """A withdrawal by its id or by the bank's reference, with every event."""
        if not isinstance(id_or_reference, str) or not 0 < len(id_or_reference) <= 128:
            raise OperationError("INVALID", "give a withdrawal id or a bank reference")
        async with self._db.read() as session:
            conditions = [col(Withdrawal.bank_reference) == id_or_reference]
            if is_id("withdrawal", id_or_reference):
                conditions.append(col(Withdrawal.id) == id_or_reference)
            row = (await session.exec(select(Withdrawal.id).where(or_(*conditions)))).first()
            if row is None:
                return None
            view = await self._withdrawals.by_id(row)
            user = await session.get(User, view.user_id)
        cards = await self._cards.by_ids([view.credit_card_id, view.debit_card_id])
        events = (await self._withdrawals.events([view.id]))[view.id]
        return WithdrawalRecord(
            withdrawal=_scrubbed(view),
            user_channel=user.channel if user else "?",
            credit_card=masked(cards.get(view.credit_card_id)),
            debit_card=masked(cards.get(view.debit_card_id)),
            events=[
                EventView(e.from_status, e.to_status, e.source, scrub_card_numbers(e.detail),
                          e.occurred_at)
                for e in events
            ],
        )

    async def evidence(self, actor: str, withdrawal_id: str) -> dict:
        """The evidence document of one withdrawal (:mod:`api.services.evidence`). It holds
        personal information: each export is audited."""
        view = await self._withdrawal(withdrawal_id)
        quote = (await self._quotes.by_ids([view.quote_id]))[view.quote_id]
        async with self._db.read() as session:
            user = await session.get(User, view.user_id)
        cards = await self._cards.by_ids([view.credit_card_id, view.debit_card_id])
        events = (await self._withdrawals.events([view.id]))[view.id]
        document = evidence(
            view,
            quote,
            channel=user.channel if user else "?",
            credit_card=masked(cards.get(view.credit_card_id)),
            debit_card=masked(cards.get(view.debit_card_id)),
            events=events,
            exported_at=utcnow(),
        )
        async with self._db.write() as session:
            audit(session, actor, "withdrawal.export", view.id, None, {"format": document["format"]})
        return document

    async def _withdrawal(self, withdrawal_id: str) -> WithdrawalView:
        view = None
        if is_id("withdrawal", withdrawal_id):
            view = await self._withdrawals.by_id(withdrawal_id)
        if view is None:
            raise OperationError("NOT_FOUND", f"no withdrawal {withdrawal_id}")
        return view

    # -- banks' health -----------------------------------------------------------------------

    def provider_health(self) -> list[ProviderHealth]:
        """Every plugin, and for loaded ones the guard's figures in this process."""
        return [
            ProviderHealth(info, p.stats() if (p := self._registry.get(info.code)) else None)
            for info in self._registry.plugins
        ]


def _state(bank: Bank, row: BankChannel, busy: dict) -> BankChannelState:
    return BankChannelState(
        bank_code=bank.code,
        name=bank.name,
        channel=Channel(row.channel),
        availability=BankAvailability(row.availability),
        rollout=Rollout.of(row),
        position=row.position,
        in_flight=busy.get((bank.code, row.channel), 0),
        updated_at=row.updated_at,
    )


def _scrubbed(view: WithdrawalView) -> WithdrawalView:
    reason = scrub_card_numbers(view.failure_reason) if view.failure_reason else None
    return replace(view, failure_reason=reason)
