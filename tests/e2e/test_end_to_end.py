"""A real server process: login to SUCCEEDED over HTTP and WebSocket, and a crash mid-payout."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from decimal import Decimal

import httpx
import pytest
import websockets

from tests.api.flow import User
from tests.servers import ServerProcess, server_env

SUBSCRIBE = "subscription($id: ID!) { withdrawal(id: $id) { id status events { toStatus } } }"


@pytest.fixture
def seeded(database_url, tmp_path):
    """A migrated, seeded database and a data dir, ready for server processes."""
    import subprocess
    import sys

    env = server_env(database_url, tmp_path / "data")
    subprocess.run(
        [sys.executable, "-m", "api.cli", "seed"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    return env, tmp_path


async def watch(url: str, token: str, withdrawal_id: str, statuses: list[str], done: str) -> None:
    """Subscribe over graphql-transport-ws and record every status pushed until ``done``."""
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        ack = await ws.recv()
        assert isinstance(ack, str), "graphql-transport-ws messages are text frames"
        assert json.loads(ack)["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": {"id": withdrawal_id}},
                }
            )
        )
        while True:
            raw = await asyncio.wait_for(ws.recv(), 15)
            assert isinstance(raw, str), raw
            message = json.loads(raw)
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            statuses.append(message["payload"]["data"]["withdrawal"]["status"])
            if statuses[-1] == done:
                return


async def test_login_to_succeeded_over_http_and_websocket(seeded):
    env, tmp_path = seeded
    with ServerProcess(env, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
            user = await User.sign_in(client, "wendy", "WECHAT")
            token = user.headers["Authorization"].split()[1]
            quote = await user.quote("SPABANK", "5000.00", "INSTALLMENT", 12)
            assert quote["__typename"] == "Quote", quote
            w = await user.withdraw(quote, purpose="EDUCATION")
            assert w["status"] == "VERIFICATION_REQUIRED"
            statuses: list[str] = []
            watcher = asyncio.create_task(watch(server.url, token, w["id"], statuses, "SUCCEEDED"))
            await asyncio.sleep(0.5)
            assert statuses == ["VERIFICATION_REQUIRED"]
            assert (await user.confirm(w["id"]))["status"] == "PROCESSING"
            await asyncio.wait_for(watcher, 20)
            assert statuses == ["VERIFICATION_REQUIRED", "PROCESSING", "SUCCEEDED"]


async def test_a_stranger_cannot_watch_a_withdrawal(seeded):
    env, tmp_path = seeded
    with ServerProcess(env, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
            owner = await User.sign_in(client, "xena")
            stranger = await User.sign_in(client, "yuri")
            w = await owner.withdraw(await owner.quote("CEB", "500.00", "SINGLE_MONTH", 1))
            ws_url = server.url.replace("http://", "ws://") + "/graphql"
            async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
                await ws.send(json.dumps({"type": "connection_init", "payload": stranger.headers}))
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                await ws.send(
                    json.dumps(
                        {
                            "id": "1",
                            "type": "subscribe",
                            "payload": {"query": SUBSCRIBE, "variables": {"id": w["id"]}},
                        }
                    )
                )
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert message["payload"]["data"]["withdrawal"] is None


def bank_ledger(data_dir, request_id: str) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "sandbox-banks.sqlite3") as db:
        return db.execute(
            "SELECT amount, state FROM sandbox_withdrawals WHERE request_id = ?", (request_id,)
        ).fetchall()


async def test_crash_between_bank_call_and_database_write(seeded):
    """The process dies after the bank accepted the payout and before we wrote its answer.
    After a restart, status sync learns the bank's state; nothing is paid twice."""
    env, tmp_path = seeded
    key = str(uuid.uuid4())
    crashing = ServerProcess(env | {"CARDCASH_FAILPOINT": "after-bank-submit"}, tmp_path)
    with crashing:
        async with httpx.AsyncClient(base_url=crashing.url, timeout=15) as client:
            user = await User.sign_in(client, "zoe")
            quote = await user.quote("CEB", "3000.00", "INSTALLMENT", 6)
            with pytest.raises(httpx.TransportError):
                await user.withdraw(quote, key=key)
        assert crashing.wait() == 75  # died at the failpoint, not of something else

    with ServerProcess(env, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as client:
            user.client = client
            retry = await user.withdraw(quote, key=key)  # the front end retries after its timeout
            assert retry["__typename"] == "Withdrawal", retry
            found = await user.wait_for(retry["id"], "VERIFICATION_REQUIRED")
            assert bank_ledger(tmp_path / "data", retry["id"]) == [
                ("3000.00", "VERIFICATION_REQUIRED")
            ]
            assert (await user.confirm(found["id"]))["status"] == "PROCESSING"
            done = await user.wait_for(found["id"], "SUCCEEDED")
            assert Decimal(done["amount"]["amount"]) == Decimal("3000.00")
            ledger = bank_ledger(tmp_path / "data", found["id"])
            assert ledger == [("3000.00", "SUCCEEDED")]  # one payout, in the bank's true state
            history = await user.q("{ viewer { withdrawals { edges { node { id } } } } }")
            assert len(history["data"]["viewer"]["withdrawals"]["edges"]) == 1
