"""A logged-out session over the WebSocket, on two real replicas (two `cardcash serve` on one
database): its token is refused at connection_init, and its open sockets end, wherever the
logout happened, within twice CARDCASH_SESSION_CHECK_SECONDS (left at its default, 1 s).

Node's graphql-ws client meets the same in tests/js/test_error_contract.py (one replica).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
import websockets

from api import messages
from tests.api.flow import CREATE, LOGIN, QUOTE, accepted
from tests.http.test_websocket import WATCH, Socket, _connect, _socket
from tests.servers import ServerProcess, seeded_server_env

LOGOUT = "mutation { logout { ... on LogoutSuccess { alreadyLoggedOut } } }"
EVERYWHERE = "mutation { logoutEverywhere { ... on LogoutEverywhereSuccess { alreadyLoggedOut } } }"
#: Twice the default CARDCASH_SESSION_CHECK_SECONDS, and what a loaded test machine may add.
BOUND = 2.0
SLACK = 3.0


@pytest.fixture
def replicas(database_url, tmp_path):
    env = seeded_server_env(database_url, tmp_path)
    first = ServerProcess(env, tmp_path).start()
    try:
        second = ServerProcess(env, tmp_path).start()
    except BaseException:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()


async def _post(url: str, query: str, token: str | None = None, variables=None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        body = await http.post("/graphql", json={"query": query, "variables": variables or {}})
    return body.json()


async def _login(url: str, name: str) -> str:
    body = await _post(url, LOGIN, variables={"code": f"sandbox:{name}", "channel": "ALIPAY"})
    return body["data"]["login"]["token"]


async def _pending_withdrawal(url: str, token: str) -> str:
    """A withdrawal awaiting its verification code: a subscription to it stays open."""
    cards = (
        await _post(url, "{ viewer { creditCards { id bankCode } debitCards { id } } }", token)
    )["data"]["viewer"]
    credit = next(c["id"] for c in cards["creditCards"] if c["bankCode"] == "CEB")
    quote = (
        await _post(
            url,
            QUOTE,
            token,
            {
                "input": {
                    "bankCode": "CEB",
                    "creditCardId": credit,
                    "amount": "2000.00",
                    "repaymentType": "INSTALLMENT",
                    "periods": 6,
                }
            },
        )
    )["data"]["createQuote"]
    created = (
        await _post(
            url,
            CREATE,
            token,
            {
                "input": {
                    "quoteId": quote["id"],
                    "debitCardId": cards["debitCards"][0]["id"],
                    "purpose": "CONSUMPTION",
                    "acceptedDisclosureVersion": quote["disclosure"]["version"],
                    **accepted(quote),
                    "idempotencyKey": str(uuid.uuid4()),
                }
            },
        )
    )["data"]["createWithdrawal"]
    assert created["status"] == "VERIFICATION_REQUIRED", created
    return created["id"]


async def _watching(url: str, token: str, withdrawal_id: str, language: str = "en") -> Socket:
    socket = await _socket(url, {"Authorization": f"Bearer {token}", "Accept-Language": language})
    await socket.ws.send(
        json.dumps(
            {
                "id": "w",
                "type": "subscribe",
                "payload": {"query": WATCH, "variables": {"id": withdrawal_id}},
            }
        )
    )
    first = await socket.recv()
    assert first["type"] == "next", first
    assert first["payload"]["data"]["withdrawal"]["status"] == "VERIFICATION_REQUIRED"
    return socket


async def _ends(socket: Socket, language: str = "en") -> float:
    """Seconds until the subscription ends with REVOKED and the socket closes with 4401."""
    started = time.monotonic()
    ended = await socket.recv(timeout=BOUND + SLACK)
    assert ended["id"] == "w" and ended["type"] == "error", ended
    (error,) = ended["payload"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["extensions"]["reason"] == "REVOKED"
    assert error["message"] == messages.text("auth.REVOKED", language)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await socket.recv(timeout=BOUND + SLACK)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    return time.monotonic() - started


async def _refused_at_init(url: str, token: str) -> None:
    ws = await _connect(url, {"Authorization": f"Bearer {token}"})
    with pytest.raises(websockets.ConnectionClosed) as closed:
        message = await asyncio.wait_for(ws.recv(), 10)
        pytest.fail(f"the server sent {message!r} before closing")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def _still_live(socket: Socket) -> None:
    """The socket still runs operations for its user."""
    messages_ = await socket.run({"query": "{ viewer { id } }"})
    assert messages_[0]["type"] == "next" and messages_[0]["payload"]["data"]["viewer"], messages_


class TestLogoutOverTheSocket:
    async def test_a_logged_out_token_is_refused_at_connection_init_on_every_replica(
        self, replicas
    ):
        first, second = replicas
        token = await _login(first.url, "ws-out-init")
        other = await _login(first.url, "ws-out-init")  # the same user, another session
        everywhere = await _login(first.url, "ws-out-all")
        cut_short = await _login(second.url, "ws-out-all")
        for url in (first.url, second.url):  # both replicas have seen the tokens as good
            for t in (token, other, everywhere, cut_short):
                await (await _socket(url, {"Authorization": f"Bearer {t}"})).ws.close()
        await _post(first.url, LOGOUT, token)
        await _post(second.url, EVERYWHERE, everywhere)
        await asyncio.sleep(BOUND)
        for url in (first.url, second.url):
            for t in (token, everywhere, cut_short):
                await _refused_at_init(url, t)
            await (await _socket(url, {"Authorization": f"Bearer {other}"})).ws.close()

    async def test_a_subscription_ends_when_its_session_logs_out_on_another_replica(self, replicas):
        first, second = replicas
        token = await _login(first.url, "ws-watcher")
        bystander = await _login(first.url, "ws-bystander")
        mine = await _pending_withdrawal(first.url, token)
        theirs = await _pending_withdrawal(first.url, bystander)
        watched = await _watching(second.url, token, mine, "zh-CN")
        idle = await _socket(second.url, {"Authorization": f"Bearer {token}"})
        unaffected = await _watching(second.url, bystander, theirs)
        assert (await _post(first.url, LOGOUT, token))["data"]["logout"] == {
            "alreadyLoggedOut": False
        }
        assert await _ends(watched, "zh-CN") <= BOUND + SLACK
        # A socket of the session with nothing running is closed too.
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await idle.recv(timeout=BOUND + SLACK)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        # Another user's subscription runs on, and their socket still answers.
        await _still_live(unaffected)
        await unaffected.ws.close()

    async def test_logout_everywhere_ends_the_sockets_of_every_session(self, replicas):
        first, second = replicas
        on_first = await _login(first.url, "ws-all")
        on_second = await _login(second.url, "ws-all")
        withdrawal = await _pending_withdrawal(first.url, on_first)
        sockets = [
            await _watching(first.url, on_first, withdrawal),
            await _watching(second.url, on_second, withdrawal),
            await _watching(second.url, on_first, withdrawal),
        ]
        assert (await _post(second.url, EVERYWHERE, on_second))["data"]["logoutEverywhere"] == {
            "alreadyLoggedOut": False
        }
        durations = await asyncio.gather(*(_ends(s) for s in sockets))
        assert max(durations) <= BOUND + SLACK
        # A sign-in after it watches again, on either replica.
        later = await _login(first.url, "ws-all")
        for url in (first.url, second.url):
            socket = await _watching(url, later, withdrawal)
            await _still_live(socket)
            await socket.ws.close()
