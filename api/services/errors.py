"""Typed errors of the domain. The GraphQL layer turns each into an error member of a result
union, so clients can enumerate every failure from the schema."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


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
    UNSUPPORTED_TENOR = "UNSUPPORTED_TENOR"
    # quotes and withdrawals
    QUOTE_NOT_FOUND = "QUOTE_NOT_FOUND"
    QUOTE_EXPIRED = "QUOTE_EXPIRED"
    QUOTE_ALREADY_USED = "QUOTE_ALREADY_USED"
    DISCLOSURE_NOT_ACCEPTED = "DISCLOSURE_NOT_ACCEPTED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    WITHDRAWAL_NOT_FOUND = "WITHDRAWAL_NOT_FOUND"
    VERIFICATION_FAILED = "VERIFICATION_FAILED"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    INVALID_STATE = "INVALID_STATE"


class DomainError(Exception):
    """A refusal the user can understand and act on.

    ``details`` carry what the client needs to act: ``field`` for validation, ``retry_after``
    seconds, ``attempts_left``, ``current_status``, ``bank_code``.
    """

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.details = details
