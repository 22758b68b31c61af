"""Sandbox login: deterministic identities for development, no channel involved.

A sandbox code is ``sandbox:<name>`` where ``<name>`` matches ``[a-z0-9_-]{1,32}``; it logs
in as channel user ``sandbox-<name>`` on the adapter's channel, with no union id. The same
name always gives the same user, so a developer can come back as "alice" after a restart.
The sandbox vouches for a real-name identity too, as a real-name certified channel would:
``sandbox:alice`` on WeChat and on Alipay are two users and one person, whose withdrawals
share the per-person daily cap.
The ``sandbox-`` prefix makes these users easy to spot and purge; WeChat openids start with
``o`` and Alipay ids with digits, so it does not collide with the ids real channels issue.

This adapter accepts anyone who knows the format: it must only be reachable where sandbox
login is allowed. :class:`~api.services.channels.routing.ChannelRouter` enforces that.
"""

from __future__ import annotations

import hashlib
import re

from .base import Channel, ChannelErrorCode, ChannelIdentity, ChannelLoginError

__all__ = ["SANDBOX_PREFIX", "SandboxChannelAdapter", "sandbox_real_name_id", "sandbox_user_id"]

#: Codes with this prefix are sandbox codes on every channel.
SANDBOX_PREFIX = "sandbox:"
_NAME = re.compile(r"[a-z0-9_-]{1,32}")


def sandbox_user_id(name: str) -> str:
    """The ``channel_user_id`` that ``sandbox:<name>`` logs in as."""
    return f"sandbox-{name}"


def sandbox_real_name_id(name: str) -> str:
    """The real-name identity ``sandbox:<name>`` is vouched for with, on every channel."""
    return "sandbox-" + hashlib.sha256(f"cardcash-sandbox-person\x00{name}".encode()).hexdigest()


class SandboxChannelAdapter:
    """Turns ``sandbox:<name>`` into the identity ``sandbox-<name>``, without any network.

    Example::

        adapter = SandboxChannelAdapter(Channel.WECHAT)
        identity = await adapter.exchange("sandbox:alice")
        assert identity.channel_user_id == "sandbox-alice"
    """

    def __init__(self, channel: Channel) -> None:
        self.channel = Channel(channel)

    async def exchange(self, code: str) -> ChannelIdentity:
        """Return the sandbox identity for ``code``; ``INVALID_CODE`` for anything else."""
        name = code[len(SANDBOX_PREFIX) :] if isinstance(code, str) else ""
        if not (isinstance(code, str) and code.startswith(SANDBOX_PREFIX)) or not _NAME.fullmatch(
            name
        ):
            raise ChannelLoginError(
                ChannelErrorCode.INVALID_CODE,
                "a sandbox code is 'sandbox:' followed by 1-32 of a-z, 0-9, '_' or '-'",
            )
        return ChannelIdentity(
            channel=self.channel,
            channel_user_id=sandbox_user_id(name),
            real_name_id=sandbox_real_name_id(name),
        )
