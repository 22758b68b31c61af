"""Signed callbacks (webhooks) for banks that notify cardcash of settlements.

A bank that pushes callbacks signs each body with HMAC-SHA256 over ``"<timestamp>.<body>"``
and sends ``t=<unix seconds>,v1=<hex digest>`` in a header, as Stripe does. The receiver
refuses a callback whose signature does not verify, or whose timestamp is outside the replay
window (default :data:`DEFAULT_TOLERANCE_S` seconds either way), so a captured callback cannot
be played back later. No plugin needs to write its own crypto::

    signer = CallbackSigner(secret, header="X-MyBank-Signature")

    # in BankProvider.verify_callback:
    return signer.construct_event(headers, body)

    # in the bank's simulator, or a test:
    headers, body = signer.signed(event)

:func:`encode_event` and :func:`decode_event` are a ready JSON form of a
:class:`~providers.CallbackEvent` (amounts as strings, never floats); a plugin whose bank
sends another format parses it itself and raises ``INVALID_RESPONSE`` for anything malformed.
:class:`CallbackSender` posts callbacks with retries, for a simulator or a bank-side bridge.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from providers.errors import DeclineReason, ProviderError, ProviderErrorCode
from providers.types import CallbackEvent, WithdrawalState

#: The header a :class:`CallbackSigner` uses unless told another.
DEFAULT_HEADER = "X-Cardcash-Signature"
#: Seconds a callback's timestamp may be away from the receiver's clock.
DEFAULT_TOLERANCE_S = 300
#: The signature scheme tag in the header (``v1=``): HMAC-SHA256 over ``"<t>.<body>"``.
SCHEME = "v1"
#: The 4xx answers a retry may change (timeout, too early, too many requests). Any other 4xx is
#: the receiver refusing the callback itself (cardcash: 400 bad signature or amount, 404
#: unknown withdrawal, 413 too large), which the same callback sent again does not change.
RETRYABLE_4XX = frozenset({408, 425, 429})

_E = ProviderErrorCode


def _refuse(reason: str) -> ProviderError:
    return ProviderError(_E.INVALID_SIGNATURE, reason)


def _timestamp(at: datetime | float | None) -> int:
    if at is None:
        return int(time.time())
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("a callback timestamp must be an aware datetime")
        return int(at.timestamp())
    return int(at)


def compute_signature(body: bytes, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` with ``secret``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, *, at: datetime | float | None = None) -> str:
    """The signature header value ``t=<unix seconds>,v1=<hex>`` for ``body`` sent at ``at``
    (default now)."""
    timestamp = _timestamp(at)
    return f"t={timestamp},{SCHEME}={compute_signature(body, secret, timestamp)}"


def verify(
    header: str | None,
    body: bytes,
    secrets: str | tuple[str, ...],
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: datetime | float | None = None,
) -> int:
    """Check a signature header against ``body``; return its timestamp.

    ``secrets`` may be several (the new and the old one while a secret is rotated); a header
    may carry several ``v1=`` signatures. Raises ``ProviderError(INVALID_SIGNATURE)`` when the
    header is missing or garbled, no signature matches, or the timestamp is more than
    ``tolerance_s`` seconds from ``now`` (default: the current time).
    """
    if not header:
        raise _refuse("the callback is not signed")
    timestamp: int | None = None
    given: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME and value:
            given.append(value)
    if timestamp is None or not given:
        raise _refuse("the callback's signature header is garbled")
    keys = (secrets,) if isinstance(secrets, str) else secrets
    expected = [compute_signature(body, key, timestamp) for key in keys]
    if not any(hmac.compare_digest(g, e) for g in given for e in expected):
        raise _refuse("the callback's signature does not verify")
    if abs(_timestamp(now) - timestamp) > tolerance_s:
        raise _refuse("the callback's timestamp is outside the replay window")
    return timestamp


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` in ``headers``, whatever the case of its name."""
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def encode_event(event: CallbackEvent, **extra: Any) -> bytes:
    """A callback body for ``event``: compact JSON with sorted keys, amount as a string.

    ``extra`` adds fields (for instance the bank's code, to tell banks' callbacks apart).
    """
    data = {
        **extra,
        "request_id": event.request_id,
        "bank_reference": event.bank_reference,
        "state": event.state.value,
        "amount": str(event.amount),
        "currency": event.currency,
        "occurred_at": event.occurred_at.isoformat(),
        "failure_reason": event.failure_reason,
    }
    if event.decline_reason is not None:
        data["decline_reason"] = event.decline_reason.value
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _text(data: Mapping[str, Any], name: str, *, optional: bool = False) -> str | None:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or (not optional and not value):
        raise ValueError(f"{name} must be a non-empty string")
    return value


def decode_event(body: bytes, *, expect: Mapping[str, str] | None = None) -> CallbackEvent:
    """Parse a body made by :func:`encode_event`.

    ``expect`` names fields that must have given values (``{"bank_code": "CEB"}``). Anything
    malformed raises ``ProviderError(INVALID_RESPONSE)``, never another exception.
    """
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("a callback is a JSON object")
        for name, value in (expect or {}).items():
            if data.get(name) != value:
                raise ValueError(f"{name} is not {value!r}")
        amount = Decimal(_text(data, "amount"))
        if not amount.is_finite():
            raise ValueError("amount must be a finite decimal")
        occurred_at = datetime.fromisoformat(_text(data, "occurred_at"))
        if occurred_at.tzinfo is None:
            raise ValueError("occurred_at must have a time zone")
        return CallbackEvent(
            request_id=_text(data, "request_id"),
            bank_reference=_text(data, "bank_reference"),
            state=WithdrawalState(_text(data, "state")),
            amount=amount,
            currency=_text(data, "currency"),
            occurred_at=occurred_at,
            failure_reason=_text(data, "failure_reason", optional=True),
            decline_reason=DeclineReason(reason)
            if (reason := _text(data, "decline_reason", optional=True))
            else None,
        )
    except (ValueError, TypeError, InvalidOperation, RecursionError) as error:
        raise ProviderError(_E.INVALID_RESPONSE, f"malformed callback: {error}") from None


class CallbackSigner:
    """One bank's callback secret(s), header and replay window.

    ``secret`` signs; ``old_secrets`` are still accepted when verifying (rotation).
    ``clock`` returns the current time (default :func:`time.time`); a simulator with a clock
    of its own passes it so that signing and checking agree with it.
    """

    def __init__(
        self,
        secret: str,
        *,
        header: str = DEFAULT_HEADER,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
        old_secrets: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
        fields: Mapping[str, str] | None = None,
    ) -> None:
        if not secret:
            raise ValueError("a callback secret must not be empty")
        self.header = header
        self.tolerance_s = tolerance_s
        self._secrets = (secret, *old_secrets)
        self._clock = clock
        self._fields = dict(fields or {})

    def sign(self, body: bytes, *, at: datetime | float | None = None) -> dict[str, str]:
        """Headers that sign ``body`` as sent at ``at`` (default now)."""
        when = self._clock() if at is None else at
        return {"Content-Type": "application/json",
                self.header: sign(body, self._secrets[0], at=when)}

    def encode(self, event: CallbackEvent) -> bytes:
        """The body for ``event`` (:func:`encode_event`, with this signer's fixed fields)."""
        return encode_event(event, **self._fields)

    def signed(
        self, event: CallbackEvent, *, at: datetime | float | None = None
    ) -> tuple[dict[str, str], bytes]:
        """``(headers, body)`` of a signed callback for ``event``."""
        body = self.encode(event)
        return self.sign(body, at=at), body

    def verify(self, headers: Mapping[str, str], body: bytes) -> int:
        """Check the signature and replay window of a callback (see :func:`verify`)."""
        return verify(header_value(headers, self.header), body, self._secrets,
                      tolerance_s=self.tolerance_s, now=self._clock())

    def construct_event(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        """Verify a callback, then parse it with :func:`decode_event` — what
        ``BankProvider.verify_callback`` returns. The signature is checked before the body is
        read at all."""
        self.verify(headers, body)
        return decode_event(body, expect=self._fields)


class CallbackSender:
    """Posts signed callbacks in the background, with retries and exponential backoff.

    ``url`` may contain ``{bank}``, replaced by ``bank_code``. A 5xx, a connection failure or
    one of :data:`RETRYABLE_4XX` is retried; any other 4xx (the receiver refusing the
    callback itself) is logged and not retried. A callback that still fails after
    ``attempts`` tries is logged and dropped: cardcash's status sync asks the bank about
    every unfinished withdrawal anyway, so a lost callback delays an update and loses nothing.
    Each attempt is signed anew, so a late retry is not refused as a replay.
    """

    def __init__(
        self,
        url: str,
        signer: CallbackSigner,
        *,
        bank_code: str,
        logger: logging.Logger | None = None,
        attempts: int = 4,
        backoff_s: float = 0.5,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url.replace("{bank}", bank_code)
        self._signer = signer
        self._bank_code = bank_code
        self._log = logger or logging.getLogger("cardcash.providers")
        self._attempts = attempts
        self._backoff_s = backoff_s
        # Made on first use: an httpx client loads its TLS context when created (a tenth of a
        # second), and a bank whose withdrawals never settle need not pay for it.
        self._client = client
        self._tasks: set[asyncio.Task[bool]] = set()

    def send(self, event: CallbackEvent) -> asyncio.Task[bool]:
        """Queue one callback; returns at once (the task's result says if it was delivered)."""
        task = asyncio.get_running_loop().create_task(self.deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def deliver(self, event: CallbackEvent) -> bool:
        """Post one callback now, retrying; True once the receiver answered 2xx."""
        body = self._signer.encode(event)
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=5.0)
        problem = "no attempt"
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._client.post(
                    self.url, content=body, headers=self._signer.sign(body))
                if response.status_code < 300:
                    return True
                problem = f"HTTP {response.status_code}"
                if 400 <= response.status_code < 500 and (
                        response.status_code not in RETRYABLE_4XX):
                    self._log.warning(
                        "bank=%s callback for %s refused by the receiver (%s): not retried",
                        self._bank_code, event.request_id, problem,
                    )
                    return False
            except httpx.HTTPError as error:
                problem = type(error).__name__
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
        self._log.warning(
            "bank=%s callback for %s not delivered after %d attempts (%s)",
            self._bank_code, event.request_id, self._attempts, problem,
        )
        return False

    async def aclose(self, grace_s: float = 2.0) -> None:
        """Give queued callbacks ``grace_s`` to finish, then cancel the rest and close."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()


__all__ = [
    "DEFAULT_HEADER",
    "DEFAULT_TOLERANCE_S",
    "RETRYABLE_4XX",
    "SCHEME",
    "CallbackSender",
    "CallbackSigner",
    "compute_signature",
    "decode_event",
    "encode_event",
    "header_value",
    "sign",
    "verify",
]
