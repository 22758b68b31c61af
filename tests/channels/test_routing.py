"""ChannelRouter: sandbox codes to the sandbox when enabled, everything else to the channel."""

from __future__ import annotations

import pytest

from api.services.channels import (
    AlipayAdapter,
    Channel,
    ChannelErrorCode,
    ChannelLoginError,
    ChannelRouter,
    WeChatAdapter,
)
from tests.channels.fake_wechat import FakeWeChat


async def test_dev_mode_serves_sandbox_and_real_codes(
    wechat: WeChatAdapter, fake_wechat: FakeWeChat
) -> None:
    router = ChannelRouter(Channel.WECHAT, real=wechat, sandbox_enabled=True)

    sandbox = await router.exchange("sandbox:bob")
    real = await router.exchange(fake_wechat.issue_code(openid="oRealUser"))

    assert sandbox.channel_user_id == "sandbox-bob"
    assert real.channel_user_id == "oRealUser"
    assert len(fake_wechat.requests) == 1


async def test_sandbox_codes_are_refused_when_disabled_without_reaching_the_channel(
    wechat: WeChatAdapter, fake_wechat: FakeWeChat
) -> None:
    router = ChannelRouter(Channel.WECHAT, real=wechat, sandbox_enabled=False)

    with pytest.raises(ChannelLoginError) as caught:
        await router.exchange("sandbox:bob")

    assert caught.value.code is ChannelErrorCode.SANDBOX_DISABLED
    assert fake_wechat.requests == []


async def test_real_codes_without_a_configured_channel_are_unavailable() -> None:
    router = ChannelRouter(Channel.ALIPAY, real=None, sandbox_enabled=True)

    with pytest.raises(ChannelLoginError) as caught:
        await router.exchange("4b203fe6c11548bcabd8da5bb087a83b")

    assert caught.value.code is ChannelErrorCode.CHANNEL_UNAVAILABLE
    assert "not configured" in caught.value.message


async def test_invalid_sandbox_code_in_dev_mode_is_invalid() -> None:
    router = ChannelRouter(Channel.ALIPAY, real=None, sandbox_enabled=True)

    with pytest.raises(ChannelLoginError) as caught:
        await router.exchange("sandbox:NOT VALID")

    assert caught.value.code is ChannelErrorCode.INVALID_CODE


def test_router_refuses_an_adapter_for_the_other_channel(alipay: AlipayAdapter) -> None:
    with pytest.raises(ValueError, match="ALIPAY"):
        ChannelRouter(Channel.WECHAT, real=alipay, sandbox_enabled=False)


async def test_malformed_codes_are_invalid_even_without_a_configured_channel() -> None:
    router = ChannelRouter(Channel.WECHAT, real=None, sandbox_enabled=False)

    with pytest.raises(ChannelLoginError) as caught:
        await router.exchange("x" * 500)

    assert caught.value.code is ChannelErrorCode.INVALID_CODE


async def test_router_accepts_an_equal_channel_value_from_another_enum(
    wechat: WeChatAdapter, fake_wechat: FakeWeChat
) -> None:
    # The catalog has its own Channel StrEnum; the wiring passes that one.
    router = ChannelRouter("WECHAT", real=wechat, sandbox_enabled=False)  # type: ignore[arg-type]

    identity = await router.exchange(fake_wechat.issue_code(openid="oFromWiring"))

    assert identity.channel is Channel.WECHAT
