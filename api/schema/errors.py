"""The error members of result unions (one per kind of refusal), the stable codes they carry,
and how a domain error becomes one of them."""

from __future__ import annotations

import dataclasses
import math
from enum import Enum

import strawberry

from api import messages
from api.observability import note_error_result
from api.schema.money import Money
from api.services.errors import DomainError


@strawberry.enum(description="Why a request was refused. Stable values: clients branch on them.")
class ErrorCode(Enum):
    VALIDATION = strawberry.enum_value(
        "VALIDATION", description="An input is malformed or out of bounds; `field` names it."
    )
    RATE_LIMITED = strawberry.enum_value(
        "RATE_LIMITED", description="Too many attempts; wait `retryAfterSeconds`."
    )
    INVALID_CODE = strawberry.enum_value(
        "INVALID_CODE",
        description="The login code is malformed, unknown, expired or for another app or channel.",
    )
    CODE_ALREADY_USED = strawberry.enum_value(
        "CODE_ALREADY_USED", description="The login code was already used; get a new one."
    )
    CHANNEL_BUSY = strawberry.enum_value(
        "CHANNEL_BUSY", description="The channel is busy; retry shortly with a new code."
    )
    CHANNEL_UNAVAILABLE = strawberry.enum_value(
        "CHANNEL_UNAVAILABLE", description="The channel did not answer; retry later."
    )
    CHANNEL_ERROR = strawberry.enum_value(
        "CHANNEL_ERROR",
        description="The channel's answer could not be used; retrying will not help.",
    )
    USER_REJECTED = strawberry.enum_value(
        "USER_REJECTED", description="The channel refuses this account."
    )
    SANDBOX_DISABLED = strawberry.enum_value(
        "SANDBOX_DISABLED", description="Sandbox sign-in is off on this server."
    )
    BANK_NOT_FOUND = strawberry.enum_value(
        "BANK_NOT_FOUND", description="No bank with this code is listed on the user's channel."
    )
    BANK_NOT_AVAILABLE = strawberry.enum_value(
        "BANK_NOT_AVAILABLE",
        description="The bank is listed but cannot be used yet on this channel (onboarding).",
    )
    BANK_UNAVAILABLE = strawberry.enum_value(
        "BANK_UNAVAILABLE", description="The bank's systems did not answer; retry later."
    )
    BANK_DECLINED = strawberry.enum_value(
        "BANK_DECLINED", description="The bank refused the request."
    )
    CARD_NOT_FOUND = strawberry.enum_value(
        "CARD_NOT_FOUND", description="No card of the viewer's has this id."
    )
    CARD_NOT_OWNED = strawberry.enum_value(
        "CARD_NOT_OWNED",
        description="The bank says the debit card does not belong to the credit card's holder.",
    )
    CARD_NOT_ELIGIBLE = strawberry.enum_value(
        "CARD_NOT_ELIGIBLE", description="The card cannot take a cash advance now."
    )
    CARD_BUSY = strawberry.enum_value(
        "CARD_BUSY",
        description="Another withdrawal on this credit card is being handed to the bank; "
        "retry in a moment (the same idempotencyKey is fine).",
    )
    AMOUNT_OUT_OF_RANGE = strawberry.enum_value(
        "AMOUNT_OUT_OF_RANGE",
        description="The amount is below the minimum or above the maximum per withdrawal.",
    )
    LIMIT_EXCEEDED = strawberry.enum_value(
        "LIMIT_EXCEEDED", description="The amount is above the available cash-advance limit."
    )
    DAILY_LIMIT_EXCEEDED = strawberry.enum_value(
        "DAILY_LIMIT_EXCEEDED", description="The amount is above what is left of today's cap."
    )
    PERSON_DAILY_CAP_EXCEEDED = strawberry.enum_value(
        "PERSON_DAILY_CAP_EXCEEDED",
        description="The amount is above what the person may still draw today across every "
        "bank and channel (`personRemaining`).",
    )
    UNSUPPORTED_TENOR = strawberry.enum_value(
        "UNSUPPORTED_TENOR",
        description="The bank does not offer this repayment type or number of periods.",
    )
    QUOTE_NOT_FOUND = strawberry.enum_value(
        "QUOTE_NOT_FOUND", description="No quote of the viewer's has this id."
    )
    QUOTE_EXPIRED = strawberry.enum_value(
        "QUOTE_EXPIRED", description="The quote has expired; create a new one."
    )
    QUOTE_ALREADY_USED = strawberry.enum_value(
        "QUOTE_ALREADY_USED", description="The quote was already used by another withdrawal."
    )
    DISCLOSURE_NOT_ACCEPTED = strawberry.enum_value(
        "DISCLOSURE_NOT_ACCEPTED",
        description="The accepted disclosure is missing or not the quote's (its version or "
        "digest differ), or the stated time of acceptance falls outside the quote's life.",
    )
    DATA_SHARING_NOT_ACCEPTED = strawberry.enum_value(
        "DATA_SHARING_NOT_ACCEPTED",
        description="The consent to share personal information with the bank is missing or "
        "not the quote's version.",
    )
    IDEMPOTENCY_KEY_REUSED = strawberry.enum_value(
        "IDEMPOTENCY_KEY_REUSED",
        description="The idempotency key was used before with different input.",
    )
    WITHDRAWAL_NOT_FOUND = strawberry.enum_value(
        "WITHDRAWAL_NOT_FOUND", description="No withdrawal of the viewer's has this id."
    )
    VERIFICATION_FAILED = strawberry.enum_value(
        "VERIFICATION_FAILED",
        description="The verification code is wrong; `attemptsLeft` more tries.",
    )
    TOO_MANY_ATTEMPTS = strawberry.enum_value(
        "TOO_MANY_ATTEMPTS",
        description="Too many wrong verification codes; the withdrawal has failed.",
    )
    INVALID_STATE = strawberry.enum_value(
        "INVALID_STATE",
        description="The withdrawal's status does not allow this; see `currentStatus`.",
    )


@strawberry.interface(description="What every error member of a result union carries.")
class Error:
    code: ErrorCode = strawberry.field(description="Why the request was refused.")
    message: str = strawberry.field(
        description="A sentence to show the user, in the request's Accept-Language (zh-CN or "
        "en; zh-CN when it names neither). Branch on `code`, never on this text."
    )


@strawberry.type(description="An input is malformed or out of bounds.")
class ValidationError(Error):
    field: str | None = strawberry.field(description="The input field at fault, when one is.")


@strawberry.type(description="Too many requests; try again after a pause.")
class RateLimitedError(Error):
    retry_after_seconds: int = strawberry.field(description="Seconds to wait before retrying.")


@strawberry.type(description="The channel could not sign the user in.")
class LoginError(Error):
    retry_after_seconds: int | None = strawberry.field(
        description="Seconds to wait before retrying, when waiting helps."
    )


@strawberry.enum(
    description="Why a bank said no, from a closed set (the bank's own words are for operators "
    "only). Each comes with a message and a next step in the user's language."
)
class DeclineReason(Enum):
    RISK_CONTROL = strawberry.enum_value(
        "RISK_CONTROL", description="The bank's risk control or credit review refused."
    )
    CARD_STATUS = strawberry.enum_value(
        "CARD_STATUS",
        description="The credit card cannot be used now (frozen, overdue, not activated).",
    )
    CREDIT_LIMIT = strawberry.enum_value(
        "CREDIT_LIMIT", description="Not enough cash-advance limit left."
    )
    DEBIT_CARD = strawberry.enum_value(
        "DEBIT_CARD", description="The payout to the debit card failed."
    )
    IDENTITY_MISMATCH = strawberry.enum_value(
        "IDENTITY_MISMATCH", description="The holder's identity or own debit card did not match."
    )
    DAILY_CAP = strawberry.enum_value("DAILY_CAP", description="Today's cap is reached.")
    BANK_UNAVAILABLE = strawberry.enum_value(
        "BANK_UNAVAILABLE", description="The bank's systems could not complete it."
    )
    TERMS_CHANGED = strawberry.enum_value(
        "TERMS_CHANGED",
        description="The bank cannot book the terms accepted any more (a new day began since "
        "the quote): a new quote is needed.",
    )
    OTHER = strawberry.enum_value("OTHER", description="Any other reason, or none given.")


def next_step(reason: object, language: str) -> str | None:
    """What the user can do after a refusal for ``reason``, in ``language``."""
    if reason is None:
        return None
    return messages.text(f"next.{DeclineReason(str(reason)).value}", language)


@strawberry.type(description="A bank could not be reached, refused, or is not usable here.")
class BankError(Error):
    bank_code: str | None = strawberry.field(description="The bank concerned.")
    retryable: bool = strawberry.field(description="True when the same request may work later.")
    decline_reason: DeclineReason | None = strawberry.field(
        description="BANK_DECLINED: why, from a closed set; null for other codes."
    )
    next_step: str | None = strawberry.field(
        description="BANK_DECLINED: what the user can do next, in the request's language."
    )


@strawberry.type(description="A card is unknown, not the viewer's, or not eligible.")
class CardError(Error):
    field: str | None = strawberry.field(description="The input field naming the card.")


@strawberry.type(description="The amount is outside what the bank allows now.")
class AmountError(Error):
    field: str | None = strawberry.field(description="The input field at fault.")
    minimum: Money | None = strawberry.field(
        description="The least that may be withdrawn at once (for this tenor, when the bound "
        "is the tenor's); null when not known."
    )
    maximum: Money | None = strawberry.field(
        description="The most that may be withdrawn at once (for this tenor, when the bound is "
        "the tenor's); null when not known."
    )
    available_limit: Money | None = strawberry.field(
        description="The card's cash-advance limit available now; null when not known."
    )
    daily_remaining: Money | None = strawberry.field(
        description="What is left of today's cap; null when not known."
    )
    person_remaining: Money | None = strawberry.field(
        description="PERSON_DAILY_CAP_EXCEEDED: what the person may still draw today across "
        "every bank and channel (zero when nothing); null for other codes."
    )


@strawberry.type(
    description="The quote is unknown, expired or used, or its disclosure was not accepted."
)
class QuoteError(Error):
    field: str | None = strawberry.field(description="The input field at fault.")


@strawberry.type(description="The idempotency key was used before with different input.")
class IdempotencyError(Error):
    withdrawal_id: strawberry.ID | None = strawberry.field(
        description="The withdrawal the key already belongs to."
    )


@strawberry.type(description="The withdrawal is unknown or its status does not allow this.")
class WithdrawalError(Error):
    current_status: str | None = strawberry.field(
        description="The withdrawal's status now, when it exists."
    )


@strawberry.type(description="The verification code was refused.")
class VerificationError(Error):
    attempts_left: int = strawberry.field(description="Wrong codes allowed before it fails.")


ERROR_TYPES: dict[str, type[Error]] = {
    **dict.fromkeys(["VALIDATION"], ValidationError),
    **dict.fromkeys(["RATE_LIMITED"], RateLimitedError),
    **dict.fromkeys(
        [
            "INVALID_CODE",
            "CODE_ALREADY_USED",
            "CHANNEL_BUSY",
            "CHANNEL_UNAVAILABLE",
            "CHANNEL_ERROR",
            "USER_REJECTED",
            "SANDBOX_DISABLED",
        ],
        LoginError,
    ),
    **dict.fromkeys(
        ["BANK_NOT_FOUND", "BANK_NOT_AVAILABLE", "BANK_UNAVAILABLE", "BANK_DECLINED"], BankError
    ),
    **dict.fromkeys(
        ["CARD_NOT_FOUND", "CARD_NOT_OWNED", "CARD_NOT_ELIGIBLE", "CARD_BUSY"], CardError
    ),
    **dict.fromkeys(
        [
            "AMOUNT_OUT_OF_RANGE",
            "LIMIT_EXCEEDED",
            "DAILY_LIMIT_EXCEEDED",
            "PERSON_DAILY_CAP_EXCEEDED",
            "UNSUPPORTED_TENOR",
        ],
        AmountError,
    ),
    **dict.fromkeys(
        ["QUOTE_NOT_FOUND", "QUOTE_EXPIRED", "QUOTE_ALREADY_USED", "DISCLOSURE_NOT_ACCEPTED",
         "DATA_SHARING_NOT_ACCEPTED"],
        QuoteError,
    ),
    **dict.fromkeys(["IDEMPOTENCY_KEY_REUSED"], IdempotencyError),
    **dict.fromkeys(["WITHDRAWAL_NOT_FOUND", "INVALID_STATE"], WithdrawalError),
    **dict.fromkeys(["VERIFICATION_FAILED", "TOO_MANY_ATTEMPTS"], VerificationError),
}

_DETAILS = {
    "field": "field",
    "retry_after_seconds": "retry_after",
    "bank_code": "bank_code",
    "retryable": "retryable",
    "withdrawal_id": "withdrawal_id",
    "current_status": "current_status",
    "attempts_left": "attempts_left",
    "decline_reason": "decline_reason",
    "next_step": "decline_reason",
    "minimum": "min_amount",
    "maximum": "max_amount",
    "available_limit": "available_limit",
    "daily_remaining": "daily_remaining",
    "person_remaining": "person_remaining",
}
_MONEY = ("minimum", "maximum", "available_limit", "daily_remaining", "person_remaining")


def error_member(error: DomainError, language: str = messages.DEFAULT_LANGUAGE) -> Error:
    """The GraphQL error member for a domain error, its message in ``language`` (the
    request's: ``info.context.language``)."""
    cls = ERROR_TYPES[error.code.value]
    note_error_result(error.code.value)
    fields = {f.name for f in dataclasses.fields(cls)} - {"code", "message"}
    values = {name: error.details.get(_DETAILS[name]) for name in fields}
    if "retryable" in values:
        values["retryable"] = bool(values["retryable"])
    for name in _MONEY:
        if values.get(name) is not None:
            values[name] = Money.cny(values[name])
    if "attempts_left" in values:
        values["attempts_left"] = int(values["attempts_left"] or 0)
    if "retry_after_seconds" in values and values["retry_after_seconds"] is not None:
        values["retry_after_seconds"] = max(1, math.ceil(values["retry_after_seconds"]))
    elif cls is RateLimitedError:
        values["retry_after_seconds"] = 1
    if "decline_reason" in values:
        if error.code.value != "BANK_DECLINED":
            values["decline_reason"] = None
        reason = values["decline_reason"]
        values["decline_reason"] = DeclineReason(str(reason)) if reason else None
        values["next_step"] = next_step(reason, language)
    return cls(code=ErrorCode(error.code.value), message=error.text(language), **values)
