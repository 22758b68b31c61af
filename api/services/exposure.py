"""Exposure across banks: a per-person daily cap, and the high-cost warning.

Cash-advance pricing is high, and a bank sees only its own card: one person drawing at six
banks on one day, or again on the other channel, is seen by none of them. The platform's
share of steering users to borrow rationally is to count what a *person* draws in a day
across every bank and channel, up to a cap (``CARDCASH_PERSON_DAILY_CAP``, 20,000 CNY by
default), and to warn before acceptance when an option's annualized rate passes a threshold
(``CARDCASH_HIGH_COST_APR``, 36 % by default: the line the 2017 notice on cash loans,
整治办函〔2017〕141号, draws for a loan's comprehensive annualized cost).

A person is the users of one ``users.person_key`` (:func:`api.services.accounts.person_key`):
linked through the real-name identity or WeChat union id their channel gave, each user alone
otherwise. The day is China's (Asia/Shanghai), as banks count their daily caps. What counts
is every withdrawal of the day that may lend money: all but FAILED and CANCELLED ones.

The cap is checked when quoting (no quote is made for an amount past it) and again when the
withdrawal is written, inside the transaction that writes it and under a lock on the person
(PostgreSQL: a transaction-scoped advisory lock; SQLite: its single writer), so two
withdrawals at two banks at once cannot both pass on the same room.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from sqlalchemy import bindparam, func, select, text

from api.services.banks import CHINA, today_in_china
from api.services.errors import DomainError, ErrorCode
from db.engine import Database
from db.models import User, Withdrawal
from db.types import MoneyCents, utcnow

#: Statuses of a withdrawal that may lend money, counted against the cap.
COUNTED_STATUSES = ("PENDING", "VERIFICATION_REQUIRED", "PROCESSING", "SUCCEEDED")

DEFAULT_PERSON_DAILY_CAP = Decimal("20000.00")
DEFAULT_HIGH_COST_APR = Decimal("36")

_USERS = User.__table__
_WITHDRAWALS = Withdrawal.__table__
_PERSON_OF = select(_USERS.c.person_key).where(_USERS.c.id == bindparam("user_id"))
_DRAWN = (
    select(func.coalesce(func.sum(_WITHDRAWALS.c.amount), 0, type_=MoneyCents()))
    .select_from(_WITHDRAWALS.join(_USERS, _USERS.c.id == _WITHDRAWALS.c.user_id))
    .where(
        _USERS.c.person_key == bindparam("person_key"),
        _WITHDRAWALS.c.created_at >= bindparam("since"),
        _WITHDRAWALS.c.status.in_(COUNTED_STATUSES),
        _WITHDRAWALS.c.id != bindparam("except_id"),
    )
)
_LOCK = text("SELECT pg_advisory_xact_lock(:lock)")


@dataclass(frozen=True, slots=True)
class ExposurePolicy:
    """The per-person daily cap and the APR above which an option is high-cost."""

    person_daily_cap: Decimal = DEFAULT_PERSON_DAILY_CAP
    high_cost_apr: Decimal = DEFAULT_HIGH_COST_APR

    def high_cost(self, apr: Decimal) -> bool:
        """Whether a rate of ``apr`` percent passes the threshold (36 % itself does not)."""
        return apr > self.high_cost_apr


def day_start(now: datetime | None = None) -> datetime:
    """The start of today in China, as an aware time."""
    return datetime.combine(today_in_china(now), time(), tzinfo=CHINA)


def _lock_id(person_key: str) -> int:
    """A signed 64-bit advisory lock id for the person (collisions only serialize more)."""
    return int.from_bytes(hashlib.sha256(person_key.encode()).digest()[:8], "big", signed=True)


class Exposure:
    """What a person has drawn today across banks and channels, against the cap."""

    def __init__(self, db: Database, policy: ExposurePolicy | None = None) -> None:
        self._db = db
        self.policy = policy or ExposurePolicy()

    async def remaining(self, user_id: str, *, connection=None, except_id: str = "") -> Decimal:
        """What the person ``user_id`` is may still draw today (never below zero)."""
        if connection is None:
            async with self._db.read_core() as reader:
                return await self._remaining(reader, user_id, except_id)
        return await self._remaining(connection, user_id, except_id)

    async def _remaining(self, connection, user_id: str, except_id: str) -> Decimal:
        key = (await connection.execute(_PERSON_OF, {"user_id": user_id})).scalar()
        key = key or f"user:{user_id}"
        drawn = (
            await connection.execute(
                _DRAWN, {"person_key": key, "since": day_start(utcnow()), "except_id": except_id}
            )
        ).scalar() or Decimal("0.00")
        return max(self.policy.person_daily_cap - drawn, Decimal("0.00"))

    async def check(
        self, user_id: str, amount: Decimal, *, connection=None, except_id: str = ""
    ) -> None:
        """PERSON_DAILY_CAP_EXCEEDED, carrying what is left, when ``amount`` passes it.

        With ``connection`` (a write transaction), the person is locked first, until that
        transaction ends: whatever it writes is counted by the next check. ``except_id``: a
        withdrawal not to count (the one being written, met again by a retry).
        """
        if connection is not None and not self._db.is_sqlite:
            key = (await connection.execute(_PERSON_OF, {"user_id": user_id})).scalar()
            await connection.execute(_LOCK, {"lock": _lock_id(key or f"user:{user_id}")})
        left = await self.remaining(user_id, connection=connection, except_id=except_id)
        if amount > left:
            raise DomainError(
                ErrorCode.PERSON_DAILY_CAP_EXCEEDED,
                "remaining",
                field="amount",
                person_remaining=left,
                person_daily_cap=self.policy.person_daily_cap,
            )
