"""Status sync: the background loop that asks banks about withdrawals whose outcome is open.

Every replica runs one. Work is claimed row by row with a lease (a conditional update), so a
due withdrawal is synced by exactly one replica, and one that dies mid-job lets another take
over when the lease ends. Everything it needs is in the database, so it resumes after a
restart from where the last process left off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from api.services.withdrawals import Withdrawals

log = logging.getLogger("cardcash.status_sync")


class StatusSync:
    def __init__(self, withdrawals: Withdrawals, *, interval: float = 0.5, batch: int = 20) -> None:
        self._withdrawals = withdrawals
        self._interval = interval
        self._batch = batch
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self.runs = 0

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="cardcash-status-sync")

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the withdrawal in hand, then stop (its lease covers anything cut short)."""
        if self._task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                while await self._withdrawals.sync_due(self._batch) and not self._stopping.is_set():
                    pass
                self.runs += 1
            except Exception:  # the loop must outlive a database blip or a bug in one row
                log.exception("status sync pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
