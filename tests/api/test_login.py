"""Sign-in over GraphQL: sandbox codes, a real channel (fake WeChat over HTTP), tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlmodel import func, select

from api import messages
from api.app import create_app
from api.services import sessions
from api.services.sessions import InvalidSession, SessionTokens
from api.settings import Settings
from db.models import User
from tests.channels.fake_wechat import FakeWeChat
from tests.channels.live_server import LiveServer
from tests.conftest import gql

LOGIN = """
mutation($channel: Channel!, $code: String!) {
  login(input: {channel: $channel, code: $code}) {
    __typename
    ... on LoginSuccess { token expiresAt viewer { id channel } }
    ... on Error { code message }
    ... on LoginError { retryAfterSeconds }
  }
}
"""
VIEWER = "{ viewer { id channel } }"


async def login(client, channel: str, code: str) -> dict:
    return (await gql(client, LOGIN, {"channel": channel, "code": code}))["data"]["login"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def users(app) -> int:
    async with app.state.services.db.read() as session:
        return (await session.exec(select(func.count()).select_from(User))).one()


async def test_sandbox_login_then_viewer(client, app):
    result = await login(client, "WECHAT", "sandbox:alice")
    assert result["__typename"] == "LoginSuccess"
    expires = datetime.fromisoformat(result["expiresAt"])
    assert expires.tzinfo is not None and expires > datetime.now(UTC) + timedelta(hours=23)
    viewer = (await gql(client, VIEWER, headers=bearer(result["token"])))["data"]["viewer"]
    assert viewer == {"id": result["viewer"]["id"], "channel": "WECHAT"}

    again = await login(client, "WECHAT", "sandbox:alice")
    assert again["viewer"]["id"] == viewer["id"]
    assert await users(app) == 1


async def test_same_person_on_two_channels_is_two_users(client, app):
    wechat = await login(client, "WECHAT", "sandbox:bob")
    alipay = await login(client, "ALIPAY", "sandbox:bob")
    assert wechat["viewer"]["id"] != alipay["viewer"]["id"]
    assert alipay["viewer"]["channel"] == "ALIPAY"
    assert await users(app) == 2


async def test_viewer_is_null_without_a_token(client):
    assert (await gql(client, VIEWER))["data"] == {"viewer": None}


@pytest.mark.parametrize(
    "code", ["", "sandbox:", "sandbox:UPPER", "sandbox:" + "a" * 33, "x" * 5000, "sandbox:a b"]
)
async def test_bad_codes_are_typed_errors_and_create_nothing(client, app, code):
    result = await login(client, "ALIPAY", code)
    assert result["__typename"] == "LoginError"
    assert result["code"] == "INVALID_CODE" and result["message"]
    assert await users(app) == 0


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature tampered
        lambda t: t.split(".")[0] + "." + t.split(".")[1] + ".",  # signature removed
        lambda t: "not-a-token",
        lambda t: "x" * 5000,
    ],
)
async def test_tampered_tokens_are_unauthenticated(client, mangle):
    token = (await login(client, "WECHAT", "sandbox:carol"))["token"]
    body = await gql(client, VIEWER, headers=bearer(mangle(token)))
    assert body["data"] == {"viewer": None} or body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_unsigned_and_foreign_key_tokens_are_refused(client, app):
    real = (await login(client, "WECHAT", "sandbox:dave"))["token"]
    claims = jwt.decode(real, options={"verify_signature": False})
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    forged = jwt.encode(claims, "another-key-of-at-least-32-bytes-long!!", algorithm="HS256")
    for token in (unsigned, forged):
        body = await gql(client, VIEWER, headers=bearer(token))
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_expired_token_is_unauthenticated(client, app):
    account = (await login(client, "WECHAT", "sandbox:erin"))["viewer"]
    tokens = SessionTokens(app.state.services.settings.signing_key, timedelta(minutes=5))
    token, _ = tokens.issue(account["id"], "WECHAT", now=datetime.now(UTC) - timedelta(hours=1))
    body = await gql(client, VIEWER, headers=bearer(token))
    assert body["data"] == {"viewer": None}
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["extensions"]["reason"] == "EXPIRED"
    assert body["errors"][0]["message"] == messages.text("auth.EXPIRED")


def test_a_token_checked_once_is_remembered_until_it_expires(monkeypatch):
    tokens = SessionTokens(b"k" * 32, timedelta(minutes=5))
    token, expires_at = tokens.issue("usr_1", "WECHAT")
    first = tokens.verify(token)
    assert first.user_id == "usr_1" and first.expires_at == expires_at
    assert tokens.verify(token) is first  # not decoded again
    monkeypatch.setattr(sessions.time, "time", lambda: expires_at.timestamp())
    with pytest.raises(InvalidSession, match="expired"):
        tokens.verify(token)
    head, payload, signature = token.split(".")
    other = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(InvalidSession, match="invalid"):  # one character off is another token
        tokens.verify(f"{head}.{payload}.{other}")


async def test_token_for_the_other_channel_is_refused(client, app):
    account = (await login(client, "WECHAT", "sandbox:frank"))["viewer"]
    tokens = SessionTokens(app.state.services.settings.signing_key, timedelta(minutes=5))
    token, _ = tokens.issue(account["id"], "ALIPAY")
    body = await gql(client, VIEWER, headers=bearer(token))
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_wrong_authorization_scheme(client):
    body = await gql(client, VIEWER, headers={"Authorization": "Basic abc"})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_sessions_survive_a_restart_with_the_dev_key(settings, client):
    token = (await login(client, "WECHAT", "sandbox:gina"))["token"]
    restarted = create_app(settings)
    async with restarted.router.lifespan_context(restarted):
        import httpx

        transport = httpx.ASGITransport(app=restarted)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as other:
            body = await gql(other, VIEWER, headers=bearer(token))
    assert body["data"]["viewer"]["channel"] == "WECHAT"


async def test_replicas_with_the_same_key_accept_each_others_tokens(database_url, tmp_path):
    import httpx

    key = "k" * 40
    tokens = []
    for name in ("a", "b"):
        settings = Settings(database_url=database_url, data_dir=tmp_path / name, secret_key=key)
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                if tokens:
                    body = await gql(c, VIEWER, headers=bearer(tokens[0]))
                    assert body["data"]["viewer"]["channel"] == "ALIPAY"
                else:
                    tokens.append((await login(c, "ALIPAY", "sandbox:hank"))["token"])


async def test_prod_mode_refuses_sandbox_codes(database_url, tmp_path):
    import httpx

    settings = Settings(
        database_url=database_url, data_dir=tmp_path, env="prod", secret_key="s" * 40
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            result = await login(c, "WECHAT", "sandbox:ivan")
    assert result["code"] == "SANDBOX_DISABLED"


@pytest.fixture(scope="module")
def wechat_server():
    fake = FakeWeChat()
    server = LiveServer(fake.app).start()
    yield fake, server
    server.stop()


@pytest.fixture
async def wechat_client(wechat_server, database_url, tmp_path):
    import httpx

    from api.services.catalog import seed_catalog

    fake, server = wechat_server
    fake.reset()
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        wechat_app_id=fake.app_id,
        wechat_app_secret=fake.app_secret,
        wechat_api_url=server.url,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        await seed_catalog(application.state.services.db)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield fake, c, application


async def test_wechat_login_end_to_end(wechat_client, caplog):
    fake, client, application = wechat_client
    code = fake.issue_code(openid="oWeChatUser0001", unionid="uUnion1")
    result = await login(client, "WECHAT", code)
    assert result["__typename"] == "LoginSuccess"
    replay = await login(client, "WECHAT", code)
    assert replay["code"] == "CODE_ALREADY_USED"
    unknown = await login(client, "WECHAT", "A" * 32)
    assert unknown["code"] == "INVALID_CODE"
    assert await users(application) == 1
    text = caplog.text + str(result)
    for secret in fake.session_keys + [fake.app_secret, code]:
        assert secret not in text


async def test_wechat_rate_limit_is_typed(wechat_client):
    fake, client, application = wechat_client
    code = fake.issue_code()
    fake.script(code, 45011)
    result = await login(client, "WECHAT", code)
    assert result["code"] == "RATE_LIMITED" or result["code"] == "CHANNEL_BUSY"
    assert await users(application) == 0


def test_dev_key_is_made_once_and_shared(tmp_path):
    first = Settings(data_dir=tmp_path, env="dev").signing_key
    second = Settings(data_dir=tmp_path, env="dev").signing_key
    assert first == second and len(first) >= 32
    assert [p.name for p in tmp_path.iterdir()] == ["dev-secret-key"]  # no leftovers
    assert (tmp_path / "dev-secret-key").stat().st_mode & 0o777 == 0o600
