"""Withdrawal status changes, delivered to whoever watches them (subscriptions).

In one process a change is handed straight to the waiting queues. With several replicas on
PostgreSQL, :class:`PostgresChangeFeed` also sends each change through ``NOTIFY`` so that a
subscriber connected to any replica hears about changes made on any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator

log = logging.getLogger("cardcash.events")


class ChangeFeed:
    """Tells subscribers which withdrawal changed; they read its new state themselves."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)

    async def publish(self, withdrawal_id: str) -> None:
        self.deliver(withdrawal_id)

    def deliver(self, withdrawal_id: str) -> None:
        for queue in list(self._queues.get(withdrawal_id, ())):
            queue.put_nowait(withdrawal_id)

    @contextlib.contextmanager
    def listen(self, withdrawal_id: str) -> Iterator[asyncio.Queue[str]]:
        """A queue that receives the withdrawal's id each time it changes, from now on.

        Listen before reading the current state, so no change falls between the two.
        """
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._queues[withdrawal_id].add(queue)
        try:
            yield queue
        finally:
            self._queues[withdrawal_id].discard(queue)
            if not self._queues[withdrawal_id]:
                del self._queues[withdrawal_id]

    @property
    def watchers(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def start(self) -> None:
        """Begin receiving changes from other replicas (none in one process)."""

    async def stop(self) -> None:
        """Stop receiving."""
