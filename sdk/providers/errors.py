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


class DeclineReason(StrEnum):
    """Why a bank said no, from a closed set: cardcash shows each with a message and a next
    step in the user's language. A bank's own words go to operators only.

    Optional everywhere: a refusal or failure without one counts as :attr:`OTHER`.
    """

    RISK_CONTROL = "RISK_CONTROL"
    """The bank's risk control or credit review refused."""
    CARD_STATUS = "CARD_STATUS"
    """The credit card cannot be used now (frozen, overdue, lost, not activated)."""
    CREDIT_LIMIT = "CREDIT_LIMIT"
    """Not enough cash-advance limit left."""
    DEBIT_CARD = "DEBIT_CARD"
    """The payout to the debit card failed (account frozen, closed, or refused by its bank)."""
    IDENTITY_MISMATCH = "IDENTITY_MISMATCH"
    """The holder's identity could not be matched (debit card, name or ID not the holder's)."""
    DAILY_CAP = "DAILY_CAP"
    """Today's cap on cash advances is reached."""
    BANK_UNAVAILABLE = "BANK_UNAVAILABLE"
    """The bank's systems could not complete it (maintenance, outage)."""
    TERMS_CHANGED = "TERMS_CHANGED"
    """The terms sent are not the ones the bank would book now (a new day has begun since
    the quote, or the pricing changed): the holder needs a new quote (SDK 1.2)."""
    OTHER = "OTHER"
    """Any other reason, or none given."""


#: The reason a refusal with each code stands for, when the bank names none.
DEFAULT_DECLINE_REASONS = {
    "LIMIT_EXCEEDED": DeclineReason.CREDIT_LIMIT,
    "DAILY_LIMIT_EXCEEDED": DeclineReason.DAILY_CAP,
    "CARD_NOT_ELIGIBLE": DeclineReason.CARD_STATUS,
    "NOT_SAME_HOLDER": DeclineReason.IDENTITY_MISMATCH,
    "TIMEOUT": DeclineReason.BANK_UNAVAILABLE,
    "UNAVAILABLE": DeclineReason.BANK_UNAVAILABLE,
}


#: Codes after which the same call may succeed later without any change by the user.
RETRYABLE_CODES = frozenset({ProviderErrorCode.TIMEOUT, ProviderErrorCode.UNAVAILABLE})


class ProviderError(Exception):
    """A failure reported by (or on behalf of) a bank provider.

    Example::

        raise ProviderError(ProviderErrorCode.LIMIT_EXCEEDED, "available limit is 3000.00")
        raise ProviderError(ProviderErrorCode.DECLINED, "rule R17 hit",
                            decline_reason=DeclineReason.RISK_CONTROL)

    ``message`` is the bank's own text: operators see it (scrubbed of card numbers, cut to a
    bounded length), users never do. ``decline_reason`` picks what users read; without one
    it follows from the code (``LIMIT_EXCEEDED`` → ``CREDIT_LIMIT``...), else ``OTHER``.
    """

    def __init__(
        self,
        code: ProviderErrorCode,
        message: str = "",
        *,
        decline_reason: DeclineReason | None = None,
    ) -> None:
        self.code = ProviderErrorCode(code)
        self.message = message or self.code.value.replace("_", " ").lower()
        if decline_reason is not None:
            decline_reason = DeclineReason(decline_reason)
        self.decline_reason = decline_reason or DEFAULT_DECLINE_REASONS.get(
            self.code.value, DeclineReason.OTHER
        )
        super().__init__(f"{self.code.value}: {self.message}")

    @property
    def retryable(self) -> bool:
        """True when retrying the same call later may succeed."""
        return self.code in RETRYABLE_CODES
