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
from collections import OrderedDict
from typing import Any

import orjson


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
        self._ttl = ttl
        self._generation = generation
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple, tuple[float, int, Any]] = OrderedDict()

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
        if self._ttl <= 0:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() - entry[0] >= self._ttl or entry[1] != self._generation():
            del self._entries[key]
            return None
        return entry[2]

    def put(self, key: tuple, body: dict[str, Any]) -> None:
        if self._ttl <= 0:
            return
        kept = body if "errors" in body else orjson.Fragment(orjson.dumps(body))
        self._entries[key] = (self._clock(), self._generation(), kept)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
