"""Graceful shutdown of a real ``cardcash serve``: in-flight requests finish, then it stops."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.servers import ServerProcess, server_env

SLOW_BANKS = {"*": {"latency_ms": "1500", "failure_rate": "0", "settlement_delay_s": "0.3"}}


@pytest.fixture
def slow_server_env(database_url, tmp_path):
    env = server_env(
        database_url, tmp_path / "data", bank_options=json.dumps(SLOW_BANKS), log_level="INFO"
    )
    subprocess.run(
        [sys.executable, "-m", "api.cli", "seed"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    return env, tmp_path


def test_sigterm_lets_the_request_in_flight_finish(slow_server_env):
    env, cwd = slow_server_env
    server = ServerProcess(env, cwd).start()
    try:
        login = httpx.post(
            f"{server.url}/graphql",
            json={
                "query": 'mutation { login(input: {channel: ALIPAY, code: "sandbox:late"}) '
                "{ ... on LoginSuccess { token } } }"
            },
            timeout=10,
        )
        token = login.json()["data"]["login"]["token"]
        answer: dict = {}

        def slow_request() -> None:  # lists cards: one bank call per bank, 1.5 s each
            response = httpx.post(
                f"{server.url}/graphql",
                json={"query": "{ viewer { creditCards { id } } }"},
                headers={"authorization": f"Bearer {token}"},
                timeout=30,
            )
            answer["status"], answer["body"] = response.status_code, response.json()

        thread = threading.Thread(target=slow_request)
        thread.start()
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        thread.join(timeout=30)
        # uvicorn re-raises the signal once it has shut down cleanly, so the exit says SIGTERM.
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        server.stop()
    assert answer["status"] == 200, answer
    assert answer["body"]["data"]["viewer"]["creditCards"], answer
    lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    assert any(line["message"] == "shutting down" for line in lines)
    served = [line for line in lines if line["logger"] == "cardcash.access"]
    assert served and all(line["request_id"] for line in served)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_writes_every_access_line_still_waiting(database_url, tmp_path, workers):
    """Access lines wait to be written in batches; a stop by SIGTERM loses none of them (uvicorn
    ends the process by its signal, so no exit handler would write them: the app's shutdown
    does), whichever worker served them."""
    env = server_env(
        database_url,
        tmp_path / "data",
        log_level="INFO",
        access_log_flush_seconds="60",
        workers=workers,
    )
    subprocess.run(
        [sys.executable, "-m", "api.cli", "seed"], env=env, cwd=tmp_path, check=True,
        capture_output=True,
    )
    server = ServerProcess(env, tmp_path).start()
    try:
        ids = [f"flush-test-{workers}-{i:04d}" for i in range(40)]
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for request_id in ids:
                answer = http.post(
                    "/graphql",
                    json={"query": "{ banks(channel: WECHAT) { code } }"},
                    headers={"x-request-id": request_id},
                )
                assert answer.status_code == 200
        written = server.output()
        assert sum(request_id in written for request_id in ids) < len(ids), "not batched"
        server.process.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    served = {line["request_id"] for line in lines if line["logger"] == "cardcash.access"}
    assert set(ids) <= served
