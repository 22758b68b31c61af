"""WeChat mini-program login: ``wx.login()`` code → ``jscode2session`` → openid.

``jscode2session`` answers HTTP 200 with JSON either way: ``openid``, ``session_key`` and an
optional ``unionid`` on success, or ``errcode``/``errmsg``. The ``session_key`` is dropped the
moment the body is parsed: it would let its holder decrypt the user's data, and cardcash
issues its own sessions, so nothing here needs it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Self

import httpx

from .base import Channel, ChannelErrorCode, ChannelIdentity, ChannelLoginError, validate_code
from .transport import redact_http_client_logs, send

__all__ = ["WeChatAdapter", "WeChatConfig"]

log = logging.getLogger(__name__)

_CHANNEL_NAME = "WeChat"
# openid and unionid are 28 URL-safe characters today; allow some room, refuse anything else.
_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")

# errcode → (our code, what it means, seconds to wait). Mapped explicitly so that an
# unknown errcode is never mistaken for a user error the front end could fix.
_ERRCODES: dict[int, tuple[ChannelErrorCode, str, float | None]] = {
    40029: (ChannelErrorCode.INVALID_CODE, "the login code is invalid or expired", None),
    40163: (ChannelErrorCode.CODE_ALREADY_USED, "the login code was already used", None),
    # 45011 is WeChat's per-user frequency limit (100 calls a minute).
    45011: (ChannelErrorCode.RATE_LIMITED, "too many login attempts", 60.0),
    -1: (ChannelErrorCode.CHANNEL_BUSY, "WeChat is busy", 1.0),
    40226: (ChannelErrorCode.USER_REJECTED, "WeChat flagged this account as high-risk", None),
    # Our own configuration is wrong: say so, because no user action will help.
    40013: (ChannelErrorCode.CHANNEL_ERROR, "WeChat rejected the app id (check config)", None),
    40125: (ChannelErrorCode.CHANNEL_ERROR, "WeChat rejected the app secret (check config)", None),
}


@dataclass(frozen=True, slots=True)
class WeChatConfig:
    """How to reach ``jscode2session`` for one mini-program.

    ``app_secret`` is left out of ``repr`` so that printing a config never reveals it.

    Example::

        WeChatConfig(app_id="wx1234567890abcdef", app_secret="...", timeout=5.0)
    """

    app_id: str
    app_secret: str = field(repr=False)
    base_url: str = "https://api.weixin.qq.com"
    timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.app_id or not self.app_secret:
            raise ValueError("WeChatConfig needs an app_id and an app_secret")
        if self.timeout <= 0:
            raise ValueError("WeChatConfig.timeout must be positive")


class WeChatAdapter:
    """Exchanges a ``wx.login()`` code for a :class:`ChannelIdentity`.

    Pass a shared ``httpx.AsyncClient`` to reuse connections; without one the adapter opens
    its own, closed by :meth:`aclose` (or ``async with``).

    Example::

        async with WeChatAdapter(WeChatConfig(app_id, app_secret)) as wechat:
            identity = await wechat.exchange(code)  # identity.channel_user_id is the openid
    """

    channel = Channel.WECHAT

    def __init__(self, config: WeChatConfig, client: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        redact_http_client_logs()

    async def exchange(self, code: str) -> ChannelIdentity:
        """Call ``jscode2session`` with ``code``; raise :class:`ChannelLoginError` on failure."""
        validate_code(code)
        request = self._client.build_request(
            "GET",
            f"{self._config.base_url.rstrip('/')}/sns/jscode2session",
            params={
                "appid": self._config.app_id,
                "secret": self._config.app_secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
            # httpx's per-read limits follow the configured budget rather than its defaults.
            timeout=self._config.timeout,
        )
        response = await send(
            self._client, request, time_budget=self._config.timeout, channel=_CHANNEL_NAME
        )
        return _identity_from(response.body)

    async def aclose(self) -> None:
        """Close the HTTP client if this adapter opened it."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _identity_from(body: bytes) -> ChannelIdentity:
    answer = _parse(body)
    # Dropped first, before any branch can log or keep the answer.
    answer.pop("session_key", None)
    errcode = answer.get("errcode", 0)
    if errcode not in (0, None):
        raise _error_for(errcode)
    openid = answer.get("openid")
    if not isinstance(openid, str) or not _ID_PATTERN.fullmatch(openid):
        raise ChannelLoginError(
            ChannelErrorCode.CHANNEL_ERROR, "WeChat answered without a usable openid"
        )
    unionid = answer.get("unionid")
    if unionid is not None and not (isinstance(unionid, str) and _ID_PATTERN.fullmatch(unionid)):
        raise ChannelLoginError(ChannelErrorCode.CHANNEL_ERROR, "WeChat sent a malformed unionid")
    return ChannelIdentity(channel=Channel.WECHAT, channel_user_id=openid, union_id=unionid or None)


def _parse(body: bytes) -> dict[str, Any]:
    # WeChat labels this JSON text/plain at times, so the content type is not consulted.
    try:
        answer = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        answer = None
    if not isinstance(answer, dict):
        raise ChannelLoginError(ChannelErrorCode.CHANNEL_ERROR, "WeChat answered with non-JSON")
    return answer


def _error_for(errcode: object) -> ChannelLoginError:
    if not isinstance(errcode, int) or isinstance(errcode, bool):
        return ChannelLoginError(ChannelErrorCode.CHANNEL_ERROR, "WeChat sent a malformed errcode")
    known = _ERRCODES.get(errcode)
    if known is None:
        # errmsg is WeChat's own text, but it is not repeated: the number is what support
        # needs, and it cannot carry anything the user sent.
        log.warning("WeChat jscode2session failed with unmapped errcode %d", errcode)
        return ChannelLoginError(
            ChannelErrorCode.CHANNEL_ERROR, f"WeChat refused the login (errcode {errcode})"
        )
    code, meaning, retry_after = known
    log.info("WeChat jscode2session failed with errcode %d", errcode)
    return ChannelLoginError(code, f"{meaning} (errcode {errcode})", retry_after)
