"""Typed errors of the domain. The GraphQL layer turns each into an error member of a result
union, so clients can enumerate every failure from the schema."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from api import messages

log = logging.getLogger("cardcash.errors")


class ErrorCode(StrEnum):
    """Every reason a request can be refused. Values are stable: clients branch on them."""

    VALIDATION = "VALIDATION"
    RATE_LIMITED = "RATE_LIMITED"
    # sign-in
    INVALID_CODE = "INVALID_CODE"
    CODE_ALREADY_USED = "CODE_ALREADY_USED"
    CHANNEL_BUSY = "CHANNEL_BUSY"
    CHANNEL_UNAVAILABLE = "CHANNEL_UNAVAILABLE"
    CHANNEL_ERROR = "CHANNEL_ERROR"
    USER_REJECTED = "USER_REJECTED"
    SANDBOX_DISABLED = "SANDBOX_DISABLED"
    # banks and cards
    BANK_NOT_FOUND = "BANK_NOT_FOUND"
    BANK_NOT_AVAILABLE = "BANK_NOT_AVAILABLE"
    BANK_UNAVAILABLE = "BANK_UNAVAILABLE"
    BANK_DECLINED = "BANK_DECLINED"
    CARD_NOT_FOUND = "CARD_NOT_FOUND"
    CARD_NOT_OWNED = "CARD_NOT_OWNED"
    CARD_NOT_ELIGIBLE = "CARD_NOT_ELIGIBLE"
    CARD_BUSY = "CARD_BUSY"
    # amounts and pricing
    AMOUNT_OUT_OF_RANGE = "AMOUNT_OUT_OF_RANGE"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    DAILY_LIMIT_EXCEEDED = "DAILY_LIMIT_EXCEEDED"
    PERSON_DAILY_CAP_EXCEEDED = "PERSON_DAILY_CAP_EXCEEDED"
    UNSUPPORTED_TENOR = "UNSUPPORTED_TENOR"
    # quotes and withdrawals
    QUOTE_NOT_FOUND = "QUOTE_NOT_FOUND"
    QUOTE_EXPIRED = "QUOTE_EXPIRED"
    QUOTE_ALREADY_USED = "QUOTE_ALREADY_USED"
    DISCLOSURE_NOT_ACCEPTED = "DISCLOSURE_NOT_ACCEPTED"
    DATA_SHARING_NOT_ACCEPTED = "DATA_SHARING_NOT_ACCEPTED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    WITHDRAWAL_NOT_FOUND = "WITHDRAWAL_NOT_FOUND"
    VERIFICATION_FAILED = "VERIFICATION_FAILED"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    INVALID_STATE = "INVALID_STATE"


class DomainError(Exception):
    """A refusal the user can understand and act on.

    ``reason`` picks the user's message in the catalogs (:mod:`api.messages`): the entry
    ``<CODE>.<reason>``, or the code's own ``<CODE>`` without one. ``details`` fill the
    message's placeholders and carry what the client needs to act: ``field`` for validation,
    ``retry_after`` seconds, ``attempts_left``, ``current_status``, ``bank_code``.
    """

    def __init__(self, code: ErrorCode, reason: str | None = None, /, **details: Any) -> None:
        self.code = code
        self.key = f"{code.value}.{reason}" if reason else code.value
        self.details = details
        super().__init__(f"{code.value}: {self.message}")

    def text(self, language: str = messages.DEFAULT_LANGUAGE) -> str:
        """The message to show the user, in ``language``."""
        key = self.key
        if not messages.has(key):
            log.warning("no message %r in the catalogs; showing %s's", key, self.code.value)
            key = self.code.value
        try:
            return messages.text(key, language, **self.details)
        except KeyError as missing:
            log.warning("message %r lacks %s; showing %s's", key, missing, self.code.value)
            return messages.text(self.code.value, language)

    @property
    def message(self) -> str:
        """The message in English, for logs and operators' answers."""
        return self.text("en")
