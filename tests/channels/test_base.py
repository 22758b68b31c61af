"""The channel login contract: code validation, errors, identities."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from api.services.channels import (
    AlipayAdapter,
    Channel,
    ChannelAdapter,
    ChannelErrorCode,
    ChannelIdentity,
    ChannelLoginError,
    SandboxChannelAdapter,
    WeChatAdapter,
    WeChatConfig,
    validate_code,
)


@pytest.mark.parametrize(
    "code",
    ["081Kq4Ga1G8ZzH0LkxHa1xEJZa1Kq4GM", "4b203fe6c11548bcabd8da5bb087a83b", "a", "x" * 128],
)
def test_real_looking_codes_pass_validation(code: str) -> None:
    assert validate_code(code) == code


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("", "empty"),
        (None, "empty"),
        (12345, "empty"),
        ("x" * 129, "longer than 128"),
        ("abc def", "characters"),
        ("abc\x00", "characters"),
        ("abc%20", "characters"),
        ("ｆｕｌｌｗｉｄｔｈ", "characters"),
    ],
)
def test_malformed_codes_fail_validation_with_a_clear_message(code: object, reason: str) -> None:
    with pytest.raises(ChannelLoginError) as caught:
        validate_code(code)

    assert caught.value.code is ChannelErrorCode.INVALID_CODE
    assert reason in caught.value.message
    if isinstance(code, str) and code:
        assert code not in caught.value.message


def test_login_error_reads_well_and_survives_pickling() -> None:
    error = ChannelLoginError(ChannelErrorCode.RATE_LIMITED, "too many attempts", 60.0)

    assert str(error) == "RATE_LIMITED: too many attempts"
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert (clone.code, clone.message, clone.retry_after) == (
            ChannelErrorCode.RATE_LIMITED,
            "too many attempts",
            60.0,
        )


def test_identity_is_frozen_and_has_no_room_for_secrets() -> None:
    identity = ChannelIdentity(Channel.WECHAT, "oUser")

    with pytest.raises(dataclasses.FrozenInstanceError):
        identity.channel_user_id = "other"  # type: ignore[misc]
    assert [f.name for f in dataclasses.fields(ChannelIdentity)] == [
        "channel",
        "channel_user_id",
        "union_id",
        "real_name_id",  # an opaque digest of who the person is, never a certificate number
    ]


def test_channel_values_are_the_plain_strings_other_layers_use() -> None:
    assert Channel.WECHAT == "WECHAT"
    assert Channel.ALIPAY == "ALIPAY"


def test_every_adapter_satisfies_the_protocol(wechat: WeChatAdapter, alipay: AlipayAdapter) -> None:
    for adapter in (wechat, alipay, SandboxChannelAdapter(Channel.WECHAT)):
        assert isinstance(adapter, ChannelAdapter)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"app_id": "", "app_secret": "s"},
        {"app_id": "wx1", "app_secret": ""},
        {"app_id": "wx1", "app_secret": "s", "timeout": 0},
    ],
)
def test_wechat_config_refuses_incomplete_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        WeChatConfig(**kwargs)  # type: ignore[arg-type]
