"""The closed set of errors a bank provider may raise."""

from __future__ import annotations

from enum import StrEnum


class ProviderErrorCode(StrEnum):
    """Why a bank refused or could not answer. cardcash maps each to a user-facing error."""

    DECLINED = "DECLINED"
    """The bank's risk control or credit review refused the request."""
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    """The amount is above the available cash-advance limit."""
    DAILY_LIMIT_EXCEEDED = "DAILY_LIMIT_EXCEEDED"
    """The amount is above what is left of the card's daily cap."""
    AMOUNT_OUT_OF_RANGE = "AMOUNT_OUT_OF_RANGE"
    """The amount is below the minimum or above the maximum per withdrawal."""
    UNSUPPORTED_TENOR = "UNSUPPORTED_TENOR"
    """The bank does not offer this repayment type or number of periods."""
    CARD_NOT_FOUND = "CARD_NOT_FOUND"
    """The bank does not know this card for this customer."""
    CARD_NOT_ELIGIBLE = "CARD_NOT_ELIGIBLE"
    """The card exists but cannot take a cash advance (frozen, overdue, wrong product)."""
    NOT_SAME_HOLDER = "NOT_SAME_HOLDER"
    """The debit card does not belong to the holder of the credit card."""
    VERIFICATION_FAILED = "VERIFICATION_FAILED"
    """The verification code is wrong."""
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    """Too many wrong verification codes: the withdrawal has been failed by the bank."""
    UNKNOWN_WITHDRAWAL = "UNKNOWN_WITHDRAWAL"
    """The bank has no withdrawal with this request id."""
    INVALID_STATE = "INVALID_STATE"
    """The withdrawal is not in a state that allows this call."""
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    """A callback's signature does not verify."""
    INVALID_RESPONSE = "INVALID_RESPONSE"
    """The bank answered something that breaks the SDK's contract (wrong type, wrong amount)."""
    TIMEOUT = "TIMEOUT"
    """The bank did not answer in time. For a withdrawal the outcome is unknown."""
    UNAVAILABLE = "UNAVAILABLE"
    """The bank is down, in maintenance, or its circuit breaker is open."""


#: Codes after which the same call may succeed later without any change by the user.
RETRYABLE_CODES = frozenset({ProviderErrorCode.TIMEOUT, ProviderErrorCode.UNAVAILABLE})


class ProviderError(Exception):
    """A failure reported by (or on behalf of) a bank provider.

    Example::

        raise ProviderError(ProviderErrorCode.LIMIT_EXCEEDED, "available limit is 3000.00")

    ``message`` is shown to users: never put a card number or personal data in it.
    """

    def __init__(self, code: ProviderErrorCode, message: str = "") -> None:
        self.code = ProviderErrorCode(code)
        self.message = message or self.code.value.replace("_", " ").lower()
        super().__init__(f"{self.code.value}: {self.message}")

    @property
    def retryable(self) -> bool:
        """True when retrying the same call later may succeed."""
        return self.code in RETRYABLE_CODES
