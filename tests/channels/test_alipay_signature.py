"""RSA2 helpers: the signing string, and cutting a response node out of the raw answer."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from api.services.channels.alipay_signature import (
    response_node_text,
    sign_rsa2,
    signing_content,
    verify_rsa2,
)


def test_signing_content_sorts_and_skips_sign_and_empty_values() -> None:
    params = {
        "timestamp": "2024-03-01 12:00:00",
        "app_id": "2021",
        "sign": "ignored",
        "code": "abc",
        "refresh_token": "",
        "biz_content": '{"a":"b"}',
    }

    assert signing_content(params) == (
        'app_id=2021&biz_content={"a":"b"}&code=abc&timestamp=2024-03-01 12:00:00'
    )


def test_signature_round_trip_and_tamper_detection(app_key: rsa.RSAPrivateKey) -> None:
    signature = sign_rsa2("app_id=2021&code=abc", app_key)

    assert verify_rsa2("app_id=2021&code=abc", signature, app_key.public_key())
    assert not verify_rsa2("app_id=2021&code=abd", signature, app_key.public_key())
    assert not verify_rsa2("app_id=2021&code=abc", "not base64!", app_key.public_key())


def test_node_text_is_the_exact_source_even_with_braces_in_strings() -> None:
    node = '{ "msg" : "a } \\" {", "n":{"x":[1,{"y":2}]} }'
    raw = '{"other":{"msg":"}"}, "alipay_system_oauth_token_response" :' + node + ',"sign":"s"}'

    assert response_node_text(raw, "alipay_system_oauth_token_response") == node
    assert response_node_text(raw, "other") == '{"msg":"}"}'


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "[]",
        '{"sign":"s"}',
        '{"alipay_system_oauth_token_response":',
        '{"a":1 "alipay_system_oauth_token_response":{}}',
        '{"x":{"alipay_system_oauth_token_response":{}}}',
    ],
)
def test_node_text_is_none_when_the_node_is_not_at_top_level(raw: str) -> None:
    assert response_node_text(raw, "alipay_system_oauth_token_response") is None
