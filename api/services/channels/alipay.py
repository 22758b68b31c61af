"""Alipay mini-program login: ``my.getAuthCode()`` code → ``alipay.system.oauth.token``.

The call goes to the OpenAPI gateway as a form-encoded POST, so the auth code and the
signature travel in the body and never in a URL that an HTTP log line could print.
``grant_type`` and ``code`` are top-level parameters of this method (not ``biz_content``).

A success answer carries ``open_id`` (apps created since Alipay's 2023 switch) or
``user_id`` (older apps), plus ``access_token``/``refresh_token``. We key users on
``open_id`` and fall back to ``user_id``; the tokens are discarded on parsing because
cardcash does not call Alipay on the user's behalf.

When Alipay's public key is configured, a success answer must carry a valid signature
over the exact text of its response node, and a signed error answer must verify too;
anything else is refused as ``CHANNEL_ERROR``. Unsigned error answers are accepted: a
forged error can only deny a login, which anyone able to forge could do by dropping it.
Certificate mode (``alipay_cert_sn``) is not supported: configure the public key instead.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Self

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from .alipay_signature import (
    load_private_key,
    load_public_key,
    response_node_text,
    sign_rsa2,
    signing_content,
    verify_rsa2,
)
from .base import Channel, ChannelErrorCode, ChannelIdentity, ChannelLoginError, validate_code
from .transport import redact_http_client_logs, send

__all__ = ["AlipayAdapter", "AlipayConfig"]

log = logging.getLogger(__name__)

_CHANNEL_NAME = "Alipay"
_METHOD = "alipay.system.oauth.token"
_SUCCESS_NODE = "alipay_system_oauth_token_response"
_ERROR_NODE = "error_response"
# China has kept UTC+8 without daylight saving since 1991; a fixed offset avoids depending
# on the host's tz database for the one zone Alipay's timestamp must be in.
_SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")

# sub_code decides first: it is the precise reason; code only classifies.
_SUB_CODES: dict[str, tuple[ChannelErrorCode, str]] = {
    "isv.code-invalid": (
        ChannelErrorCode.INVALID_CODE,
        "the auth code is invalid, expired or already used",
    ),
    "isv.invalid-app-id": (ChannelErrorCode.CHANNEL_ERROR, "Alipay rejected the app id"),
    "isv.invalid-signature": (
        ChannelErrorCode.CHANNEL_ERROR,
        "Alipay rejected our request signature (check the app private key)",
    ),
    "isv.invalid-timestamp": (
        ChannelErrorCode.CHANNEL_ERROR,
        "Alipay rejected our request timestamp (check the server clock)",
    ),
}
# Alipay's public gateway codes (10000 is success).
_CODES: dict[str, tuple[ChannelErrorCode, str, float | None]] = {
    "20000": (ChannelErrorCode.CHANNEL_UNAVAILABLE, "Alipay is temporarily unavailable", 1.0),
    "20001": (ChannelErrorCode.CHANNEL_ERROR, "Alipay refused the app's authorisation", None),
    "40001": (ChannelErrorCode.CHANNEL_ERROR, "Alipay says a required parameter is missing", None),
    "40002": (ChannelErrorCode.CHANNEL_ERROR, "Alipay says a parameter is invalid", None),
    "40004": (ChannelErrorCode.CHANNEL_ERROR, "Alipay refused the request", None),
    "40006": (ChannelErrorCode.CHANNEL_ERROR, "the app lacks permission for this call", None),
}


@dataclass(frozen=True, slots=True)
class AlipayConfig:
    """How to call ``alipay.system.oauth.token`` for one mini-program.

    ``private_key_pem`` is the app's RSA2 private key; ``alipay_public_key_pem`` is the
    "支付宝公钥" from the console: when given, answers must be signed by it. Both accept PEM
    or the bare base64 the console shows. Keys are left out of ``repr``.

    Example::

        AlipayConfig(app_id="2021000000000000", private_key_pem=key, alipay_public_key_pem=pub)
    """

    app_id: str
    private_key_pem: str = field(repr=False)
    alipay_public_key_pem: str | None = field(default=None, repr=False)
    gateway: str = "https://openapi.alipay.com/gateway.do"
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.app_id or not self.private_key_pem:
            raise ValueError("AlipayConfig needs an app_id and a private_key_pem")
        if self.timeout <= 0:
            raise ValueError("AlipayConfig.timeout must be positive")


class AlipayAdapter:
    """Exchanges a ``my.getAuthCode()`` code for a :class:`ChannelIdentity`.

    Keys are parsed here, so a wrong key fails at startup (``ValueError``) rather than at
    the first login. Pass a shared ``httpx.AsyncClient`` to reuse connections; without one
    the adapter opens its own, closed by :meth:`aclose` (or ``async with``).

    Example::

        async with AlipayAdapter(AlipayConfig(app_id, private_key, alipay_public_key)) as ali:
            identity = await ali.exchange(auth_code)  # channel_user_id is open_id or user_id
    """

    channel = Channel.ALIPAY

    def __init__(self, config: AlipayConfig, client: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._private_key = load_private_key(config.private_key_pem)
        self._alipay_key = (
            load_public_key(config.alipay_public_key_pem) if config.alipay_public_key_pem else None
        )
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        redact_http_client_logs()

    async def exchange(self, code: str) -> ChannelIdentity:
        """Call ``alipay.system.oauth.token``; raise :class:`ChannelLoginError` on failure."""
        validate_code(code)
        params = {
            "app_id": self._config.app_id,
            "method": _METHOD,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": datetime.now(_SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "grant_type": "authorization_code",
            "code": code,
        }
        params["sign"] = sign_rsa2(signing_content(params), self._private_key)
        request = self._client.build_request(
            "POST",
            self._config.gateway,
            data=params,
            # The gateway decodes the form with this charset; without it non-ASCII would
            # be read as GBK.
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
            timeout=self._config.timeout,
        )
        response = await send(
            self._client, request, time_budget=self._config.timeout, channel=_CHANNEL_NAME
        )
        return self._identity_from(response.body)

    async def aclose(self) -> None:
        """Close the HTTP client if this adapter opened it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _identity_from(self, body: bytes) -> ChannelIdentity:
        raw, document = _parse(body)
        node_name = _ERROR_NODE if _ERROR_NODE in document else _SUCCESS_NODE
        node = document.get(node_name)
        if not isinstance(node, dict):
            raise ChannelLoginError(
                ChannelErrorCode.CHANNEL_ERROR, "Alipay answered without a response node"
            )
        # Dropped first, before any branch can log or keep the answer.
        node.pop("access_token", None)
        node.pop("refresh_token", None)
        failed = node_name == _ERROR_NODE or str(node.get("code", "10000")) != "10000"
        if self._alipay_key is not None:
            _check_signature(
                self._alipay_key, raw, node_name, document.get("sign"), required=not failed
            )
        if failed:
            raise _error_for(node)
        return ChannelIdentity(channel=Channel.ALIPAY, channel_user_id=_user_id(node))


def _check_signature(
    key: rsa.RSAPublicKey, raw: str, node_name: str, sign: object, *, required: bool
) -> None:
    if not sign and not required:
        return
    text = response_node_text(raw, node_name)
    if not isinstance(sign, str) or not sign or text is None:
        raise ChannelLoginError(
            ChannelErrorCode.CHANNEL_ERROR, "Alipay's answer is not signed; refused"
        )
    # Alipay's SDK retries with \/ unescaped: some answers escape slashes after signing.
    if verify_rsa2(text, sign, key):
        return
    if "\\/" in text and verify_rsa2(text.replace("\\/", "/"), sign, key):
        return
    log.warning("Alipay answer failed signature verification")
    raise ChannelLoginError(
        ChannelErrorCode.CHANNEL_ERROR, "Alipay's answer has an invalid signature; refused"
    )


def _parse(body: bytes) -> tuple[str, dict[str, Any]]:
    try:
        raw = body.decode("utf-8")
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        document = None
    if not isinstance(document, dict):
        raise ChannelLoginError(ChannelErrorCode.CHANNEL_ERROR, "Alipay answered with non-JSON")
    return raw, document


def _user_id(node: dict[str, Any]) -> str:
    for name in ("open_id", "user_id"):
        value = node.get(name)
        if value in (None, ""):
            continue
        if isinstance(value, str) and _ID_PATTERN.fullmatch(value):
            return value
        raise ChannelLoginError(ChannelErrorCode.CHANNEL_ERROR, f"Alipay sent a malformed {name}")
    raise ChannelLoginError(
        ChannelErrorCode.CHANNEL_ERROR, "Alipay answered without open_id or user_id"
    )


def _error_for(node: dict[str, Any]) -> ChannelLoginError:
    code = str(node.get("code", ""))
    sub_code = str(node.get("sub_code", ""))
    # Alipay's codes are short ASCII tokens; anything else is not repeated in a message.
    reason = f"code {code[:16]}" + (f", sub_code {sub_code[:64]}" if sub_code else "")
    if not re.fullmatch(r"[A-Za-z0-9_.,\- ]*", reason):
        reason = "malformed error code"
    if sub_code in _SUB_CODES:
        ours, meaning = _SUB_CODES[sub_code]
        log.info("Alipay oauth token failed (%s)", reason)
        return ChannelLoginError(ours, f"{meaning} ({reason})")
    ours, meaning, retry_after = _CODES.get(
        code, (ChannelErrorCode.CHANNEL_ERROR, "Alipay refused the login", None)
    )
    log.warning("Alipay oauth token failed (%s)", reason)
    return ChannelLoginError(ours, f"{meaning} ({reason})", retry_after)
