"""A short-lived cache of anonymous query results.

Without a session token, every field of the schema resolves from the bank catalog alone (the
viewer, offers and withdrawals are null or refused), and the catalog is itself cached for
``ttl`` seconds per process. So a query answered without a token is the same answer for
everyone until the catalog cache turns over: the service collection page, read by every
visitor, is computed once per ``ttl`` instead of once per request. An answer without errors
is also serialized once: it is served as an ``orjson.Fragment`` of its JSON bytes.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from cachetools import TTLCache


class AnonymousResults:
    def __init__(
        self,
        *,
        ttl: float,
        generation=lambda: 0,
        max_entries: int = 256,
        clock=time.monotonic,
    ) -> None:
        """``generation`` changes whenever the catalog is reloaded on purpose; results
        computed before that are not served after it."""
        self._generation = generation
        # Least recently used entries go first when full; every entry expires ``ttl`` seconds
        # after it was put.
        self._entries: TTLCache[tuple, tuple[int, Any]] | None = (
            TTLCache(max_entries, ttl, timer=clock) if ttl > 0 else None
        )

    @staticmethod
    def key(
        document: str, operation: str | None, variables: dict | None, media: str, language: str
    ) -> tuple:
        """``language``: the catalog of the answer's messages (see :mod:`api.messages`)."""
        encoded = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS) if variables else b"{}"
        return (document, operation, encoded, media, language)

    def get(self, key: tuple) -> dict[str, Any] | orjson.Fragment | None:
        """The kept answer: a dict when it has errors (each request stamps its own id on
        them), else its JSON as a fragment."""
        if self._entries is None or (entry := self._entries.get(key)) is None:
            return None
        if entry[0] != self._generation():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: tuple, body: dict[str, Any]) -> None:
        if self._entries is not None:
            kept = body if "errors" in body else orjson.Fragment(orjson.dumps(body))
            self._entries[key] = (self._generation(), kept)
