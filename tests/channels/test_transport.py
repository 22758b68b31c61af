"""Secrets stay out of logs, even at DEBUG and even from httpx's own request lines."""

from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from api.services.channels import AlipayAdapter, ChannelLoginError, WeChatAdapter
from api.services.channels.transport import redact_http_client_logs
from tests.channels.conftest import private_pem
from tests.channels.fake_alipay import FakeAlipay, ScriptedError
from tests.channels.fake_wechat import FakeWeChat
from tests.channels.scripted import HTML_PAGE, Scripted


async def test_no_secret_reaches_the_logs_at_debug(
    caplog: pytest.LogCaptureFixture,
    wechat: WeChatAdapter,
    alipay: AlipayAdapter,
    fake_wechat: FakeWeChat,
    fake_alipay: FakeAlipay,
    app_key: rsa.RSAPrivateKey,
) -> None:
    caplog.set_level(logging.DEBUG)
    codes = [fake_wechat.issue_code(unionid="uUnion") for _ in range(5)]
    fake_wechat.script(codes[2], 61234)
    fake_wechat.script(codes[3], HTML_PAGE)
    fake_wechat.script(codes[4], Scripted(b"{}", delay=5.0))
    alipay_codes = [fake_alipay.issue_code() for _ in range(3)]
    fake_alipay.script(alipay_codes[1], ScriptedError("40004", "isv.new-reason"))
    fake_alipay.script(alipay_codes[2], ScriptedError("20000", "isp.unknow-error"))

    await wechat.exchange(codes[0])
    await alipay.exchange(alipay_codes[0])
    for code in [codes[0], *codes[1:]]:
        # codes[0] again: the "already used" failure path logs too.
        try:
            await wechat.exchange(code)
        except ChannelLoginError:
            logging.getLogger("cardcash.test").exception("login failed")
    for code in alipay_codes[1:]:
        with pytest.raises(ChannelLoginError):
            await alipay.exchange(code)

    secrets = [
        fake_wechat.app_secret,
        *codes,
        *fake_wechat.session_keys,
        *alipay_codes,
        *fake_alipay.tokens,
        *private_pem(app_key).splitlines()[1:-1],
        *[params["sign"] for params in fake_alipay.requests],
    ]
    assert len(fake_wechat.session_keys) == 2
    assert len(fake_alipay.tokens) == 2
    # uvicorn's records are the fake servers' own access logs, standing in for WeChat's and
    # Alipay's side of the wire; every other record was emitted by our process.
    ours = [record for record in caplog.records if not record.name.startswith("uvicorn")]
    messages = [record.getMessage() for record in ours]
    # Formatted records include tracebacks of logged exceptions (the chained causes too).
    formatted = "\n".join(caplog.handler.format(record) for record in ours)
    assert "Traceback" in formatted
    for secret in secrets:
        assert secret not in formatted
    # The httpx request lines were logged, and redacted: the check above is not vacuous.
    assert any("/sns/jscode2session?[REDACTED]" in message for message in messages)
    assert any("HTTP Request: POST" in message for message in messages)


def test_redaction_rewrites_every_url_query_in_a_record() -> None:
    redact_http_client_logs()
    redact_http_client_logs()  # idempotent: still one filter
    logger = logging.getLogger("httpx")
    (redactor,) = [f for f in logger.filters if type(f).__name__ == "RedactFilter"]
    record = logger.makeRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        'HTTP Request: %s %s "%s"',
        ("GET", "https://api.weixin.qq.com/sns/jscode2session?appid=a&secret=S3CR3T", "200"),
        None,
    )

    assert redactor.filter(record)
    assert record.getMessage() == (
        'HTTP Request: GET https://api.weixin.qq.com/sns/jscode2session?[REDACTED] "200"'
    )
