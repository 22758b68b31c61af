"""Rate limits on sign-in, quotes and money-moving requests, per user and per client address.

Counted by the ``limits`` library (a moving window per key) in a store named by
``CARDCASH_RATE_LIMIT_STORAGE``: ``memory://`` (the default) keeps the counts in this process,
so each replica limits what reaches it (replicas × limit in all); ``redis://host:port/db``
keeps them in Redis, shared by every replica, so the documented limit holds for the whole
service. Answers RATE_LIMITED with the seconds to wait.

When the shared store cannot be reached, a request is counted in this process instead (and
the outage logged): limits stay in force, per replica, rather than failing every sign-in and
withdrawal, or none.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from api.services.errors import DomainError, ErrorCode

log = logging.getLogger("cardcash.limits")
#: Keys of cardcash in a shared store, apart from anything else kept there.
NAMESPACE = "cardcash"
#: How often a store outage is logged at most.
_OUTAGE_LOG_SECONDS = 30.0


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: float

    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.count, max(1, round(self.seconds)), namespace=NAMESPACE)


def storage_for(url: str) -> Storage:
    """The async store a ``CARDCASH_RATE_LIMIT_STORAGE`` URL names (``memory://``,
    ``redis://…``, ``rediss://…``, ``redis+sentinel://…``)."""
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        return MemoryStorage()
    if scheme not in ("redis", "rediss", "redis+sentinel", "redis+cluster"):
        raise ValueError(f"unknown rate limit storage {url!r}: memory:// or redis://…")
    # redis-py's asyncio client, the same library as the synchronous one.
    return storage_from_string(f"async+{url}", implementation="redispy")


class RateLimits:
    """The service's limits, counted in ``storage`` (see the module doc)."""

    def __init__(
        self,
        *,
        login: Limit,
        money_per_user: Limit,
        per_address: Limit,
        quote_per_user: Limit,
        storage: str = "memory://",
    ) -> None:
        self._login = login.item()
        self._money = money_per_user.item()
        self._address = per_address.item()
        self._quote = quote_per_user.item()
        self.storage_url = storage
        self._shared = MovingWindowRateLimiter(storage_for(storage))
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._outage_logged = 0.0

    @property
    def shared(self) -> bool:
        """Whether the counts are shared by the replicas."""
        return not self.storage_url.startswith("memory://")

    async def ping(self) -> bool:
        """Whether the store answers."""
        try:
            return bool(await self._shared.storage.check())
        except Exception:  # noqa: BLE001 - any failure means unreachable
            return False

    async def check_login(self, address: str | None) -> None:
        await self._check(self._login, "login", str(address))

    async def check_money(self, user_id: str, address: str | None) -> None:
        await self._check(self._money, "user", user_id)
        await self._check(self._address, "addr", str(address))

    async def check_quote(self, user_id: str, address: str | None) -> None:
        """A trial calculation writes a quote and asks the bank: limited per user, and with
        the money-moving requests per address."""
        await self._check(self._quote, "quote", user_id)
        await self._check(self._address, "addr", str(address))

    async def _check(self, item: RateLimitItem, *key: str) -> None:
        limiter = self._shared
        try:
            allowed = await limiter.hit(item, *key)
        except Exception as error:  # noqa: BLE001 - the store is down: count here instead
            self._outage(error)
            limiter = self._local
            allowed = await limiter.hit(item, *key)
        if allowed:
            return
        try:
            stats = await limiter.get_window_stats(item, *key)
            wait = max(stats.reset_time - time.time(), 0.0)
        except Exception:  # noqa: BLE001 - the refusal stands; the wait is an estimate
            wait = float(item.get_expiry())
        raise DomainError(ErrorCode.RATE_LIMITED, retry_after=max(wait, 1.0))

    def _outage(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._outage_logged >= _OUTAGE_LOG_SECONDS:
            self._outage_logged = now
            log.error(
                "rate limit storage unreachable (%s); counting in this process meanwhile",
                type(error).__name__,
            )
