"""Status sync: the background loop that asks banks about withdrawals whose outcome is open.

Every replica runs one, with one lane per bank: each lane runs a few passes at once
(``Withdrawals.SYNC_PASSES``), and each pass claims a few of its bank's due withdrawals with
a lease (one conditional update; on PostgreSQL rows another replica is claiming are
skipped), asks the bank about them, within part of the guard's concurrency cap and in one
call where the bank has a batch query, writes the answers in one transaction, and claims
again. Claims are small, so replicas take turns at a backlog. A slow or broken bank holds
up only its own lane. A due withdrawal is synced by exactly one replica, and one that
dies mid-job lets another take over when the lease ends. Everything it needs is in the
database, so it resumes after a restart from where the last process left off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from api.services.withdrawals import Withdrawals

log = logging.getLogger("cardcash.status_sync")

#: The longest pause between two passes after failures in a row (a database that is gone).
MAX_PAUSE = 10.0


class StatusSync:
    """Keeps every bank's due withdrawals synced; ``interval``: the pause when none are due;
    ``passes``: how many each bank's lane runs at once."""

    def __init__(
        self,
        withdrawals: Withdrawals,
        banks: list[str],
        *,
        interval: float = 0.5,
        passes: int = Withdrawals.SYNC_PASSES,
    ):
        self._withdrawals = withdrawals
        self._passes = passes
        self._banks = banks
        self._interval = interval
        self._tasks: list[asyncio.Task] = []
        self._stopping = asyncio.Event()

    def start(self) -> None:
        if not self._tasks:
            self._stopping.clear()
            self._tasks = [
                asyncio.create_task(self._lane(code), name=f"cardcash-status-sync-{code}")
                for code in self._banks
            ]

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the passes in hand, then stop (their leases cover anything cut short)."""
        if not self._tasks:
            return
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _lane(self, bank_code: str) -> None:
        failures = 0
        while not self._stopping.is_set():
            results = await asyncio.gather(*(self._drain(bank_code) for _ in range(self._passes)))
            errors = [error for error in results if error is not None]
            if not errors:
                failures = 0
            else:  # the lane must outlive a database blip or a bug in one row
                failures += 1
                exc = errors[0]
                if failures == 1:
                    log.error(
                        "status sync pass for %s failed; retrying",
                        bank_code,
                        exc_info=(type(exc), exc, exc.__traceback__),
                    )
                else:  # one traceback per outage is enough; a line per retry says it goes on
                    log.warning(
                        "status sync pass for %s failed again (%d in a row: %s); retrying in %.1f s",
                        bank_code, failures, type(exc).__name__, self._pause(failures),
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._pause(failures))

    async def _drain(self, bank_code: str) -> Exception | None:
        """Passes one after another while they find due withdrawals; the error that ended
        them, if one did."""
        try:
            while not self._stopping.is_set() and await self._withdrawals.sync_due(
                bank_code=bank_code
            ):
                pass
        except Exception as exc:  # noqa: BLE001 - reported by the lane, once per streak
            return exc
        return None

    def _pause(self, failures: int) -> float:
        """The interval; after failures in a row, doubled for each, up to :data:`MAX_PAUSE`."""
        if not failures:
            return self._interval
        return min(self._interval * 2**failures, max(self._interval, MAX_PAUSE))
