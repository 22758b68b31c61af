"""A bounded least-recently-used map, for records that never change once written."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """Keeps the ``size`` most recently used entries.

    Example::

        cache = LRU[str, int](2)
        cache.put("a", 1)
        cache.get("a") == 1
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> V:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return value

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def values(self) -> list[V]:
        """The entries' values, least recently used first."""
        return list(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)
