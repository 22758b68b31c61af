"""SandboxChannelAdapter: deterministic development identities, no network."""

from __future__ import annotations

import pytest

from api.services.channels import (
    Channel,
    ChannelErrorCode,
    ChannelLoginError,
    SandboxChannelAdapter,
    sandbox_user_id,
)


@pytest.mark.parametrize("channel", [Channel.WECHAT, Channel.ALIPAY])
async def test_sandbox_code_logs_in_as_a_stable_user(channel: Channel) -> None:
    adapter = SandboxChannelAdapter(channel)

    first = await adapter.exchange("sandbox:alice")
    again = await adapter.exchange("sandbox:alice")

    assert first == again
    assert first.channel is channel
    assert first.channel_user_id == "sandbox-alice" == sandbox_user_id("alice")
    assert first.union_id is None


async def test_names_may_use_digits_underscore_and_dash() -> None:
    identity = await SandboxChannelAdapter(Channel.WECHAT).exchange("sandbox:qa_user-02")

    assert identity.channel_user_id == "sandbox-qa_user-02"


@pytest.mark.parametrize(
    "code",
    [
        "sandbox:",
        "sandbox:Alice",
        "sandbox:" + "a" * 33,
        "sandbox:a b",
        "sandbox:../admin",
        "alice",
        "SANDBOX:alice",
        "071AbCdEfGhIjKlMnOpQrStUvWxYz012",
    ],
)
async def test_anything_else_is_an_invalid_code(code: str) -> None:
    with pytest.raises(ChannelLoginError) as caught:
        await SandboxChannelAdapter(Channel.ALIPAY).exchange(code)

    assert caught.value.code is ChannelErrorCode.INVALID_CODE
    assert "sandbox:" in caught.value.message
