"""WeChatAdapter against a fake jscode2session served over real HTTP."""

from __future__ import annotations

import dataclasses
import time

import pytest

from api.services.channels import (
    Channel,
    ChannelErrorCode,
    ChannelLoginError,
    WeChatAdapter,
    WeChatConfig,
)
from tests.channels.conftest import TEST_TIMEOUT
from tests.channels.fake_alipay import FakeAlipay
from tests.channels.fake_wechat import FakeWeChat
from tests.channels.live_server import closed_port_url
from tests.channels.scripted import (
    HTML_PAGE,
    HUGE,
    JSON_ARRAY,
    NOT_FOUND,
    NOT_JSON,
    SERVER_ERROR,
    THROTTLED,
    Scripted,
)


async def _refused(adapter: WeChatAdapter, code: str) -> ChannelLoginError:
    with pytest.raises(ChannelLoginError) as caught:
        await adapter.exchange(code)
    return caught.value


async def test_code_is_exchanged_for_openid_and_unionid(
    wechat: WeChatAdapter, fake_wechat: FakeWeChat
) -> None:
    code = fake_wechat.issue_code(openid="oUser_123-abc", unionid="uUnion_456")

    identity = await wechat.exchange(code)

    assert identity.channel is Channel.WECHAT
    assert identity.channel_user_id == "oUser_123-abc"
    assert identity.union_id == "uUnion_456"
    assert fake_wechat.requests == [
        {
            "appid": fake_wechat.app_id,
            "secret": fake_wechat.app_secret,
            "js_code": code,
            "grant_type": "authorization_code",
        }
    ]


async def test_identity_without_unionid(wechat: WeChatAdapter, fake_wechat: FakeWeChat) -> None:
    identity = await wechat.exchange(fake_wechat.issue_code(openid="oNoUnion"))

    assert identity.channel_user_id == "oNoUnion"
    assert identity.union_id is None


async def test_session_key_is_not_in_the_identity(
    wechat: WeChatAdapter, fake_wechat: FakeWeChat
) -> None:
    identity = await wechat.exchange(fake_wechat.issue_code())

    (session_key,) = fake_wechat.session_keys
    assert session_key not in repr(identity)
    assert {f.name for f in dataclasses.fields(identity)} == {
        "channel",
        "channel_user_id",
        "union_id",
        "real_name_id",
    }


async def test_a_code_works_once(wechat: WeChatAdapter, fake_wechat: FakeWeChat) -> None:
    code = fake_wechat.issue_code()
    await wechat.exchange(code)

    error = await _refused(wechat, code)

    assert error.code is ChannelErrorCode.CODE_ALREADY_USED
    assert "40163" in error.message


async def test_unknown_code_is_invalid(wechat: WeChatAdapter, fake_wechat: FakeWeChat) -> None:
    error = await _refused(wechat, "071AbCdEfGhIjKlMnOpQrStUvWxYz012")

    assert error.code is ChannelErrorCode.INVALID_CODE
    assert len(fake_wechat.requests) == 1


async def test_an_alipay_auth_code_is_invalid_on_wechat(
    wechat: WeChatAdapter, fake_wechat: FakeWeChat, fake_alipay: FakeAlipay
) -> None:
    error = await _refused(wechat, fake_alipay.issue_code())

    assert error.code is ChannelErrorCode.INVALID_CODE
    assert "40029" in error.message


@pytest.mark.parametrize(
    ("errcode", "expected", "retry_after"),
    [
        (40029, ChannelErrorCode.INVALID_CODE, None),
        (40163, ChannelErrorCode.CODE_ALREADY_USED, None),
        (45011, ChannelErrorCode.RATE_LIMITED, 60.0),
        (-1, ChannelErrorCode.CHANNEL_BUSY, 1.0),
        (40226, ChannelErrorCode.USER_REJECTED, None),
        (61234, ChannelErrorCode.CHANNEL_ERROR, None),
    ],
)
async def test_errcodes_map_to_typed_errors(
    wechat: WeChatAdapter,
    fake_wechat: FakeWeChat,
    errcode: int,
    expected: ChannelErrorCode,
    retry_after: float | None,
) -> None:
    code = fake_wechat.issue_code()
    fake_wechat.script(code, errcode)

    error = await _refused(wechat, code)

    assert error.code is expected
    assert error.retry_after == retry_after
    assert f"errcode {errcode}" in error.message
    # The fake's errmsg echoes part of the code; the adapter's message must not.
    assert code not in str(error)
    assert code[:4] not in error.message


async def test_wrong_secret_is_a_configuration_error_that_hides_the_secret(
    wechat_config: WeChatConfig, fake_wechat: FakeWeChat
) -> None:
    config = dataclasses.replace(wechat_config, app_secret="not-the-secret-0123")
    async with WeChatAdapter(config) as adapter:
        error = await _refused(adapter, fake_wechat.issue_code())

    assert error.code is ChannelErrorCode.CHANNEL_ERROR
    assert "40125" in error.message
    assert "not-the-secret-0123" not in str(error)
    assert "not-the-secret-0123" not in repr(config)


async def test_wrong_app_id_is_a_configuration_error(
    wechat_config: WeChatConfig, fake_wechat: FakeWeChat
) -> None:
    config = dataclasses.replace(wechat_config, app_id="wx0000000000000000")
    async with WeChatAdapter(config) as adapter:
        error = await _refused(adapter, fake_wechat.issue_code())

    assert error.code is ChannelErrorCode.CHANNEL_ERROR
    assert "40013" in error.message


@pytest.mark.parametrize(
    "answer",
    [
        HTML_PAGE,
        NOT_JSON,
        JSON_ARRAY,
        Scripted(b'{"session_key": "abc"}'),
        Scripted(b'{"openid": ""}'),
        Scripted(b'{"openid": "<script>alert(1)</script>"}'),
        Scripted(b'{"openid": 12345}'),
        Scripted(b'{"openid": "oGood", "unionid": ["x"]}'),
        Scripted(b'{"errcode": "40029"}'),
        Scripted(b"\xff\xfe garbage"),
        HUGE,
        NOT_FOUND,
    ],
    ids=[
        "html",
        "broken-json",
        "json-array",
        "missing-openid",
        "empty-openid",
        "markup-openid",
        "numeric-openid",
        "bad-unionid",
        "string-errcode",
        "binary",
        "huge",
        "http-404",
    ],
)
async def test_unusable_answers_are_channel_errors(
    wechat: WeChatAdapter, fake_wechat: FakeWeChat, answer: Scripted
) -> None:
    code = fake_wechat.issue_code()
    fake_wechat.script(code, answer)

    error = await _refused(wechat, code)

    assert error.code is ChannelErrorCode.CHANNEL_ERROR


async def test_server_error_means_unavailable(
    wechat: WeChatAdapter, fake_wechat: FakeWeChat
) -> None:
    code = fake_wechat.issue_code()
    fake_wechat.script(code, SERVER_ERROR)

    error = await _refused(wechat, code)

    assert error.code is ChannelErrorCode.CHANNEL_UNAVAILABLE
    assert "502" in error.message


async def test_http_429_is_rate_limited_with_retry_after(
    wechat: WeChatAdapter, fake_wechat: FakeWeChat
) -> None:
    code = fake_wechat.issue_code()
    fake_wechat.script(code, THROTTLED)

    error = await _refused(wechat, code)

    assert error.code is ChannelErrorCode.RATE_LIMITED
    assert error.retry_after == 7.0


@pytest.mark.parametrize(
    "answer",
    [
        Scripted(b'{"openid": "oLate"}', delay=5.0),
        # Headers arrive at once, then one byte every 0.2 s: no single read times out, so
        # only a deadline on the whole exchange catches it.
        Scripted(b'{"openid": "oDrippingSlowly", "padding": "...."}', drip=0.2),
    ],
    ids=["hangs", "drips"],
)
async def test_slow_server_gives_up_at_the_timeout(
    wechat: WeChatAdapter, fake_wechat: FakeWeChat, answer: Scripted
) -> None:
    code = fake_wechat.issue_code()
    fake_wechat.script(code, answer)

    started = time.monotonic()
    error = await _refused(wechat, code)
    elapsed = time.monotonic() - started

    assert error.code is ChannelErrorCode.CHANNEL_UNAVAILABLE
    assert elapsed < TEST_TIMEOUT + 1.0


async def test_connection_refused_means_unavailable() -> None:
    config = WeChatConfig("wx1", "secret", base_url=closed_port_url(), timeout=TEST_TIMEOUT)
    async with WeChatAdapter(config) as adapter:
        error = await _refused(adapter, "0a1b2c3d4e5f")

    assert error.code is ChannelErrorCode.CHANNEL_UNAVAILABLE
    assert "ConnectError" in error.message


@pytest.mark.parametrize(
    "code",
    ["", "a" * 129, "has space", "semi;colon", "new\nline", "sandbox:alice", "中文"],
    ids=["empty", "oversized", "space", "semicolon", "newline", "sandbox", "non-ascii"],
)
async def test_malformed_codes_are_refused_without_a_request(
    wechat: WeChatAdapter, fake_wechat: FakeWeChat, code: str
) -> None:
    error = await _refused(wechat, code)

    assert error.code is ChannelErrorCode.INVALID_CODE
    assert fake_wechat.requests == []


async def test_shared_client_is_not_closed_by_the_adapter(
    wechat_config: WeChatConfig, fake_wechat: FakeWeChat
) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        async with WeChatAdapter(wechat_config, client=client) as adapter:
            await adapter.exchange(fake_wechat.issue_code())
        assert not client.is_closed
