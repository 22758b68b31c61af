"""The sandbox banks' own durable ledger: one SQLite file, apart from cardcash's database.

A simulated bank must behave like a real one across restarts and across several cardcash
processes on one machine: a withdrawal submitted before a restart is still there, limits stay
used, and a duplicate request id sent by two processes at once makes one withdrawal. So every
operation runs as one ``BEGIN IMMEDIATE`` transaction (the write lock is taken before reading,
so a check and the insert it guards cannot interleave with another process), and
``(bank_code, request_id)`` is the primary key. Reads may skip the transaction when
:meth:`SandboxStore.version` shows the file unchanged since they last read it (the offer does).

SQLite is reached through the standard library on the event loop's thread: a transaction
is a few statements on a local file, far cheaper than a hand-over to a worker thread. The
loop never waits on the file lock, though: SQLite is told not to wait (``busy_timeout=0``),
and a file another process is writing is tried again after an asynchronous pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from providers.errors import ProviderError
from providers.files import private_file
from providers.types import RepaymentType, WithdrawalState

T = TypeVar("T")

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

#: Changes whenever the file does (see SandboxStore.version).
Version = tuple[int, int]


def _version(connection: sqlite3.Connection) -> Version:
    return connection.execute("PRAGMA data_version").fetchone()[0], connection.total_changes


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

    def get_many(self, request_ids: Sequence[str]) -> list[WithdrawalRow]:
        """The withdrawals with these request ids that exist (in no particular order)."""
        marks = ", ".join("?" for _ in request_ids)
        rows = self._db.execute(
            "SELECT * FROM sandbox_withdrawals WHERE bank_code = ?"  # noqa: S608 - only marks
            f" AND request_id IN ({marks})",
            (self.bank_code, *request_ids),
        ).fetchall()
        return [WithdrawalRow.from_sql(r) for r in rows]

    def card_totals(self, credit_card_ref: str, business_date: str) -> tuple[Decimal, Decimal]:
        """What the card's in-flight and succeeded withdrawals hold of its cash-advance
        limit, and what of that it drew on one Asia/Shanghai day (against the daily cap)."""
        rows = self._db.execute(
            "SELECT amount, business_date FROM sandbox_withdrawals WHERE bank_code = ?"
            " AND credit_card_ref = ? AND state IN (?, ?, ?)",
            (self.bank_code, credit_card_ref, *(s.value for s in HOLDING_STATES)),
        ).fetchall()
        held = drawn = Decimal("0.00")
        for row in rows:
            amount = Decimal(row["amount"])
            held += amount
            if row["business_date"] == business_date:
                drawn += amount
        return held, drawn

    def next_settlement(self) -> float | None:
        """When the earliest processing withdrawal settles (Unix seconds), if any."""
        row = self._db.execute(
            "SELECT min(settle_at) FROM sandbox_withdrawals WHERE bank_code = ? AND state = ?",
            (self.bank_code, WithdrawalState.PROCESSING.value),
        ).fetchone()
        return row[0]

    def version(self) -> Version:
        """What :meth:`SandboxStore.version` answers while nothing else changes the file."""
        return _version(self._db)

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

    def on_day(self, business_date: str) -> list[WithdrawalRow]:
        """The withdrawals of one business day, by request id."""
        rows = self._db.execute(
            "SELECT * FROM sandbox_withdrawals WHERE bank_code = ? AND business_date = ?"
            " ORDER BY request_id",
            (self.bank_code, business_date),
        ).fetchall()
        return [WithdrawalRow.from_sql(r) for r in rows]

    def due(self, now: float) -> list[WithdrawalRow]:
        """Processing withdrawals whose settlement time has come."""
        rows = self._db.execute(
            "SELECT * FROM sandbox_withdrawals WHERE bank_code = ? AND state = ?"
            " AND settle_at <= ? ORDER BY settle_at",
            (self.bank_code, WithdrawalState.PROCESSING.value, now),
        ).fetchall()
        return [WithdrawalRow.from_sql(r) for r in rows]


#: How long a call waits for another process to release the file's write lock.
BUSY_WAIT_SECONDS = 30.0


class _Busy(Exception):
    """The file's write lock is held elsewhere; nothing was done."""


def _is_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return "locked" in str(error) or "busy" in str(error)
    return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


_FILE_LOCKS: dict[Path, threading.Lock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> threading.Lock:
    """The lock the stores of one file in this process hold during each transaction.

    Stores on one event loop never meet on it (a transaction runs without pausing); it keeps
    stores used from other threads (another loop) from interleaving on the file.
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
        # One connection per bank instance; one transaction at a time per file (_file_lock).
        self._lock = _file_lock(path)

    async def run(self, work: Callable[[Ledger], T]) -> T:
        """Run ``work`` in one immediate transaction; commit unless it raises.

        The transaction runs without pausing, so a cancelled call (a guard timeout) either
        never started it or saw it complete: like a real bank, the outcome is then unknown
        to the caller, not undone. While another process holds the file's write lock, the
        call waits (asynchronously) up to :data:`BUSY_WAIT_SECONDS`.
        """
        pause, waited = 0.0005, 0.0
        while True:
            try:
                return self._run(work)
            except _Busy:
                if waited >= BUSY_WAIT_SECONDS:
                    raise sqlite3.OperationalError("database is locked") from None
            await asyncio.sleep(pause)
            waited += pause
            pause = min(pause * 2, 0.02)

    def _run(self, work: Callable[[Ledger], T]) -> T:
        if not self._lock.acquire(blocking=False):
            raise _Busy
        try:
            connection = self._connect()
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if _is_busy(error):
                    raise _Busy from None
                raise
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
        finally:
            self._lock.release()

    def version(self) -> Version | None:
        """A value that stays the same as long as nobody changes the file: neither another
        connection (SQLite's ``data_version``) nor this one (its count of changed rows).
        None when the file cannot be asked right now."""
        if self._connection is None or not self._lock.acquire(blocking=False):
            return None
        try:
            return _version(self._connection)
        except sqlite3.Error:
            return None
        finally:
            self._lock.release()

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the sandbox store is closed")
        if self._connection is None:
            private_file(self.path)  # holds customers' withdrawals: owner-only
            # busy_timeout 0: the lock is waited for in run(), never on the loop. Setting up
            # a new file (WAL, tables) needs the lock too: busy, it is tried again the same way.
            connection = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
            try:
                connection.row_factory = sqlite3.Row
                if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    connection.execute("PRAGMA journal_mode = WAL")
                # WAL with NORMAL survives any crash of the process (what the crash tests
                # do); only a power cut could lose the last commits. Durable enough for a
                # simulator, and it spares an fsync on every call.
                connection.execute("PRAGMA synchronous = NORMAL")
                connection.executescript(_SCHEMA)
            except sqlite3.OperationalError as error:
                connection.close()
                if _is_busy(error):
                    raise _Busy from None
                raise
            self._connection = connection
        return self._connection

    async def aclose(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            self._closed = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None
