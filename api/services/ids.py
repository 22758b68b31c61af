"""Identifiers: a short type prefix and 128 random (or derived) bits, URL-safe.

The prefix makes an id of the wrong kind fail clearly ("that is not a withdrawal id") and
keeps ids from different tables apart in logs.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

PREFIXES = {
    "user": "usr",
    "card": "crd",
    "quote": "qte",
    "withdrawal": "wdr",
    "session": "ses",
}


def _encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=").lower()


def new_id(kind: str) -> str:
    """A fresh random id, e.g. ``new_id("quote") == "qte_…"``."""
    return f"{PREFIXES[kind]}_{_encode(secrets.token_bytes(16))}"


def derived_id(kind: str, *parts: str) -> str:
    """An id that is the same every time for the same parts (for idempotent creation)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()[:16]
    return f"{PREFIXES[kind]}_{_encode(digest)}"


def is_id(kind: str, value: object) -> bool:
    """True when ``value`` has the shape of an id of ``kind``."""
    return (
        isinstance(value, str)
        and value.startswith(PREFIXES[kind] + "_")
        and len(value) == len(PREFIXES[kind]) + 27
        and value[len(PREFIXES[kind]) + 1 :].isalnum()
    )
