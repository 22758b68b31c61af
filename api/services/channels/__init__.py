"""Channel login: exchange a mini-program's one-time code for the user's channel identity.

Adapters take their configuration as frozen dataclasses, so this package never reads
settings; the wiring builds them, typically one :class:`ChannelRouter` per channel::

    wechat = ChannelRouter(
        Channel.WECHAT,
        real=WeChatAdapter(WeChatConfig(app_id, app_secret), client=http_client),
        sandbox_enabled=is_dev,
    )
    identity = await wechat.exchange(code)  # or raises ChannelLoginError(code=...)

Modules: ``base`` (contract and errors), ``wechat``, ``alipay`` (+ ``alipay_signature``),
``sandbox``, ``routing`` and ``transport`` (HTTP deadline, error mapping, log redaction).
"""

from .alipay import AlipayAdapter, AlipayConfig
from .base import (
    Channel,
    ChannelAdapter,
    ChannelErrorCode,
    ChannelIdentity,
    ChannelLoginError,
    validate_code,
)
from .routing import ChannelRouter
from .sandbox import SandboxChannelAdapter, sandbox_user_id
from .wechat import WeChatAdapter, WeChatConfig

__all__ = [
    "AlipayAdapter",
    "AlipayConfig",
    "Channel",
    "ChannelAdapter",
    "ChannelErrorCode",
    "ChannelIdentity",
    "ChannelLoginError",
    "ChannelRouter",
    "SandboxChannelAdapter",
    "WeChatAdapter",
    "WeChatConfig",
    "sandbox_user_id",
    "validate_code",
]
