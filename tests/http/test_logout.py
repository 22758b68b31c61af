"""Ending a session before its token expires: logout and logoutEverywhere, over HTTP.

Two apps on one database stand for two replicas: what one ends, the other refuses within
CARDCASH_SESSION_CHECK_SECONDS (left at its default here, as shipped). The sockets' side is in
tests/http/test_logout_sockets.py.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import func, select

from api import messages
from api.services.sessions import AUDIENCE, ISSUER, SessionTokens
from db.models import RevokedSession
from tests.api.flow import LOGIN
from tests.conftest import gql

VIEWER = "{ viewer { id channel } }"
LOGOUT = """mutation { logout { __typename
  ... on LogoutSuccess { alreadyLoggedOut message } } }"""
EVERYWHERE = """mutation { logoutEverywhere { __typename
  ... on LogoutEverywhereSuccess { alreadyLoggedOut message } } }"""
#: The default of CARDCASH_SESSION_CHECK_SECONDS, and what a loaded test machine may add.
STALENESS = 1.0
SLACK = 1.5


async def _sign_in(client, name: str, channel: str = "ALIPAY") -> tuple[str, str]:
    login = (await gql(client, LOGIN, {"code": f"sandbox:{name}", "channel": channel}))["data"][
        "login"
    ]
    return login["token"], login["viewer"]["id"]


def _auth(token: str, language: str = "en") -> dict:
    return {"Authorization": f"Bearer {token}", "Accept-Language": language}


async def _viewer(client, token: str, language: str = "en") -> dict:
    return await gql(client, VIEWER, headers=_auth(token, language))


def _reason(body: dict) -> str | None:
    """extensions.reason of an UNAUTHENTICATED answer; None when the viewer was answered."""
    if body.get("data") and body["data"].get("viewer"):
        return None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED", body
    return error["extensions"]["reason"]


async def _refused_within(client, token: str, seconds: float) -> float:
    """How long until ``client``'s replica refuses ``token`` as REVOKED (asking every 50 ms)."""
    started = time.monotonic()
    while True:
        reason = _reason(await _viewer(client, token))
        if reason is not None:
            assert reason == "REVOKED"
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, f"still accepted after {seconds} s"
        await asyncio.sleep(0.05)


@pytest.fixture
async def replicas(start_app):
    """Two apps on one database, sharing their signing key: two replicas."""
    first, _ = await start_app()
    second, _ = await start_app()
    return first, second


class TestLogout:
    async def test_a_logged_out_token_is_refused_with_reason_revoked(self, client):
        token, user_id = await _sign_in(client, "lou")
        assert (await _viewer(client, token))["data"]["viewer"]["id"] == user_id
        body = await gql(client, LOGOUT, headers=_auth(token))
        assert body["data"]["logout"] == {
            "__typename": "LogoutSuccess",
            "alreadyLoggedOut": False,
            "message": messages.text("logout.DONE", "en"),
        }
        # Every authenticated field refuses it at once on this replica, in the user's language.
        for language in ("en", "zh-CN"):
            body = await _viewer(client, token, language)
            assert _reason(body) == "REVOKED"
            assert body["errors"][0]["message"] == messages.text("auth.REVOKED", language)
        quote = await gql(
            client,
            """mutation { createQuote(input: {bankCode: "CEB", creditCardId: "crd_x",
            amount: "1000.00", repaymentType: INSTALLMENT, periods: 6}) { __typename } }""",
            headers=_auth(token),
        )
        assert quote["errors"][0]["extensions"]["reason"] == "REVOKED"
        zh = await gql(client, LOGOUT, headers=_auth(token, "zh-CN"))
        assert (
            zh["data"]["logout"]["message"]
            == messages.text("logout.DONE", "zh-CN")
            == ("已退出登录。")
        )

    async def test_logout_is_safe_to_repeat(self, client):
        token, _ = await _sign_in(client, "twice")
        first = (await gql(client, LOGOUT, headers=_auth(token)))["data"]["logout"]
        again = [
            (await gql(client, LOGOUT, headers=_auth(token)))["data"]["logout"] for _ in range(3)
        ]
        assert first["alreadyLoggedOut"] is False
        assert [a["alreadyLoggedOut"] for a in again] == [True, True, True]
        assert "errors" not in await gql(client, LOGOUT, headers=_auth(token))

    async def test_a_session_logged_out_is_refused_on_another_replica(self, replicas):
        first, second = replicas
        token, _ = await _sign_in(first, "roamer")
        # The second replica has checked the token and remembers it as good.
        assert _reason(await _viewer(second, token)) is None
        await gql(first, LOGOUT, headers=_auth(token))
        assert await _refused_within(second, token, STALENESS + SLACK) <= STALENESS + SLACK
        assert _reason(await _viewer(first, token)) == "REVOKED"
        # Logging out there again changes nothing, and says so.
        again = (await gql(second, LOGOUT, headers=_auth(token)))["data"]["logout"]
        assert again["alreadyLoggedOut"] is True

    async def test_a_present_but_bad_token_cannot_log_out(self, client, app):
        token, user_id = await _sign_in(client, "target")
        key = app.state.services.settings.signing_key
        now = datetime.now(UTC)
        tokens = SessionTokens(key, timedelta(hours=1))
        expired, _ = tokens.issue(user_id, "ALIPAY", now=now - timedelta(hours=2))
        foreign, _ = SessionTokens(b"another-key-" * 4, timedelta(hours=1)).issue(user_id, "ALIPAY")
        claims = jwt.decode(token, key, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
        none_alg = jwt.encode(claims, None, algorithm="none")
        variants = {
            "expired": (f"Bearer {expired}", "EXPIRED"),
            "signed by another key": (f"Bearer {foreign}", "INVALID"),
            "tampered": (
                f"Bearer {token[:-3]}{'AAA' if not token.endswith('AAA') else 'BBB'}",
                "INVALID",
            ),
            "alg none": (f"Bearer {none_alg}", "INVALID"),
            "another user's id": (
                f"Bearer {tokens.issue('usr_' + '0' * 26, 'ALIPAY')[0]}",
                "INVALID",
            ),
            "another channel": (f"Bearer {tokens.issue(user_id, 'WECHAT')[0]}", "INVALID"),
            "not bearer": (f"Basic {token}", "MALFORMED"),
            "garbage": ("Bearer not-a-token", "INVALID"),
            "none": (None, "MISSING"),
        }
        for mutation, field in ((LOGOUT, "logout"), (EVERYWHERE, "logoutEverywhere")):
            for what, (header, reason) in variants.items():
                headers = {} if header is None else {"Authorization": header}
                body = await gql(client, mutation, headers=headers)
                assert body["data"] is None, (what, body)
                (error,) = body["errors"]
                assert error["extensions"]["code"] == "UNAUTHENTICATED", what
                assert error["extensions"]["reason"] == reason, (what, error)
                assert error["path"] == [field]
        # The real session is untouched, and nothing was written.
        assert _reason(await _viewer(client, token)) is None
        async with app.state.services.db.read() as session:
            count = (await session.exec(select(func.count()).select_from(RevokedSession))).one()[0]
        assert count == 0

    async def test_one_users_logout_leaves_everyone_else_signed_in(self, replicas):
        first, second = replicas
        mine, _ = await _sign_in(first, "leaver")
        mine_too, _ = await _sign_in(second, "leaver")  # the same user, another session
        theirs, _ = await _sign_in(first, "stayer")
        same_name_wechat, _ = await _sign_in(first, "leaver", "WECHAT")  # another user
        await gql(first, LOGOUT, headers=_auth(mine))
        await _refused_within(second, mine, STALENESS + SLACK)
        for client in (first, second):
            for token in (mine_too, theirs, same_name_wechat):
                assert _reason(await _viewer(client, token)) is None

    async def test_a_token_from_before_sessions_had_ids_can_log_out(self, client, app):
        _, user_id = await _sign_in(client, "legacy")
        now = int(time.time())
        legacy = jwt.encode(
            {
                "iss": ISSUER,
                "aud": AUDIENCE,
                "sub": user_id,
                "ch": "ALIPAY",
                "iat": now,
                "exp": now + 3600,
            },
            app.state.services.settings.signing_key,
            algorithm="HS256",
        )
        assert _reason(await _viewer(client, legacy)) is None
        assert (await gql(client, LOGOUT, headers=_auth(legacy)))["data"]["logout"][
            "alreadyLoggedOut"
        ] is False
        assert _reason(await _viewer(client, legacy)) == "REVOKED"

    async def test_rows_of_sessions_whose_tokens_expired_are_purged(self, client, app):
        db = app.state.services.db
        token, user_id = await _sign_in(client, "purger")
        async with db.write() as session:
            session.add(
                RevokedSession(
                    session_id="ses_long_gone",
                    user_id=user_id,
                    expires_at=datetime.now(UTC) - timedelta(seconds=1),
                )
            )
        await gql(client, LOGOUT, headers=_auth(token))
        async with db.read() as session:
            rows = (await session.exec(select(RevokedSession.session_id))).all()
        assert len(rows) == 1 and rows[0] != "ses_long_gone"


class TestLogoutEverywhere:
    async def test_every_session_of_the_user_ends_on_every_replica(self, replicas):
        first, second = replicas
        here, user_id = await _sign_in(first, "everywhere")
        there, same_user = await _sign_in(second, "everywhere")
        assert same_user == user_id
        other_channel, other_id = await _sign_in(first, "everywhere", "WECHAT")
        someone_else, _ = await _sign_in(second, "bystander")
        assert other_id != user_id  # the same person on WeChat is another user
        for client, token in ((first, here), (second, there), (second, here)):
            assert _reason(await _viewer(client, token)) is None
        body = await gql(second, EVERYWHERE, headers=_auth(there, "zh-CN"))
        assert body["data"]["logoutEverywhere"] == {
            "__typename": "LogoutEverywhereSuccess",
            "alreadyLoggedOut": False,
            "message": messages.text("logout.EVERYWHERE", "zh-CN"),
        }
        assert _reason(await _viewer(second, there)) == "REVOKED"
        assert _reason(await _viewer(second, here)) == "REVOKED"
        await _refused_within(first, here, STALENESS + SLACK)
        await _refused_within(first, there, STALENESS + SLACK)
        for client in (first, second):
            assert _reason(await _viewer(client, other_channel)) is None
            assert _reason(await _viewer(client, someone_else)) is None

    async def test_a_sign_in_after_it_works_and_old_tokens_cannot_end_it(self, replicas):
        first, second = replicas
        old, _ = await _sign_in(first, "again")
        older, _ = await _sign_in(first, "again")
        await gql(first, EVERYWHERE, headers=_auth(old))
        new, _ = await _sign_in(second, "again")  # straight after, on the other replica
        for client in (first, second):
            assert _reason(await _viewer(client, new)) is None
        # The ended tokens' logoutEverywhere and logout are harmless: the new session stays.
        for token in (old, older):
            for mutation, field in ((EVERYWHERE, "logoutEverywhere"), (LOGOUT, "logout")):
                result = (await gql(second, mutation, headers=_auth(token)))["data"][field]
                assert result["alreadyLoggedOut"] is True
        for client in (first, second):
            assert _reason(await _viewer(client, new)) is None
        # The new session can end them all again.
        await gql(second, EVERYWHERE, headers=_auth(new))
        await _refused_within(first, new, STALENESS + SLACK)

    async def test_after_logout_the_token_cannot_sign_out_the_others(self, client):
        kept, _ = await _sign_in(client, "careful")
        leaving, _ = await _sign_in(client, "careful")
        await gql(client, LOGOUT, headers=_auth(leaving))
        result = (await gql(client, EVERYWHERE, headers=_auth(leaving)))["data"]
        assert result["logoutEverywhere"]["alreadyLoggedOut"] is True
        assert _reason(await _viewer(client, kept)) is None

    async def test_two_at_once_end_everything_once(self, client):
        a, _ = await _sign_in(client, "racer")
        b, _ = await _sign_in(client, "racer")
        results = await asyncio.gather(
            *(gql(client, EVERYWHERE, headers=_auth(t)) for t in (a, b, a, b))
        )
        flags = sorted(r["data"]["logoutEverywhere"]["alreadyLoggedOut"] for r in results)
        assert flags == [False, True, True, True]
        assert _reason(await _viewer(client, a)) == _reason(await _viewer(client, b)) == "REVOKED"
