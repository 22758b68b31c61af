"""Every code a front end branches on, and what to do about each.

Two kinds: the typed errors' :class:`api.schema.errors.ErrorCode` (a member of a result
union, ``... on Error { code message }``), and the codes of ``errors[]`` entries
(``extensions.code``), for what is wrong with the request itself. The users' sentence for
each is in the message catalogs under the code (:mod:`api.messages`); ``docs/api.md``'s table
is made from these lists and the catalogs, and the tests fail when a code lacks a message, a
retry advice, or a row.

An ``errors[]`` entry's ``message`` is that sentence in the request's language
(:func:`localized`), as a typed error's is: a front end may show it. What the server found
wrong, for the developer, stays in ``extensions.detail``, in English.
"""

from __future__ import annotations

from dataclasses import dataclass

from api import messages

#: Whether and how to retry after each typed error, for front-end developers.
RETRY: dict[str, str] = {
    "VALIDATION": "No: correct the input `field` names.",
    "RATE_LIMITED": "Yes, after `retryAfterSeconds`.",
    "INVALID_CODE": "With a new login code.",
    "CODE_ALREADY_USED": "With a new login code.",
    "CHANNEL_BUSY": "Yes, shortly, with a new login code (`retryAfterSeconds` when given).",
    "CHANNEL_UNAVAILABLE": "Later, with a new login code.",
    "CHANNEL_ERROR": "No.",
    "USER_REJECTED": "No.",
    "SANDBOX_DISABLED": "No: sign in with the channel's own code.",
    "BANK_NOT_FOUND": "No.",
    "BANK_NOT_AVAILABLE": "Not now: the bank opens later (`availability`, `unusableReason`).",
    "BANK_UNAVAILABLE": "Later, when `retryable`.",
    "BANK_DECLINED": "Not the same request: show `nextStep` (`declineReason` says why).",
    "CARD_NOT_FOUND": "No: read the cards again.",
    "CARD_NOT_OWNED": "With a debit card in the user's own name.",
    "CARD_NOT_ELIGIBLE": "No.",
    "CARD_BUSY": "Yes, in a moment, with the same `idempotencyKey`.",
    "AMOUNT_OUT_OF_RANGE": "With an amount from `minimum` to `maximum`.",
    "LIMIT_EXCEEDED": "With an amount up to `availableLimit`.",
    "DAILY_LIMIT_EXCEEDED": "With an amount up to `dailyRemaining`, or tomorrow.",
    "PERSON_DAILY_CAP_EXCEEDED": "With an amount up to `personRemaining` (at any bank), or "
    "tomorrow (China's day).",
    "UNSUPPORTED_TENOR": "With a repayment option the offer lists.",
    "QUOTE_NOT_FOUND": "With a new quote.",
    "QUOTE_EXPIRED": "With a new quote.",
    "QUOTE_ALREADY_USED": "With a new quote and a new `idempotencyKey`.",
    "DISCLOSURE_NOT_ACCEPTED": "Once the user has accepted the quote's disclosure: its "
    "`version` and `digest`, and an `acceptedAt` within the quote's life (`field` says which).",
    "DATA_SHARING_NOT_ACCEPTED": "Once the user has agreed to the quote's "
    "`dataSharingConsent.version`, apart from the disclosure.",
    "IDEMPOTENCY_KEY_REUSED": "No: a new withdrawal needs a new key; `withdrawalId` has this one.",
    "WITHDRAWAL_NOT_FOUND": "No.",
    "VERIFICATION_FAILED": "Yes, with the right code, `attemptsLeft` more times.",
    "TOO_MANY_ATTEMPTS": "No: the withdrawal has failed; start again from a quote.",
    "INVALID_STATE": "No: read the withdrawal (`currentStatus`).",
}


@dataclass(frozen=True, slots=True)
class RequestCode:
    """An ``extensions.code`` of ``errors[]``."""

    code: str
    #: The HTTP status it comes with ("WebSocket" when only the socket sends it).
    status: str
    when: str
    retry: str


#: ``errors[]`` codes: Apollo's names where they exist, the project's own otherwise.
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
UNAUTHENTICATED = "UNAUTHENTICATED"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
OPERATION_TIMEOUT = "OPERATION_TIMEOUT"
HTTP_REQUIRED = "HTTP_REQUIRED"
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
PERSISTED_QUERY_NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
PERSISTED_QUERY_VERSION_NOT_SUPPORTED = "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"
OPERATION_NOT_FOUND = "OPERATION_NOT_FOUND"
BAD_REQUEST = "BAD_REQUEST"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
BATCHING_DISABLED = "BATCHING_DISABLED"
BATCH_TOO_LARGE = "BATCH_TOO_LARGE"

#: "200 (400)": 200 under ``application/json``, 400 under ``application/graphql-response+json``.
_REQUEST_ERROR = "200 (400)"

REQUEST_CODES: dict[str, RequestCode] = {
    c.code: c
    for c in (
        RequestCode(
            UNAUTHENTICATED,
            "200",
            "A field needs a signed-in user; the field is null. `extensions.reason`: `MISSING` "
            "(no token), `EXPIRED` (sign in again), `INVALID` (not a token of this service), "
            "`MALFORMED` (not `Bearer <token>`). Over the WebSocket, a subscription that "
            "outlives its token ends with it.",
            "After signing in again.",
        ),
        RequestCode(
            OPERATION_TIMEOUT,
            "503",
            "The operation ran past its time budget and was stopped. A mutation keeps what it did.",
            "Yes; a mutation with the same `idempotencyKey`, which finds what it did.",
        ),
        RequestCode(
            INTERNAL_SERVER_ERROR,
            "200 (500)",
            "A bug or an outage; `extensions.requestId` finds it in the server's log.",
            "Later, once.",
        ),
        RequestCode(
            HTTP_REQUIRED,
            "WebSocket",
            "A mutation was sent over the WebSocket, which is for live status.",
            "Over HTTP, with the same `idempotencyKey`.",
        ),
        RequestCode(
            PERSISTED_QUERY_NOT_FOUND,
            _REQUEST_ERROR,
            "The persisted query's hash is not known yet. The message is Apollo's "
            "`PersistedQueryNotFound`, which Apollo's clients look for.",
            "At once, with the query text (the mini-program client does it).",
        ),
        RequestCode(
            PERSISTED_QUERY_NOT_SUPPORTED,
            _REQUEST_ERROR,
            "Persisted queries are off on this server (Apollo's `PersistedQueryNotSupported`).",
            "With the query text.",
        ),
        RequestCode(
            PERSISTED_QUERY_NOT_ALLOWED,
            _REQUEST_ERROR,
            "The server runs only its manifest's operations (`CARDCASH_PERSISTED_ONLY`) and "
            "this one is not among them: an app older or newer than the server's manifest.",
            "No: the app needs the version the server was deployed with.",
        ),
        RequestCode(
            QUERY_TOO_COMPLEX,
            _REQUEST_ERROR,
            "The document is past a limit, counted with its fragments expanded: "
            "`extensions.limit` (`depth`, `aliases`, `fields`) and `extensions.max`.",
            "No: ask for less.",
        ),
        RequestCode(
            PARSE_FAILED,
            _REQUEST_ERROR,
            "The document is not GraphQL, or has more tokens than the server parses; `extensions.detail` (graphql-core's words) says where.",
            "No.",
        ),
        RequestCode(
            VALIDATION_FAILED,
            _REQUEST_ERROR,
            "The document asks for what the schema does not have (a field, an argument, an "
            "enum value); `extensions.detail` (graphql-core's words) names it.",
            "No.",
        ),
        RequestCode(
            BAD_USER_INPUT,
            "200 (400)",
            "A variable does not fit its type (a wrong enum value, a required one missing), "
            "or an argument is out of bounds (`first` above 50, a malformed `after`).",
            "No.",
        ),
        RequestCode(
            OPERATION_NOT_FOUND,
            _REQUEST_ERROR,
            "`operationName` names no operation of the document, or it holds several and "
            "none is named.",
            "No.",
        ),
        RequestCode(
            PERSISTED_QUERY_HASH_MISMATCH,
            "400",
            "`extensions.persistedQuery.sha256Hash` is not the SHA-256 of the query text sent.",
            "No.",
        ),
        RequestCode(
            PERSISTED_QUERY_VERSION_NOT_SUPPORTED,
            "400",
            "`extensions.persistedQuery.version` is not 1.",
            "No.",
        ),
        RequestCode(
            BAD_REQUEST,
            "400",
            "Not a GraphQL request: a body that is not JSON, a member of the wrong type, no "
            "query; a subscription over HTTP.",
            "No.",
        ),
        RequestCode(
            METHOD_NOT_ALLOWED,
            "405",
            "A method other than GET and POST, or a mutation over GET.",
            "No: POST it.",
        ),
        RequestCode(
            NOT_ACCEPTABLE,
            "406",
            "`Accept` allows neither `application/json` nor `application/graphql-response+json`.",
            "No.",
        ),
        RequestCode(
            UNSUPPORTED_MEDIA_TYPE,
            "415",
            "A POST body that is not `application/json` (`wx.request` and `my.request` send a "
            "form unless told); `extensions.expectedContentType` names the type.",
            "With `Content-Type: application/json`.",
        ),
        RequestCode(
            PAYLOAD_TOO_LARGE,
            "413",
            "The body (or a WebSocket message) is larger than the server takes (64 KiB).",
            "No.",
        ),
        RequestCode(
            BATCHING_DISABLED,
            "400",
            "A JSON array of operations, and batching is off.",
            "One operation a request.",
        ),
        RequestCode(
            BATCH_TOO_LARGE,
            "400",
            "A batch with no operation, or more than the server takes.",
            "With a smaller batch.",
        ),
    )
}


#: Codes whose message is left as it is: Apollo's clients look for these words.
APOLLO_MESSAGES = frozenset({PERSISTED_QUERY_NOT_FOUND, PERSISTED_QUERY_NOT_SUPPORTED})
#: The message of a masked unexpected error (prod): it says nothing a developer could use.
MASKED_MESSAGE = "Internal error"


def message_key(code: str, extensions: dict) -> str:
    """The catalog key of a request code's sentence: ``auth.<reason>`` for UNAUTHENTICATED
    with a reason, else the code's own."""
    reason = extensions.get("reason")
    if code == UNAUTHENTICATED and isinstance(reason, str) and messages.has(f"auth.{reason}"):
        return f"auth.{reason}"
    return code


def localized(error: dict, language: str, key: str | None = None) -> dict:
    """A formatted ``errors[]`` entry with its message in ``language``: the catalog's sentence
    for its code (``key`` when a more precise one is known), the message it had moved to
    ``extensions.detail``. Entries without a request code, and Apollo's persisted-query
    messages, are left as they are."""
    extensions = error.get("extensions") or {}
    code = extensions.get("code")
    if code not in REQUEST_CODES or code in APOLLO_MESSAGES:
        return error
    message = messages.text(key or message_key(code, extensions), language)
    detail = error.get("message")
    extensions = dict(extensions)
    # UNAUTHENTICATED's reason says all there is; a masked error's message says nothing.
    if detail and detail not in (message, MASKED_MESSAGE) and code != UNAUTHENTICATED:
        extensions.setdefault("detail", detail)
    return {**error, "message": message, "extensions": extensions}
