"""The channel login contract: what every adapter takes, returns and raises.

A mini-program front end obtains a one-time code from its channel (``wx.login()`` on WeChat,
``my.getAuthCode()`` on Alipay) and sends it to us. An adapter exchanges that code with the
channel's server for the user's stable identifier. Everything else the channel returns
(WeChat's ``session_key``, Alipay's ``access_token``) stays inside the adapter: the backend
issues its own session, so those secrets have no reason to travel further.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from api.services.catalog import Channel

__all__ = [
    "MAX_CODE_LENGTH",
    "Channel",
    "ChannelAdapter",
    "ChannelErrorCode",
    "ChannelIdentity",
    "ChannelLoginError",
    "validate_code",
]

#: Real codes are 32 characters on both channels; anything much longer is not a code.
MAX_CODE_LENGTH = 128

# Both channels issue codes made of letters, digits and a few URL-safe marks. Refusing
# anything else up front keeps control characters, spaces and injection attempts away from
# the channel's servers and our own logs.
_CODE_PATTERN = re.compile(r"[A-Za-z0-9._~+/=-]+")


@dataclass(frozen=True, slots=True)
class ChannelIdentity:
    """Who the channel says the user is.

    ``channel_user_id`` is WeChat's ``openid`` or Alipay's ``open_id`` (``user_id`` for older
    Alipay apps): stable per user and per app, so it is the key to store users under.
    ``union_id`` is WeChat's ``unionid`` when the app is bound to an Open Platform account.
    ``real_name_id`` is the person the channel's real-name certification vouches for, as an
    opaque digest that is the same for that person on every channel (never a certificate
    number); None when the channel tells no such thing, as neither channel's code exchange
    does today. The per-person daily cap links users by it (see
    :func:`api.services.accounts.person_key`).
    This type deliberately has no field for ``session_key`` or access tokens.

    Example::

        ChannelIdentity(channel=Channel.WECHAT, channel_user_id="oAbc123", union_id=None)
    """

    channel: Channel
    channel_user_id: str
    union_id: str | None = None
    real_name_id: str | None = None


class ChannelErrorCode(StrEnum):
    """Why a login code could not be exchanged. Front ends branch on these values."""

    #: The code is malformed, unknown, expired or for another app/channel: get a new one.
    INVALID_CODE = "INVALID_CODE"
    #: The code was already exchanged once (WeChat tells this apart): get a new one.
    CODE_ALREADY_USED = "CODE_ALREADY_USED"
    #: The channel throttles us or this user; ``retry_after`` says how long to wait.
    RATE_LIMITED = "RATE_LIMITED"
    #: The channel answered "system busy": retrying shortly with a new code is reasonable.
    CHANNEL_BUSY = "CHANNEL_BUSY"
    #: No usable answer: timeout, connection failure, HTTP 5xx or "service unavailable".
    CHANNEL_UNAVAILABLE = "CHANNEL_UNAVAILABLE"
    #: An answer we cannot use: garbage, a forged signature, or an error that points at our
    #: own configuration (wrong app id, secret or key). Retrying will not help.
    CHANNEL_ERROR = "CHANNEL_ERROR"
    #: The channel refuses this user (WeChat's risk control flags the account).
    USER_REJECTED = "USER_REJECTED"
    #: A ``sandbox:`` code reached a server where sandbox login is switched off.
    SANDBOX_DISABLED = "SANDBOX_DISABLED"


class ChannelLoginError(Exception):
    """A typed, user-presentable failure to exchange a login code.

    ``message`` is safe to show and to log: adapters never put the code, the app secret or
    any token in it. ``retry_after`` (seconds) is set when waiting is the remedy.

    Example::

        try:
            identity = await adapter.exchange(code)
        except ChannelLoginError as error:
            if error.code is ChannelErrorCode.RATE_LIMITED:
                ...  # tell the user to wait error.retry_after seconds
    """

    def __init__(
        self, code: ChannelErrorCode, message: str, retry_after: float | None = None
    ) -> None:
        # Passing every argument to Exception keeps the error picklable and copyable.
        super().__init__(code, message, retry_after)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"


@runtime_checkable
class ChannelAdapter(Protocol):
    """Exchanges a channel's one-time login code for a :class:`ChannelIdentity`.

    Implementations raise :class:`ChannelLoginError` for every failure the caller can act
    on, and never return or log the channel's session secrets.
    """

    @property
    def channel(self) -> Channel:
        """The channel whose codes this adapter understands."""
        ...

    async def exchange(self, code: str) -> ChannelIdentity:
        """Exchange ``code`` for the user's identity, or raise :class:`ChannelLoginError`."""
        ...


def validate_code(code: object) -> str:
    """Check a login code's shape before anything is sent; return it unchanged.

    Raises :class:`ChannelLoginError` with ``INVALID_CODE`` for a non-string, an empty or
    oversized code, or characters no channel uses. The message never echoes the code.
    """
    if not isinstance(code, str) or not code:
        raise ChannelLoginError(ChannelErrorCode.INVALID_CODE, "the login code is empty")
    if len(code) > MAX_CODE_LENGTH:
        raise ChannelLoginError(
            ChannelErrorCode.INVALID_CODE,
            f"the login code is longer than {MAX_CODE_LENGTH} characters",
        )
    if not _CODE_PATTERN.fullmatch(code):
        raise ChannelLoginError(
            ChannelErrorCode.INVALID_CODE,
            "the login code contains characters outside letters, digits and ._~+/=-",
        )
    return code
