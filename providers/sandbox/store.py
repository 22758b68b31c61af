"""The sandbox banks' own durable ledger: one SQLite file, apart from cardcash's database.

A simulated bank must behave like a real one across restarts and across several cardcash
processes on one machine: a withdrawal submitted before a restart is still there, limits stay
used, and a duplicate request id sent by two processes at once makes one withdrawal. So every
operation runs as one ``BEGIN IMMEDIATE`` transaction (the write lock is taken before reading,
so a check and the insert it guards cannot interleave with another process), and
``(bank_code, request_id)`` is the primary key.

SQLite is reached through the standard library in a worker thread (``asyncio.to_thread``) so
the event loop never blocks on the file lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from providers.errors import ProviderError
from providers.types import RepaymentType, WithdrawalState

T = TypeVar("T")
_SETUP_ATTEMPTS = 5

#: The file, under the provider's data directory, shared by all sandbox banks.
FILE_NAME = "sandbox-banks.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sandbox_withdrawals (
    bank_code        TEXT    NOT NULL,
    request_id       TEXT    NOT NULL,
    bank_reference   TEXT    NOT NULL UNIQUE,
    fingerprint      TEXT    NOT NULL,
    customer_key     TEXT    NOT NULL,
    credit_card_ref  TEXT    NOT NULL,
    debit_card_ref   TEXT    NOT NULL,
    amount           TEXT    NOT NULL,  -- decimal string: never a float
    currency         TEXT    NOT NULL,
    repayment_type   TEXT    NOT NULL,
    periods          INTEGER NOT NULL,
    state            TEXT    NOT NULL,
    failure_reason   TEXT,
    business_date    TEXT    NOT NULL,  -- Asia/Shanghai day the daily cap counts it on
    created_at       REAL    NOT NULL,  -- Unix seconds
    updated_at       REAL    NOT NULL,
    settle_at        REAL,              -- when PROCESSING becomes final
    planned_failure  TEXT,              -- the failure reason decided at submission, if any
    wrong_codes      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bank_code, request_id)
);
CREATE INDEX IF NOT EXISTS sandbox_withdrawals_card
    ON sandbox_withdrawals (bank_code, credit_card_ref, state);
CREATE INDEX IF NOT EXISTS sandbox_withdrawals_due
    ON sandbox_withdrawals (bank_code, state, settle_at);
"""

#: States that hold part of the cash-advance limit (in flight or lent).
HOLDING_STATES = (
    WithdrawalState.VERIFICATION_REQUIRED,
    WithdrawalState.PROCESSING,
    WithdrawalState.SUCCEEDED,
)


@dataclass(frozen=True)
class WithdrawalRow:
    """One withdrawal as the sandbox bank records it."""

    bank_code: str
    request_id: str
    bank_reference: str
    fingerprint: str
    customer_key: str
    credit_card_ref: str
    debit_card_ref: str
    amount: Decimal
    currency: str
    repayment_type: RepaymentType
    periods: int
    state: WithdrawalState
    failure_reason: str | None
    business_date: str
    created_at: float
    updated_at: float
    settle_at: float | None
    planned_failure: str | None
    wrong_codes: int

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> WithdrawalRow:
        """Decode a database row."""
        values = dict(row)
        values["amount"] = Decimal(values["amount"])
        values["repayment_type"] = RepaymentType(values["repayment_type"])
        values["state"] = WithdrawalState(values["state"])
        return cls(**values)

    def to_sql(self) -> dict[str, Any]:
        """Encode for the database."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["amount"] = str(self.amount)
        values["repayment_type"] = self.repayment_type.value
        values["state"] = self.state.value
        return values


class CommitThenRaise(Exception):  # noqa: N818 - a control-flow signal, not an error kind
    """Raised by a unit of work to keep its changes and still fail the call.

    A wrong verification code must count even though the call fails.
    """

    def __init__(self, error: ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


class Ledger:
    """Queries on one bank's withdrawals, inside the current transaction."""

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo what the block wrote if it raises (but for :class:`CommitThenRaise`), keeping the
        rest of the transaction."""
        self._db.execute("SAVEPOINT unit")
        try:
            yield
        except CommitThenRaise:
            self._db.execute("RELEASE unit")  # kept: the work asked for its changes to stay
            raise
        except BaseException:
            self._db.execute("ROLLBACK TO unit")
            self._db.execute("RELEASE unit")
            raise
        self._db.execute("RELEASE unit")

    def __init__(self, connection: sqlite3.Connection, bank_code: str) -> None:
        self._db = connection
        self.bank_code = bank_code

    def get(self, request_id: str) -> WithdrawalRow | None:
        """The withdrawal with this request id, or None."""
        row = self._db.execute(
            "SELECT * FROM sandbox_withdrawals WHERE bank_code = ? AND request_id = ?",
            (self.bank_code, request_id),
        ).fetchone()
        return WithdrawalRow.from_sql(row) if row else None

    def held_on_card(self, credit_card_ref: str) -> Decimal:
        """What the card's in-flight and succeeded withdrawals hold of its cash-advance limit."""
        return self._sum(
            "credit_card_ref = ? AND state IN (?, ?, ?)",
            (credit_card_ref, *(s.value for s in HOLDING_STATES)),
        )

    def drawn_on_day(self, credit_card_ref: str, business_date: str) -> Decimal:
        """What the card drew (or holds in flight) on one Asia/Shanghai day."""
        return self._sum(
            "credit_card_ref = ? AND business_date = ? AND state IN (?, ?, ?)",
            (credit_card_ref, business_date, *(s.value for s in HOLDING_STATES)),
        )

    def _sum(self, where: str, params: tuple[Any, ...]) -> Decimal:
        # Summed in Python: SQLite's SUM would turn the decimal strings into floats.
        rows = self._db.execute(
            f"SELECT amount FROM sandbox_withdrawals WHERE bank_code = ? AND {where}",  # noqa: S608 - fixed clauses only
            (self.bank_code, *params),
        ).fetchall()
        return sum((Decimal(r["amount"]) for r in rows), Decimal("0.00"))

    def insert(self, row: WithdrawalRow) -> None:
        """Record a new withdrawal."""
        values = row.to_sql()
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self._db.execute(
            f"INSERT INTO sandbox_withdrawals ({columns}) VALUES ({marks})",  # noqa: S608 - column names are ours
            tuple(values.values()),
        )

    def update(self, row: WithdrawalRow) -> None:
        """Save the mutable fields of a withdrawal."""
        self._db.execute(
            "UPDATE sandbox_withdrawals SET state = ?, failure_reason = ?, updated_at = ?,"
            " settle_at = ?, wrong_codes = ? WHERE bank_code = ? AND request_id = ?",
            (
                row.state.value,
                row.failure_reason,
                row.updated_at,
                row.settle_at,
                row.wrong_codes,
                self.bank_code,
                row.request_id,
            ),
        )

    def due(self, now: float) -> list[WithdrawalRow]:
        """Processing withdrawals whose settlement time has come."""
        rows = self._db.execute(
            "SELECT * FROM sandbox_withdrawals WHERE bank_code = ? AND state = ?"
            " AND settle_at <= ? ORDER BY settle_at",
            (self.bank_code, WithdrawalState.PROCESSING.value, now),
        ).fetchall()
        return [WithdrawalRow.from_sql(r) for r in rows]


_FILE_LOCKS: dict[Path, threading.Lock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> threading.Lock:
    """The lock the stores of one file in this process take around each transaction.

    SQLite lets one writer in at a time anyway. Left to SQLite, the banks of one process
    would wait for each other in its busy handler, which sleeps 1, 2, 5, 10 ms and more
    between tries: under load the banks' calls then cost tens of milliseconds of sleep.
    Queued on a lock here they take turns at once. Other processes still wait in SQLite.
    """
    key = path.resolve()
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(key, threading.Lock())


class SandboxStore:
    """The SQLite file of the sandbox banks, used by one bank.

    Example::

        store = SandboxStore(data_dir / FILE_NAME, "CEB")
        row = await store.run(lambda ledger: ledger.get("w-1"))
        await store.aclose()
    """

    def __init__(self, path: Path, bank_code: str) -> None:
        self.path = path
        self.bank_code = bank_code
        self._connection: sqlite3.Connection | None = None
        self._closed = False
        # One connection per bank instance, used by one worker thread at a time; and one
        # transaction at a time per file in this process (see _file_lock).
        self._lock = _file_lock(path)

    async def run(self, work: Callable[[Ledger], T]) -> T:
        """Run ``work`` in one immediate transaction in a worker thread; commit unless it raises.

        If the awaiting call is cancelled (a guard timeout), the transaction still completes:
        like a real bank, the outcome is then unknown to the caller, not undone.
        """
        return await asyncio.to_thread(self._run, work)

    def _run(self, work: Callable[[Ledger], T]) -> T:
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(Ledger(connection, self.bank_code))
            except CommitThenRaise as signal:
                connection.execute("COMMIT")
                raise signal.error from None
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return result

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the sandbox store is closed")
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Switching a new file to WAL needs a moment alone with it; when several processes
            # open it at once, one may be told "locked" despite the busy timeout: retry.
            for attempt in range(_SETUP_ATTEMPTS):
                connection = sqlite3.connect(
                    self.path, timeout=30, isolation_level=None, check_same_thread=False
                )
                try:
                    connection.row_factory = sqlite3.Row
                    connection.execute("PRAGMA busy_timeout = 30000")
                    connection.execute("PRAGMA journal_mode = WAL")
                    # WAL with NORMAL survives any crash of the process (what the crash tests
                    # do); only a power cut could lose the last commits. Durable enough for a
                    # simulator, and it spares an fsync on every call.
                    connection.execute("PRAGMA synchronous = NORMAL")
                    connection.executescript(_SCHEMA)
                except sqlite3.OperationalError:
                    connection.close()
                    if attempt == _SETUP_ATTEMPTS - 1:
                        raise
                    time.sleep(0.05 * (attempt + 1))
                    continue
                self._connection = connection
                break
        assert self._connection is not None
        return self._connection

    async def aclose(self) -> None:
        """Close the file (idempotent)."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            self._closed = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None
