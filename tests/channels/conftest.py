"""Fixtures: fake WeChat and Alipay servers running for real, and adapters pointed at them.

The servers live for the whole session (starting uvicorn is the slow part); each test gets
them reset to a clean state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from api.services.channels import AlipayAdapter, AlipayConfig, WeChatAdapter, WeChatConfig
from tests.channels.fake_alipay import FakeAlipay
from tests.channels.fake_wechat import FakeWeChat
from tests.channels.live_server import LiveServer

#: Short enough that hang tests stay fast, long enough for a loaded CI machine's loopback.
TEST_TIMEOUT = 0.5


def private_pem(key: rsa.RSAPrivateKey) -> str:
    """PKCS#8 PEM text of ``key``."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    """SubjectPublicKeyInfo PEM text of ``key``'s public half."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="session")
def app_key() -> rsa.RSAPrivateKey:
    """The mini-program's own RSA2 key pair (private half; Alipay holds the public half)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def alipay_key() -> rsa.RSAPrivateKey:
    """The fake Alipay's signing key pair."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def _wechat_server() -> Iterator[tuple[FakeWeChat, LiveServer]]:
    fake = FakeWeChat()
    server = LiveServer(fake.app).start()
    yield fake, server
    server.stop()


@pytest.fixture(scope="session")
def _alipay_server(
    app_key: rsa.RSAPrivateKey, alipay_key: rsa.RSAPrivateKey
) -> Iterator[tuple[FakeAlipay, LiveServer]]:
    fake = FakeAlipay(app_public_key=app_key.public_key(), alipay_private_key=alipay_key)
    server = LiveServer(fake.app).start()
    yield fake, server
    server.stop()


@pytest.fixture
def fake_wechat(_wechat_server: tuple[FakeWeChat, LiveServer]) -> FakeWeChat:
    """The fake WeChat, reset for this test."""
    fake, _ = _wechat_server
    fake.reset()
    return fake


@pytest.fixture
def fake_alipay(_alipay_server: tuple[FakeAlipay, LiveServer]) -> FakeAlipay:
    """The fake Alipay gateway, reset for this test."""
    fake, _ = _alipay_server
    fake.reset()
    return fake


@pytest.fixture
def wechat_config(
    fake_wechat: FakeWeChat, _wechat_server: tuple[FakeWeChat, LiveServer]
) -> WeChatConfig:
    """A config that points at the fake WeChat with the right credentials."""
    return WeChatConfig(
        app_id=fake_wechat.app_id,
        app_secret=fake_wechat.app_secret,
        base_url=_wechat_server[1].url,
        timeout=TEST_TIMEOUT,
    )


@pytest.fixture
def alipay_config(
    fake_alipay: FakeAlipay,
    _alipay_server: tuple[FakeAlipay, LiveServer],
    app_key: rsa.RSAPrivateKey,
    alipay_key: rsa.RSAPrivateKey,
) -> AlipayConfig:
    """A config that points at the fake gateway, verifying its answers."""
    return AlipayConfig(
        app_id=fake_alipay.app_id,
        private_key_pem=private_pem(app_key),
        alipay_public_key_pem=public_pem(alipay_key),
        gateway=_alipay_server[1].url + "/gateway.do",
        timeout=TEST_TIMEOUT,
    )


@pytest.fixture
async def wechat(wechat_config: WeChatConfig) -> AsyncIterator[WeChatAdapter]:
    """A WeChat adapter talking to the fake over HTTP."""
    async with WeChatAdapter(wechat_config) as adapter:
        yield adapter


@pytest.fixture
async def alipay(alipay_config: AlipayConfig) -> AsyncIterator[AlipayAdapter]:
    """An Alipay adapter talking to the fake gateway over HTTP."""
    async with AlipayAdapter(alipay_config) as adapter:
        yield adapter
