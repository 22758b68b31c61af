"""One adapter per channel for the wiring to call, whatever the environment.

The rule, applied by :class:`ChannelRouter`:

1. A code starting with ``sandbox:`` goes to :class:`SandboxChannelAdapter` when sandbox
   login is enabled (development), and is refused with ``SANDBOX_DISABLED`` otherwise, so a
   developer who forgot to enable it gets a clear answer instead of a WeChat errcode.
2. Any other code goes to the real channel adapter, when one is configured. Without one it
   is refused with ``CHANNEL_UNAVAILABLE`` ("not configured"), which lets a development
   server run with sandbox login only.

Real adapters never see ``sandbox:`` codes: their own validation would refuse the colon too.
"""

from __future__ import annotations

from .base import (
    Channel,
    ChannelAdapter,
    ChannelErrorCode,
    ChannelIdentity,
    ChannelLoginError,
    validate_code,
)
from .sandbox import SANDBOX_PREFIX, SandboxChannelAdapter

__all__ = ["ChannelRouter"]


class ChannelRouter:
    """Sends each code to the sandbox or the real channel adapter (see the module rule).

    Example::

        wechat = ChannelRouter(Channel.WECHAT, real=WeChatAdapter(config), sandbox_enabled=False)
        identity = await wechat.exchange(code)
    """

    def __init__(
        self, channel: Channel, *, real: ChannelAdapter | None, sandbox_enabled: bool
    ) -> None:
        channel = Channel(channel)
        if real is not None and real.channel != channel:
            raise ValueError(f"a {real.channel} adapter cannot serve {channel} logins")
        self.channel = channel
        self._real = real
        self._sandbox = SandboxChannelAdapter(channel) if sandbox_enabled else None

    async def exchange(self, code: str) -> ChannelIdentity:
        """Exchange ``code`` through the adapter the rule picks."""
        if isinstance(code, str) and code.startswith(SANDBOX_PREFIX):
            if self._sandbox is None:
                raise ChannelLoginError(
                    ChannelErrorCode.SANDBOX_DISABLED, "sandbox login is disabled on this server"
                )
            return await self._sandbox.exchange(code)
        validate_code(code)  # a malformed code is the client's mistake, configured or not
        if self._real is None:
            raise ChannelLoginError(
                ChannelErrorCode.CHANNEL_UNAVAILABLE,
                f"{self.channel.value} login is not configured on this server",
            )
        return await self._real.exchange(code)
