"""AlipayAdapter against a fake OpenAPI gateway served over real HTTP.

The fake verifies our RSA2 request signature with the app's public key and signs its
answers with its own key, so these tests exercise both directions of the signature scheme.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from api.services.channels import (
    AlipayAdapter,
    AlipayConfig,
    Channel,
    ChannelErrorCode,
    ChannelLoginError,
)
from tests.channels.conftest import TEST_TIMEOUT, private_pem
from tests.channels.fake_alipay import FakeAlipay, ScriptedError
from tests.channels.fake_wechat import FakeWeChat
from tests.channels.live_server import closed_port_url
from tests.channels.scripted import HTML_PAGE, HUGE, NOT_JSON, SERVER_ERROR, Scripted


async def _refused(adapter: AlipayAdapter, code: str) -> ChannelLoginError:
    with pytest.raises(ChannelLoginError) as caught:
        await adapter.exchange(code)
    return caught.value


async def test_auth_code_is_exchanged_for_open_id(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay
) -> None:
    code = fake_alipay.issue_code(open_id="074aUserOpenId0123456789")

    identity = await alipay.exchange(code)

    assert identity.channel is Channel.ALIPAY
    assert identity.channel_user_id == "074aUserOpenId0123456789"
    assert identity.union_id is None


async def test_request_is_a_signed_form_post_with_the_common_parameters(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay
) -> None:
    code = fake_alipay.issue_code()
    await alipay.exchange(code)

    (params,) = fake_alipay.requests
    (meta,) = fake_alipay.request_meta
    assert meta["content_type"].startswith("application/x-www-form-urlencoded")
    # Nothing in the URL: the code and signature must not reach an access log.
    assert meta["query"] == ""
    assert params["method"] == "alipay.system.oauth.token"
    assert params["format"] == "JSON"
    assert params["charset"] == "utf-8"
    assert params["sign_type"] == "RSA2"
    assert params["version"] == "1.0"
    assert params["grant_type"] == "authorization_code"
    assert params["code"] == code
    assert "biz_content" not in params
    sent = datetime.strptime(params["timestamp"], "%Y-%m-%d %H:%M:%S")
    shanghai_now = datetime.now(timezone(timedelta(hours=8))).replace(tzinfo=None)
    assert abs(shanghai_now - sent) < timedelta(minutes=1)


async def test_older_apps_are_keyed_on_user_id(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay
) -> None:
    identity = await alipay.exchange(
        fake_alipay.issue_code(open_id=None, user_id="2088102150477652")
    )

    assert identity.channel_user_id == "2088102150477652"


async def test_open_id_is_preferred_over_user_id(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay
) -> None:
    code = fake_alipay.issue_code(open_id="074aPreferred", user_id="2088102150477652")

    assert (await alipay.exchange(code)).channel_user_id == "074aPreferred"


async def test_access_token_is_not_in_the_identity(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay
) -> None:
    identity = await alipay.exchange(fake_alipay.issue_code())

    assert len(fake_alipay.tokens) == 2
    for token in fake_alipay.tokens:
        assert token not in repr(identity)


async def test_a_used_code_is_invalid(alipay: AlipayAdapter, fake_alipay: FakeAlipay) -> None:
    code = fake_alipay.issue_code()
    await alipay.exchange(code)

    error = await _refused(alipay, code)

    assert error.code is ChannelErrorCode.INVALID_CODE
    assert "isv.code-invalid" in error.message


async def test_a_wechat_code_is_invalid_on_alipay(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay, fake_wechat: FakeWeChat
) -> None:
    error = await _refused(alipay, fake_wechat.issue_code())

    assert error.code is ChannelErrorCode.INVALID_CODE
    assert len(fake_alipay.requests) == 1


async def test_signing_with_the_wrong_private_key_is_a_configuration_error(
    alipay_config: AlipayConfig, fake_alipay: FakeAlipay
) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    config = dataclasses.replace(alipay_config, private_key_pem=private_pem(other_key))
    async with AlipayAdapter(config) as adapter:
        error = await _refused(adapter, fake_alipay.issue_code())

    assert error.code is ChannelErrorCode.CHANNEL_ERROR
    assert "isv.invalid-signature" in error.message


async def test_wrong_app_id_is_a_configuration_error(
    alipay_config: AlipayConfig, fake_alipay: FakeAlipay
) -> None:
    config = dataclasses.replace(alipay_config, app_id="2021000000000000")
    async with AlipayAdapter(config) as adapter:
        error = await _refused(adapter, fake_alipay.issue_code())

    assert error.code is ChannelErrorCode.CHANNEL_ERROR
    assert "isv.invalid-app-id" in error.message


@pytest.mark.parametrize(
    ("scripted", "expected"),
    [
        (
            ScriptedError("20000", "isp.unknow-error", "Service Currently Unavailable"),
            ChannelErrorCode.CHANNEL_UNAVAILABLE,
        ),
        (
            ScriptedError("20000", "aop.ACQ.SYSTEM_ERROR", "Service Currently Unavailable"),
            ChannelErrorCode.CHANNEL_UNAVAILABLE,
        ),
        (
            ScriptedError("40002", "isv.code-invalid", "Invalid Arguments"),
            ChannelErrorCode.INVALID_CODE,
        ),
        (
            ScriptedError("40006", "isv.insufficient-isv-permissions", "Insufficient Permissions"),
            ChannelErrorCode.CHANNEL_ERROR,
        ),
        (ScriptedError("40004", "isv.some-new-reason"), ChannelErrorCode.CHANNEL_ERROR),
        (ScriptedError("99999", ""), ChannelErrorCode.CHANNEL_ERROR),
    ],
    ids=["unknow-error", "system-error", "code-invalid", "permissions", "business", "unknown"],
)
async def test_error_responses_map_to_typed_errors(
    alipay: AlipayAdapter,
    fake_alipay: FakeAlipay,
    scripted: ScriptedError,
    expected: ChannelErrorCode,
) -> None:
    code = fake_alipay.issue_code()
    fake_alipay.script(code, scripted)

    error = await _refused(alipay, code)

    assert error.code is expected
    assert f"code {scripted.code}" in error.message
    assert code not in str(error)
    if expected is ChannelErrorCode.CHANNEL_UNAVAILABLE:
        assert error.retry_after is not None


@pytest.mark.parametrize("mode", ["unsigned", "wrong_key", "tampered"])
async def test_unsigned_or_forged_answers_are_refused(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay, mode: str
) -> None:
    fake_alipay.sign_mode = mode

    error = await _refused(alipay, fake_alipay.issue_code())

    assert error.code is ChannelErrorCode.CHANNEL_ERROR
    assert "sign" in error.message


async def test_forged_error_answer_is_refused_too(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay
) -> None:
    fake_alipay.sign_mode = "wrong_key"
    code = fake_alipay.issue_code()
    fake_alipay.script(code, ScriptedError("40002", "isv.code-invalid"))

    error = await _refused(alipay, code)

    assert error.code is ChannelErrorCode.CHANNEL_ERROR


async def test_unsigned_error_answer_is_still_mapped(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay
) -> None:
    code = fake_alipay.issue_code()
    fake_alipay.script(code, ScriptedError("40002", "isv.code-invalid", signed=False))

    error = await _refused(alipay, code)

    assert error.code is ChannelErrorCode.INVALID_CODE


async def test_without_alipay_public_key_answers_are_not_verified(
    alipay_config: AlipayConfig, fake_alipay: FakeAlipay
) -> None:
    fake_alipay.sign_mode = "unsigned"
    config = dataclasses.replace(alipay_config, alipay_public_key_pem=None)
    async with AlipayAdapter(config) as adapter:
        identity = await adapter.exchange(fake_alipay.issue_code(open_id="074aUnverified"))

    assert identity.channel_user_id == "074aUnverified"


async def test_slashes_escaped_after_signing_still_verify(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay
) -> None:
    fake_alipay.escape_slashes = True
    fake_alipay.extra_fields = {"avatar": "https://tfs.alipayobjects.com/images/a.png"}

    identity = await alipay.exchange(fake_alipay.issue_code(open_id="074aSlashes"))

    assert identity.channel_user_id == "074aSlashes"


@pytest.mark.parametrize(
    "answer",
    [
        HTML_PAGE,
        NOT_JSON,
        HUGE,
        Scripted(b'{"sign": "abc"}'),
        Scripted(b'{"alipay_system_oauth_token_response": "nope"}'),
        Scripted(b"\xff\xfe garbage"),
    ],
    ids=["html", "broken-json", "huge", "no-node", "node-not-object", "binary"],
)
async def test_unusable_answers_are_channel_errors(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay, answer: Scripted
) -> None:
    code = fake_alipay.issue_code()
    fake_alipay.script(code, answer)

    error = await _refused(alipay, code)

    assert error.code is ChannelErrorCode.CHANNEL_ERROR


async def test_signed_answer_without_any_user_id_is_refused(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay
) -> None:
    error = await _refused(alipay, fake_alipay.issue_code(open_id=None, user_id=None))

    assert error.code is ChannelErrorCode.CHANNEL_ERROR
    assert "open_id" in error.message


async def test_server_error_means_unavailable(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay
) -> None:
    code = fake_alipay.issue_code()
    fake_alipay.script(code, SERVER_ERROR)

    assert (await _refused(alipay, code)).code is ChannelErrorCode.CHANNEL_UNAVAILABLE


async def test_hanging_gateway_gives_up_at_the_timeout(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay
) -> None:
    code = fake_alipay.issue_code()
    fake_alipay.script(code, Scripted(b"{}", delay=5.0))

    started = time.monotonic()
    error = await _refused(alipay, code)

    assert error.code is ChannelErrorCode.CHANNEL_UNAVAILABLE
    assert time.monotonic() - started < TEST_TIMEOUT + 1.0


async def test_connection_refused_means_unavailable(alipay_config: AlipayConfig) -> None:
    config = dataclasses.replace(alipay_config, gateway=closed_port_url() + "/gateway.do")
    async with AlipayAdapter(config) as adapter:
        error = await _refused(adapter, "4b203fe6c11548bcabd8da5bb087a83b")

    assert error.code is ChannelErrorCode.CHANNEL_UNAVAILABLE


@pytest.mark.parametrize("code", ["", "f" * 129, "a&b=c", "sandbox:alice"])
async def test_malformed_codes_are_refused_without_a_request(
    alipay: AlipayAdapter, fake_alipay: FakeAlipay, code: str
) -> None:
    error = await _refused(alipay, code)

    assert error.code is ChannelErrorCode.INVALID_CODE
    assert fake_alipay.requests == []


async def test_keys_given_as_bare_base64_like_the_console_shows(
    alipay_config: AlipayConfig,
    fake_alipay: FakeAlipay,
    app_key: rsa.RSAPrivateKey,
    alipay_key: rsa.RSAPrivateKey,
) -> None:
    def bare(pem: str) -> str:
        return "".join(line for line in pem.splitlines() if not line.startswith("-----"))

    pkcs1 = app_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    spki = alipay_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    config = dataclasses.replace(
        alipay_config,
        private_key_pem=base64.b64encode(pkcs1).decode(),
        alipay_public_key_pem=bare(spki.decode()),
    )
    async with AlipayAdapter(config) as adapter:
        identity = await adapter.exchange(fake_alipay.issue_code(open_id="074aBareKeys"))

    assert identity.channel_user_id == "074aBareKeys"


def test_unreadable_or_non_rsa_keys_fail_at_construction(alipay_config: AlipayConfig) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for broken in (
        dataclasses.replace(alipay_config, private_key_pem="not a key"),
        dataclasses.replace(alipay_config, private_key_pem=ec_key.decode()),
        dataclasses.replace(alipay_config, alipay_public_key_pem="MIIBIjAN"),
    ):
        with pytest.raises(ValueError, match="key"):
            AlipayAdapter(broken)


def test_config_repr_hides_the_keys(alipay_config: AlipayConfig) -> None:
    text = repr(alipay_config)

    assert "PRIVATE KEY" not in text
    assert "PUBLIC KEY" not in text
    assert re.search(r"app_id='\d+'", text)
