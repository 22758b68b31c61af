"""The operator API's schema (``/admin/graphql``): its own schema, apart from the users' one,
so nothing of it is reachable with a user's session. Resolvers call
:mod:`api.services.operations` and :mod:`api.services.operators`, nothing else."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from api.runtime import Services
from api.schema.base import Schema
from api.schema.catalog import BankAvailability, Channel
from api.schema.scalars import SCALARS, Decimal
from api.schema.withdrawals import EventSource, WithdrawalStatus
from api.services import operations as domain
from api.services.operators import OperationError, OperatorView


@dataclass
class AdminContext:
    """What every operator resolver gets: the services and the authenticated operator."""

    services: Services
    operator: OperatorView


def _refused(exc: OperationError) -> GraphQLError:
    return GraphQLError(str(exc), extensions={"code": exc.code})


@strawberry.type(description="An operator of this cardcash.")
class Operator:
    name: str = strawberry.field(description="The operator's name, as the audit log shows it.")
    created_at: datetime = strawberry.field(description="When the token was made.")
    last_used_at: datetime | None = strawberry.field(
        description="About when it was last used (to the minute)."
    )


@strawberry.type(description="Who a PILOT bank is open to on a channel.")
class Rollout:
    users: list[str] = strawberry.field(description="Allow-listed user ids.")
    percent: Decimal = strawberry.field(
        description="Share of all users let in, picked by their id (0-100)."
    )
    sandbox_users: bool = strawberry.field(description="Whether every sandbox user is let in.")


@strawberry.type(description="A bank on one channel, as operators see it.")
class BankChannel:
    bank_code: str = strawberry.field(description="The bank's code.")
    name: str = strawberry.field(description="The bank's name.")
    channel: Channel = strawberry.field(description="The channel.")
    availability: BankAvailability = strawberry.field(description="Availability there.")
    rollout: Rollout = strawberry.field(description="Who a PILOT is open to.")
    in_flight: int = strawberry.field(
        description="Withdrawals there whose outcome is still open."
    )
    updated_at: datetime = strawberry.field(description="When this entry last changed.")

    @classmethod
    def of(cls, s: domain.BankChannelState) -> BankChannel:
        return cls(
            bank_code=s.bank_code,
            name=s.name,
            channel=Channel(s.channel.value),
            availability=BankAvailability(s.availability.value),
            rollout=Rollout(
                users=sorted(s.rollout.users),
                percent=s.rollout.percent,
                sandbox_users=s.rollout.sandbox_users,
            ),
            in_flight=s.in_flight,
            updated_at=s.updated_at,
        )


@strawberry.type(description="A withdrawal in a non-terminal status for longer than asked.")
class StuckWithdrawal:
    id: strawberry.ID = strawberry.field(description="The withdrawal's id.")
    bank_code: str = strawberry.field(description="Its bank.")
    status: WithdrawalStatus = strawberry.field(description="Its status.")
    amount: Decimal = strawberry.field(description="Its amount in CNY.")
    bank_reference: str | None = strawberry.field(description="The bank's reference, if any.")
    updated_at: datetime = strawberry.field(description="When its status last changed.")
    stuck_seconds: int = strawberry.field(description="Seconds in this status so far.")
    sync_attempts: int = strawberry.field(description="Status sync's attempts since.")
    next_sync_at: datetime | None = strawberry.field(
        description="When status sync asks the bank next."
    )


@strawberry.type(description="The stuck withdrawals of one non-terminal status.")
class StuckGroup:
    status: WithdrawalStatus = strawberry.field(description="The status.")
    withdrawals: list[StuckWithdrawal] = strawberry.field(description="Longest stuck first.")


@strawberry.type(description="A bank's plugin and what this replica's guard knows of it.")
class ProviderHealth:
    bank_code: str = strawberry.field(description="The bank's code.")
    plugin_status: str = strawberry.field(description="loaded, blocked or refused.")
    reason: str = strawberry.field(description="Why it is blocked or refused; empty if loaded.")
    version: str | None = strawberry.field(description="The plugin's version.")
    breaker_state: str | None = strawberry.field(
        description="closed, open or half_open; null when not loaded."
    )
    consecutive_failures: int = strawberry.field(description="Failures since the last success.")
    in_flight: int = strawberry.field(description="Calls to the bank running now.")
    calls: int = strawberry.field(description="Calls since this replica started.")
    outcomes: JSON = strawberry.field(description='Calls by outcome ("ok" or an error code).')
    recent_calls: int = strawberry.field(description="Calls the figures below cover.")
    error_rate: float = strawberry.field(
        description="Share of recent calls that failed (timeouts, outages, broken answers)."
    )
    latency_p50_ms: float | None = strawberry.field(description="Median latency, ms.")
    latency_p95_ms: float | None = strawberry.field(description="95th percentile latency, ms.")
    latency_max_ms: float | None = strawberry.field(description="Slowest recent call, ms.")

    @classmethod
    def of(cls, h: domain.ProviderHealth) -> ProviderHealth:
        s = h.stats

        def ms(seconds: float | None) -> float | None:
            return None if seconds is None else round(seconds * 1000, 3)

        return cls(
            bank_code=h.plugin.code,
            plugin_status=h.plugin.status.value,
            reason=h.plugin.reason,
            version=h.plugin.version,
            breaker_state=s.breaker_state if s else None,
            consecutive_failures=s.consecutive_failures if s else 0,
            in_flight=s.in_flight if s else 0,
            calls=s.calls if s else 0,
            outcomes=s.outcomes if s else {},
            recent_calls=s.recent_calls if s else 0,
            error_rate=s.error_rate if s else 0.0,
            latency_p50_ms=ms(s.latency_p50) if s else None,
            latency_p95_ms=ms(s.latency_p95) if s else None,
            latency_max_ms=ms(s.latency_max) if s else None,
        )


@strawberry.type(description="One status change of a withdrawal.")
class WithdrawalEvent:
    from_status: WithdrawalStatus | None = strawberry.field(description="Before; null at first.")
    to_status: WithdrawalStatus = strawberry.field(description="After.")
    source: EventSource = strawberry.field(description="Who caused it.")
    detail: str = strawberry.field(description="What happened, card numbers masked.")
    occurred_at: datetime = strawberry.field(description="When.")


@strawberry.type(description="A withdrawal with its whole history; cards masked.")
class Withdrawal:
    id: strawberry.ID = strawberry.field(description="The withdrawal's id.")
    user_id: str = strawberry.field(description="The user's id.")
    user_channel: str = strawberry.field(description="The user's channel.")
    bank_code: str = strawberry.field(description="Its bank.")
    bank_reference: str | None = strawberry.field(description="The bank's reference.")
    status: WithdrawalStatus = strawberry.field(description="Its status now.")
    amount: Decimal = strawberry.field(description="Its amount in CNY.")
    failure_code: str | None = strawberry.field(description="Why it failed, as a code.")
    failure_reason: str | None = strawberry.field(description="Why it failed, masked.")
    credit_card: str = strawberry.field(description="The credit card, masked.")
    debit_card: str = strawberry.field(description="The debit card, masked.")
    created_at: datetime = strawberry.field(description="When it was requested.")
    updated_at: datetime = strawberry.field(description="When its status last changed.")
    events: list[WithdrawalEvent] = strawberry.field(description="Every status change, in order.")

    @classmethod
    def of(cls, r: domain.WithdrawalRecord) -> Withdrawal:
        w = r.withdrawal
        return cls(
            id=strawberry.ID(w.id),
            user_id=w.user_id,
            user_channel=r.user_channel,
            bank_code=w.bank_code,
            bank_reference=w.bank_reference,
            status=WithdrawalStatus(w.status.value),
            amount=w.amount,
            failure_code=w.failure_code,
            failure_reason=w.failure_reason,
            credit_card=r.credit_card,
            debit_card=r.debit_card,
            created_at=w.created_at,
            updated_at=w.updated_at,
            events=[
                WithdrawalEvent(
                    from_status=WithdrawalStatus(e.from_status.value) if e.from_status else None,
                    to_status=WithdrawalStatus(e.to_status.value),
                    source=EventSource(e.source.value),
                    detail=e.detail,
                    occurred_at=e.occurred_at,
                )
                for e in r.events
            ],
        )


@strawberry.type(description="One change made through the operator surface.")
class AuditEntry:
    id: int = strawberry.field(description="Increasing with time; page back with beforeId.")
    at: datetime = strawberry.field(description="When.")
    actor: str = strawberry.field(description='Who: "operator:<name>" or "cli:<os user>".')
    action: str = strawberry.field(description='What was done, e.g. "bank.set", "withdrawal.sync".')
    target: str = strawberry.field(description='What it was done to, e.g. "CEB/ALIPAY".')
    before: JSON | None = strawberry.field(
        description="The target before the change; null when it was created."
    )
    after: JSON | None = strawberry.field(description="The target after the change.")


@strawberry.type(description="The latest reconciliation of one bank's day.")
class Reconciliation:
    bank_code: str = strawberry.field(description="The bank.")
    day: date = strawberry.field(description="The business day (Asia/Shanghai).")
    result: str = strawberry.field(
        description="CLEAN, DISCREPANCIES, UNSUPPORTED (no statement) or FAILED."
    )
    ours: int = strawberry.field(description="Withdrawals cardcash handed the bank that day.")
    theirs: int = strawberry.field(description="Withdrawals on the bank's statement.")
    discrepancies: int = strawberry.field(description="Differences found.")
    ran_at: datetime = strawberry.field(description="When it ran.")
    report: JSON = strawberry.field(description="The whole report, as the JSON file has it.")


def _context(info: Info) -> AdminContext:
    return info.context


async def _find(info: Info, id_or_reference: str) -> Withdrawal | None:
    try:
        record = await _context(info).services.operations.find_withdrawal(id_or_reference)
    except OperationError as exc:
        raise _refused(exc) from None
    return Withdrawal.of(record) if record else None


@strawberry.type(description="What operators can look at.")
class Query:
    @strawberry.field(description="The operator whose token this request carries.")
    def me(self, info: Info) -> Operator:
        o = _context(info).operator
        return Operator(name=o.name, created_at=o.created_at, last_used_at=o.last_used_at)

    @strawberry.field(description="Every bank on every channel, with its rollout.")
    async def bank_channels(self, info: Info) -> list[BankChannel]:
        return [BankChannel.of(s) for s in await _context(info).services.operations.bank_channels()]

    @strawberry.field(
        description="Withdrawals in each non-terminal status for longer than the threshold."
    )
    async def stuck_withdrawals(
        self,
        info: Info,
        older_than_seconds: Annotated[
            int, strawberry.argument(description="The threshold in seconds (at least 1).")
        ] = 900,
    ) -> list[StuckGroup]:
        if older_than_seconds < 1:
            raise GraphQLError("olderThanSeconds must be at least 1", extensions={"code": "INVALID"})
        groups = await _context(info).services.operations.stuck(
            timedelta(seconds=older_than_seconds)
        )
        return [
            StuckGroup(
                status=WithdrawalStatus(status),
                withdrawals=[
                    StuckWithdrawal(
                        id=strawberry.ID(w.id),
                        bank_code=w.bank_code,
                        status=WithdrawalStatus(w.status),
                        amount=w.amount,
                        bank_reference=w.bank_reference,
                        updated_at=w.updated_at,
                        stuck_seconds=w.stuck_seconds,
                        sync_attempts=w.sync_attempts,
                        next_sync_at=w.next_sync_at,
                    )
                    for w in items
                ],
            )
            for status, items in groups.items()
        ]

    @strawberry.field(description="Each bank's plugin, breaker, latency and error rate here.")
    def provider_health(self, info: Info) -> list[ProviderHealth]:
        return [ProviderHealth.of(h) for h in _context(info).services.operations.provider_health()]

    @strawberry.field(description="A withdrawal by its id or the bank's reference; null if none.")
    async def withdrawal(
        self,
        info: Info,
        id_or_reference: Annotated[
            str, strawberry.argument(description="A withdrawal id (wdr_…) or a bank reference.")
        ],
    ) -> Withdrawal | None:
        return await _find(info, id_or_reference)

    @strawberry.field(
        description="The evidence of one withdrawal, for a regulator or a complaint, as one "
        'JSON document (format "cardcash-withdrawal-evidence/1"): what was shown (the quote, '
        "its schedule and APR, the disclosure's and the data-sharing consent's text, version "
        "and digest), what was accepted and when (the client's stated time and the time "
        "received; each digest checked against the text kept), what the bank booked, and "
        "every status change. Money as strings, times in UTC. Each export is audited."
    )
    async def withdrawal_evidence(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The withdrawal's id.")],
    ) -> JSON:
        context = _context(info)
        try:
            return await context.services.operations.evidence(
                context.operator.actor, str(id)
            )
        except OperationError as exc:
            raise _refused(exc) from None

    @strawberry.field(description="Recorded reconciliations, newest day first.")
    async def reconciliations(
        self,
        info: Info,
        day: Annotated[date | None, strawberry.argument(description="Only this day.")] = None,
        bank_code: Annotated[
            str | None, strawberry.argument(description="Only this bank.")
        ] = None,
        first: Annotated[int, strawberry.argument(description="How many (1-500).")] = 50,
    ) -> list[Reconciliation]:
        rows = await _context(info).services.reconciler.recorded(
            day=day, bank_code=bank_code, first=first
        )
        return [
            Reconciliation(
                bank_code=r.bank_code, day=r.day, result=r.result, ours=r.ours,
                theirs=r.theirs, discrepancies=r.discrepancies, ran_at=r.ran_at,
                report=json.loads(r.report),
            )
            for r in rows
        ]

    @strawberry.field(description="The audit log, newest first.")
    async def audit_log(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="How many (1-500).")] = 50,
        before_id: Annotated[
            int | None, strawberry.argument(description="Entries older than this id.")
        ] = None,
    ) -> list[AuditEntry]:
        entries = await _context(info).services.operators.audit_log(
            first=first, before_id=before_id
        )
        return [
            AuditEntry(
                id=e.id, at=e.at, actor=e.actor, action=e.action, target=e.target,
                before=e.before, after=e.after,
            )
            for e in entries
        ]


@strawberry.input(description="A change of a bank's availability or rollout on one channel.")
class SetBankChannelInput:
    bank_code: str = strawberry.field(description="The bank's code.")
    channel: Channel = strawberry.field(description="The channel.")
    availability: BankAvailability | None = strawberry.field(
        default=None, description="The new availability; null keeps it."
    )
    percent: Decimal | None = strawberry.field(
        default=None, description="The pilot's new share of users (0-100); null keeps it."
    )
    sandbox_users: bool | None = strawberry.field(
        default=None, description="Let every sandbox user in or not; null keeps it."
    )
    users: list[str] | None = strawberry.field(
        default=None, description="Replace the allow-list; null keeps it."
    )
    add_users: list[str] = strawberry.field(
        default_factory=list, description="User ids to add to the allow-list."
    )
    remove_users: list[str] = strawberry.field(
        default_factory=list, description="User ids to take off the allow-list."
    )


@strawberry.type(description="What operators can change; every change is audited.")
class Mutation:
    @strawberry.mutation(
        description="Change a bank's availability or rollout on a channel. SUSPENDED leaves "
        "every replica's listing within one catalog refresh; withdrawals in flight go on."
    )
    async def set_bank_channel(
        self,
        info: Info,
        input: Annotated[SetBankChannelInput, strawberry.argument(description="The change.")],
    ) -> BankChannel:
        context = _context(info)
        try:
            state = await context.services.operations.set_bank_channel(
                context.operator.actor,
                input.bank_code,
                input.channel.value,
                availability=input.availability.value if input.availability else None,
                percent=input.percent,
                sandbox_users=input.sandbox_users,
                users=input.users,
                add_users=input.add_users,
                remove_users=input.remove_users,
            )
        except OperationError as exc:
            raise _refused(exc) from None
        return BankChannel.of(state)

    @strawberry.mutation(description="Ask the bank about one open withdrawal now.")
    async def force_status_sync(
        self,
        info: Info,
        withdrawal_id: Annotated[strawberry.ID, strawberry.argument(description="Its id.")],
    ) -> Withdrawal:
        context = _context(info)
        try:
            await context.services.operations.force_sync(context.operator.actor, withdrawal_id)
        except OperationError as exc:
            raise _refused(exc) from None
        found = await _find(info, withdrawal_id)
        assert found is not None
        return found


# The users' schema class: it logs a resolver's unexpected exception once, with its stack.
admin_schema = Schema(
    query=Query, mutation=Mutation, config=StrawberryConfig(scalar_map=SCALARS)
)
