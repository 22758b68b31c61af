"""Rate limits on sign-in and money-moving requests, per user and per client address.

A sliding window per key, kept in this process: each replica limits what reaches it, which
bounds the total at replicas × limit. Answers RATE_LIMITED with the seconds to wait.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from api.services.errors import DomainError, ErrorCode


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: float


class SlidingWindow:
    def __init__(self, limit: Limit, clock=time.monotonic, max_keys: int = 100_000) -> None:
        self._limit = limit
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    def hit(self, key: str) -> float | None:
        """Count a request; None when allowed, else the seconds until it would be."""
        now = self._clock()
        window = self._hits.get(key)
        if window is None:
            if len(self._hits) >= self._max_keys:
                self._evict(now)
            window = self._hits[key] = deque()
        while window and window[0] <= now - self._limit.seconds:
            window.popleft()
        if len(window) >= self._limit.count:
            return window[0] + self._limit.seconds - now
        window.append(now)
        return None

    def _evict(self, now: float) -> None:
        for key in [
            k for k, w in self._hits.items() if not w or w[-1] <= now - self._limit.seconds
        ]:
            del self._hits[key]
        if len(self._hits) >= self._max_keys:  # all busy: drop the oldest half
            for key in list(self._hits)[: self._max_keys // 2]:
                del self._hits[key]


class RateLimits:
    def __init__(self, *, login: Limit, money_per_user: Limit, per_address: Limit) -> None:
        self._login = SlidingWindow(login)
        self._money = SlidingWindow(money_per_user)
        self._address = SlidingWindow(per_address)

    async def check_login(self, address: str | None) -> None:
        self._check(self._login, f"login:{address}")

    async def check_money(self, user_id: str, address: str | None) -> None:
        self._check(self._money, f"user:{user_id}")
        self._check(self._address, f"addr:{address}")

    @staticmethod
    def _check(window: SlidingWindow, key: str) -> None:
        wait = window.hit(key)
        if wait is not None:
            raise DomainError(
                ErrorCode.RATE_LIMITED,
                retry_after=wait,
            )
