"""Daily reconciliation: cardcash's withdrawals of a day against the bank's statement.

For one bank and one business day (Asia/Shanghai, the day banks count on), the withdrawals
cardcash handed to the bank that day (those with the bank's reference) are matched by request
id with the bank's statement (:meth:`providers.BankProvider.list_withdrawals`). Each
difference is a :class:`Discrepancy`: on cardcash's side only (``MISSING_AT_BANK``), on the
bank's only (``EXTRA_AT_BANK``), another amount, another status. A statement entry for a
withdrawal cardcash dated the day before or after (around midnight) is matched with it, not
counted as extra.

It reads only: it never changes a withdrawal. What it found is kept per bank and day
(:class:`db.models.Reconciliation`) for the operator API, and written as a report.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path

from sqlmodel import col, select

from api.banks.registry import Registry
from api.services.banks import CHINA
from db.engine import Database
from db.models import Reconciliation, Withdrawal
from db.types import utcnow
from providers import ProviderError, StatementEntry


class Discrepancy(StrEnum):
    """How cardcash's record of a withdrawal and the bank's differ."""

    MISSING_AT_BANK = "MISSING_AT_BANK"
    """cardcash handed it to the bank; the bank's statement does not have it."""
    EXTRA_AT_BANK = "EXTRA_AT_BANK"
    """On the bank's statement; cardcash has no such withdrawal."""
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    STATUS_MISMATCH = "STATUS_MISMATCH"


class Result(StrEnum):
    CLEAN = "CLEAN"
    DISCREPANCIES = "DISCREPANCIES"
    UNSUPPORTED = "UNSUPPORTED"
    """The bank's plugin has no statement (``list_withdrawals``): not reconciled."""
    FAILED = "FAILED"
    """The bank could not be asked (not loaded, or its call failed)."""


@dataclass(frozen=True, slots=True)
class Side:
    """One side's record of a withdrawal."""

    amount: str
    currency: str
    status: str
    bank_reference: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Discrepancy
    request_id: str
    ours: Side | None
    bank: Side | None


@dataclass
class Report:
    bank_code: str
    day: date
    result: Result
    ours: int = 0
    theirs: int = 0
    matched: int = 0
    findings: list[Finding] = field(default_factory=list)
    detail: str = ""
    ran_at: datetime = field(default_factory=utcnow)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        data["ran_at"] = self.ran_at.isoformat()
        data["result"] = self.result.value
        data["findings"] = [
            {**asdict(f), "kind": f.kind.value} for f in self.findings
        ]
        return data

    def summary(self) -> str:
        """The report as a person reads it."""
        lines = [
            f"Reconciliation of {self.bank_code} for {self.day.isoformat()} (Asia/Shanghai): "
            f"{self.result.value}",
        ]
        if self.detail:
            lines.append(f"  {self.detail}")
        if self.result in (Result.CLEAN, Result.DISCREPANCIES):
            lines.append(
                f"  cardcash {self.ours}, bank {self.theirs}, matched {self.matched}, "
                f"discrepancies {len(self.findings)}"
            )
        for f in self.findings:
            ours = f"{f.ours.amount} {f.ours.status}" if f.ours else "-"
            bank = f"{f.bank.amount} {f.bank.status}" if f.bank else "-"
            lines.append(f"  {f.kind.value:<16} {f.request_id}  cardcash: {ours}  bank: {bank}")
        return "\n".join(lines) + "\n"


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The business day ``day`` in Asia/Shanghai, as a UTC range [start, end)."""
    start = datetime.combine(day, time(0), CHINA).astimezone(UTC)
    return start, start + timedelta(days=1)


def _ours(w: Withdrawal) -> Side:
    return Side(
        str(w.amount), w.currency, w.status, w.bank_reference, w.created_at.isoformat(),
        w.updated_at.isoformat(),
    )


def _theirs(e: StatementEntry) -> Side:
    return Side(
        str(e.amount), e.currency, e.state.value, e.bank_reference, e.created_at.isoformat(),
        e.updated_at.isoformat(),
    )


def compare(
    bank_code: str, day: date, ours: list[Withdrawal], statement: list[StatementEntry],
    elsewhere: dict[str, Withdrawal],
) -> Report:
    """The report of one bank's day. ``elsewhere`` holds cardcash's withdrawals of other days
    that the statement names."""
    by_id = {w.id: w for w in ours}
    report = Report(bank_code, day, Result.CLEAN, ours=len(ours), theirs=len(statement))
    listed = set()
    for entry in statement:
        listed.add(entry.request_id)
        mine = by_id.get(entry.request_id) or elsewhere.get(entry.request_id)
        if mine is None:
            report.findings.append(
                Finding(Discrepancy.EXTRA_AT_BANK, entry.request_id, None, _theirs(entry))
            )
            continue
        kinds = []
        if mine.amount != entry.amount or mine.currency != entry.currency:
            kinds.append(Discrepancy.AMOUNT_MISMATCH)
        if mine.status != entry.state.value:
            kinds.append(Discrepancy.STATUS_MISMATCH)
        for kind in kinds:
            report.findings.append(Finding(kind, mine.id, _ours(mine), _theirs(entry)))
        if not kinds:
            report.matched += 1
    for w in ours:
        if w.id not in listed:
            report.findings.append(Finding(Discrepancy.MISSING_AT_BANK, w.id, _ours(w), None))
    if report.findings:
        report.result = Result.DISCREPANCIES
    return report


class Reconciler:
    def __init__(self, db: Database, registry: Registry) -> None:
        self._db = db
        self._registry = registry

    async def reconcile(self, bank_code: str, day: date) -> Report:
        """Reconcile one bank's day and record the result (the report is returned)."""
        provider = self._registry.get(bank_code)
        if provider is None:
            report = Report(bank_code, day, Result.FAILED, detail="the bank's plugin is not loaded")
        elif not provider.lists_withdrawals:
            report = Report(
                bank_code, day, Result.UNSUPPORTED,
                detail="the bank's plugin does not list withdrawals (list_withdrawals)",
            )
        else:
            try:
                statement = await provider.list_withdrawals(day)
            except ProviderError as exc:
                report = Report(
                    bank_code, day, Result.FAILED,
                    detail=f"the bank's statement could not be read: {exc.code.value}: "
                    f"{exc.message}",
                )
            else:
                report = await self._compare(bank_code, day, statement)
        await self._record(report)
        return report

    async def _compare(self, bank_code: str, day: date, statement: list) -> Report:
        start, end = day_bounds(day)
        async with self._db.scan() as session:
            ours = list(
                await session.exec(
                    select(Withdrawal).where(
                        Withdrawal.bank_code == bank_code,
                        col(Withdrawal.created_at) >= start,
                        col(Withdrawal.created_at) < end,
                        # Handed to the bank: it gave a reference. One refused before the
                        # bank recorded it is not on a statement.
                        col(Withdrawal.bank_reference).is_not(None),
                    )
                )
            )
            known = {w.id for w in ours}
            unknown = [e.request_id for e in statement if e.request_id not in known]
            elsewhere = {}
            if unknown:
                rows = await session.exec(
                    select(Withdrawal).where(
                        Withdrawal.bank_code == bank_code, col(Withdrawal.id).in_(unknown)
                    )
                )
                elsewhere = {w.id: w for w in rows}
        return compare(bank_code, day, ours, statement, elsewhere)

    async def _record(self, report: Report) -> None:
        async with self._db.write() as session:
            row = await session.get(Reconciliation, (report.bank_code, report.day))
            if row is None:
                row = Reconciliation(bank_code=report.bank_code, day=report.day)
                session.add(row)
            row.result = report.result.value
            row.ours, row.theirs = report.ours, report.theirs
            row.discrepancies = len(report.findings)
            row.report = json.dumps(report.to_dict(), ensure_ascii=False, sort_keys=True)
            row.ran_at = report.ran_at

    async def recorded(
        self, *, day: date | None = None, bank_code: str | None = None, first: int = 50
    ) -> list[Reconciliation]:
        """Recorded results, newest day first."""
        query = select(Reconciliation).order_by(
            col(Reconciliation.day).desc(), col(Reconciliation.bank_code)
        )
        if day is not None:
            query = query.where(Reconciliation.day == day)
        if bank_code is not None:
            query = query.where(Reconciliation.bank_code == bank_code)
        async with self._db.read() as session:
            return list(await session.exec(query.limit(max(1, min(first, 500)))))


def write_report(report: Report, directory: Path) -> tuple[Path, Path]:
    """``<day>-<bank>.json`` and ``.txt`` in ``directory``; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"{report.day.isoformat()}-{report.bank_code}"
    json_path, text_path = stem.with_suffix(".json"), stem.with_suffix(".txt")
    json_path.write_text(
        json.dumps(report.to_dict(), ensure_ascii=False, indent=2, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    text_path.write_text(report.summary(), encoding="utf-8")
    return json_path, text_path
