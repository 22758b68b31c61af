"""The mini-program client (clients/miniprogram) under Node, with fake wx/my objects, against a
real, seeded ``cardcash serve``; npm packages from tests/miniprogram/package-lock.json."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.node import npm_ci, require_node
from tests.servers import ServerProcess, seeded_server_env

HERE = Path(__file__).resolve().parent
CLIENT = HERE.parents[1] / "clients" / "miniprogram"
#: Every test signs in several sandbox users from one address, many times a minute.
GENEROUS_LIMITS = {"rate_login_per_minute": "10000", "rate_money_per_minute": "10000",
                   "rate_address_per_minute": "10000"}


@pytest.fixture(scope="session")
def node_ready() -> str:
    node = require_node()
    npm_ci(HERE)
    return node


@pytest.fixture
def server(node_ready, database_url, tmp_path):
    env = seeded_server_env(database_url, tmp_path, **GENEROUS_LIMITS)
    with ServerProcess(env, tmp_path) as running:
        yield running


def node_test(script: str, base_url: str | None = None, timeout: float = 240,
              args: tuple[str, ...] = ()) -> str:
    """Run one node:test file (or, with ``args``, a plain script); fail with its report
    unless it exits 0."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/")}
    if base_url:
        env["CARDCASH_URL"] = base_url
    command = [require_node(), script, *args] if args else [
        require_node(), "--test", "--test-reporter=spec", script]
    result = subprocess.run(
        command,
        cwd=HERE, capture_output=True, text=True, timeout=timeout, env=env,
    )
    if result.returncode != 0:
        pytest.fail(f"{script} failed (exit {result.returncode}):\n{result.stdout[-6000:]}\n"
                    f"{result.stderr[-3000:]}", pytrace=False)
    return result.stdout

