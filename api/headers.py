"""Reading HTTP headers that list weighted values (``Accept``, ``Accept-Language``)."""

from __future__ import annotations

from collections.abc import Iterator


def weighted(header: str, most: int | None = None) -> Iterator[tuple[str, float]]:
    """``(value, q)`` for each comma-separated entry of ``header``, the value lower-cased and
    ``q`` 1.0 unless given (0.0 when it is not a number); at most ``most`` entries."""
    for part in header.split(",")[:most]:
        value, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, number = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(number)
                except ValueError:
                    q = 0.0
        yield value.lower(), q
