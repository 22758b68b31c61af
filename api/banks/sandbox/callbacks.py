"""Signed settlement callbacks of the sandbox banks, made with the SDK's webhook helpers.

A sandbox bank signs the JSON body of a callback with :mod:`providers.webhooks`: HMAC-SHA256
over ``"<timestamp>.<body>"`` with a per-bank secret, sent as ``t=<unix>,v1=<hex>`` in the
``X-Sandbox-Signature`` header, refused outside a five-minute replay window. The secret is the
bank's option ``callback_secret``, or by default one derived from a random secret made once per
install and kept in the data directory (``sandbox-callback-secret``, owner-only): whoever can
reach ``/callbacks/<bank>`` cannot sign a callback without reading that file.

Example (a test delivering a callback to cardcash)::

    secret = callback_secret("CEB", data_dir)
    headers, body = sign_callback(event, bank_code="CEB", secret=secret)
    await client.post("/callbacks/CEB", content=body, headers=headers)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from providers.files import install_secret
from providers.types import CallbackEvent
from providers.webhooks import CallbackSigner, encode_event, sign

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


def callback_signer(
    bank_code: str, secret: str, *, clock: Callable[[], float] = time.time
) -> CallbackSigner:
    """The signer of sandbox bank ``bank_code``: its secret, header and ``bank_code`` field."""
    return CallbackSigner(secret, header=SIGNATURE_HEADER, clock=clock,
                          fields={"bank_code": bank_code})


def sign_callback(
    payload: CallbackEvent | Mapping[str, Any] | list[Any],
    *,
    bank_code: str,
    secret: str,
    at: datetime | float | None = None,
) -> tuple[dict[str, str], bytes]:
    """Build the headers and body of a signed sandbox callback, sent at ``at`` (default now).

    ``payload`` is a :class:`CallbackEvent` (serialized the way the sandbox bank does) or a
    ready JSON value (to test malformed callbacks); ``secret`` is the bank's (see
    :func:`callback_secret`).

    Example::

        >>> headers, body = sign_callback({"hello": "world"}, bank_code="CEB", secret="s")
        >>> sorted(headers)
        ['Content-Type', 'X-Sandbox-Signature']
    """
    # Not through a CallbackSigner: tests forge callbacks with empty or guessed secrets too.
    if isinstance(payload, CallbackEvent):
        body = encode_event(payload, bank_code=bank_code)
    else:
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode()
    return {"Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, secret, at=time.time() if at is None else at)}, body
