"""Signed settlement callbacks of the sandbox banks.

A sandbox bank signs the JSON body of a callback with HMAC-SHA256 and a per-bank secret, and
sends the hex digest in the ``X-Sandbox-Signature`` header. The secret is the bank's option
``callback_secret``, or by default one derived from a random secret made once per install and
kept in the data directory (``sandbox-callback-secret``, owner-only): whoever can reach
``/callbacks/<bank>`` cannot sign a callback without reading that file.

Example (a test delivering a callback to cardcash)::

    secret = callback_secret("CEB", data_dir)
    headers, body = sign_callback(event, bank_code="CEB", secret=secret)
    await client.post("/callbacks/CEB", content=body, headers=headers)
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx

from providers.errors import ProviderError, ProviderErrorCode
from providers.files import install_secret
from providers.types import CallbackEvent, WithdrawalState

SIGNATURE_HEADER = "X-Sandbox-Signature"


#: The file in the data directory that holds the install's random callback secret.
SECRET_FILE = "sandbox-callback-secret"


def callback_secret(bank_code: str, data_dir: Path, configured: str = "") -> str:
    """The secret a sandbox bank signs callbacks with: ``configured``, or one of its own
    derived from the install's random secret in ``data_dir`` (made on first use)."""
    if configured:
        return configured
    install = install_secret(data_dir / SECRET_FILE).encode()
    return hmac.new(install, f"callback:{bank_code}".encode(), hashlib.sha256).hexdigest()


def event_payload(event: CallbackEvent, bank_code: str) -> dict[str, Any]:
    """The JSON object a sandbox bank sends for ``event`` (amounts as strings, never floats)."""
    return {
        "bank_code": bank_code,
        "request_id": event.request_id,
        "bank_reference": event.bank_reference,
        "state": event.state.value,
        "amount": str(event.amount),
        "currency": event.currency,
        "occurred_at": event.occurred_at.isoformat(),
        "failure_reason": event.failure_reason,
    }


def sign_callback(
    payload: CallbackEvent | Mapping[str, Any],
    *,
    bank_code: str,
    secret: str,
) -> tuple[dict[str, str], bytes]:
    """Build the headers and body of a signed sandbox callback.

    ``payload`` is a :class:`CallbackEvent` (serialized the way the sandbox bank does) or a
    ready JSON object (to test malformed callbacks); ``secret`` is the bank's (see
    :func:`callback_secret`).

    Example::

        >>> headers, body = sign_callback({"hello": "world"}, bank_code="CEB", secret="s")
        >>> sorted(headers)
        ['Content-Type', 'X-Sandbox-Signature']
    """
    data = event_payload(payload, bank_code) if isinstance(payload, CallbackEvent) else payload
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(body, secret),
    }, body


def signature(body: bytes, secret: str) -> str:
    """The hex HMAC-SHA256 of ``body``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_callback(
    headers: Mapping[str, str], body: bytes, *, bank_code: str, secret: str
) -> CallbackEvent:
    """Verify a callback's signature, then parse it.

    Raises ``INVALID_SIGNATURE`` when the signature is missing or wrong (checked before the
    body is even parsed), ``INVALID_RESPONSE`` when a correctly signed body is malformed.
    """
    given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
    if not given or not hmac.compare_digest(given.strip(), signature(body, secret)):
        raise ProviderError(ProviderErrorCode.INVALID_SIGNATURE, "callback signature is invalid")
    try:
        data = json.loads(body)
        if data["bank_code"] != bank_code:
            raise ValueError("callback is for another bank")
        if not isinstance(data["amount"], str):
            raise ValueError("amount must be a decimal string")
        failure_reason = data.get("failure_reason")
        if failure_reason is not None and not isinstance(failure_reason, str):
            raise ValueError("failure_reason must be a string")
        return CallbackEvent(
            request_id=str(data["request_id"]),
            bank_reference=str(data["bank_reference"]),
            state=WithdrawalState(data["state"]),
            amount=Decimal(data["amount"]),
            currency=str(data["currency"]),
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
            failure_reason=failure_reason,
        )
    except (ValueError, KeyError, TypeError, InvalidOperation) as error:
        raise ProviderError(
            ProviderErrorCode.INVALID_RESPONSE, f"malformed callback: {error}"
        ) from None


class CallbackSender:
    """Posts signed callbacks in the background, best effort, with a few retries.

    A callback that still fails after the retries is dropped and logged: cardcash's status
    sync finds the outcome anyway, so a lost callback delays an update but loses nothing.
    """

    def __init__(
        self,
        url: str,
        *,
        bank_code: str,
        secret: str,
        logger: logging.Logger,
        attempts: int = 4,
        backoff_s: float = 0.5,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url.replace("{bank}", bank_code)
        self._bank_code = bank_code
        self._secret = secret
        self._log = logger
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._client = client or httpx.AsyncClient(timeout=5.0)
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, event: CallbackEvent) -> None:
        """Queue one callback (returns at once)."""
        task = asyncio.get_running_loop().create_task(self._deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: CallbackEvent) -> None:
        headers, body = sign_callback(event, bank_code=self._bank_code, secret=self._secret)
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._client.post(self.url, content=body, headers=headers)
                if response.status_code < 300:
                    return
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as error:
                problem = type(error).__name__
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
        self._log.warning(
            "bank=%s callback for %s not delivered after %d attempts (%s)",
            self._bank_code, event.request_id, self._attempts, problem,
        )

    async def aclose(self, grace_s: float = 2.0) -> None:
        """Give queued callbacks ``grace_s`` to finish, then cancel the rest and close."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._client.aclose()
